//! Vertical scroll detection: is the dirty area the shadow shifted up or down
//! by some rows? QEMU's `-vga std` resends the whole console when it scrolls;
//! one COPY plus the new lines replaces a full repaint.
//!
//! Rows of the dirty area are hashed in the shadow and in the framebuffer;
//! every changed framebuffer row votes for the shifts at which its content
//! appears in the shadow, the shift with the most votes is then verified
//! row by row with exact comparison, and the longest run of matching rows
//! becomes the COPY. Hashes only choose the candidate: what is sent rests on
//! exact equality.

use super::PRect;

/// A detected shift: rows `src_y..src_y+h` of the shadow, columns `x0..x1`,
/// are rows `dst_y..dst_y+h` of the framebuffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Shift {
    pub x0: u32,
    pub x1: u32,
    pub src_y: u32,
    pub dst_y: u32,
    pub h: u32,
}

/// A hash that occurs more often than this in the shadow is ignored: rows
/// such as a dotted rule would vote for many shifts and drown the real one.
const MAX_SAME_ROWS: usize = 4;

/// Reused buffers of [`Scroll::detect`].
pub(super) struct Scroll {
    /// (hash, row) of the shadow's non-uniform rows, sorted by hash.
    shadow_rows: Vec<(u64, u32)>,
    /// Votes per shift: index `dy + height` for a source `dy` rows below.
    votes: Vec<u32>,
    /// The area of the last comparison.
    area: PRect,
    /// Per row of `area`: does the framebuffer differ from the shadow?
    changed: Vec<bool>,
    /// Columns `x0..x1` outside which no row of `area` changed.
    span: (u32, u32),
}

impl Default for Scroll {
    fn default() -> Self {
        Scroll {
            shadow_rows: Vec::new(),
            votes: Vec::new(),
            area: PRect::EMPTY,
            changed: Vec::new(),
            span: (0, 0),
        }
    }
}

impl Scroll {
    /// Compares every row of `area` (inside the screen, `stride` pixels per
    /// row) between framebuffer and shadow; [`Scroll::detect`] and the tile
    /// diff both use the answer, so the screen is compared once.
    pub fn compare_rows(&mut self, fb: &[u32], shadow: &[u32], stride: usize, area: PRect) {
        let (x0, x1) = (area.x0 as usize, area.x1 as usize);
        self.area = area;
        self.changed.clear();
        // The columns where anything changed: a terminal scrolling inside a
        // window is dirty together with still pixels beside it, whose rows
        // would never match shifted. Only these columns need the COPY.
        let (mut cx0, mut cx1) = (x1, x0);
        for y in area.y0..area.y1 {
            let a = row_of(fb, stride, x0, x1, y);
            let b = row_of(shadow, stride, x0, x1, y);
            let differs = a != b;
            if differs {
                if let Some(i) = a.iter().zip(b).position(|(p, q)| p != q) {
                    cx0 = cx0.min(x0 + i);
                }
                if let Some(i) = a.iter().zip(b).rposition(|(p, q)| p != q) {
                    cx1 = cx1.max(x0 + i + 1);
                }
            }
            self.changed.push(differs);
        }
        // Both fit: they lie within the area's u32 columns.
        self.span = (cx0 as u32, cx1.max(cx0) as u32);
    }

    /// Whether row `y` is known equal in framebuffer and shadow over columns
    /// `x0..x1` (as of the last [`Scroll::compare_rows`] and shifts since).
    pub fn known_equal(&self, y: u32, x0: u32, x1: u32) -> bool {
        let a = self.area;
        a.x0 <= x0
            && x1 <= a.x1
            && y >= a.y0
            && self.changed.get((y - a.y0) as usize).is_some_and(|&c| !c)
    }

    /// Records that `s` was applied to the shadow: its rows now match (over
    /// the whole area, since nothing changed outside the shift's columns).
    pub fn shifted(&mut self, s: Shift) {
        for y in s.dst_y..s.dst_y + s.h {
            if let Some(c) = self.changed.get_mut(y.wrapping_sub(self.area.y0) as usize) {
                *c = false;
            }
        }
    }

