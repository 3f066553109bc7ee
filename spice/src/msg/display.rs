//! Display channel messages: surfaces, drawing commands and the images they
//! carry. Image payloads are borrowed slices; decoding happens in
//! [`crate::display`].

use super::unknown;
use crate::proto::{bitmap_flags, display_msg, image_type};
use crate::wire::Reader;
use crate::{Error, Result};

/// A SPICE rectangle; `right` and `bottom` are exclusive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rect {
    pub top: i32,
    pub left: i32,
    pub bottom: i32,
    pub right: i32,
}

impl Rect {
    fn read(r: &mut Reader<'_>) -> Result<Rect> {
        Ok(Rect {
            top: r.i32()?,
            left: r.i32()?,
            bottom: r.i32()?,
            right: r.i32()?,
        })
    }
    pub fn width(&self) -> i64 {
        i64::from(self.right) - i64::from(self.left)
    }
    pub fn height(&self) -> i64 {
        i64::from(self.bottom) - i64::from(self.top)
    }
    pub fn is_empty(&self) -> bool {
        self.width() <= 0 || self.height() <= 0
    }
    pub fn intersect(&self, o: &Rect) -> Rect {
        Rect {
            top: self.top.max(o.top),
            left: self.left.max(o.left),
            bottom: self.bottom.min(o.bottom),
            right: self.right.min(o.right),
        }
    }
}

/// Surface, bounding box and clip shared by every drawing command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayBase {
    pub surface_id: u32,
    pub bbox: Rect,
    /// None: clip to the box only; Some: also clip to the union of these.
    pub clip: Option<Vec<Rect>>,
}

fn read_base(r: &mut Reader<'_>) -> Result<DisplayBase> {
    let surface_id = r.u32()?;
    let bbox = Rect::read(r)?;
    let clip = match r.u8()? {
        0 => None,
        1 => {
            let n = r.u32()?;
            r.check_array(n.into(), 16)?;
            Some((0..n).map(|_| Rect::read(r)).collect::<Result<_>>()?)
        }
        t => return Err(Error::malformed("clip", format!("type {t}"))),
    };
    Ok(DisplayBase {
        surface_id,
        bbox,
        clip,
    })
}

/// A palette for indexed bitmaps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Palette {
    pub unique: u64,
    pub entries: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaletteRef {
    None,
    Inline(Palette),
    FromCache(u64),
}

/// An uncompressed bitmap, still in the server's pixel format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitmapRef<'a> {
    pub format: u8,
    pub flags: u8,
    pub width: u32,
    pub height: u32,
    pub stride: u32,
    pub palette: PaletteRef,
    pub data: &'a [u8],
}

impl BitmapRef<'_> {
    pub fn top_down(&self) -> bool {
        self.flags & bitmap_flags::TOP_DOWN != 0
    }
}

/// The payload of an image, by type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageData<'a> {
    Bitmap(BitmapRef<'a>),
    /// QUIC, LZ_RGB, GLZ_RGB, JPEG and LZ4: a self-describing payload.
    Compressed(&'a [u8]),
    LzPlt {
        flags: u8,
        palette: PaletteRef,
        data: &'a [u8],
    },
    ZlibGlz {
        glz_size: u32,
        data: &'a [u8],
    },
    JpegAlpha {
        flags: u8,
        jpeg_size: u32,
        data: &'a [u8],
    },
    FromCache,
    Surface(u32),
}

/// An image: its descriptor and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef<'a> {
    pub id: u64,
    pub kind: u8,
    pub flags: u8,
    pub width: u32,
    pub height: u32,
    pub data: ImageData<'a>,
}

fn read_palette(body: &Reader<'_>, offset: u32) -> Result<PaletteRef> {
    if offset == 0 {
        return Ok(PaletteRef::None);
    }
    let mut r = body.at(offset)?;
    let unique = r.u64()?;
    let n = r.u16()?;
    r.check_array(n.into(), 4)?;
    let entries = (0..n).map(|_| r.u32()).collect::<Result<_>>()?;
    Ok(PaletteRef::Inline(Palette { unique, entries }))
}

