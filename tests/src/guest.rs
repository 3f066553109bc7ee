//! The tiny test guest in QEMU: a Debian kernel and a busybox initramfs
//! (built by `scripts/build-guest.sh`) showing a shell on a 720x400 text
//! console, reachable over SPICE on a free loopback port, with QMP for
//! ground truth (`screendump`) and the serial port logged to a file.
//!
//! Environment:
//! - `OPENCLOUD_TEST_ACCEL`: `tcg` (default), `kvm` or `auto` (kvm, else tcg).
//! - `OPENCLOUD_GUEST_DIR`: where the kernel and initramfs are (default
//!   `<repo>/.cache/guest`); they are built there when missing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};

/// The line the guest's init writes to ttyS0 once the shell runs.
pub const READY_LINE: &str = "OPENCLOUD-GUEST-READY";

/// How to boot the guest.
#[derive(Clone, Debug, Default)]
pub struct GuestOptions {
    /// SPICE password; `None` disables ticketing.
    pub password: Option<String>,
}

/// A running guest; QEMU is killed when this is dropped.
pub struct Guest {
    child: Child,
    dir: tempfile::TempDir,
    pub spice_port: u16,
}

/// A screen as QEMU's screendump shows it: 0x00RRGGBB pixels, rows top-down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Screen {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u32>,
}

pub(crate) fn repo_root() -> PathBuf {
    // CARGO_MANIFEST_DIR is <repo>/tests.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Whether `dir` holds `files`, built by `script` as it is now: the build
/// scripts write the SHA-256 of themselves to `recipe` beside what they
/// built, so an image from another version of a script is stale.
pub fn built_by(script: &Path, dir: &Path, files: &[&str]) -> Result<bool> {
    use sha2::Digest;
    let text =
        std::fs::read(script).with_context(|| format!("cannot read {}", script.display()))?;
    let recipe = format!("{:x}", sha2::Sha256::digest(&text));
    Ok(files.iter().all(|f| dir.join(f).is_file())
        && std::fs::read_to_string(dir.join("recipe")).is_ok_and(|r| r.trim() == recipe))
}

/// The directory holding `vmlinuz` and `initrd.gz`, building them with
/// `scripts/build-guest.sh` when they are missing or stale.
pub fn ensure_guest_image() -> Result<PathBuf> {
    let dir = std::env::var_os("OPENCLOUD_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache/guest"));
    let script = repo_root().join("scripts/build-guest.sh");
    let files = ["vmlinuz", "initrd.gz"];
    if built_by(&script, &dir, &files)? {
        return Ok(dir);
    }
    eprintln!(
        "guest image missing or stale in {}: running {}",
        dir.display(),
        script.display()
    );
    let status = std::process::Command::new("bash")
        .arg(&script)
        .arg(&dir)
        .status()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !status.success() {
        bail!(
            "{} failed ({status}); it needs apt-get, dpkg, busybox-static and cpio",
            script.display()
        );
    }
    if !built_by(&script, &dir, &files)? {
        bail!(
            "{} ran but {} has no vmlinuz and initrd.gz of this recipe",
            script.display(),
            dir.display()
        );
    }
    Ok(dir)
}

pub(crate) fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(l.local_addr()?.port())
}

pub(crate) fn accel() -> Result<&'static str> {
    match std::env::var("OPENCLOUD_TEST_ACCEL").as_deref() {
        Err(_) | Ok("") | Ok("tcg") => Ok("tcg"),
        Ok("kvm") => Ok("kvm"),
        Ok("auto") => Ok("kvm:tcg"),
        Ok(other) => bail!("OPENCLOUD_TEST_ACCEL must be tcg, kvm or auto, not {other:?}"),
    }
}

/// SPICE ticketing for a guest's QEMU: off, or `password` through a secret
/// object (which keeps it off the deprecated `password=` option). Adds to
/// `cmd` and to the `-spice` option's text.
pub fn spice_ticketing(cmd: &mut Command, spice: &mut String, password: Option<&str>) {
    match password {
        None => spice.push_str(",disable-ticketing=on"),
        Some(pw) => {
            cmd.arg("-object")
                .arg(format!("secret,id=spicepw,data={pw}"));
            spice.push_str(",password-secret=spicepw");
        }
    }
}

