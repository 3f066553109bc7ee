//! The frame encoder of the SPICE → browser translator: turns the SPICE
//! client's framebuffer and dirty rectangles into the binary messages of
//! `docs/VIEWER-PROTOCOL.md` (SIZE, IMAGE, COPY, FILL).
//!
//! One [`Encoder`] per viewer keeps a *shadow*: the pixels the browser's canvas
//! is meant to hold. Each frame it
//! 1. looks for a vertical scroll of the dirty area against the shadow and
//!    sends it as one COPY (`scroll.rs`);
//! 2. diffs the dirty tiles against the shadow, so that regions the server
//!    resends unchanged cost nothing (`tiles.rs`);
//! 3. merges the changed tiles into few rectangles and sends each as a FILL
//!    (one colour), a PNG (text and UI: few colours, palette PNG) or a JPEG
//!    (many colours *and* changing often, like video) whose quality drops
//!    while the browser lags (`codec.rs`).
//!
//! Regions sent as JPEG are remembered per tile; [`Encoder::refine`] resends
//! them as PNG once they have been still for `refine_delay`, so a settled
//! screen is pixel-exact in the browser.

mod codec;
mod emit;
mod rect;
mod scroll;
mod tiles;

#[cfg(test)]
mod bench;
#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod scroll_tests;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use opencloud_spice::msg::display::Rect;

use super::wire;
use codec::Codec;
pub(crate) use rect::PRect;
use scroll::Scroll;
use tiles::{Class, Grid, Mark, Merged, Merger, TileState};

/// Largest framebuffer side: coordinates are u16 on the wire.
pub const MAX_SIDE: u32 = 65535;

/// Dirty lists longer than this are replaced by their bounding box: marking
/// stays linear in the screen size whatever a server sends.
const MAX_DIRTY_RECTS: usize = 256;

/// Tunables of the encoder. The defaults suit consoles and office desktops.
#[derive(Clone, Debug)]
pub struct EncoderConfig {
    /// Tile width in pixels (diff and merge granularity; 8..=1024). 64 keeps
    /// the per-tile bookkeeping small while isolating `-vga std`'s 32-pixel
    /// column updates well enough.
    pub tile_width: u32,
    /// Tile height in pixels (8..=1024). 16 is one console text line.
    pub tile_height: u32,
    /// JPEG quality while the browser keeps up (lag 0).
    pub jpeg_quality: u8,
    /// JPEG quality once lag reaches `lag_for_min_quality`; linear between.
    pub jpeg_quality_min: u8,
    /// Unacknowledged frames at which JPEG quality bottoms out.
    pub lag_for_min_quality: u32,
    /// A lossy region still for this long is resent lossless by `refine()`.
    pub refine_delay: Duration,
    /// A tile is "photographic" with at least this many distinct colours
    /// (counted exactly, up to 256). Text with anti-aliasing stays below ~40.
    pub photo_min_colors: u32,
    /// A tile changes "often" when its decaying change count reaches this.
    /// With `heat_half_life` 500 ms, 2.5 means about three changes within
    /// the last second.
    pub hot_changes: f32,
    /// Half-life of a tile's change count.
    pub heat_half_life: Duration,
    /// A scroll must move at least this many changed rows to be sent as a COPY.
    pub scroll_min_rows: u32,
    /// Raw bytes (3 per pixel) of one IMAGE before it is split into bands of
    /// rows; keeps every message under ~1 MiB even when nothing compresses.
    pub max_image_raw_bytes: usize,
    /// PNG filter for regions of more than 256 colours (palette regions are
    /// never filtered). Measured on screens: see the tests' filter report.
    pub png_rgb_filter: png::Filter,
    /// Compression of RGB PNGs. `Fast` (fdeflate) is ~20x faster than
    /// `Default` (zlib level 6) on a 1024x768 desktop for ~3.5x the bytes;
    /// RGB regions are rare (>256 colours, not changing often), so speed wins.
    pub png_rgb_compression: png::Compression,
    /// zlib level (0-9) of palette PNGs (text, UI). Palette data is 1/3 to
    /// 1/24 of the RGB bytes and very repetitive: level 6 costs little more
    /// time than fdeflate there and sends a third of the bytes (measured on
    /// a 1024x768 console: 18.9 KB vs 53.7 KB).
    pub png_palette_level: u32,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            tile_width: 64,
            tile_height: 16,
            jpeg_quality: 80,
            jpeg_quality_min: 40,
            lag_for_min_quality: 3,
            refine_delay: Duration::from_millis(300),
            photo_min_colors: 64,
            hot_changes: 2.5,
            heat_half_life: Duration::from_millis(500),
            scroll_min_rows: 8,
            max_image_raw_bytes: 960 * 1024,
            png_rgb_filter: png::Filter::Sub,
            png_rgb_compression: png::Compression::Fast,
            png_palette_level: 6,
        }
    }
}

