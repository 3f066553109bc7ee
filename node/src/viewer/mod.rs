//! The SPICE translator: a VM's screen in the browser over one websocket.
//!
//! In translate mode (the default) the node is the SPICE client: it decodes
//! the VM's display ([`opencloud_spice`]), encodes what changed as simple
//! images ([`encode`]) and sends them in the wire format of
//! `docs/VIEWER-PROTOCOL.md` ([`wire`]); the browser's input comes back as
//! JSON ([`input`]). In passthrough mode the websocket carries raw SPICE for
//! stock clients ([`passthrough`]). Viewers get in with single-use tickets
//! kept in the store ([`tickets`]); `opencloud spice serve` ([`serve`]) runs
//! the same viewer for one fixed target without a store.

pub mod encode;
mod input;
pub mod metrics;
mod pacing;
mod passthrough;
pub mod routes;
pub mod serve;
mod session;
pub mod tickets;
pub mod wire;

use std::time::Duration;

use opencloud_spice::Compression;

/// Where a viewer's VM display is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The VM's SPICE address, HOST:PORT.
    pub addr: String,
    /// Its SPICE password; empty when ticketing is off.
    pub password: String,
}

/// How viewers are served.
#[derive(Clone, Debug)]
pub struct ViewerConfig {
    /// Frames a viewer may have unacknowledged before the node waits.
    /// Two keeps one frame on the wire while the browser draws another.
    pub window: u32,
    /// The compression asked of the VM: the node decodes it, so the
    /// cheapest to decode (LZ) wins on a LAN.
    pub compression: Compression,
    /// Limit for reaching the VM's SPICE server.
    pub connect_timeout: Duration,
    /// Websocket pings; a browser silent for three periods is dropped.
    pub ping_every: Duration,
    /// Frames are at least this far apart while the screen changes now and
    /// then (typing, clicking). Zero: a change leaves as soon as the SPICE
    /// client has read everything that arrived with it (the end of the
    /// VM's redraw burst), so a key's echo is never held back.
    pub min_frame_interval: Duration,
    /// Frames are at least this far apart once the screen has changed
    /// without a pause for `busy_after` (a scrolling log, a video). Every
    /// frame costs a diff and an image per changed region, and QEMU redraws
    /// every 30 ms: merging a few redraws per frame is what keeps a busy
    /// screen cheap. 50 ms (20 frames a second) merges about two.
    pub busy_frame_interval: Duration,
    /// How long the screen must keep changing before `busy_frame_interval`
    /// applies.
    pub busy_after: Duration,
    /// A pause in changes at least this long ends a busy spell. Two QEMU
    /// refreshes: a scrolling screen changes at every refresh, a typist
    /// pauses longer between keys.
    pub busy_pause: Duration,
    /// How long a page may keep reconnecting with its resume key.
    pub grant_ttl_s: u64,
    /// Debian's spice-html5, served at `/spice-html5/` for passthrough
    /// users when installed.
    pub spice_html5_dir: Option<std::path::PathBuf>,
    pub encoder: encode::EncoderConfig,
}

impl Default for ViewerConfig {
    fn default() -> Self {
        ViewerConfig {
            window: 2,
            compression: Compression::Lz,
            connect_timeout: Duration::from_secs(10),
            ping_every: Duration::from_secs(15),
            min_frame_interval: Duration::ZERO,
            busy_frame_interval: Duration::from_millis(50),
            busy_after: Duration::from_millis(250),
            busy_pause: Duration::from_millis(60),
            grant_ttl_s: 8 * 3600,
            spice_html5_dir: Some("/usr/share/spice-html5".into()),
            encoder: encode::EncoderConfig::default(),
        }
    }
}

/// `bytes` random bytes as hex: ticket secrets and viewer labels.
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut raw = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

/// The viewer page and its script, served by nodes and by `spice serve`.
pub const PAGE: &str = include_str!("../../assets/viewer.html");
pub const SCRIPT: &str = include_str!("../../assets/viewer.js");
