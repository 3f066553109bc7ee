//! A surface's framebuffer, the raster operations drawn onto it and its
//! list of dirty rectangles.

use crate::msg::display::Rect;
use crate::proto::ropd;

/// How many separate dirty rectangles a surface keeps before collapsing
/// them into their bounding box; consumers repaint a box just as well, and
/// the list must not grow without bound if nobody drains it.
const MAX_DIRTY: usize = 64;

/// One surface: `width * height` pixels in 0x00RRGGBB, rows top-down.
#[derive(Clone, Debug)]
pub struct Surface {
    pub width: u32,
    pub height: u32,
    pub format: u32,
    pub primary: bool,
    pub pixels: Vec<u32>,
    dirty: Vec<Rect>,
}

impl Surface {
    pub fn new(width: u32, height: u32, format: u32, primary: bool) -> Self {
        let mut s = Surface {
            width,
            height,
            format,
            primary,
            pixels: vec![0; width as usize * height as usize],
            dirty: Vec::new(),
        };
        s.mark_dirty(s.bounds());
        s
    }

    pub fn bounds(&self) -> Rect {
        Rect {
            top: 0,
            left: 0,
            bottom: i32::try_from(self.height).unwrap_or(i32::MAX),
            right: i32::try_from(self.width).unwrap_or(i32::MAX),
        }
    }

    /// Records that `r` changed.
    pub fn mark_dirty(&mut self, r: Rect) {
        let r = r.intersect(&self.bounds());
        if r.is_empty() {
            return;
        }
        if self.dirty.len() >= MAX_DIRTY {
            let mut all = r;
            for d in self.dirty.drain(..) {
                all.top = all.top.min(d.top);
                all.left = all.left.min(d.left);
                all.bottom = all.bottom.max(d.bottom);
                all.right = all.right.max(d.right);
            }
            self.dirty.push(all);
        } else {
            self.dirty.push(r);
        }
    }

    /// The rectangles changed since the last call.
    pub fn take_dirty(&mut self) -> Vec<Rect> {
        std::mem::take(&mut self.dirty)
    }

    /// The areas a command may touch: its box, cut by the clip rectangles
    /// and the surface bounds, as disjoint non-empty rectangles. Disjoint
    /// matters: a raster operation such as XOR must hit each pixel once,
    /// however the server's clip rectangles overlap.
    pub fn clip_areas(&self, bbox: &Rect, clip: Option<&[Rect]>) -> Vec<Rect> {
        let bbox = bbox.intersect(&self.bounds());
        if bbox.is_empty() {
            return Vec::new();
        }
        let Some(rects) = clip else {
            return vec![bbox];
        };
        let rects: Vec<Rect> = rects
            .iter()
            .map(|c| c.intersect(&bbox))
            .filter(|r| !r.is_empty())
            .collect();
        let overlap = |a: &Rect, b: &Rect| !a.intersect(b).is_empty();
        let disjoint = rects.len() <= 16
            && rects
                .iter()
                .enumerate()
                .all(|(i, a)| rects.iter().skip(i + 1).all(|b| !overlap(a, b)));
        if disjoint {
            return rects;
        }
        union_rows(&bbox, &rects)
    }

    fn index(&self, x: i32, y: i32) -> usize {
        y as usize * self.width as usize + x as usize
    }

    /// Sets each pixel of `area` (already inside the surface) to
    /// `f(x, y, old)`.
    pub fn paint(&mut self, area: &Rect, mut f: impl FnMut(i32, i32, u32) -> u32) {
        let area = area.intersect(&self.bounds());
        if area.is_empty() {
            return;
        }
        for y in area.top..area.bottom {
            let start = self.index(area.left, y);
            let end = self.index(area.right, y);
            if let Some(row) = self.pixels.get_mut(start..end) {
                for (px, x) in row.iter_mut().zip(area.left..) {
                    *px = f(x, y, *px) & 0x00ff_ffff;
                }
            }
        }
        self.mark_dirty(area);
    }

