//! Pixel formats and the image codecs: PNG through the `png` crate (palette
//! when a region has at most 256 colours, which text and UI nearly always
//! have, RGB otherwise), JPEG through `jpeg-encoder`, and the colour counts
//! that choose between them. Scratch buffers live here and are reused from
//! one region to the next, so encoding allocates only inside the codecs.

use super::{EncodeError, PRect};

/// Open-addressing colour table: 512 slots keep the load under one half for
/// the 256 colours a palette may hold.
const SLOTS: usize = 512;
/// Never a colour: colours are masked to 24 bits before they reach a table.
const EMPTY: u32 = u32::MAX;
/// The framebuffer is 0x00RRGGBB; the top byte is ignored wherever a colour is
/// encoded (a guest may leave garbage there).
pub(super) const RGB_MASK: u32 = 0x00FF_FFFF;

#[inline]
fn slot(c: u32) -> usize {
    // Fibonacci hashing: the top 9 bits of the product spread nearby colours.
    (c.wrapping_mul(0x9E37_79B1) >> 23) as usize
}

/// A small set of colours with their palette index.
struct ColorTable {
    keys: Box<[u32; SLOTS]>,
    vals: Box<[u8; SLOTS]>,
    /// Slots in use, so clearing costs the colours seen, not all slots.
    used: Vec<u16>,
}

impl ColorTable {
    fn new() -> Self {
        ColorTable {
            keys: Box::new([EMPTY; SLOTS]),
            vals: Box::new([0; SLOTS]),
            used: Vec::with_capacity(257),
        }
    }

    fn clear(&mut self) {
        for &s in &self.used {
            self.keys[usize::from(s)] = EMPTY;
        }
        self.used.clear();
    }

    fn len(&self) -> usize {
        self.used.len()
    }

    /// The index of `c`, inserting it as `next` if absent; None when the
    /// table already holds 256 colours (the caller stops there).
    #[inline]
    fn index(&mut self, c: u32, next: usize) -> Option<u8> {
        let mut s = slot(c);
        loop {
            let k = self.keys[s];
            if k == c {
                return Some(self.vals[s]);
            }
            if k == EMPTY {
                let v = u8::try_from(next).ok()?;
                self.keys[s] = c;
                self.vals[s] = v;
                // s < SLOTS = 512 fits a u16.
                self.used.push(s as u16);
                return Some(v);
            }
            s = (s + 1) & (SLOTS - 1);
        }
    }
}

/// Codec scratch: reused buffers and the colour table.
pub(super) struct Codec {
    table: ColorTable,
    /// Palette colours in index order.
    colors: Vec<u32>,
    /// One byte per pixel (palette index) or three (RGB), row after row.
    raw: Vec<u8>,
    /// Palette indices packed to 1, 2 or 4 bits.
    packed: Vec<u8>,
    palette: Vec<u8>,
    /// PNG filter for RGB regions (palette regions are never filtered: the
    /// filters predict sample values, which palette indices are not).
    rgb_filter: png::Filter,
    /// Compression of RGB and of palette PNGs (see `EncoderConfig`).
    rgb_compression: png::Compression,
    /// One zlib compressor for every palette PNG of this viewer: a fresh
    /// one allocates and zeroes its tables (hundreds of KB) per image, which
    /// cost more than compressing a line of text.
    zlib: flate2::Compress,
    /// Palette rows, each behind its PNG filter-type byte (0: none).
    filtered: Vec<u8>,
    idat: Vec<u8>,
}

impl Codec {
    pub(super) fn new(
        rgb_filter: png::Filter,
        rgb_compression: png::Compression,
        palette_level: u32,
    ) -> Self {
        Codec {
            table: ColorTable::new(),
            colors: Vec::with_capacity(256),
            raw: Vec::new(),
            packed: Vec::new(),
            palette: Vec::with_capacity(768),
            rgb_filter,
            rgb_compression,
            zlib: flate2::Compress::new(flate2::Compression::new(palette_level.min(9)), true),
            filtered: Vec::new(),
            idat: Vec::new(),
        }
    }

