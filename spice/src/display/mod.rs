//! The display channel's state: surfaces with their framebuffers, the image
//! and palette caches and the GLZ dictionary. It applies parsed display
//! messages and does no IO beyond the optional payload dump.

pub mod decode;
pub mod surface;

use std::collections::HashMap;
use std::sync::Arc;

use crate::image::bitmap::decode_bitmap;
use crate::image::Image;
use crate::msg::display::{
    Brush, DisplayMessage, DrawCopy, DrawFill, ImageData, ImageRef, PaletteRef,
};
use crate::proto::{bitmap_flags, image_flags, ropd};
use crate::{Error, Result};
pub use decode::{format_name, Dumper, FormatStats, GlzDictionary, Stats};
pub use surface::Surface;

/// Pixels one surface may have (a 5K screen).
const MAX_SURFACE_PIXELS: u64 = 1 << 24;
/// The longest side a surface may have.
const MAX_SURFACE_SIDE: u64 = 1 << 15;
/// Pixels all surfaces together may have; a server asking for more is
/// hostile or broken.
const MAX_TOTAL_SURFACE_PIXELS: u64 = 3 << 24;
/// Palettes kept in the palette cache.
const MAX_PALETTES: usize = 4096;

/// What the client tells the server about its caches in DISPLAY_INIT.
#[derive(Clone, Copy, Debug)]
pub struct CacheConfig {
    /// Image cache size in pixels.
    pub pixmap_cache_pixels: u64,
    /// GLZ dictionary window in pixels.
    pub glz_window_pixels: u32,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            pixmap_cache_pixels: 20 << 20,
            glz_window_pixels: 4 << 20,
        }
    }
}

/// Display state for one display channel.
pub struct Display {
    surfaces: HashMap<u32, Surface>,
    images: HashMap<u64, Arc<Image>>,
    image_pixels: u64,
    cache: CacheConfig,
    palettes: HashMap<u64, Vec<u32>>,
    glz: GlzDictionary,
    stats: Stats,
    dumper: Option<Dumper>,
    /// MARK: the server has sent the first complete frame.
    marked: bool,
    /// Bumped on every change, so watchers can tell that something moved.
    pub generation: u64,
}

impl std::fmt::Debug for Display {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Display")
            .field("surfaces", &self.surfaces.len())
            .field("cached_images", &self.images.len())
            .field("marked", &self.marked)
            .finish()
    }
}

impl Display {
    pub fn new(cache: CacheConfig, dumper: Option<Dumper>) -> Self {
        Display {
            surfaces: HashMap::new(),
            images: HashMap::new(),
            image_pixels: 0,
            cache,
            palettes: HashMap::new(),
            glz: GlzDictionary::new(cache.glz_window_pixels as usize),
            stats: Stats::new(),
            dumper,
            marked: false,
            generation: 0,
        }
    }

    pub fn surface(&self, id: u32) -> Option<&Surface> {
        self.surfaces.get(&id)
    }

    pub fn surface_mut(&mut self, id: u32) -> Option<&mut Surface> {
        self.surfaces.get_mut(&id)
    }

    /// The primary surface (what a monitor shows).
    pub fn primary(&self) -> Option<&Surface> {
        self.surfaces.values().find(|s| s.primary)
    }

