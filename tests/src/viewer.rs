//! Viewer test helpers: `opencloud spice serve` as a child process, viewer
//! tickets from a node, and a raw websocket client that speaks the viewer
//! protocol (docs/VIEWER-PROTOCOL.md).

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::cluster_options::{free_ports, opencloud_bin};

/// `opencloud spice serve` for one SPICE target; killed when dropped.
pub struct SpiceServe {
    child: Child,
    /// `http://127.0.0.1:PORT/`
    pub url: String,
}

impl SpiceServe {
    pub async fn start(spice_addr: &str, password: &str) -> Result<SpiceServe> {
        Self::start_with(opencloud_bin(false)?, spice_addr, password).await
    }

    /// With a given `opencloud` binary (benchmarks use the release build).
    pub async fn start_with(
        bin: std::path::PathBuf,
        spice_addr: &str,
        password: &str,
    ) -> Result<SpiceServe> {
        let port = free_ports(1)?[0];
        let mut child = Command::new(bin)
            .args(["spice", "serve", "--addr", spice_addr, "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .env("OPENCLOUD_SPICE_PASSWORD", password)
            .env(
                "OPENCLOUD_LOG",
                std::env::var("OPENCLOUD_LOG").unwrap_or_else(|_| "warn,opencloud=info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting opencloud spice serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .context("spice serve printed nothing in 20 s")??
            .context("spice serve exited")?;
        if !line.contains("viewer for") {
            bail!("unexpected first line from spice serve: {line}");
        }
        Ok(SpiceServe {
            child,
            url: format!("http://127.0.0.1:{port}/"),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The Prometheus text of its `/metrics`.
    pub async fn metrics(&self) -> Result<String> {
        let r = reqwest::get(format!("{}metrics", self.url)).await?;
        Ok(r.error_for_status()?.text().await?)
    }
}

/// The sum of a metric's samples whose line starts with `name` (any labels).
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A ticket issued by a node's operator API.
pub struct Ticket {
    pub token: String,
    pub viewer_url: String,
    pub websocket: String,
}

/// Issues a viewer ticket through `base` (a node's https URL).
pub async fn issue_ticket(
    client: &reqwest::Client,
    base: &str,
    operator_token: &str,
    spice_addr: &str,
    mode: &str,
    ttl_s: u64,
) -> Result<Ticket> {
    let r = client
        .post(format!("{base}/api/v1/viewer/tickets"))
        .bearer_auth(operator_token)
        .json(&json!({"addr": spice_addr, "mode": mode, "ttl_s": ttl_s}))
        .send()
        .await?;
    let status = r.status();
    let body: Value = r.json().await?;
    if status != reqwest::StatusCode::CREATED {
        bail!("issuing a ticket: {status} {body}");
    }
    let s = |k: &str| -> Result<String> {
        Ok(body[k]
            .as_str()
            .with_context(|| format!("no {k}"))?
            .to_string())
    };
    Ok(Ticket {
        token: s("token")?,
        viewer_url: s("viewer_url")?,
        websocket: s("websocket")?,
    })
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a websocket (ws:// or wss:// trusting any certificate).
pub async fn ws_connect(url: &str) -> Result<Ws> {
    let connector = tokio_tungstenite::Connector::Rustls(crate::tls_probe::trust_any()?);
    // As browsers do: no Nagle, so acks and input leave at once.
    let (ws, _) =
        tokio_tungstenite::connect_async_tls_with_config(url, None, true, Some(connector))
            .await
            .with_context(|| format!("websocket to {url}"))?;
    Ok(ws)
}

/// One server message, decoded as far as tests care.
#[derive(Debug)]
pub enum ServerMsg {
    Control(Value),
    Frame {
        seq: u32,
        latency_us: u32,
        newest_us: u32,
    },
    Other {
        kind: u8,
        len: usize,
    },
}

pub fn decode(bytes: &[u8]) -> Result<ServerMsg> {
    let (&kind, rest) = bytes.split_first().context("empty message")?;
    Ok(match kind {
        16 => ServerMsg::Control(serde_json::from_slice(rest).context("bad CONTROL json")?),
        5 if rest.len() >= 12 => {
            let u = |i: usize| u32::from_le_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
            ServerMsg::Frame {
                seq: u(0),
                latency_us: u(4),
                newest_us: u(8),
            }
        }
        _ => ServerMsg::Other {
            kind,
            len: bytes.len(),
        },
    })
}

/// The next binary message, skipping pings; `None` when the socket closed.
pub async fn next_msg(ws: &mut Ws, limit: Duration) -> Result<Option<ServerMsg>> {
    loop {
        let m = tokio::time::timeout(limit, ws.next())
            .await
            .context("no message from the viewer websocket in time")?;
        match m {
            None | Some(Ok(Message::Close(_))) => return Ok(None),
            Some(Err(e)) => return Err(e).context("viewer websocket"),
            Some(Ok(Message::Binary(b))) => return Ok(Some(decode(&b)?)),
            Some(Ok(_)) => {}
        }
    }
}

/// Reads until the first CONTROL message and returns it.
pub async fn first_control(ws: &mut Ws) -> Result<Value> {
    loop {
        match next_msg(ws, Duration::from_secs(30)).await? {
            Some(ServerMsg::Control(v)) => return Ok(v),
            Some(_) => {}
            None => bail!("the socket closed before any CONTROL message"),
        }
    }
}

/// Sends one input message.
pub async fn send_input(ws: &mut Ws, v: Value) -> Result<()> {
    ws.send(Message::Text(v.to_string().into())).await?;
    Ok(())
}

/// Types `text` through the viewer protocol (US layout; '\n' is Enter).
pub async fn type_via_ws(ws: &mut Ws, text: &str) -> Result<()> {
    for (sc, down) in opencloud_spice::keymap::text_to_key_events(text)? {
        let code = code_for(sc).context("a character with no key code")?;
        send_input(ws, json!({"t": "key", "code": code, "down": down})).await?;
        // The guest's keyboard buffer is small; a human-like pace keeps
        // every key.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// The `KeyboardEvent.code` whose scancode is `sc`.
fn code_for(sc: opencloud_spice::keymap::Scancode) -> Option<String> {
    let mut names: Vec<String> = ('A'..='Z').map(|c| format!("Key{c}")).collect();
    names.extend(('0'..='9').map(|c| format!("Digit{c}")));
    names.extend(
        [
            "Enter",
            "Space",
            "Minus",
            "Equal",
            "BracketLeft",
            "BracketRight",
            "Backslash",
            "Semicolon",
            "Quote",
            "Backquote",
            "Comma",
            "Period",
            "Slash",
            "ShiftLeft",
            "Tab",
        ]
        .map(String::from),
    );
    names
        .into_iter()
        .find(|n| opencloud_spice::keymap::scancode_for_code(n).ok() == Some(sc))
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    crate::host::rss_kib(pid).with_context(|| format!("no VmRSS for process {pid}"))
}