    /// Whether `r` holds at least `n` distinct colours (`n` ≤ 256); stops as
    /// soon as it knows.
    pub(super) fn colorful(&mut self, fb: &[u32], stride: usize, r: PRect, n: usize) -> bool {
        self.table.clear();
        let n = n.clamp(1, 256);
        for y in r.y0..r.y1 {
            let row = y as usize * stride;
            for &p in &fb[row + r.x0 as usize..row + r.x1 as usize] {
                let c = p & RGB_MASK;
                let next = self.table.len();
                if self.table.index(c, next).is_none() || self.table.len() >= n {
                    return true;
                }
            }
        }
        false
    }

    /// Appends `r` of `fb` to `out` as a PNG: indexed with the smallest bit
    /// depth when it has at most 256 colours, else RGB.
    pub(super) fn png(
        &mut self,
        fb: &[u32],
        stride: usize,
        r: PRect,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let (w, h) = (r.w() as usize, r.h() as usize);
        if self.index_pixels(fb, stride, r) {
            let bits = match self.colors.len() {
                0..=2 => 1,
                3..=4 => 2,
                5..=16 => 4,
                _ => 8,
            };
            let data = if bits == 8 {
                &self.raw[..]
            } else {
                pack(&self.raw, w, h, bits, &mut self.packed);
                &self.packed[..]
            };
            self.palette.clear();
            for &c in &self.colors {
                let [b, g, r, _] = c.to_le_bytes();
                self.palette.extend_from_slice(&[r, g, b]);
            }
            let mut enc = png::Encoder::new(&mut *out, r.w(), r.h());
            enc.set_color(png::ColorType::Indexed);
            enc.set_depth(match bits {
                1 => png::BitDepth::One,
                2 => png::BitDepth::Two,
                4 => png::BitDepth::Four,
                _ => png::BitDepth::Eight,
            });
            enc.set_palette(&self.palette[..]);
            let row_bytes = (w * bits).div_ceil(8);
            self.filtered.clear();
            self.filtered.reserve(data.len() + h);
            for row in data.chunks(row_bytes.max(1)) {
                self.filtered.push(0);
                self.filtered.extend_from_slice(row);
            }
            deflate(&mut self.zlib, &self.filtered, &mut self.idat)?;
            let mut writer = enc.write_header().map_err(EncodeError::png)?;
            writer
                .write_chunk(png::chunk::IDAT, &self.idat)
                .map_err(EncodeError::png)?;
            writer.finish().map_err(EncodeError::png)
        } else {
            self.raw.clear();
            self.raw.reserve(w * h * 3);
            for y in r.y0..r.y1 {
                let row = y as usize * stride;
                for &p in &fb[row + r.x0 as usize..row + r.x1 as usize] {
                    let [b, g, r, _] = p.to_le_bytes();
                    self.raw.extend_from_slice(&[r, g, b]);
                }
            }
            let mut enc = png::Encoder::new(&mut *out, r.w(), r.h());
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_compression(self.rgb_compression);
            enc.set_filter(self.rgb_filter);
            write_png(enc, &self.raw)
        }
    }

    /// Fills `raw` with one palette index per pixel and `colors` with the
    /// palette; false when `r` has more than 256 colours.
    fn index_pixels(&mut self, fb: &[u32], stride: usize, r: PRect) -> bool {
        self.table.clear();
        self.colors.clear();
        self.raw.clear();
        self.raw.reserve(r.w() as usize * r.h() as usize);
        // Text is long runs of one colour: remembering the last pixel skips
        // most table probes.
        let mut last = EMPTY;
        let mut last_i = 0u8;
        for y in r.y0..r.y1 {
            let row = y as usize * stride;
            for &p in &fb[row + r.x0 as usize..row + r.x1 as usize] {
                let c = p & RGB_MASK;
                if c != last {
                    let next = self.colors.len();
                    let Some(i) = self.table.index(c, next) else {
                        return false;
                    };
                    if usize::from(i) == next {
                        self.colors.push(c);
                    }
                    last = c;
                    last_i = i;
                }
                self.raw.push(last_i);
            }
        }
        true
    }