    /// Puts the pixels of `src` (`src_w` wide), starting at (sx, sy), into
    /// `area` row by row: the plain copy that most drawing is, without a
    /// raster operation per pixel. Returns false, changing nothing, unless
    /// `area` lies inside the surface and the source rectangle inside `src`.
    pub fn put_rows(
        &mut self,
        area: &Rect,
        src: &[u32],
        src_w: usize,
        sx: usize,
        sy: usize,
    ) -> bool {
        if area.is_empty() || area.intersect(&self.bounds()) != *area {
            return false;
        }
        let (w, h) = (area.width() as usize, area.height() as usize);
        let fits = sx.checked_add(w).is_some_and(|r| r <= src_w)
            && sy
                .checked_add(h)
                .and_then(|b| b.checked_mul(src_w))
                .is_some_and(|end| end <= src.len());
        if !fits {
            return false;
        }
        for row in 0..h {
            let dst = self.index(area.left, area.top + row as i32);
            let from = (sy + row) * src_w + sx;
            let out = &mut self.pixels[dst..dst + w];
            for (d, s) in out.iter_mut().zip(&src[from..from + w]) {
                *d = s & 0x00ff_ffff;
            }
        }
        self.mark_dirty(*area);
        true
    }

    /// Copies the pixels of `area` from (area + offset); source pixels
    /// outside the surface read as black. Copies through a temporary so that
    /// overlapping source and destination work in either direction.
    pub fn copy_within(&mut self, area: &Rect, dx: i32, dy: i32) {
        let area = area.intersect(&self.bounds());
        if area.is_empty() {
            return;
        }
        let mut tmp = Vec::with_capacity((area.width() * area.height()) as usize);
        for y in area.top..area.bottom {
            for x in area.left..area.right {
                tmp.push(self.get(x.saturating_add(dx), y.saturating_add(dy)));
            }
        }
        let mut it = tmp.into_iter();
        self.paint(&area, |_, _, old| it.next().unwrap_or(old));
    }

    /// The pixel at (x, y), or black outside the surface.
    pub fn get(&self, x: i32, y: i32) -> u32 {
        if x < 0 || y < 0 || x as u32 >= self.width || y as u32 >= self.height {
            return 0;
        }
        self.pixels.get(self.index(x, y)).copied().unwrap_or(0)
    }
}

/// The union of `rects` (all inside `bbox`) as one-row runs. A 2-D
/// difference array makes this linear in the number of rectangles plus the
/// box area, so thousands of overlapping clip rectangles cost no more than
/// painting the box once.
fn union_rows(bbox: &Rect, rects: &[Rect]) -> Vec<Rect> {
    let w = bbox.width() as usize;
    let h = bbox.height() as usize;
    let stride = w + 1;
    let mut diff = vec![0i32; stride * (h + 1)];
    let mut bump = |x: i32, y: i32, v: i32| {
        let (x, y) = ((x - bbox.left) as usize, (y - bbox.top) as usize);
        if let Some(d) = diff.get_mut(y * stride + x) {
            *d += v;
        }
    };
    for r in rects {
        bump(r.left, r.top, 1);
        bump(r.right, r.top, -1);
        bump(r.left, r.bottom, -1);
        bump(r.right, r.bottom, 1);
    }
    let mut out = Vec::new();
    let mut above = vec![0i32; w];
    for row in 0..h {
        let mut acc = 0;
        let mut run_start = None;
        for x in 0..=w {
            let covered = if x < w {
                acc += diff.get(row * stride + x).copied().unwrap_or(0);
                let cell = above.get_mut(x).map(|a| {
                    *a += acc;
                    *a
                });
                cell.unwrap_or(0) > 0
            } else {
                false
            };
            match (covered, run_start) {
                (true, None) => run_start = Some(x),
                (false, Some(start)) => {
                    let y = bbox.top + row as i32;
                    out.push(Rect {
                        top: y,
                        bottom: y + 1,
                        left: bbox.left + start as i32,
                        right: bbox.left + x as i32,
                    });
                    run_start = None;
                }
                _ => {}
            }
        }
    }
    out
}

