//! Cursor channel state: position, visibility and the current cursor image
//! decoded to ARGB, with the cursor cache the server refers to.

use std::collections::HashMap;
use std::sync::Arc;

use crate::msg::cursor::{CursorMessage, CursorShape, FLAG_CACHE_ME, FLAG_FROM_CACHE};
use crate::{Error, Result};

/// Cursors larger than this are refused: real ones are at most 256x256.
const MAX_CURSOR_SIDE: u16 = 512;
/// Cursor shapes kept in the cache.
const MAX_CACHED: usize = 256;

/// Cursor types.
const ALPHA: u8 = 0;
const MONO: u8 = 1;
const COLOR32: u8 = 6;

/// A cursor image: pixels are 0xAARRGGBB, rows top-down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CursorImage {
    pub width: u16,
    pub height: u16,
    pub hot_x: u16,
    pub hot_y: u16,
    pub pixels: Vec<u32>,
}

/// What the client knows about the guest's cursor.
#[derive(Debug, Default)]
pub struct Cursor {
    pub position: (i16, i16),
    pub visible: bool,
    pub image: Option<Arc<CursorImage>>,
    cache: HashMap<u64, Arc<CursorImage>>,
    /// Bumped on every change.
    pub generation: u64,
}

impl Cursor {
    pub fn handle(&mut self, msg: &CursorMessage<'_>) -> Result<()> {
        self.generation += 1;
        match msg {
            CursorMessage::Init {
                position,
                visible,
                shape,
            }
            | CursorMessage::Set {
                position,
                visible,
                shape,
            } => {
                self.position = *position;
                self.visible = *visible;
                self.set_shape(shape)?;
            }
            CursorMessage::Move(p) => self.position = *p,
            CursorMessage::Hide => self.visible = false,
            CursorMessage::Reset => {
                self.image = None;
                self.cache.clear();
            }
            CursorMessage::InvalOne(id) => {
                self.cache.remove(id);
            }
            CursorMessage::InvalAll => self.cache.clear(),
            CursorMessage::Trail => {}
        }
        Ok(())
    }

    fn set_shape(&mut self, shape: &CursorShape<'_>) -> Result<()> {
        let Some(h) = shape.header else {
            self.image = None;
            return Ok(());
        };
        if shape.flags & FLAG_FROM_CACHE != 0 {
            let img = self
                .cache
                .get(&h.unique)
                .cloned()
                .ok_or_else(|| Error::malformed("cursor", "not in the cursor cache"))?;
            self.image = Some(img);
            return Ok(());
        }
        let img = Arc::new(decode_cursor(h.kind, h.width, h.height, shape.data)?);
        let img = Arc::new(CursorImage {
            hot_x: h.hot_x,
            hot_y: h.hot_y,
            ..(*img).clone()
        });
        if shape.flags & FLAG_CACHE_ME != 0 && self.cache.len() < MAX_CACHED {
            self.cache.insert(h.unique, img.clone());
        }
        self.image = Some(img);
        Ok(())
    }
}

/// Decodes ALPHA (32-bit ARGB), COLOR32 and MONO cursors, the types QEMU
/// and Linux/Windows guests send.
pub fn decode_cursor(kind: u8, width: u16, height: u16, data: &[u8]) -> Result<CursorImage> {
    if width > MAX_CURSOR_SIDE || height > MAX_CURSOR_SIDE {
        return Err(Error::TooLarge {
            what: "cursor",
            size: u64::from(width.max(height)),
            limit: MAX_CURSOR_SIDE.into(),
        });
    }
    let (w, h) = (usize::from(width), usize::from(height));
    let short = || Error::malformed("cursor", "image data shorter than its size");
    let pixels = match kind {
        ALPHA | COLOR32 => {
            let bytes = data.get(..w * h * 4).ok_or_else(short)?;
            let opaque = if kind == COLOR32 { 0xff00_0000 } else { 0 };
            bytes
                .chunks_exact(4)
                .map(|p| u32::from_le_bytes([p[0], p[1], p[2], p[3]]) | opaque)
                .collect()
        }
        MONO => {
            // An AND mask then an XOR mask, one bit per pixel, rows padded
            // to bytes. AND=1,XOR=0 is transparent; AND=1,XOR=1 inverts the
            // screen, shown here as opaque black for lack of a better choice.
            let row = w.div_ceil(8);
            let and = data.get(..row * h).ok_or_else(short)?;
            let xor = data.get(row * h..row * h * 2).ok_or_else(short)?;
            let mut out = Vec::with_capacity(w * h);
            for y in 0..h {
                for x in 0..w {
                    let bit = |m: &[u8]| m.get(y * row + x / 8).map(|b| b >> (7 - x % 8) & 1);
                    let (a, x_) = (bit(and).unwrap_or(1), bit(xor).unwrap_or(0));
                    out.push(match (a, x_) {
                        (0, 0) => 0xff00_0000,
                        (0, _) => 0xffff_ffff,
                        (_, 0) => 0,
                        _ => 0xff00_0000,
                    });
                }
            }
            out
        }
        t => {
            return Err(Error::Unsupported {
                what: "cursor type",
                value: t.into(),
            })
        }
    };
    Ok(CursorImage {
        width,
        height,
        hot_x: 0,
        hot_y: 0,
        pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::cursor::parse;
    use crate::wire::Writer;

    fn set_msg(flags: u16, unique: u64, kind: u8, w: u16, h: u16, data: &[u8]) -> Vec<u8> {
        let mut b = Writer::new();
        b.u16(10).u16(20).u8(1).u16(flags);
        b.u64(unique)
            .u8(kind)
            .u16(w)
            .u16(h)
            .u16(1)
            .u16(2)
            .bytes(data);
        b.finish()
    }

    #[test]
    fn set_cache_and_reuse() {
        let mut c = Cursor::default();
        let body = set_msg(FLAG_CACHE_ME, 7, ALPHA, 1, 1, &[1, 2, 3, 4]);
        c.handle(&parse(103, &body).unwrap()).unwrap();
        let img = c.image.clone().unwrap();
        assert_eq!((img.pixels[0], img.hot_x, img.hot_y), (0x04030201, 1, 2));
        assert_eq!(c.position, (10, 20));
        let body = set_msg(FLAG_FROM_CACHE, 7, ALPHA, 1, 1, &[]);
        c.handle(&parse(103, &body).unwrap()).unwrap();
        assert_eq!(c.image, Some(img));
        c.handle(&parse(105, &[]).unwrap()).unwrap();
        assert!(!c.visible);
        c.handle(&parse(104, &[5, 0, 6, 0]).unwrap()).unwrap();
        assert_eq!(c.position, (5, 6));
    }

    #[test]
    fn hostile_cursors() {
        let mut c = Cursor::default();
        let body = set_msg(0, 1, ALPHA, 4, 4, &[0; 10]);
        assert!(c.handle(&parse(103, &body).unwrap()).is_err());
        let body = set_msg(0, 1, ALPHA, 60000, 60000, &[]);
        assert!(c.handle(&parse(103, &body).unwrap()).is_err());
        let body = set_msg(FLAG_FROM_CACHE, 99, ALPHA, 1, 1, &[]);
        assert!(c.handle(&parse(103, &body).unwrap()).is_err());
        assert!(parse(103, &[1, 0, 2]).is_err());
        assert!(parse(200, &[]).is_err());
        let mono = set_msg(0, 1, MONO, 8, 1, &[0x0f, 0xf0]);
        c.handle(&parse(103, &mono).unwrap()).unwrap();
        assert_eq!(c.image.as_ref().unwrap().pixels.len(), 8);
    }
}
