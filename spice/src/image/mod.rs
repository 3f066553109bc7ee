//! Image decoders. Each decoder turns one compressed payload (the bytes after
//! the payload's `data_size`) into an [`Image`].

pub mod bitmap;
pub mod glz;
pub mod lz;
pub mod quic;

/// A decoded image: `width * height` pixels, rows top-down, each pixel a
/// `0x00RRGGBB` word (SPICE's 32-bit xRGB surface format).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u32>,
}