/// Combines a source (or brush) pixel with the destination per the raster
/// operation descriptor. `src_invert` is the bit that inverts this source
/// (INVERS_SRC for copies, INVERS_BRUSH for fills).
pub fn apply_rop(rop: u16, src_invert: u16, src: u32, dst: u32) -> u32 {
    let s = if rop & src_invert != 0 { !src } else { src };
    let d = if rop & ropd::INVERS_DEST != 0 {
        !dst
    } else {
        dst
    };
    let res = if rop & ropd::OP_PUT != 0 {
        s
    } else if rop & ropd::OP_OR != 0 {
        s | d
    } else if rop & ropd::OP_AND != 0 {
        s & d
    } else if rop & ropd::OP_XOR != 0 {
        s ^ d
    } else if rop & ropd::OP_BLACKNESS != 0 {
        0
    } else if rop & ropd::OP_WHITENESS != 0 {
        0x00ff_ffff
    } else if rop & ropd::OP_INVERS != 0 {
        !d
    } else {
        // No operation bit: the destination stays as it is.
        dst
    };
    let res = if rop & ropd::INVERS_RES != 0 {
        !res
    } else {
        res
    };
    res & 0x00ff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(left: i32, top: i32, right: i32, bottom: i32) -> Rect {
        Rect {
            top,
            left,
            bottom,
            right,
        }
    }

    #[test]
    fn put_rows_copies_exactly_or_refuses() {
        let mut s = Surface::new(4, 4, 32, true);
        s.take_dirty();
        // A 3-wide source whose alpha byte must not reach the surface.
        let src: Vec<u32> = (0..9).map(|i| 0xff00_0000 | i).collect();
        assert!(s.put_rows(&r(1, 1, 3, 3), &src, 3, 1, 1));
        assert_eq!(&s.pixels[5..7], &[4, 5]);
        assert_eq!(&s.pixels[9..11], &[7, 8]);
        assert_eq!(s.take_dirty(), vec![r(1, 1, 3, 3)]);
        let before = s.pixels.clone();
        // Source too small, area outside the surface, empty area.
        assert!(!s.put_rows(&r(0, 0, 2, 2), &src, 3, 2, 0));
        assert!(!s.put_rows(&r(0, 0, 2, 2), &src, 3, 0, 2));
        assert!(!s.put_rows(&r(3, 3, 5, 5), &src, 3, 0, 0));
        assert!(!s.put_rows(&r(2, 2, 2, 2), &src, 3, 0, 0));
        assert!(!s.put_rows(&r(0, 0, 2, 2), &src, usize::MAX, usize::MAX, 0));
        assert_eq!(s.pixels, before);
        assert!(s.take_dirty().is_empty());
    }

    #[test]
    fn paint_is_clipped_to_the_surface() {
        let mut s = Surface::new(4, 4, 32, true);
        s.take_dirty();
        s.paint(&r(-10, 2, 100, 100), |_, _, _| 0xffffff);
        assert_eq!(s.pixels.iter().filter(|&&p| p == 0xffffff).count(), 8);
        assert_eq!(s.take_dirty(), vec![r(0, 2, 4, 4)]);
    }

    #[test]
    fn overlapping_copy_scrolls_up() {
        let mut s = Surface::new(1, 4, 32, true);
        s.pixels = vec![1, 2, 3, 4];
        s.copy_within(&r(0, 0, 1, 3), 0, 1);
        assert_eq!(s.pixels, vec![2, 3, 4, 4]);
        s.copy_within(&r(0, 1, 1, 4), 0, -1);
        assert_eq!(s.pixels, vec![2, 2, 3, 4]);
    }

    #[test]
    fn overlapping_clips_paint_each_pixel_once() {
        let s = Surface::new(8, 8, 32, true);
        let many = vec![r(0, 0, 4, 4); 20];
        let mut clip = many.clone();
        clip.push(r(2, 2, 6, 6));
        let areas = s.clip_areas(&r(0, 0, 8, 8), Some(&clip));
        let mut count = [0u8; 64];
        for a in &areas {
            for y in a.top..a.bottom {
                for x in a.left..a.right {
                    count[(y * 8 + x) as usize] += 1;
                }
            }
        }
        assert_eq!(count.iter().filter(|&&c| c == 1).count(), 16 + 16 - 4);
        assert!(count.iter().all(|&c| c <= 1));
        // Two overlapping rectangles below the fast-path limit too.
        let two = s.clip_areas(&r(0, 0, 8, 8), Some(&[r(0, 0, 2, 1), r(1, 0, 3, 1)]));
        assert_eq!(two.iter().map(|a| a.width()).sum::<i64>(), 3);
    }

    #[test]
    fn dirty_list_is_bounded() {
        let mut s = Surface::new(100, 100, 32, true);
        for i in 0..100 {
            s.mark_dirty(r(i, i, i + 1, i + 1));
        }
        assert!(s.take_dirty().len() <= MAX_DIRTY);
    }

    #[test]
    fn rops() {
        assert_eq!(apply_rop(ropd::OP_PUT, ropd::INVERS_SRC, 5, 9), 5);
        assert_eq!(apply_rop(ropd::OP_XOR, ropd::INVERS_SRC, 5, 3), 6);
        assert_eq!(
            apply_rop(ropd::OP_PUT | ropd::INVERS_SRC, ropd::INVERS_SRC, 0, 9),
            0xffffff
        );
        assert_eq!(apply_rop(0, ropd::INVERS_SRC, 1, 9), 9);
    }
}