/// What a message is, for metrics labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Size,
    Png,
    Jpeg,
    Copy,
    Fill,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Size => "size",
            Kind::Png => "png",
            Kind::Jpeg => "jpeg",
            Kind::Copy => "copy",
            Kind::Fill => "fill",
        }
    }
}

/// One complete wire message.
#[derive(Clone, Debug)]
pub struct Encoded {
    pub kind: Kind,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("frame of {width}x{height} is too large (at most {MAX_SIDE} per side)")]
    TooLarge { width: u32, height: u32 },
    #[error("frame of {width}x{height} is empty")]
    Empty { width: u32, height: u32 },
    #[error("framebuffer has {len} pixels, {need} needed")]
    ShortFramebuffer { len: usize, need: usize },
    #[error("{0}")]
    Codec(String),
}

impl EncodeError {
    pub(super) fn png(e: png::EncodingError) -> Self {
        EncodeError::Codec(format!("png: {e}"))
    }
}

/// The encoder of one viewer. See the module documentation.
pub struct Encoder {
    cfg: EncoderConfig,
    width: u32,
    height: u32,
    /// What the browser's canvas holds (lossy tiles: what it approximates).
    shadow: Vec<u32>,
    /// False until the first full repaint and after `reset()`.
    valid: bool,
    grid: Grid,
    tiles: TileState,
    // Scratch reused across frames.
    touched: Vec<bool>,
    marks: Vec<Mark>,
    merged: Vec<Merged>,
    merger: Merger,
    scroll: Scroll,
    codec: Codec,
    /// Lossy flags before a COPY moves them.
    lossy_old: Vec<bool>,
}

impl Encoder {
    pub fn new(cfg: EncoderConfig) -> Self {
        let mut cfg = cfg;
        // Sanitise so that no setting can divide by zero or overflow a tile.
        cfg.tile_width = cfg.tile_width.clamp(8, 1024);
        cfg.tile_height = cfg.tile_height.clamp(8, 1024);
        cfg.jpeg_quality = cfg.jpeg_quality.clamp(1, 100);
        cfg.jpeg_quality_min = cfg.jpeg_quality_min.clamp(1, cfg.jpeg_quality);
        cfg.photo_min_colors = cfg.photo_min_colors.clamp(2, 256);
        cfg.max_image_raw_bytes = cfg.max_image_raw_bytes.max(1);
        let codec = Codec::new(
            cfg.png_rgb_filter,
            cfg.png_rgb_compression,
            cfg.png_palette_level,
        );
        Encoder {
            cfg,
            width: 0,
            height: 0,
            shadow: Vec::new(),
            valid: false,
            grid: Grid::default(),
            tiles: TileState::default(),
            touched: Vec::new(),
            marks: Vec::new(),
            merged: Vec::new(),
            merger: Merger::default(),
            scroll: Scroll::default(),
            codec,
            lossy_old: Vec::new(),
        }
    }

