//! The tile grid: which tiles changed against the shadow (and where inside
//! them), how often each tile changes, which tiles the browser holds lossy,
//! and the merge of changed tiles into few rectangles.

use std::time::{Duration, Instant};

use super::PRect;

/// The screen cut into tiles of `tw` × `th` pixels (the last column and row
/// may be narrower).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Grid {
    pub tw: u32,
    pub th: u32,
    pub cols: u32,
    pub rows: u32,
    pub w: u32,
    pub h: u32,
}

impl Grid {
    pub fn new(w: u32, h: u32, tw: u32, th: u32) -> Grid {
        Grid {
            tw,
            th,
            cols: w.div_ceil(tw),
            rows: h.div_ceil(th),
            w,
            h,
        }
    }

    pub fn len(&self) -> usize {
        self.cols as usize * self.rows as usize
    }

    pub fn index(&self, tx: u32, ty: u32) -> usize {
        ty as usize * self.cols as usize + tx as usize
    }

    pub fn tile(&self, tx: u32, ty: u32) -> PRect {
        PRect {
            x0: tx * self.tw,
            y0: ty * self.th,
            x1: ((tx + 1) * self.tw).min(self.w),
            y1: ((ty + 1) * self.th).min(self.h),
        }
    }

    /// Tile columns and rows that `r` (non-empty, inside the screen) touches,
    /// as half-open ranges.
    pub fn span(&self, r: PRect) -> (u32, u32, u32, u32) {
        (
            r.x0 / self.tw,
            (r.x1 - 1) / self.tw + 1,
            r.y0 / self.th,
            (r.y1 - 1) / self.th + 1,
        )
    }
}

/// How a changed tile is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    Unchanged,
    Lossless,
    Lossy,
}

/// A tile's verdict for this frame: its class and the part of it to send.
#[derive(Clone, Copy, Debug)]
pub(super) struct Mark {
    pub class: Class,
    pub bbox: PRect,
}

impl Mark {
    pub const NONE: Mark = Mark {
        class: Class::Unchanged,
        bbox: PRect::EMPTY,
    };
}

/// The smallest rectangle inside `r` holding every pixel where `fb` and
/// `shadow` differ; None when they are equal there. Rows compare as slices
/// (memcmp); only differing rows are searched pixel by pixel, and rows for
/// which `known_equal` says so are skipped.
pub(super) fn diff(
    fb: &[u32],
    shadow: &[u32],
    stride: usize,
    r: PRect,
    known_equal: impl Fn(u32) -> bool,
) -> Option<PRect> {
    let (x0, x1) = (r.x0 as usize, r.x1 as usize);
    let mut out: Option<PRect> = None;
    for y in r.y0..r.y1 {
        if known_equal(y) {
            continue;
        }
        let row = y as usize * stride;
        let a = &fb[row + x0..row + x1];
        let b = &shadow[row + x0..row + x1];
        if a == b {
            continue;
        }
        let first = a.iter().zip(b).position(|(p, q)| p != q).unwrap_or(0);
        let last = a.iter().zip(b).rposition(|(p, q)| p != q).unwrap_or(first);
        let (dx0, dx1) = (r.x0 + first as u32, r.x0 + last as u32 + 1);
        out = Some(match out {
            None => PRect {
                x0: dx0,
                y0: y,
                x1: dx1,
                y1: y + 1,
            },
            Some(o) => PRect {
                x0: o.x0.min(dx0),
                y0: o.y0,
                x1: o.x1.max(dx1),
                y1: y + 1,
            },
        });
    }
    out
}

/// Per-tile history that outlives a frame.
#[derive(Default)]
pub(super) struct TileState {
    /// Changes, decaying by half every `half_life`: ~3 means "changed three
    /// times in about the last second".
    heat: Vec<f32>,
    heat_at: Vec<Option<Instant>>,
    /// Some(t): the browser holds this tile lossy since t (its last lossy
    /// change); refine() sends it lossless once it has been still long enough.
    pub lossy_at: Vec<Option<Instant>>,
    /// Tiles with `lossy_at` set, so that an all-lossless screen costs nothing.
    pub lossy_count: usize,
}

impl TileState {
    pub fn reset(&mut self, n: usize) {
        self.heat.clear();
        self.heat.resize(n, 0.0);
        self.heat_at.clear();
        self.heat_at.resize(n, None);
        self.lossy_at.clear();
        self.lossy_at.resize(n, None);
        self.lossy_count = 0;
    }

    /// Counts one change of tile `i` at `now`; returns its heat after it.
    pub fn bump(&mut self, i: usize, now: Instant, half_life: Duration) -> f32 {
        let h = decayed(self.heat[i], self.heat_at[i], now, half_life) + 1.0;
        self.heat[i] = h;
        self.heat_at[i] = Some(now);
        h
    }

