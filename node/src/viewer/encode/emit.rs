//! From marked tiles to messages: merging, FILL/PNG/JPEG per rectangle, the
//! shadow and lossy bookkeeping that follows, and COPY applied to the shadow.

use std::time::Instant;

use super::scroll::Shift;
use super::tiles::Class;
use super::{codec, wire, EncodeError, Encoded, Encoder, Kind, PRect};

impl Encoder {
    /// Applies a COPY to the shadow, and moves "lossy" with the pixels: a
    /// destination tile is lossy if any tile its pixels came from was.
    pub(super) fn apply_shift(&mut self, s: Shift, now: Instant) {
        let stride = self.width as usize;
        let (x0, x1) = (s.x0 as usize, s.x1 as usize);
        let copy_row = |shadow: &mut Vec<u32>, k: u32| {
            let src = (s.src_y + k) as usize * stride;
            let dst = (s.dst_y + k) as usize * stride;
            shadow.copy_within(src + x0..src + x1, dst + x0);
        };
        // Rows are copied in the order that reads each source row before
        // it is overwritten.
        if s.src_y > s.dst_y {
            (0..s.h).for_each(|k| copy_row(&mut self.shadow, k));
        } else {
            (0..s.h).rev().for_each(|k| copy_row(&mut self.shadow, k));
        }

        if self.tiles.lossy_count == 0 || s.h == 0 {
            return;
        }
        let g = self.grid;
        let band = PRect {
            x0: s.x0,
            y0: s.dst_y,
            x1: s.x1,
            y1: s.dst_y + s.h,
        };
        let (cx0, cx1, ry0, ry1) = g.span(band);
        let mut old = std::mem::take(&mut self.lossy_old);
        old.clear();
        old.extend(self.tiles.lossy_at.iter().map(Option::is_some));
        for ty in ry0..ry1 {
            let tile_y = g.tile(0, ty);
            let (a, b) = (tile_y.y0.max(band.y0), tile_y.y1.min(band.y1));
            // Source rows of this tile's share of the band.
            let (sa, sb) = (a - s.dst_y + s.src_y, b - s.dst_y + s.src_y);
            let (sy0, sy1) = (sa / g.th, (sb - 1) / g.th + 1);
            for tx in cx0..cx1 {
                let i = g.index(tx, ty);
                let from_lossy = (sy0..sy1).any(|sy| old[g.index(tx, sy)]);
                let tile = g.tile(tx, ty);
                let covered = band.x0 <= tile.x0
                    && band.x1 >= tile.x1
                    && band.y0 <= tile.y0
                    && band.y1 >= tile.y1;
                let lossy = from_lossy || (!covered && old[i]);
                let at = if lossy { Some(now) } else { None };
                self.tiles.set_lossy(i, at);
            }
        }
        self.lossy_old = old;
    }

    /// Merges the marks into rectangles and appends their messages; copies
    /// what was sent into the shadow and records which tiles are now lossy.
    pub(super) fn emit(
        &mut self,
        fb: &[u32],
        lag: u32,
        now: Instant,
        out: &mut Vec<Encoded>,
    ) -> Result<(), EncodeError> {
        let stride = self.width as usize;
        self.merged.clear();
        self.merger.merge(&self.grid, &self.marks, &mut self.merged);
        let quality = self.quality(lag);
        for k in 0..self.merged.len() {
            let m = self.merged[k];
            if m.bbox.is_empty() {
                continue;
            }
            // Rows per message, so that even incompressible pixels keep a
            // message under the limit.
            let rows = (self.cfg.max_image_raw_bytes / (m.bbox.w() as usize * 3)).max(1) as u32;
            let mut y = m.bbox.y0;
            // One colour throughout (a cleared screen): one FILL, whatever
            // its size.
            if let Some(rgb) = codec::uniform(fb, stride, m.bbox) {
                out.push(fill(m.bbox, rgb));
                y = m.bbox.y1;
            }
            while y < m.bbox.y1 {
                let part = PRect {
                    y0: y,
                    y1: (y + rows).min(m.bbox.y1),
                    ..m.bbox
                };
                y = part.y1;
                out.push(self.encode_rect(fb, stride, part, m.class, quality)?);
            }
            for row in m.bbox.y0..m.bbox.y1 {
                let o = row as usize * stride;
                let (a, b) = (o + m.bbox.x0 as usize, o + m.bbox.x1 as usize);
                self.shadow[a..b].copy_from_slice(&fb[a..b]);
            }
            // Lossy: every tile the JPEG touched is approximate now.
            // Lossless: a tile is exact only if it was sent whole (tiles the
            // browser held lossy are always marked whole, see encode_inner).
            let (cx0, cx1, ry0, ry1) = self.grid.span(m.bbox);
            for ty in ry0..ry1 {
                for tx in cx0..cx1 {
                    let i = self.grid.index(tx, ty);
                    if m.class == Class::Lossy {
                        self.tiles.set_lossy(i, Some(now));
                    } else if m.bbox.contains(self.grid.tile(tx, ty)) {
                        self.tiles.set_lossy(i, None);
                    }
                }
            }
        }
        Ok(())
    }

    /// One message for `r`: FILL when it is one colour, else PNG or JPEG.
    fn encode_rect(
        &mut self,
        fb: &[u32],
        stride: usize,
        r: PRect,
        class: Class,
        quality: u8,
    ) -> Result<Encoded, EncodeError> {
        // Inside the screen: every coordinate is at most MAX_SIDE.
        let (x, y, w, h) = (r.x0 as u16, r.y0 as u16, r.w() as u16, r.h() as u16);
        if let Some(rgb) = codec::uniform(fb, stride, r) {
            return Ok(fill(r, rgb));
        }
        let (kind, codec) = if class == Class::Lossy {
            (Kind::Jpeg, wire::CODEC_JPEG)
        } else {
            (Kind::Png, wire::CODEC_PNG)
        };
        // The message leaves with the frame, so it is a fresh buffer. Text
        // compresses to well under a byte per pixel; a few regrowths for
        // photos cost less than holding oversized buffers in the window.
        let mut m =
            Vec::with_capacity(wire::IMAGE_HEADER_LEN + 64 + r.w() as usize * r.h() as usize / 8);
        wire::image_header(&mut m, x, y, w, h, codec);
        if class == Class::Lossy {
            self.codec.jpeg(fb, stride, r, quality, &mut m)?;
        } else {
            self.codec.png(fb, stride, r, &mut m)?;
        }
        Ok(Encoded { kind, bytes: m })
    }
}

/// A FILL of `r` (inside the screen, so every coordinate fits a u16).
fn fill(r: PRect, rgb: u32) -> Encoded {
    Encoded {
        kind: Kind::Fill,
        bytes: wire::fill(r.x0 as u16, r.y0 as u16, r.w() as u16, r.h() as u16, rgb),
    }
}