impl Guest {
    /// Boots the guest and waits until its shell is ready.
    pub async fn boot(opts: GuestOptions) -> Result<Guest> {
        let image = ensure_guest_image()?;
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let mut spice = format!("port={port},addr=127.0.0.1");
        let mut cmd = Command::new("qemu-system-x86_64");
        spice_ticketing(&mut cmd, &mut spice, opts.password.as_deref());
        cmd.arg("-machine")
            .arg(format!("pc,accel={}", accel()?))
            .args([
                "-m", "256", "-vga", "std", "-display", "none", "-net", "none",
            ])
            .arg("-kernel")
            .arg(image.join("vmlinuz"))
            .arg("-initrd")
            .arg(image.join("initrd.gz"))
            .args(["-append", "console=tty0 quiet"])
            .arg("-spice")
            .arg(spice)
            .arg("-qmp")
            .arg(format!(
                "unix:{},server,nowait",
                dir.path().join("qmp").display()
            ))
            .arg("-serial")
            .arg(format!("file:{}", dir.path().join("serial.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("qemu.err"))?)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .context("cannot start qemu-system-x86_64 (Debian package qemu-system-x86)")?;
        let mut guest = Guest {
            child,
            dir,
            spice_port: port,
        };
        guest.wait_ready(Duration::from_secs(180)).await?;
        Ok(guest)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            if self.serial_log().contains(READY_LINE) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                let err =
                    std::fs::read_to_string(self.dir.path().join("qemu.err")).unwrap_or_default();
                bail!("QEMU exited ({status}) before the guest was ready: {err}");
            }
            if start.elapsed() > timeout {
                bail!(
                    "the guest did not print {READY_LINE} within {timeout:?}; serial log: {}",
                    self.serial_log()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn spice_addr(&self) -> String {
        format!("127.0.0.1:{}", self.spice_port)
    }

    /// Everything the guest wrote to its serial port.
    pub fn serial_log(&self) -> String {
        std::fs::read(self.dir.path().join("serial.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the serial log has a line equal to `line`.
    pub async fn wait_serial_line(&self, line: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.serial_log().lines().any(|l| l.trim() == line) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "no line {line:?} on the serial port within {timeout:?}; log: {:?}",
            self.serial_log()
        )
    }

    /// Runs one QMP command and returns its `return` value.
    pub async fn qmp(&self, command: Value) -> Result<Value> {
        qmp_at(&self.dir.path().join("qmp"), command).await
    }

    /// Types `text` with QEMU's `sendkey` (US layout), independently of any
    /// SPICE client: '\n' is Enter; letters, digits, space and
    /// `;-/=.,$()*>|'\\[?` are supported.
    pub async fn sendkeys(&self, text: &str) -> Result<()> {
        for c in text.chars() {
            let key = match c {
                'a'..='z' | '0'..='9' => c.to_string(),
                'A'..='Z' => format!("shift-{}", c.to_ascii_lowercase()),
                ' ' => "spc".into(),
                '\n' => "ret".into(),
                ';' => "semicolon".into(),
                '-' => "minus".into(),
                '/' => "slash".into(),
                '=' => "equal".into(),
                '.' => "dot".into(),
                ',' => "comma".into(),
                '$' => "shift-4".into(),
                '(' => "shift-9".into(),
                ')' => "shift-0".into(),
                '*' => "shift-8".into(),
                '>' => "shift-dot".into(),
                '|' => "shift-backslash".into(),
                '\'' => "apostrophe".into(),
                '\\' => "backslash".into(),
                '[' => "bracket_left".into(),
                '?' => "shift-slash".into(),
                other => bail!("sendkeys cannot type {other:?}"),
            };
            self.qmp(json!({"execute": "human-monitor-command",
                            "arguments": {"command-line": format!("sendkey {key}")}}))
                .await?;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        Ok(())
    }

    /// QEMU's own picture of the screen.
    pub async fn screendump(&self) -> Result<Screen> {
        let path = self.dir.path().join("screen.ppm");
        self.qmp(json!({"execute": "screendump", "arguments": {"filename": path}}))
            .await?;
        let data = std::fs::read(&path).context("reading the screendump")?;
        parse_ppm(&data)
    }
}

impl Screen {
    /// A screen from packed pixels of `step` bytes each, red, green and blue
    /// first (PPM's RGB, a canvas' RGBA).
    pub fn from_bytes(width: u32, height: u32, bytes: &[u8], step: usize) -> Screen {
        let pixels = bytes
            .chunks_exact(step.max(3))
            .take(width as usize * height as usize)
            .map(|p| (u32::from(p[0]) << 16) | (u32::from(p[1]) << 8) | u32::from(p[2]))
            .collect();
        Screen {
            width,
            height,
            pixels,
        }
    }
}

/// The primary surface of a SPICE session as a [`Screen`].
pub fn primary_screen(session: &opencloud_spice::Session) -> Result<Screen> {
    let img = session.primary_image().context("no primary surface")?;
    Ok(Screen {
        width: img.width,
        height: img.height,
        pixels: img.pixels,
    })
}

/// Runs one QMP command on the QMP socket at `socket` and returns its
/// `return` value.
pub(crate) async fn qmp_at(socket: &Path, command: Value) -> Result<Value> {
    let stream = UnixStream::connect(socket)
        .await
        .context("connecting to QMP")?;
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    lines
        .next_line()
        .await?
        .ok_or_else(|| anyhow!("QMP closed"))?;
    for cmd in [json!({"execute": "qmp_capabilities"}), command] {
        w.write_all(format!("{cmd}\n").as_bytes()).await?;
        loop {
            let line = lines
                .next_line()
                .await?
                .ok_or_else(|| anyhow!("QMP closed"))?;
            let v: Value = serde_json::from_str(&line)?;
            if let Some(e) = v.get("error") {
                bail!("QMP {cmd}: {e}");
            }
            if let Some(ret) = v.get("return") {
                if cmd["execute"] != "qmp_capabilities" {
                    return Ok(ret.clone());
                }
                break;
            }
            // Anything else is an asynchronous event.
        }
    }
    bail!("QMP gave no answer")
}

/// Parses a binary PPM (P6, maxval 255).
pub fn parse_ppm(data: &[u8]) -> Result<Screen> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while fields.len() < 4 {
        while data.get(pos).is_some_and(|b| b.is_ascii_whitespace()) {
            pos += 1;
        }
        if data.get(pos) == Some(&b'#') {
            while data.get(pos).is_some_and(|&b| b != b'\n') {
                pos += 1;
            }
            continue;
        }
        let start = pos;
        while data.get(pos).is_some_and(|b| !b.is_ascii_whitespace()) {
            pos += 1;
        }
        if start == pos {
            bail!("PPM header cut short");
        }
        fields.push(std::str::from_utf8(&data[start..pos])?.to_string());
    }
    if fields[0] != "P6" || fields[3] != "255" {
        bail!("unsupported PPM: {fields:?}");
    }
    let width: u32 = fields[1].parse()?;
    let height: u32 = fields[2].parse()?;
    // One whitespace byte separates the header from the pixels.
    let pixels = data
        .get(pos + 1..)
        .ok_or_else(|| anyhow!("PPM without pixels"))?;
    let n = width as usize * height as usize;
    if pixels.len() < n * 3 {
        bail!("PPM has {} bytes for {width}x{height}", pixels.len());
    }
    Ok(Screen::from_bytes(width, height, pixels, 3))
}

/// Where two screens differ: the number of differing pixels and the first
/// one, or None when they are equal (sizes must match too).
pub fn compare(a: &Screen, b: &Screen) -> Option<String> {
    if (a.width, a.height) != (b.width, b.height) {
        return Some(format!(
            "sizes differ: {}x{} vs {}x{}",
            a.width, a.height, b.width, b.height
        ));
    }
    let mut diff = a
        .pixels
        .iter()
        .zip(&b.pixels)
        .enumerate()
        .filter(|(_, (x, y))| x != y);
    let (first, (pa, pb)) = diff.next()?;
    let count = 1 + diff.count();
    let w = a.width.max(1) as usize;
    Some(format!(
        "{count} pixels differ; first at ({}, {}): {pa:06x} vs {pb:06x}",
        first % w,
        first / w
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppm_parsing() {
        let mut data = b"P6\n# c\n2 1\n255\n".to_vec();
        data.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        let s = parse_ppm(&data).unwrap();
        assert_eq!(s.pixels, vec![0x010203, 0x040506]);
        assert!(parse_ppm(&data[..data.len() - 1]).is_err());
        assert!(parse_ppm(b"P5\n1 1\n255\n\0").is_err());
        let other = Screen {
            pixels: vec![0x010203, 0],
            ..s.clone()
        };
        assert_eq!(compare(&s, &s), None);
        assert!(compare(&s, &other)
            .unwrap()
            .starts_with("1 pixels differ; first at (1, 0)"));
    }
}
