//! Dispatch from an image's type to its decoder, with the per-format byte
//! counters and the optional payload dump used to capture test fixtures.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::image::{self, Image};
use crate::proto::image_type;
use crate::{Error, Result};

/// The name of an image type, as used in statistics and dump file names.
pub fn format_name(kind: u8) -> &'static str {
    match kind {
        image_type::BITMAP => "bitmap",
        image_type::QUIC => "quic",
        image_type::LZ_PLT => "lz_plt",
        image_type::LZ_RGB => "lz",
        image_type::GLZ_RGB => "glz",
        image_type::FROM_CACHE | image_type::FROM_CACHE_LOSSLESS => "cache",
        image_type::SURFACE => "surface",
        image_type::JPEG => "jpeg",
        image_type::ZLIB_GLZ_RGB => "zlib_glz",
        image_type::JPEG_ALPHA => "jpeg_alpha",
        image_type::LZ4 => "lz4",
        _ => "unknown",
    }
}

/// Images and payload bytes received per image format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FormatStats {
    pub images: u64,
    pub bytes: u64,
}

pub type Stats = BTreeMap<&'static str, FormatStats>;

/// Writes each compressed payload to `DIR/<format>-<n>.bin` and appends a
/// line to `DIR/index.txt` telling its format, size and where it was drawn,
/// so decoders can be tested on real payloads in their original order.
#[derive(Debug)]
pub struct Dumper {
    dir: PathBuf,
    count: u64,
}

impl Dumper {
    pub fn new(dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Dumper { dir, count: 0 })
    }

    /// The dumper configured by `OPENCLOUD_SPICE_DUMP=DIR`, if any.
    pub fn from_env() -> Result<Option<Self>> {
        match std::env::var_os("OPENCLOUD_SPICE_DUMP") {
            Some(dir) if !dir.is_empty() => Ok(Some(Dumper::new(dir.into())?)),
            _ => Ok(None),
        }
    }

    pub fn dump(&mut self, kind: u8, payload: &[u8], width: u32, height: u32, at: (i32, i32)) {
        use std::io::Write;
        let name = format!("{}-{}.bin", format_name(kind), self.count);
        self.count += 1;
        let written = std::fs::write(self.dir.join(&name), payload).and_then(|_| {
            let mut index = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join("index.txt"))?;
            writeln!(
                index,
                "{name} {} {width}x{height} at {},{}",
                format_name(kind),
                at.0,
                at.1
            )
        });
        if let Err(e) = written {
            // A failing dump must not end the session it is observing.
            tracing::warn!("cannot dump {name}: {e}");
        }
    }
}

pub use crate::image::glz::GlzDictionary;

/// Decodes a self-describing compressed payload of type `kind`.
pub fn decode_compressed(kind: u8, data: &[u8], glz: &mut GlzDictionary) -> Result<Image> {
    match kind {
        image_type::LZ_RGB => image::lz::decode_lz_rgb(data),
        image_type::GLZ_RGB => glz.decode(data),
        image_type::QUIC => image::quic::decode_quic(data),
        other => Err(Error::Unsupported {
            what: "image type",
            value: other.into(),
        }),
    }
}
