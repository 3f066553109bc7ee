//! GLZ_RGB: LZ with a dictionary shared across images (spice-gtk
//! `decode-glz.c`).
//!
//! Each image carries a 64-bit id, and a back-reference may point into an
//! earlier image by its distance in ids. The server tells the client, in
//! every header, how far back its own window reaches (`win_head_dist`);
//! the client keeps decoded images until they fall out of that window or
//! out of the pixel budget it announced in DISPLAY_INIT.
//!
//! The header is 33 bytes, big-endian: magic, version, one byte holding
//! the LZ image type (low four bits) and top_down (high bits), width,
//! height, stride, the u64 id and the u32 `win_head_dist`.

use std::collections::BTreeMap;

use super::lz::{self, Reader};
use super::Image;
use crate::error::{Error, Result};

/// One decoded image kept for later references, in stream row order (the
/// order references count pixels in, whatever `top_down` says).
struct Entry {
    pixels: Vec<u32>,
}

/// The client side of a GLZ dictionary: the images still inside the
/// server's window.
pub struct GlzDictionary {
    /// Pixel budget announced to the server; memory stays within it (plus
    /// the one image being decoded).
    window_size: usize,
    images: BTreeMap<u64, Entry>,
    /// Sum of the pixel counts in `images`.
    held: usize,
}

struct Header {
    bpp: usize,
    width: u32,
    height: u32,
    top_down: bool,
    id: u64,
    win_head_dist: u32,
}