    pub fn set_lossy(&mut self, i: usize, at: Option<Instant>) {
        match (self.lossy_at[i].is_some(), at.is_some()) {
            (false, true) => self.lossy_count += 1,
            (true, false) => self.lossy_count -= 1,
            _ => {}
        }
        self.lossy_at[i] = at;
    }

    /// When the earliest lossy tile becomes due for refinement.
    pub fn next_refine(&self, delay: Duration) -> Option<Instant> {
        if self.lossy_count == 0 {
            return None;
        }
        self.lossy_at.iter().flatten().min().map(|&t| t + delay)
    }
}

fn decayed(heat: f32, at: Option<Instant>, now: Instant, half_life: Duration) -> f32 {
    let Some(at) = at else { return 0.0 };
    let dt = now.saturating_duration_since(at).as_secs_f32();
    let hl = half_life.as_secs_f32().max(1e-3);
    heat * (-dt / hl).exp2()
}

/// A rectangle of same-class tiles: tile columns `tx0..tx1`, rows
/// `ty0..=ty_last`, and `bbox`, the union of the members' marks (what is
/// sent). `marked` counts the member tiles; the others inside were merged
/// in to save a message and are resent unchanged.
#[derive(Clone, Copy, Debug)]
pub(super) struct Merged {
    pub class: Class,
    pub tx0: u32,
    pub tx1: u32,
    pub ty0: u32,
    pub ty_last: u32,
    pub bbox: PRect,
    pub marked: u32,
}

impl Merged {
    fn tiles(&self) -> u32 {
        (self.tx1 - self.tx0) * (self.ty_last - self.ty0 + 1)
    }
}

/// A lossless run may join the rectangle above with a different span when
/// at most this share of the union is unmarked tiles (in quarters: 1 = 25%):
/// an image costs ~80 bytes of headers, an unchanged text tile about as much
/// in a palette PNG, so a little waste beats one more message.
const WASTE_QUARTERS: u32 = 1;

/// Scratch of [`merge`].
#[derive(Default)]
pub(super) struct Merger {
    open: Vec<Merged>,
    next: Vec<Merged>,
}

impl Merger {
    /// Merges marked tiles into rectangles: horizontal runs of one class per
    /// tile row, then a run extends the rectangle above it when both cover
    /// the same tile columns with the same class. Appends to `out`.
    pub fn merge(&mut self, g: &Grid, marks: &[Mark], out: &mut Vec<Merged>) {
        self.open.clear();
        for ty in 0..g.rows {
            self.next.clear();
            let mut tx = 0;
            while tx < g.cols {
                let m = marks[g.index(tx, ty)];
                if m.class == Class::Unchanged {
                    tx += 1;
                    continue;
                }
                let mut run = Merged {
                    class: m.class,
                    tx0: tx,
                    tx1: tx + 1,
                    ty0: ty,
                    ty_last: ty,
                    bbox: m.bbox,
                    marked: 1,
                };
                tx += 1;
                while tx < g.cols {
                    let n = marks[g.index(tx, ty)];
                    if n.class != run.class {
                        break;
                    }
                    run.bbox = run.bbox.union(n.bbox);
                    run.tx1 = tx + 1;
                    run.marked += 1;
                    tx += 1;
                }
                let same =
                    |o: &Merged| o.tx0 == run.tx0 && o.tx1 == run.tx1 && o.class == run.class;
                // Lossy runs never take in unmarked tiles: that would turn
                // exact pixels lossy.
                let close = |o: &Merged| {
                    let union = Merged {
                        tx0: o.tx0.min(run.tx0),
                        tx1: o.tx1.max(run.tx1),
                        ty_last: ty,
                        ..*o
                    };
                    let marked = o.marked + run.marked;
                    o.class == Class::Lossless
                        && run.class == Class::Lossless
                        && o.tx0 < run.tx1
                        && run.tx0 < o.tx1
                        && union.tiles() * 4 <= marked * (4 + WASTE_QUARTERS)
                };
                let above = self
                    .open
                    .iter()
                    .position(same)
                    .or_else(|| self.open.iter().position(close));
                if let Some(k) = above {
                    let o = self.open.swap_remove(k);
                    run.ty0 = o.ty0;
                    run.tx0 = run.tx0.min(o.tx0);
                    run.tx1 = run.tx1.max(o.tx1);
                    run.bbox = run.bbox.union(o.bbox);
                    run.marked += o.marked;
                }
                self.next.push(run);
            }
            // Whatever did not continue into this row is finished.
            out.append(&mut self.open);
            std::mem::swap(&mut self.open, &mut self.next);
        }
        out.append(&mut self.open);
    }
}
