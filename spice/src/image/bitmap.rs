//! Uncompressed BITMAP images: 32/24/16-bit and palette formats, top-down or
//! bottom-up, converted to the 0x00RRGGBB [`Image`].

use super::Image;
use crate::msg::display::BitmapRef;
use crate::{Error, Result};

/// The largest image we decode, in pixels (a 5K screen).
pub const MAX_PIXELS: u64 = 1 << 24;

fn err(reason: &'static str) -> Error {
    Error::Decode {
        codec: "bitmap",
        reason,
    }
}

/// Bits per pixel of a bitmap format, or None for unknown formats.
fn bits_per_pixel(format: u8) -> Option<u64> {
    Some(match format {
        1 | 2 => 1,
        3 | 4 => 4,
        5 | 10 => 8,
        6 => 16,
        7 => 24,
        8 | 9 => 32,
        _ => return None,
    })
}

/// Expands a 5-bit channel to 8 bits so that white stays white.
fn expand5(v: u16) -> u32 {
    let v = u32::from(v & 0x1f);
    (v << 3) | (v >> 2)
}

/// Decodes `bmp`. `palette` is the resolved palette for indexed formats.
pub fn decode_bitmap(bmp: &BitmapRef<'_>, palette: Option<&[u32]>) -> Result<Image> {
    let bpp = bits_per_pixel(bmp.format).ok_or_else(|| err("unknown bitmap format"))?;
    let (w, h) = (u64::from(bmp.width), u64::from(bmp.height));
    // Each side is checked on its own too: a zero width would otherwise
    // let billions of empty rows through the product check.
    if w * h > MAX_PIXELS || w > MAX_PIXELS || h > MAX_PIXELS {
        return Err(err("image too large"));
    }
    if w == 0 || h == 0 {
        return Ok(Image {
            width: bmp.width,
            height: bmp.height,
            pixels: Vec::new(),
        });
    }
    let row_bytes = (w * bpp).div_ceil(8);
    if u64::from(bmp.stride) < row_bytes {
        return Err(err("stride shorter than a row"));
    }
    if (bmp.data.len() as u64) < u64::from(bmp.stride) * h {
        return Err(err("data shorter than stride * height"));
    }
    let indexed = bpp <= 8 && bmp.format != 10;
    let pal = if indexed {
        Some(palette.ok_or_else(|| err("indexed bitmap without a palette"))?)
    } else {
        None
    };
    let mut pixels = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        let src_y = if bmp.top_down() { y } else { h - 1 - y };
        let start = (src_y * u64::from(bmp.stride)) as usize;
        let row = bmp
            .data
            .get(start..start + row_bytes as usize)
            .ok_or_else(|| err("row past the end"))?;
        decode_row(bmp.format, row, w as usize, pal, &mut pixels)?;
    }
    Ok(Image {
        width: bmp.width,
        height: bmp.height,
        pixels,
    })
}

fn decode_row(
    format: u8,
    row: &[u8],
    w: usize,
    pal: Option<&[u32]>,
    out: &mut Vec<u32>,
) -> Result<()> {
    match format {
        8 | 9 => out.extend(
            row.chunks_exact(4)
                .take(w)
                .map(|p| u32::from_le_bytes([p[0], p[1], p[2], 0])),
        ),
        7 => out.extend(
            row.chunks_exact(3)
                .take(w)
                .map(|p| u32::from_le_bytes([p[0], p[1], p[2], 0])),
        ),
        6 => out.extend(row.chunks_exact(2).take(w).map(|p| {
            let v = u16::from_le_bytes([p[0], p[1]]);
            (expand5(v >> 10) << 16) | (expand5(v >> 5) << 8) | expand5(v)
        })),
        10 => out.extend(row.iter().take(w).map(|&a| u32::from(a) * 0x010101)),
        _ => {
            let pal = pal.ok_or_else(|| err("indexed bitmap without a palette"))?;
            let bits: usize = match format {
                1 | 2 => 1,
                3 | 4 => 4,
                _ => 8,
            };
            let per_byte = 8 / bits;
            let little_endian = format == 1 || format == 3;
            for x in 0..w {
                let byte = *row
                    .get(x / per_byte)
                    .ok_or_else(|| err("row past the end"))?;
                let slot = x % per_byte;
                let shift = if little_endian {
                    slot * bits
                } else {
                    8 - bits - slot * bits
                };
                let index = (byte >> shift) as usize & ((1 << bits) - 1);
                let color = *pal
                    .get(index)
                    .ok_or_else(|| err("palette index out of range"))?;
                out.push(color & 0x00ff_ffff);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::display::PaletteRef;

    fn bmp(format: u8, flags: u8, w: u32, h: u32, stride: u32, data: &[u8]) -> BitmapRef<'_> {
        BitmapRef {
            format,
            flags,
            width: w,
            height: h,
            stride,
            palette: PaletteRef::None,
            data,
        }
    }

    #[test]
    fn formats_and_row_order() {
        // 32-bit, bottom-up: the first row in memory is the bottom row.
        let data = [1, 2, 3, 0xff, 4, 5, 6, 0xff];
        let img = decode_bitmap(&bmp(8, 0, 1, 2, 4, &data), None).unwrap();
        assert_eq!(img.pixels, vec![0x060504, 0x030201]);
        let img = decode_bitmap(&bmp(8, 4, 1, 2, 4, &data), None).unwrap();
        assert_eq!(img.pixels, vec![0x030201, 0x060504]);
        // 24-bit with a padded stride.
        let data = [1, 2, 3, 9, 4, 5, 6, 9];
        let img = decode_bitmap(&bmp(7, 4, 1, 2, 4, &data), None).unwrap();
        assert_eq!(img.pixels, vec![0x030201, 0x060504]);
        // 16-bit 555: pure red and white.
        let data = 0x7c00u16
            .to_le_bytes()
            .into_iter()
            .chain(0x7fffu16.to_le_bytes());
        let data: Vec<u8> = data.collect();
        let img = decode_bitmap(&bmp(6, 4, 2, 1, 4, &data), None).unwrap();
        assert_eq!(img.pixels, vec![0xff0000, 0xffffff]);
        // 1-bit big-endian with a palette.
        let img = decode_bitmap(&bmp(2, 4, 3, 1, 1, &[0b1010_0000]), Some(&[0, 0xabcdef])).unwrap();
        assert_eq!(img.pixels, vec![0xabcdef, 0, 0xabcdef]);
    }

    #[test]
    fn hostile_bitmaps_are_errors() {
        assert!(decode_bitmap(&bmp(8, 4, 2, 2, 4, &[0; 16]), None).is_err());
        assert!(decode_bitmap(&bmp(8, 4, 1, 2, 4, &[0; 7]), None).is_err());
        assert!(decode_bitmap(&bmp(8, 4, 1 << 20, 1 << 20, 4, &[]), None).is_err());
        assert!(decode_bitmap(&bmp(8, 4, 0, u32::MAX, 0, &[]), None).is_err());
        assert!(decode_bitmap(&bmp(8, 4, 0, 3, 0, &[]), None)
            .unwrap()
            .pixels
            .is_empty());
        assert!(decode_bitmap(&bmp(42, 4, 1, 1, 4, &[0; 4]), None).is_err());
        assert!(decode_bitmap(&bmp(5, 4, 1, 1, 1, &[3]), Some(&[0, 1])).is_err());
        assert!(decode_bitmap(&bmp(5, 4, 1, 1, 1, &[0]), None).is_err());
    }
}
