//! Pixel rectangles inside the screen, and the clamping of SPICE's.

use opencloud_spice::msg::display::Rect;

/// A pixel rectangle, half-open, inside the screen once built by the encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PRect {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl PRect {
    pub const EMPTY: PRect = PRect {
        x0: 0,
        y0: 0,
        x1: 0,
        y1: 0,
    };
    pub fn w(&self) -> u32 {
        self.x1 - self.x0
    }
    pub fn h(&self) -> u32 {
        self.y1 - self.y0
    }
    pub fn is_empty(&self) -> bool {
        self.x0 >= self.x1 || self.y0 >= self.y1
    }
    pub fn contains(&self, o: PRect) -> bool {
        self.x0 <= o.x0 && self.y0 <= o.y0 && o.x1 <= self.x1 && o.y1 <= self.y1
    }
    pub fn union(&self, o: PRect) -> PRect {
        if self.is_empty() {
            return o;
        }
        if o.is_empty() {
            return *self;
        }
        PRect {
            x0: self.x0.min(o.x0),
            y0: self.y0.min(o.y0),
            x1: self.x1.max(o.x1),
            y1: self.y1.max(o.y1),
        }
    }
    /// A SPICE rect clamped to a `w` × `h` screen; None when nothing is left.
    pub fn clamp(r: &Rect, w: u32, h: u32) -> Option<PRect> {
        let c = |v: i32, max: u32| i64::from(v).clamp(0, i64::from(max)) as u32;
        let p = PRect {
            x0: c(r.left, w),
            y0: c(r.top, h),
            x1: c(r.right, w),
            y1: c(r.bottom, h),
        };
        (!p.is_empty()).then_some(p)
    }
}