    pub fn primary_mut(&mut self) -> Option<&mut Surface> {
        self.surfaces.values_mut().find(|s| s.primary)
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn marked(&self) -> bool {
        self.marked
    }

    /// Applies one display message.
    pub fn handle(&mut self, msg: &DisplayMessage<'_>) -> Result<()> {
        self.generation += 1;
        match msg {
            DisplayMessage::Mark => self.marked = true,
            DisplayMessage::Reset => {
                self.surfaces.clear();
                self.clear_images();
                self.palettes.clear();
            }
            DisplayMessage::SurfaceCreate(c) => {
                let pixels = u64::from(c.width) * u64::from(c.height);
                let total: u64 = self
                    .surfaces
                    .iter()
                    .filter(|(id, _)| **id != c.surface_id)
                    .map(|(_, s)| u64::from(s.width) * u64::from(s.height))
                    .sum();
                // Sides are bounded on their own as well, so that a zero
                // width cannot hide an absurd height from the product.
                let side = u64::from(c.width.max(c.height));
                if pixels > MAX_SURFACE_PIXELS
                    || side > MAX_SURFACE_SIDE
                    || total + pixels > MAX_TOTAL_SURFACE_PIXELS
                {
                    return Err(Error::TooLarge {
                        what: "surface",
                        size: pixels,
                        limit: MAX_SURFACE_PIXELS,
                    });
                }
                let primary = c.flags & 1 != 0;
                self.surfaces.insert(
                    c.surface_id,
                    Surface::new(c.width, c.height, c.format, primary),
                );
            }
            DisplayMessage::SurfaceDestroy(id) => {
                self.surfaces.remove(id);
            }
            DisplayMessage::CopyBits { base, src } => {
                let s = self.target(base.surface_id)?;
                let dx = src.0.saturating_sub(base.bbox.left);
                let dy = src.1.saturating_sub(base.bbox.top);
                for area in s.clip_areas(&base.bbox, base.clip.as_deref()) {
                    s.copy_within(&area, dx, dy);
                }
            }
            DisplayMessage::InvalList(list) => {
                for (kind, id) in list {
                    // Resource type 1 is PIXMAP, the only kind there is.
                    if *kind == 1 {
                        self.remove_image(*id);
                    }
                }
            }
            DisplayMessage::InvalAllPixmaps => self.clear_images(),
            DisplayMessage::InvalPalette(id) => {
                self.palettes.remove(id);
            }
            DisplayMessage::InvalAllPalettes => self.palettes.clear(),
            DisplayMessage::DrawCopy(d) => self.draw_copy(d)?,
            DisplayMessage::DrawFill(f) => self.draw_fill(f)?,
            DisplayMessage::Mode { .. } | DisplayMessage::Ignored(_) => {}
        }
        Ok(())
    }

    fn target(&mut self, id: u32) -> Result<&mut Surface> {
        self.surfaces
            .get_mut(&id)
            .ok_or_else(|| Error::malformed("draw command", format!("unknown surface {id}")))
    }

    fn clear_images(&mut self) {
        self.images.clear();
        self.image_pixels = 0;
    }

    fn remove_image(&mut self, id: u64) {
        if let Some(img) = self.images.remove(&id) {
            self.image_pixels = self.image_pixels.saturating_sub(img.pixels.len() as u64);
        }
    }

    fn cache_image(&mut self, id: u64, img: Arc<Image>) -> Result<()> {
        self.remove_image(id);
        let px = img.pixels.len() as u64;
        // The server accounts for our cache size and only asks us to keep
        // what fits; twice that leaves room for its rounding.
        if self.image_pixels + px > self.cache.pixmap_cache_pixels.saturating_mul(2) {
            return Err(Error::TooLarge {
                what: "image cache",
                size: self.image_pixels + px,
                limit: self.cache.pixmap_cache_pixels,
            });
        }
        self.image_pixels += px;
        self.images.insert(id, img);
        Ok(())
    }

    fn resolve_palette(&mut self, p: &PaletteRef, flags: u8) -> Result<Option<Vec<u32>>> {
        Ok(match p {
            PaletteRef::None => None,
            PaletteRef::FromCache(id) => Some(
                self.palettes
                    .get(id)
                    .cloned()
                    .ok_or_else(|| Error::malformed("palette", format!("{id} not cached")))?,
            ),
            PaletteRef::Inline(pal) => {
                // PAL_CACHE_ME is bit 0 of the bitmap flags.
                if flags & 1 != 0 && self.palettes.len() < MAX_PALETTES {
                    self.palettes.insert(pal.unique, pal.entries.clone());
                }
                Some(pal.entries.clone())
            }
        })
    }

    /// Decodes an image (or finds it in the caches), counting its bytes.
    fn image(&mut self, img: &ImageRef<'_>, at: (i32, i32)) -> Result<Arc<Image>> {
        // Counted before decoding, so that the statistics also show formats
        // this client cannot decode.
        let stat = self.stats.entry(format_name(img.kind)).or_default();
        stat.images += 1;
        stat.bytes += match &img.data {
            ImageData::Bitmap(b) => b.data.len() as u64,
            ImageData::Compressed(data)
            | ImageData::LzPlt { data, .. }
            | ImageData::ZlibGlz { data, .. }
            | ImageData::JpegAlpha { data, .. } => data.len() as u64,
            ImageData::FromCache | ImageData::Surface(_) => 0,
        };
        let decoded = match &img.data {
            ImageData::FromCache => {
                let found = self.images.get(&img.id).cloned().ok_or_else(|| {
                    Error::malformed("image", format!("{:#x} not in the cache", img.id))
                })?;
                found
            }
            ImageData::Bitmap(b) => {
                let pal = self.resolve_palette(&b.palette, b.flags & !bitmap_flags::TOP_DOWN)?;
                Arc::new(decode_bitmap(b, pal.as_deref())?)
            }
            ImageData::Compressed(data) => {
                if let Some(d) = self.dumper.as_mut() {
                    d.dump(img.kind, data, img.width, img.height, at);
                }
                Arc::new(decode::decode_compressed(img.kind, data, &mut self.glz)?)
            }
            ImageData::Surface(id) => {
                let s = self.surfaces.get(id).ok_or_else(|| {
                    Error::malformed("image", format!("unknown source surface {id}"))
                })?;
                let img = Image {
                    width: s.width,
                    height: s.height,
                    pixels: s.pixels.clone(),
                };
                Arc::new(img)
            }
            ImageData::LzPlt { .. } | ImageData::ZlibGlz { .. } | ImageData::JpegAlpha { .. } => {
                return Err(Error::Unsupported {
                    what: "image type",
                    value: img.kind.into(),
                })
            }
        };
        if decoded.pixels.len() as u64 != u64::from(decoded.width) * u64::from(decoded.height) {
            return Err(Error::malformed(
                "image",
                "pixel count differs from its size",
            ));
        }
        if img.flags & (image_flags::CACHE_ME | image_flags::CACHE_REPLACE_ME) != 0
            && !matches!(img.data, ImageData::FromCache)
        {
            self.cache_image(img.id, decoded.clone())?;
        }
        Ok(decoded)
    }

    fn draw_copy(&mut self, d: &DrawCopy<'_>) -> Result<()> {
        if d.mask.bitmap.is_some() {
            return Err(Error::Unsupported {
                what: "draw copy with a mask",
                value: 0,
            });
        }
        let src = self.image(&d.src, (d.base.bbox.left, d.base.bbox.top))?;
        let (bbox, area, rop) = (d.base.bbox, d.src_area, d.rop);
        let s = self.target(d.base.surface_id)?;
        let (bw, bh) = (bbox.width().max(1), bbox.height().max(1));
        let (sw, sh) = (area.width(), area.height());
        let same_size = sw == bw && sh == bh;
        let src_px = |x: i32, y: i32| -> u32 {
            let rx = i64::from(x) - i64::from(bbox.left);
            let ry = i64::from(y) - i64::from(bbox.top);
            // Different sizes mean the server asks us to scale; nearest
            // neighbour is what spice-gtk does for NEAREST and close enough
            // for INTERPOLATE.
            let (sx, sy) = if same_size {
                (i64::from(area.left) + rx, i64::from(area.top) + ry)
            } else {
                (
                    i64::from(area.left) + scale(rx, sw, bw),
                    i64::from(area.top) + scale(ry, sh, bh),
                )
            };
            if sx < 0 || sy < 0 || sx >= i64::from(src.width) || sy >= i64::from(src.height) {
                return 0;
            }
            let i = sy as usize * src.width as usize + sx as usize;
            src.pixels.get(i).copied().unwrap_or(0)
        };
        // The common case, a plain copy at the same size, goes row by row.
        let plain = rop == ropd::OP_PUT && same_size;
        for clip in s.clip_areas(&bbox, d.base.clip.as_deref()) {
            if plain {
                let sx = i64::from(area.left) + i64::from(clip.left) - i64::from(bbox.left);
                let sy = i64::from(area.top) + i64::from(clip.top) - i64::from(bbox.top);
                if let (Ok(sx), Ok(sy)) = (usize::try_from(sx), usize::try_from(sy)) {
                    if s.put_rows(&clip, &src.pixels, src.width as usize, sx, sy) {
                        continue;
                    }
                }
            }
            s.paint(&clip, |x, y, old| {
                apply(rop, ropd::INVERS_SRC, src_px(x, y), old)
            });
        }
        Ok(())
    }

    fn draw_fill(&mut self, f: &DrawFill<'_>) -> Result<()> {
        if f.mask.bitmap.is_some() {
            return Err(Error::Unsupported {
                what: "draw fill with a mask",
                value: 0,
            });
        }
        let (pattern, color) = match &f.brush {
            Brush::None => (None, 0),
            Brush::Solid(c) => (None, *c),
            Brush::Pattern { image, pos } => (Some((self.image(image, *pos)?, *pos)), 0),
        };
        let rop = f.rop;
        let s = self.target(f.base.surface_id)?;
        let brush_px = |x: i32, y: i32| -> u32 {
            match &pattern {
                None => color,
                Some((img, pos)) if img.width > 0 && img.height > 0 => {
                    let px = (i64::from(x) - i64::from(pos.0)).rem_euclid(i64::from(img.width));
                    let py = (i64::from(y) - i64::from(pos.1)).rem_euclid(i64::from(img.height));
                    let i = py as usize * img.width as usize + px as usize;
                    img.pixels.get(i).copied().unwrap_or(0)
                }
                Some(_) => 0,
            }
        };
        for clip in s.clip_areas(&f.base.bbox, f.base.clip.as_deref()) {
            s.paint(&clip, |x, y, old| {
                apply(rop, ropd::INVERS_BRUSH, brush_px(x, y), old)
            });
        }
        Ok(())
    }
}

/// `v * num / den` without overflow for any i32-derived operands.
fn scale(v: i64, num: i64, den: i64) -> i64 {
    let r = i128::from(v) * i128::from(num) / i128::from(den.max(1));
    i64::try_from(r).unwrap_or(i64::MAX)
}

fn apply(rop: u16, src_invert: u16, src: u32, dst: u32) -> u32 {
    if rop == ropd::OP_PUT {
        return src;
    }
    surface::apply_rop(rop, src_invert, src, dst)
}

#[cfg(test)]
#[path = "display_tests.rs"]
mod tests;