    /// Finds the vertical shift that explains most of the area given to
    /// [`Scroll::compare_rows`], if one explains at least `min_rows` changed
    /// rows.
    pub fn detect(
        &mut self,
        fb: &[u32],
        shadow: &[u32],
        stride: usize,
        min_rows: u32,
    ) -> Option<Shift> {
        let area = self.area;
        let min_rows = min_rows.max(1);
        let (x0, x1) = (self.span.0 as usize, self.span.1 as usize);
        let h = area.h();
        if h < 2 * min_rows || x1 < x0 + 8 || self.changed.len() != h as usize {
            return None;
        }
        // Rows that did not change need no explanation: with too few changed
        // rows there is nothing for a COPY to save.
        let changed = self.changed.iter().filter(|&&c| c).count();
        if changed < min_rows as usize {
            return None;
        }

        self.shadow_rows.clear();
        for y in area.y0..area.y1 {
            if let Some(hash) = hash_row(row_of(shadow, stride, x0, x1, y)) {
                self.shadow_rows.push((hash, y));
            }
        }
        self.shadow_rows.sort_unstable();

        self.votes.clear();
        self.votes.resize(2 * h as usize + 1, 0);
        let mut voters = 0u32;
        for (k, y) in (area.y0..area.y1).enumerate() {
            if !self.changed[k] {
                continue;
            }
            let Some(hash) = hash_row(row_of(fb, stride, x0, x1, y)) else {
                continue;
            };
            let lo = self.shadow_rows.partition_point(|&(hh, _)| hh < hash);
            let hi = self.shadow_rows.partition_point(|&(hh, _)| hh <= hash);
            if hi == lo || hi - lo > MAX_SAME_ROWS {
                continue;
            }
            voters += 1;
            for &(_, sy) in &self.shadow_rows[lo..hi] {
                // Both rows lie in the area, so |dy| < h and the index fits.
                let idx = i64::from(sy) - i64::from(y) + i64::from(h);
                if let Some(v) = usize::try_from(idx)
                    .ok()
                    .and_then(|i| self.votes.get_mut(i))
                {
                    *v += 1;
                }
            }
        }
        // dy = 0 is no shift; its votes only mean unchanged lookalike rows.
        if let Some(v) = self.votes.get_mut(h as usize) {
            *v = 0;
        }
        let (best, &votes) = self.votes.iter().enumerate().max_by_key(|&(_, &v)| v)?;
        // A real scroll makes most changed rows agree; require a quarter of
        // the voters so that a few coincidental matches do not count.
        if votes < min_rows.min(voters) || votes * 4 < voters {
            return None;
        }
        let dy = best as i64 - i64::from(h);

        // Verify: the longest run of destination rows whose content is the
        // shadow's `dy` rows away, exactly.
        let (mut run_start, mut run_len, mut run_gain) = (0u32, 0u32, 0u32);
        let (mut best_start, mut best_len, mut best_gain) = (0u32, 0u32, 0u32);
        for (k, y) in (area.y0..area.y1).enumerate() {
            let sy = i64::from(y) + dy;
            let same = sy >= i64::from(area.y0)
                && sy < i64::from(area.y1)
                && row_of(fb, stride, x0, x1, y) == row_of(shadow, stride, x0, x1, sy as u32);
            if same {
                if run_len == 0 {
                    run_start = y;
                    run_gain = 0;
                }
                run_len += 1;
                run_gain += u32::from(self.changed[k]);
                if run_gain > best_gain || (run_gain == best_gain && run_len > best_len) {
                    (best_start, best_len, best_gain) = (run_start, run_len, run_gain);
                }
            } else {
                run_len = 0;
            }
        }
        // The COPY must save at least `min_rows` rows that changed.
        if best_gain < min_rows {
            return None;
        }
        let src_y = i64::from(best_start) + dy;
        Some(Shift {
            x0: self.span.0,
            x1: self.span.1,
            src_y: u32::try_from(src_y).ok()?,
            dst_y: best_start,
            h: best_len,
        })
    }
}

/// Columns `x0..x1` of row `y`. Callers keep the area inside the screen; an
/// empty slice rather than a panic if that were ever wrong.
fn row_of(buf: &[u32], stride: usize, x0: usize, x1: usize, y: u32) -> &[u32] {
    let o = y as usize * stride;
    buf.get(o + x0..o + x1).unwrap_or(&[])
}

/// A 64-bit hash of a row, None for a row of one colour (such rows match
/// everywhere and would vote for every shift). Four independent lanes of two
/// pixels each keep the multiplier busy; equality is what matters, not
/// distribution.
fn hash_row(row: &[u32]) -> Option<u64> {
    let first = *row.first()?;
    if row.iter().all(|&p| p == first) {
        return None;
    }
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut lanes = [K, K ^ 1, K ^ 2, K ^ 3];
    let mut blocks = row.chunks_exact(8);
    for b in &mut blocks {
        for (l, lane) in lanes.iter_mut().enumerate() {
            let v = u64::from(b[2 * l]) | (u64::from(b[2 * l + 1]) << 32);
            *lane = (*lane ^ v).wrapping_mul(K).rotate_left(23);
        }
    }
    let mut h = row.len() as u64;
    for lane in lanes {
        h = (h ^ lane).wrapping_mul(K).rotate_left(29);
    }
    for &p in blocks.remainder() {
        h = (h ^ u64::from(p)).wrapping_mul(K).rotate_left(23);
    }
    Some(h)
}