fn read_binary<'a>(r: &mut Reader<'a>) -> Result<&'a [u8]> {
    let n = r.u32()?;
    r.bytes(n as usize)
}

/// Follows an image pointer; 0 means "no image".
pub fn read_image<'a>(body: &Reader<'a>, offset: u32) -> Result<Option<ImageRef<'a>>> {
    if offset == 0 {
        return Ok(None);
    }
    let mut r = body.at(offset)?;
    let id = r.u64()?;
    let kind = r.u8()?;
    let flags = r.u8()?;
    let width = r.u32()?;
    let height = r.u32()?;
    let data = match kind {
        image_type::BITMAP => {
            let format = r.u8()?;
            let bflags = r.u8()?;
            let bw = r.u32()?;
            let bh = r.u32()?;
            let stride = r.u32()?;
            let palette = if bflags & bitmap_flags::PAL_FROM_CACHE != 0 {
                PaletteRef::FromCache(r.u64()?)
            } else {
                let ptr = r.u32()?;
                read_palette(body, ptr)?
            };
            let size = u64::from(stride) * u64::from(bh);
            r.check_array(size, 1)?;
            ImageData::Bitmap(BitmapRef {
                format,
                flags: bflags,
                width: bw,
                height: bh,
                stride,
                palette,
                data: r.bytes(size as usize)?,
            })
        }
        image_type::QUIC
        | image_type::LZ_RGB
        | image_type::GLZ_RGB
        | image_type::JPEG
        | image_type::LZ4 => ImageData::Compressed(read_binary(&mut r)?),
        image_type::LZ_PLT => {
            let pflags = r.u8()?;
            let size = r.u32()?;
            let palette = if pflags & bitmap_flags::PAL_FROM_CACHE != 0 {
                PaletteRef::FromCache(r.u64()?)
            } else {
                let ptr = r.u32()?;
                read_palette(body, ptr)?
            };
            ImageData::LzPlt {
                flags: pflags,
                palette,
                data: r.bytes(size as usize)?,
            }
        }
        image_type::ZLIB_GLZ_RGB => {
            let glz_size = r.u32()?;
            ImageData::ZlibGlz {
                glz_size,
                data: read_binary(&mut r)?,
            }
        }
        image_type::JPEG_ALPHA => {
            let jflags = r.u8()?;
            let jpeg_size = r.u32()?;
            ImageData::JpegAlpha {
                flags: jflags,
                jpeg_size,
                data: read_binary(&mut r)?,
            }
        }
        image_type::FROM_CACHE | image_type::FROM_CACHE_LOSSLESS => ImageData::FromCache,
        image_type::SURFACE => ImageData::Surface(r.u32()?),
        t => {
            return Err(Error::Unsupported {
                what: "image type",
                value: t.into(),
            })
        }
    };
    Ok(Some(ImageRef {
        id,
        kind,
        flags,
        width,
        height,
        data,
    }))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask<'a> {
    pub flags: u8,
    pub pos: (i32, i32),
    pub bitmap: Option<ImageRef<'a>>,
}