fn header(r: &mut Reader<'_>) -> Result<Header, &'static str> {
    if r.be32()? != lz::MAGIC {
        return Err("bad magic");
    }
    if r.be32()? != lz::VERSION {
        return Err("unsupported version");
    }
    let flags = r.u8()?;
    let ty = u32::from(flags & 0x0f);
    let top_down = flags >> 4 != 0;
    let width = r.be32()?;
    let height = r.be32()?;
    let stride = r.be32()?;
    let id = (u64::from(r.be32()?) << 32) | u64::from(r.be32()?);
    let win_head_dist = r.be32()?;
    let bpp = lz::bytes_per_pixel(ty)?;
    if u64::from(stride) != u64::from(width) * bpp as u64 {
        return Err("stride does not match width");
    }
    Ok(Header {
        bpp,
        width,
        height,
        top_down,
        id,
        win_head_dist,
    })
}

impl GlzDictionary {
    /// A dictionary for a window of `window_size` pixels, the value the
    /// client sends as `glz_dictionary_window_size` in DISPLAY_INIT.
    pub fn new(window_size: usize) -> Self {
        GlzDictionary {
            window_size,
            images: BTreeMap::new(),
            held: 0,
        }
    }

    /// Number of images currently held.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether no image is held.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Drops every image, as when the server resets the dictionary.
    pub fn clear(&mut self) {
        self.images.clear();
        self.held = 0;
    }

    /// Decodes a GLZ_RGB payload (the bytes after its `data_size`) and
    /// keeps the image for later references.
    pub fn decode(&mut self, data: &[u8]) -> Result<Image> {
        self.decode_inner(data).map_err(|reason| Error::Decode {
            codec: "glz",
            reason,
        })
    }

    fn decode_inner(&mut self, data: &[u8]) -> Result<Image, &'static str> {
        let mut r = Reader::new(data);
        let h = header(&mut r)?;
        let n = lz::checked_pixels(h.width, h.height, r.remaining())?;
        let mut pixels = vec![0u32; n];
        if h.bpp == 2 {
            self.decompress::<2>(&mut r, &mut pixels, h.id)?;
        } else {
            self.decompress::<3>(&mut r, &mut pixels, h.id)?;
        }
        // RGBA's alpha stream follows; Image has no alpha, so it is skipped.

        let mut out = pixels.clone();
        if !h.top_down {
            lz::flip_rows(&mut out, h.width as usize);
        }
        self.insert(h.id, h.win_head_dist, pixels);
        Ok(Image {
            width: h.width,
            height: h.height,
            pixels: out,
        })
    }

    fn insert(&mut self, id: u64, win_head_dist: u32, pixels: Vec<u32>) {
        self.held += pixels.len();
        if let Some(old) = self.images.insert(id, Entry { pixels }) {
            self.held -= old.pixels.len();
        }
        // The server references nothing older than id - win_head_dist.
        let oldest = id.saturating_sub(u64::from(win_head_dist));
        // Nor anything that would overflow the announced window; the newest
        // image always stays, even if it alone exceeds the window.
        while let Some(entry) = self.images.first_entry() {
            let too_old = *entry.key() < oldest;
            let over_budget = self.held > self.window_size && *entry.key() != id;
            if !too_old && !over_budget {
                break;
            }
            self.held -= entry.remove().pixels.len();
        }
    }

    /// The GLZ stream: like LZ, but a reference also names an image.
    fn decompress<const BPP: usize>(
        &self,
        r: &mut Reader<'_>,
        out: &mut [u32],
        id: u64,
    ) -> Result<(), &'static str> {
        // RGB32 matches are at least one pixel long, RGB16 ones two.
        let len_bias = if BPP == 2 { 1 } else { 0 };
        let n = out.len();
        let mut op = 0;
        while op < n {
            let ctrl = usize::from(r.u8()?);
            if ctrl < 32 {
                op = lz::copy_literals::<BPP>(r, out, op, ctrl + 1)?;
                continue;
            }
            let mut len = ctrl >> 5;
            let mut pixel_ofs = ctrl & 0x0f;
            if len == 7 {
                loop {
                    let c = r.u8()?;
                    len += usize::from(c);
                    if c != 255 {
                        break;
                    }
                }
            }
            pixel_ofs += usize::from(r.u8()?) << 4;
            let code = r.u8()?;
            let image_bytes = usize::from(code >> 6);
            let mut image_dist: u64;
            if ctrl & 0x10 == 0 {
                // Short pixel offset: six bits of image distance here.
                image_dist = u64::from(code & 0x3f);
                for i in 0..image_bytes {
                    image_dist += u64::from(r.u8()?) << (6 + 8 * i);
                }
            } else {
                // Long pixel offset: five more offset bits here, maybe a
                // byte more after the image distance.
                pixel_ofs += usize::from(code & 0x1f) << 12;
                image_dist = 0;
                for i in 0..image_bytes {
                    image_dist += u64::from(r.u8()?) << (8 * i);
                }
                if code & 0x20 != 0 {
                    pixel_ofs += usize::from(r.u8()?) << 17;
                }
            }
            len += len_bias;
            if image_dist == 0 {
                lz::copy_back(out, op, pixel_ofs + 1, len)?;
            } else {
                let src_id = id
                    .checked_sub(image_dist)
                    .ok_or("reference to an image before id 0")?;
                let src = self
                    .images
                    .get(&src_id)
                    .ok_or("reference to an image outside the window")?;
                let from = pixel_ofs
                    .checked_add(len)
                    .and_then(|end| src.pixels.get(pixel_ofs..end))
                    .ok_or("reference past the end of an earlier image")?;
                op.checked_add(len)
                    .and_then(|end| out.get_mut(op..end))
                    .ok_or("reference past the image end")?
                    .copy_from_slice(from);
            }
            op += len;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(id: u64, w: u32, h: u32, top_down: bool, win_head_dist: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&lz::MAGIC.to_be_bytes());
        v.extend_from_slice(&lz::VERSION.to_be_bytes());
        v.push(lz::TYPE_RGB32 as u8 | (u8::from(top_down) << 4));
        for word in [w, h, w.wrapping_mul(4)] {
            v.extend_from_slice(&word.to_be_bytes());
        }
        v.extend_from_slice(&id.to_be_bytes());
        v.extend_from_slice(&win_head_dist.to_be_bytes());
        v
    }

    fn literals(out: &mut Vec<u8>, px: &[u32]) {
        for chunk in px.chunks(32) {
            out.push((chunk.len() - 1) as u8);
            for &p in chunk {
                out.extend_from_slice(&[p as u8, (p >> 8) as u8, (p >> 16) as u8]);
            }
        }
    }

    /// A reference of `len` pixels: inside the image `dist` pixels back
    /// when `image_dist` is 0, else at pixel `dist` of image id - image_dist.
    fn reference(out: &mut Vec<u8>, len: usize, dist: usize, image_dist: u64) {
        let ofs = if image_dist == 0 { dist - 1 } else { dist };
        let long = ofs >= 1 << 12 || image_dist >= 1 << 30;
        let very_long = ofs >= 1 << 17;
        let extra = if long {
            (0..3).find(|&k| image_dist < 1 << (8 * k)).unwrap_or(3)
        } else {
            (0..3).find(|&k| image_dist < 1 << (6 + 8 * k)).unwrap_or(3)
        };
        let top = len.min(7) << 5;
        out.push((top | usize::from(long) << 4 | (ofs & 0xf)) as u8);
        if len >= 7 {
            let mut rem = len - 7;
            while rem >= 255 {
                out.push(255);
                rem -= 255;
            }
            out.push(rem as u8);
        }
        out.push((ofs >> 4) as u8);
        if long {
            out.push((extra << 6 | usize::from(very_long) << 5 | ((ofs >> 12) & 0x1f)) as u8);
            for k in 0..extra {
                out.push((image_dist >> (8 * k)) as u8);
            }
            if very_long {
                out.push((ofs >> 17) as u8);
            }
        } else {
            out.push((extra << 6) as u8 | (image_dist & 0x3f) as u8);
            for k in 0..extra {
                out.push((image_dist >> (6 + 8 * k)) as u8);
            }
        }
    }

    fn first_image() -> (Vec<u8>, Vec<u32>) {
        let px: Vec<u32> = (0..64u32).map(|i| (i * 0x030507) & 0xff_ffff).collect();
        let mut v = header(10, 8, 8, true, 0);
        literals(&mut v, &px);
        (v, px)
    }

    #[test]
    fn references_within_and_across_images() {
        let mut dict = GlzDictionary::new(1 << 20);
        let (first, px1) = first_image();
        assert_eq!(dict.decode(&first).unwrap().pixels, px1);

        // 100x50: a run, a copy of the row above, a long offset inside the
        // image, and copies out of image 10 with short and long coding.
        let (w, h) = (100usize, 50usize);
        let mut expect = vec![0u32; w * h];
        let mut v = header(12, w as u32, h as u32, true, 5);
        literals(&mut v, &[7, 8]);
        expect[..2].copy_from_slice(&[7, 8]);
        reference(&mut v, 298, 1, 0); // run of 8
        expect[2..300].fill(8);
        reference(&mut v, 20, 0, 2); // image 10, pixels 0..20
        expect[300..320].copy_from_slice(&px1[..20]);
        reference(&mut v, 4180, 320, 0); // repeats the first 320 pixels
        for i in 320..4500 {
            expect[i] = expect[i - 320];
        }
        reference(&mut v, 30, 4400, 0); // 12-bit-plus offset: long coding
        for i in 4500..4530 {
            expect[i] = expect[i - 4400];
        }
        reference(&mut v, 40, 24, 2); // image 10, pixels 24..64
        expect[4530..4570].copy_from_slice(&px1[24..]);
        literals(&mut v, &[1; 430]);
        expect[4570..].fill(1);
        assert_eq!(dict.decode(&v).unwrap().pixels, expect);
        assert_eq!(dict.len(), 2);
    }

    #[test]
    fn bottom_up_references_count_in_stream_order() {
        let mut dict = GlzDictionary::new(1 << 20);
        let mut v = header(1, 2, 2, false, 0);
        literals(&mut v, &[1, 2, 3, 4]);
        assert_eq!(dict.decode(&v).unwrap().pixels, [3, 4, 1, 2]);
        let mut v = header(2, 2, 1, true, 1);
        reference(&mut v, 2, 0, 1);
        assert_eq!(dict.decode(&v).unwrap().pixels, [1, 2]);
    }

    #[test]
    fn images_leave_the_window() {
        let mut dict = GlzDictionary::new(1 << 20);
        dict.decode(&first_image().0).unwrap();
        // Image 11 says the server's window starts at itself: 10 is gone.
        let mut v = header(11, 1, 1, true, 0);
        literals(&mut v, &[5]);
        dict.decode(&v).unwrap();
        assert_eq!(dict.len(), 1);
        let mut v = header(12, 1, 1, true, 2);
        reference(&mut v, 1, 0, 2);
        assert!(dict.decode(&v).is_err());
    }

    #[test]
    fn pixel_budget_bounds_memory() {
        let mut dict = GlzDictionary::new(100);
        for id in 0..10u64 {
            let mut v = header(id, 8, 8, true, 1000);
            literals(&mut v, &[id as u32; 64]);
            dict.decode(&v).unwrap();
            assert!(dict.held <= 100 || dict.len() == 1);
        }
        assert_eq!(dict.len(), 1);
    }

    #[test]
    fn hostile_references_are_errors() {
        let mut dict = GlzDictionary::new(1 << 20);
        dict.decode(&first_image().0).unwrap();
        let cases: [(usize, usize, u64); 5] = [
            (1, 0, 3),   // id 7: never seen
            (1, 0, 11),  // before id 0
            (10, 60, 1), // past the end of image 10
            (1, 1, 0),   // before this image's start
            (65, 0, 1),  // longer than this image
        ];
        for (len, dist, image_dist) in cases {
            let mut v = header(11, 8, 8, true, 10);
            reference(&mut v, len, dist, image_dist);
            literals(&mut v, &[0; 64][..64usize.saturating_sub(len)]);
            assert!(dict.decode(&v).is_err(), "{len} {dist} {image_dist}");
        }
        let (first, _) = first_image();
        for cut in 0..first.len() {
            assert!(GlzDictionary::new(100).decode(&first[..cut]).is_err());
        }
        let mut huge = header(1, 1 << 16, 1 << 16, true, 0);
        literals(&mut huge, &[0]);
        assert!(dict.decode(&huge).is_err());
    }
}
