//! How a session connects: credentials, image compression, caches and
//! timeouts.

use std::path::PathBuf;
use std::time::Duration;

use crate::display::CacheConfig;
use crate::{Error, Result};

/// The image compression the client asks the server to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Off,
    Lz,
    Glz,
    Quic,
    /// Let the server choose per image (GLZ or LZ, QUIC for photos).
    Auto,
}

impl Compression {
    /// The SpiceImageCompression value of PREFERRED_COMPRESSION.
    pub(super) fn wire(self) -> u8 {
        match self {
            Compression::Off => 1,
            Compression::Auto => 2,
            Compression::Quic => 4,
            Compression::Glz => 5,
            Compression::Lz => 6,
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "off" => Compression::Off,
            "lz" => Compression::Lz,
            "glz" => Compression::Glz,
            "quic" => Compression::Quic,
            "auto" => Compression::Auto,
            _ => return Err(Error::malformed("compression", format!("{s:?}"))),
        })
    }
}

/// How to connect.
#[derive(Clone, Debug)]
pub struct Config {
    /// The SPICE password; empty when ticketing is disabled.
    pub password: String,
    pub compression: Compression,
    pub cache: CacheConfig,
    /// Where to write compressed image payloads (see [`Dumper`](crate::display::Dumper)); `None`
    /// falls back to `OPENCLOUD_SPICE_DUMP`.
    pub dump_dir: Option<PathBuf>,
    /// Limit for TCP connect plus link of each channel.
    pub link_timeout: Duration,
    /// Pause between key events when typing text, so the guest's keyboard
    /// buffer never overflows.
    pub key_delay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            password: String::new(),
            compression: Compression::Auto,
            cache: CacheConfig::default(),
            dump_dir: None,
            link_timeout: Duration::from_secs(10),
            key_delay: Duration::from_millis(10),
        }
    }
}