fn read_mask<'a>(body: &Reader<'a>, r: &mut Reader<'a>) -> Result<Mask<'a>> {
    let flags = r.u8()?;
    let pos = (r.i32()?, r.i32()?);
    let ptr = r.u32()?;
    Ok(Mask {
        flags,
        pos,
        bitmap: read_image(body, ptr)?,
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Brush<'a> {
    None,
    Solid(u32),
    Pattern {
        image: ImageRef<'a>,
        pos: (i32, i32),
    },
}

fn read_brush<'a>(body: &Reader<'a>, r: &mut Reader<'a>) -> Result<Brush<'a>> {
    Ok(match r.u8()? {
        0 => Brush::None,
        1 => Brush::Solid(r.u32()?),
        2 => {
            let ptr = r.u32()?;
            let pos = (r.i32()?, r.i32()?);
            let image = read_image(body, ptr)?
                .ok_or_else(|| Error::malformed("brush", "pattern without an image"))?;
            Brush::Pattern { image, pos }
        }
        t => return Err(Error::malformed("brush", format!("type {t}"))),
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrawCopy<'a> {
    pub base: DisplayBase,
    pub src: ImageRef<'a>,
    pub src_area: Rect,
    pub rop: u16,
    pub scale_mode: u8,
    pub mask: Mask<'a>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrawFill<'a> {
    pub base: DisplayBase,
    pub brush: Brush<'a>,
    pub rop: u16,
    pub mask: Mask<'a>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SurfaceCreate {
    pub surface_id: u32,
    pub width: u32,
    pub height: u32,
    pub format: u32,
    pub flags: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisplayMessage<'a> {
    Mode {
        width: u32,
        height: u32,
        bits: u32,
    },
    Mark,
    Reset,
    CopyBits {
        base: DisplayBase,
        src: (i32, i32),
    },
    /// (resource type, id) pairs to drop from the caches.
    InvalList(Vec<(u8, u64)>),
    InvalAllPixmaps,
    InvalPalette(u64),
    InvalAllPalettes,
    DrawFill(DrawFill<'a>),
    DrawCopy(DrawCopy<'a>),
    SurfaceCreate(SurfaceCreate),
    SurfaceDestroy(u32),
    /// Streams, monitors config and other messages that are well-formed
    /// but need no action from a client that paints only draw commands.
    Ignored(u16),
}

pub fn parse(msg_type: u16, body: &[u8]) -> Result<DisplayMessage<'_>> {
    let whole = Reader::new(body, "display message");
    let mut r = whole;
    Ok(match msg_type {
        display_msg::MODE => DisplayMessage::Mode {
            width: r.u32()?,
            height: r.u32()?,
            bits: r.u32()?,
        },
        display_msg::MARK => DisplayMessage::Mark,
        display_msg::RESET => DisplayMessage::Reset,
        display_msg::COPY_BITS => {
            let base = read_base(&mut r)?;
            DisplayMessage::CopyBits {
                base,
                src: (r.i32()?, r.i32()?),
            }
        }
        display_msg::INVAL_LIST => {
            let n = r.u16()?;
            r.check_array(n.into(), 9)?;
            let list = (0..n)
                .map(|_| Ok((r.u8()?, r.u64()?)))
                .collect::<Result<_>>()?;
            DisplayMessage::InvalList(list)
        }
        display_msg::INVAL_ALL_PIXMAPS => DisplayMessage::InvalAllPixmaps,
        display_msg::INVAL_PALETTE => DisplayMessage::InvalPalette(r.u64()?),
        display_msg::INVAL_ALL_PALETTES => DisplayMessage::InvalAllPalettes,
        display_msg::DRAW_FILL => {
            let base = read_base(&mut r)?;
            let brush = read_brush(&whole, &mut r)?;
            let rop = r.u16()?;
            let mask = read_mask(&whole, &mut r)?;
            DisplayMessage::DrawFill(DrawFill {
                base,
                brush,
                rop,
                mask,
            })
        }
        display_msg::DRAW_COPY => {
            let base = read_base(&mut r)?;
            let ptr = r.u32()?;
            let src = read_image(&whole, ptr)?
                .ok_or_else(|| Error::malformed("draw copy", "no source image"))?;
            let src_area = Rect::read(&mut r)?;
            let rop = r.u16()?;
            let scale_mode = r.u8()?;
            let mask = read_mask(&whole, &mut r)?;
            DisplayMessage::DrawCopy(DrawCopy {
                base,
                src,
                src_area,
                rop,
                scale_mode,
                mask,
            })
        }
        display_msg::SURFACE_CREATE => DisplayMessage::SurfaceCreate(SurfaceCreate {
            surface_id: r.u32()?,
            width: r.u32()?,
            height: r.u32()?,
            format: r.u32()?,
            flags: r.u32()?,
        }),
        display_msg::SURFACE_DESTROY => DisplayMessage::SurfaceDestroy(r.u32()?),
        display_msg::STREAM_CREATE..=display_msg::STREAM_DESTROY_ALL
        | display_msg::MONITORS_CONFIG
        | 316
        | 319..=321 => DisplayMessage::Ignored(msg_type),
        t => return Err(unknown("display", t)),
    })
}

#[cfg(test)]
#[path = "display_tests.rs"]
pub(crate) mod tests;
