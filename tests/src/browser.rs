//! Headless Chromium driven by `tests/browser/viewer.mjs` (playwright-core
//! and Debian's chromium): one JSON command per line in, one JSON answer per
//! line out.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::guest::Screen;

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// A browser with one page; closed when dropped.
pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Browser {
    pub async fn launch() -> Result<Browser> {
        let dir = browser_dir();
        if !dir.join("node_modules/playwright-core").exists() {
            bail!(
                "playwright-core is not installed in {}: run scripts/test.sh (or npm ci there)",
                dir.display()
            );
        }
        let mut child = Command::new("node")
            .arg(dir.join("viewer.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting node tests/browser/viewer.mjs")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut b = Browser {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        };
        let ready = b.read_answer(Duration::from_secs(60)).await?;
        if ready.get("ready") != Some(&Value::Bool(true)) {
            bail!("the browser driver did not start: {ready}");
        }
        Ok(b)
    }

    async fn read_answer(&mut self, limit: Duration) -> Result<Value> {
        let line = tokio::time::timeout(limit, self.lines.next_line())
            .await
            .context("the browser driver did not answer in time")??
            .context("the browser driver exited")?;
        serde_json::from_str(&line).with_context(|| format!("bad driver answer {line:?}"))
    }

    /// Runs one command; fails when the driver answers `ok: false`.
    pub async fn cmd(&mut self, command: Value) -> Result<Value> {
        let mut line = serde_json::to_vec(&command)?;
        line.push(b'\n');
        self.stdin.write_all(&line).await?;
        let timeout = command
            .get("timeout_ms")
            .and_then(Value::as_u64)
            .unwrap_or(60_000);
        let answer = self
            .read_answer(Duration::from_millis(timeout + 30_000))
            .await?;
        if answer.get("ok") != Some(&Value::Bool(true)) {
            bail!("browser command {command} failed: {answer}");
        }
        Ok(answer)
    }

    pub async fn open(&mut self, url: &str) -> Result<Value> {
        self.cmd(json!({"cmd": "open", "url": url, "timeout_ms": 60_000}))
            .await
    }

    /// Fills the sign-in form of the open page and submits it.
    pub async fn submit_login(&mut self, user: &str, password: &str) -> Result<()> {
        self.cmd(json!({"cmd": "fill", "selector": "#oc-username", "text": user}))
            .await?;
        self.cmd(json!({"cmd": "fill", "selector": "#oc-password", "text": password}))
            .await?;
        self.cmd(json!({"cmd": "click", "selector": "#oc-submit"}))
            .await?;
        Ok(())
    }

    pub async fn state(&mut self) -> Result<Value> {
        self.cmd(json!({"cmd": "state"})).await
    }

    /// Waits until no frame has arrived for `quiet_ms`.
    pub async fn wait_settled(&mut self, quiet_ms: u64) -> Result<()> {
        self.cmd(json!({"cmd": "wait_settled", "quiet_ms": quiet_ms, "timeout_ms": 60_000}))
            .await
            .map(|_| ())
    }

    /// The canvas matched by `selector` as 0x00RRGGBB pixels.
    pub async fn canvas(&mut self, selector: &str) -> Result<Screen> {
        self.canvas_in(None, selector).await
    }

    /// The canvas matched by `selector` in the frame whose URL contains
    /// `frame` (the page itself for `None`).
    pub async fn canvas_in(&mut self, frame: Option<&str>, selector: &str) -> Result<Screen> {
        let a = self
            .cmd(json!({"cmd": "pixels", "selector": selector, "frame": frame}))
            .await?;
        let width = a["width"].as_u64().context("no width")? as u32;
        let height = a["height"].as_u64().context("no height")? as u32;
        let rgba = base64::engine::general_purpose::STANDARD
            .decode(a["rgba"].as_str().context("no rgba")?)
            .context("rgba is not base64")?;
        if rgba.len() != width as usize * height as usize * 4 {
            bail!("{} bytes of RGBA for {width}x{height}", rgba.len());
        }
        Ok(Screen::from_bytes(width, height, &rgba, 4))
    }

    /// Waits until the canvas at `selector` equals the guest's screendump:
    /// the page may still be drawing the last change when a screendump is
    /// taken, so the two are compared until they agree or `limit` passes.
    pub async fn wait_canvas_matches(
        &mut self,
        guest: &crate::guest::Guest,
        selector: &str,
        limit: Duration,
    ) -> Result<()> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let truth = guest.screendump().await?;
            let seen = self.canvas(selector).await?;
            match crate::guest::compare(&truth, &seen) {
                None => return Ok(()),
                Some(d) if std::time::Instant::now() >= deadline => {
                    bail!("the canvas ({selector}) differs from the guest's screendump: {d}")
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    pub async fn type_text(&mut self, text: &str) -> Result<()> {
        self.cmd(json!({"cmd": "type", "text": text, "delay_ms": 20}))
            .await
            .map(|_| ())
    }

    pub async fn wait_veil(&mut self, visible: bool, timeout_ms: u64) -> Result<Value> {
        self.cmd(json!({"cmd": "wait_veil", "visible": visible, "timeout_ms": timeout_ms}))
            .await
    }

    pub async fn close(mut self) -> Result<()> {
        let _ = self.cmd(json!({"cmd": "close"})).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        Ok(())
    }
}