    /// Appends `r` of `fb` to `out` as a baseline JPEG of `quality` (1-100).
    pub(super) fn jpeg(
        &mut self,
        fb: &[u32],
        stride: usize,
        r: PRect,
        quality: u8,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        self.raw.clear();
        self.raw.reserve(r.w() as usize * r.h() as usize * 4);
        for y in r.y0..r.y1 {
            let row = y as usize * stride;
            for &p in &fb[row + r.x0 as usize..row + r.x1 as usize] {
                // 0x00RRGGBB in little-endian bytes is B, G, R, x: the
                // encoder's Bgra input, whose fourth byte it ignores.
                self.raw.extend_from_slice(&p.to_le_bytes());
            }
        }
        let (w, h) = (to_u16(r.w())?, to_u16(r.h())?);
        let enc = jpeg_encoder::Encoder::new(&mut *out, quality.clamp(1, 100));
        enc.encode(&self.raw, w, h, jpeg_encoder::ColorType::Bgra)
            .map_err(|e| EncodeError::Codec(format!("jpeg: {e}")))
    }
}

fn to_u16(v: u32) -> Result<u16, EncodeError> {
    u16::try_from(v).map_err(|_| EncodeError::TooLarge {
        width: v,
        height: v,
    })
}

/// Compresses `data` into `out` as one zlib stream, reusing `z`.
fn deflate(z: &mut flate2::Compress, data: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    z.reset();
    out.clear();
    // zlib's bound for incompressible input, so one call nearly always ends
    // the stream; the loop covers the rest.
    out.reserve(data.len() + data.len() / 1000 + 64);
    loop {
        let read = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
        let rest = data.get(read..).unwrap_or(&[]);
        match z.compress_vec(rest, out, flate2::FlushCompress::Finish) {
            Ok(flate2::Status::StreamEnd) => return Ok(()),
            Ok(_) => out.reserve(out.capacity().max(1024)),
            Err(e) => return Err(EncodeError::Codec(format!("zlib: {e}"))),
        }
    }
}

fn write_png<W: std::io::Write>(enc: png::Encoder<'_, W>, data: &[u8]) -> Result<(), EncodeError> {
    let mut writer = enc.write_header().map_err(EncodeError::png)?;
    writer.write_image_data(data).map_err(EncodeError::png)?;
    writer.finish().map_err(EncodeError::png)
}

/// Packs one index per byte into `bits`-bit samples, each row starting on a
/// byte boundary as PNG requires.
fn pack(raw: &[u8], w: usize, h: usize, bits: usize, out: &mut Vec<u8>) {
    let per_byte = 8 / bits;
    let row_bytes = w.div_ceil(per_byte);
    out.clear();
    out.reserve(row_bytes * h);
    for row in raw.chunks_exact(w.max(1)).take(h) {
        for group in row.chunks(per_byte) {
            let mut b = 0u8;
            for (k, &v) in group.iter().enumerate() {
                b |= v << (8 - bits * (k + 1));
            }
            out.push(b);
        }
    }
}

/// The colour of `r` when every pixel has it.
pub(super) fn uniform(fb: &[u32], stride: usize, r: PRect) -> Option<u32> {
    let first = fb[r.y0 as usize * stride + r.x0 as usize] & RGB_MASK;
    for y in r.y0..r.y1 {
        let row = y as usize * stride;
        if !fb[row + r.x0 as usize..row + r.x1 as usize]
            .iter()
            .all(|&p| p & RGB_MASK == first)
        {
            return None;
        }
    }
    Some(first)
}