    /// Appends the messages that bring the browser from the shadow to `fb`
    /// within `dirty` (a SIZE and a full repaint when the size differs from
    /// the shadow's or after `reset()`). `lag` is the number of frames sent
    /// but not acknowledged; JPEG quality drops as it grows. Updates the
    /// shadow. On error nothing is appended, and if encoding had begun the
    /// next call repaints everything (the shadow may be ahead of the browser).
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        &mut self,
        fb: &[u32],
        width: u32,
        height: u32,
        dirty: &[Rect],
        lag: u32,
        now: Instant,
        out: &mut Vec<Encoded>,
    ) -> Result<(), EncodeError> {
        check(fb, width, height)?;
        let start = out.len();
        let result = self.encode_inner(fb, width, height, dirty, lag, now, out);
        if result.is_err() {
            // A codec failure midway: drop the partial frame and repaint
            // everything next time, since the shadow may be ahead of what
            // the browser will get.
            out.truncate(start);
            self.valid = false;
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn encode_inner(
        &mut self,
        fb: &[u32],
        width: u32,
        height: u32,
        dirty: &[Rect],
        lag: u32,
        now: Instant,
        out: &mut Vec<Encoded>,
    ) -> Result<(), EncodeError> {
        if !self.valid || width != self.width || height != self.height {
            // check() bounded both sides by MAX_SIDE, so they fit a u16.
            out.push(Encoded {
                kind: Kind::Size,
                bytes: wire::size(width as u16, height as u16),
            });
            self.resize(width, height);
            // The canvas is undefined after SIZE: everything is sent, lossless.
            for ty in 0..self.grid.rows {
                for tx in 0..self.grid.cols {
                    self.marks[self.grid.index(tx, ty)] = Mark {
                        class: Class::Lossless,
                        bbox: self.grid.tile(tx, ty),
                    };
                }
            }
            self.valid = true;
            return self.emit(fb, lag, now, out);
        }

        let Some(area) = self.mark_touched(dirty) else {
            return Ok(());
        };
        let stride = width as usize;
        self.scroll.compare_rows(fb, &self.shadow, stride, area);
        if let Some(s) = self
            .scroll
            .detect(fb, &self.shadow, stride, self.cfg.scroll_min_rows)
        {
            out.push(Encoded {
                kind: Kind::Copy,
                // Inside the screen, hence below MAX_SIDE.
                bytes: wire::copy(
                    s.x0 as u16,
                    s.src_y as u16,
                    (s.x1 - s.x0) as u16,
                    s.h as u16,
                    s.x0 as u16,
                    s.dst_y as u16,
                ),
            });
            self.apply_shift(s, now);
            self.scroll.shifted(s);
        }

        for i in 0..self.grid.len() {
            self.marks[i] = Mark::NONE;
            if !self.touched[i] {
                continue;
            }
            let (tx, ty) = (i as u32 % self.grid.cols, i as u32 / self.grid.cols);
            let tile = self.grid.tile(tx, ty);
            let scroll = &self.scroll;
            let known = |y| scroll.known_equal(y, tile.x0, tile.x1);
            let Some(changed) = tiles::diff(fb, &self.shadow, stride, tile, known) else {
                continue;
            };
            let heat = self.tiles.bump(i, now, self.cfg.heat_half_life);
            let photo = heat >= self.cfg.hot_changes
                && self
                    .codec
                    .colorful(fb, stride, tile, self.cfg.photo_min_colors as usize);
            self.marks[i] = if photo {
                Mark {
                    class: Class::Lossy,
                    bbox: changed,
                }
            } else {
                // A tile the browser holds lossy is resent whole, so that
                // after this it is exact everywhere.
                let lossy = self.tiles.lossy_at[i].is_some();
                Mark {
                    class: Class::Lossless,
                    bbox: if lossy { tile } else { changed },
                }
            };
        }
        self.emit(fb, lag, now, out)
    }

    /// Lossless (PNG) replacements for regions last sent lossy and unchanged
    /// since `refine_delay`. Nothing when the size differs from the shadow's
    /// (the next `encode` repaints anyway).
    pub fn refine(
        &mut self,
        fb: &[u32],
        width: u32,
        height: u32,
        now: Instant,
        out: &mut Vec<Encoded>,
    ) -> Result<(), EncodeError> {
        check(fb, width, height)?;
        if !self.valid || width != self.width || height != self.height {
            return Ok(());
        }
        if self.tiles.lossy_count == 0 {
            return Ok(());
        }
        let mut any = false;
        for ty in 0..self.grid.rows {
            for tx in 0..self.grid.cols {
                let i = self.grid.index(tx, ty);
                let due = self.tiles.lossy_at[i].is_some_and(|t| t + self.cfg.refine_delay <= now);
                self.marks[i] = if due {
                    any = true;
                    Mark {
                        class: Class::Lossless,
                        bbox: self.grid.tile(tx, ty),
                    }
                } else {
                    Mark::NONE
                };
            }
        }
        if !any {
            return Ok(());
        }
        let start = out.len();
        let result = self.emit(fb, 0, now, out);
        if result.is_err() {
            out.truncate(start);
            self.valid = false;
        }
        result
    }

    /// When `refine()` next has work, if ever.
    pub fn next_refine_at(&self) -> Option<Instant> {
        if !self.valid {
            return None;
        }
        self.tiles.next_refine(self.cfg.refine_delay)
    }

    /// Forgets what the browser has: the next `encode` repaints everything.
    // Part of the API for sessions that keep their encoder across a
    // reconnection; the current session builds a new encoder instead.
    #[allow(dead_code)]
    pub fn reset(&mut self) {
        self.valid = false;
    }

    /// The JPEG quality for `lag` unacknowledged frames.
    fn quality(&self, lag: u32) -> u8 {
        let (hi, lo) = (
            u32::from(self.cfg.jpeg_quality),
            u32::from(self.cfg.jpeg_quality_min),
        );
        let full = self.cfg.lag_for_min_quality.max(1);
        let q = hi - (hi - lo) * lag.min(full) / full;
        u8::try_from(q).unwrap_or(self.cfg.jpeg_quality_min)
    }

    fn resize(&mut self, width: u32, height: u32) {
        let n = width as usize * height as usize;
        self.width = width;
        self.height = height;
        self.shadow.clear();
        self.shadow.resize(n, 0);
        self.grid = Grid::new(width, height, self.cfg.tile_width, self.cfg.tile_height);
        let tiles = self.grid.len();
        self.tiles.reset(tiles);
        self.touched.clear();
        self.touched.resize(tiles, false);
        self.marks.clear();
        self.marks.resize(tiles, Mark::NONE);
    }

    /// Marks the tiles that `dirty` touches; returns the dirty bounding box.
    fn mark_touched(&mut self, dirty: &[Rect]) -> Option<PRect> {
        self.touched.fill(false);
        let (w, h) = (self.width, self.height);
        let mut area = PRect::EMPTY;
        for r in dirty {
            if let Some(p) = PRect::clamp(r, w, h) {
                area = area.union(p);
            }
        }
        if area.is_empty() {
            return None;
        }
        if dirty.len() > MAX_DIRTY_RECTS {
            self.mark_rect(area);
        } else {
            for r in dirty {
                if let Some(p) = PRect::clamp(r, w, h) {
                    self.mark_rect(p);
                }
            }
        }
        Some(area)
    }

    fn mark_rect(&mut self, p: PRect) {
        let (cx0, cx1, ry0, ry1) = self.grid.span(p);
        for ty in ry0..ry1 {
            for tx in cx0..cx1 {
                let i = self.grid.index(tx, ty);
                self.touched[i] = true;
            }
        }
    }
}

/// Refuses frames the wire cannot carry or the buffer cannot back.
fn check(fb: &[u32], width: u32, height: u32) -> Result<(), EncodeError> {
    if width == 0 || height == 0 {
        return Err(EncodeError::Empty { width, height });
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(EncodeError::TooLarge { width, height });
    }
    let need = width as usize * height as usize;
    if fb.len() < need {
        return Err(EncodeError::ShortFramebuffer {
            len: fb.len(),
            need,
        });
    }
    Ok(())
}
