//! LZ_RGB: SPICE's byte-oriented LZ77 variant (spice-common `lz.c`).
//!
//! A payload is a 28-byte big-endian header (magic `"LZ  "`, version 1.1,
//! image type, width, height, stride, top_down) followed by a stream of
//! control bytes. A control byte below 32 starts a literal run of
//! `ctrl + 1` pixels; anything else is a back-reference (length in the top
//! three bits, distance in the low five bits plus one or three more bytes).
//! RGB24, RGB32 and RGBA images share the same 3-byte (b, g, r) literal
//! coding; RGBA then appends a second stream for the alpha bytes, which
//! [`Image`] does not carry, so it is left undecoded. RGB16 literals are
//! two bytes of big-endian x555.

use super::Image;
use crate::error::{Error, Result};

/// The largest image any decoder accepts: 16 Mi pixels (64 MiB decoded)
/// covers a 5K screen. Without a cap a 30-byte header could demand
/// gigabytes.
pub(crate) const MAX_PIXELS: usize = 1 << 24;

/// ASCII "LZ  " read as a big-endian word.
pub(crate) const MAGIC: u32 = 0x2020_5a4c;
/// Version 1.1, the only one spice-common has ever written.
pub(crate) const VERSION: u32 = 0x0001_0001;

pub(crate) const TYPE_RGB16: u32 = 6;
pub(crate) const TYPE_RGB24: u32 = 7;
pub(crate) const TYPE_RGB32: u32 = 8;
pub(crate) const TYPE_RGBA: u32 = 9;

/// Distances at or beyond this use the three-byte "far" coding.
const MAX_DISTANCE: usize = 8191;

/// A back-reference or run costs at least one byte per 255 pixels it
/// produces, so no honest payload decodes to more pixels than this many
/// per input byte. Checked before allocating the output.
pub(crate) const MAX_PIXELS_PER_BYTE: usize = 256;

/// A bounds-checked cursor over the payload. Every read is fallible so
/// that a truncated stream is an error, never a panic.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    #[inline(always)]
    pub(crate) fn u8(&mut self) -> Result<u8, &'static str> {
        let b = *self.data.get(self.pos).ok_or("truncated stream")?;
        self.pos += 1;
        Ok(b)
    }

    #[inline(always)]
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.pos.checked_add(n).ok_or("truncated stream")?;
        let s = self.data.get(self.pos..end).ok_or("truncated stream")?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn be32(&mut self) -> Result<u32, &'static str> {
        let b = self.take(4)?;
        <[u8; 4]>::try_from(b)
            .map(u32::from_be_bytes)
            .map_err(|_| "truncated stream")
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }
}

/// Converts one literal of `BPP` bytes to `0x00RRGGBB`.
#[inline(always)]
pub(crate) fn literal<const BPP: usize>(b: &[u8]) -> u32 {
    // Callers pass exact chunks, so the fallback arm is never taken; it
    // exists so that no slice index can panic.
    match *b {
        [hi, lo] if BPP == 2 => {
            // Big-endian x555, each channel widened by repeating its top bits.
            let v = (u32::from(hi) << 8) | u32::from(lo);
            let widen = |c: u32| (c << 3) | (c >> 2);
            (widen((v >> 10) & 31) << 16) | (widen((v >> 5) & 31) << 8) | widen(v & 31)
        }
        // b, g, r in stream order.
        [b, g, r] => u32::from(b) | (u32::from(g) << 8) | (u32::from(r) << 16),
        _ => 0,
    }
}

/// Decodes `ctrl + 1` literals into `out[op..]`, returning the new `op`.
#[inline(always)]
pub(crate) fn copy_literals<const BPP: usize>(
    r: &mut Reader<'_>,
    out: &mut [u32],
    op: usize,
    count: usize,
) -> Result<usize, &'static str> {
    let end = op + count;
    let dst = out
        .get_mut(op..end)
        .ok_or("literal run past the image end")?;
    let src = r.take(count * BPP)?;
    for (px, b) in dst.iter_mut().zip(src.chunks_exact(BPP)) {
        *px = literal::<BPP>(b);
    }
    Ok(end)
}

/// Copies `len` pixels from `dist` pixels back to `out[op..]`. The ranges
/// may overlap (a distance shorter than the length repeats a pattern), so
/// the copy proceeds in chunks that never read what they write.
#[inline(always)]
pub(crate) fn copy_back(
    out: &mut [u32],
    op: usize,
    dist: usize,
    len: usize,
) -> Result<(), &'static str> {
    let src = op
        .checked_sub(dist)
        .ok_or("reference before the image start")?;
    let end = op
        .checked_add(len)
        .filter(|&e| e <= out.len())
        .ok_or("reference past the image end")?;
    if dist == 1 {
        // A run of one pixel, the commonest match on screen content.
        let v = *out.get(src).ok_or("reference before the image start")?;
        if let Some(dst) = out.get_mut(op..end) {
            dst.fill(v);
        }
        return Ok(());
    }
    let mut o = op;
    while o < end {
        // Everything in src..o is final, so up to o - src pixels can be
        // copied at once; the chunk doubles each round for short periods.
        let n = (o - src).min(end - o);
        let (head, tail) = out
            .split_at_mut_checked(o)
            .ok_or("reference past the image end")?;
        let from = head
            .get(src..src + n)
            .ok_or("reference before the image start")?;
        tail.get_mut(..n)
            .ok_or("reference past the image end")?
            .copy_from_slice(from);
        o += n;
    }
    Ok(())
}

/// The LZ stream proper: fills `out` completely or fails.
fn decompress<const BPP: usize>(r: &mut Reader<'_>, out: &mut [u32]) -> Result<(), &'static str> {
    // Matches are at least two pixels long for 16-bit images, one otherwise.
    let len_bias = if BPP == 2 { 2 } else { 1 };
    let n = out.len();
    let mut op = 0;
    while op < n {
        let ctrl = usize::from(r.u8()?);
        if ctrl < 32 {
            op = copy_literals::<BPP>(r, out, op, ctrl + 1)?;
            continue;
        }
        let mut len = (ctrl >> 5) - 1;
        if len == 6 {
            loop {
                let c = r.u8()?;
                len += usize::from(c);
                if c != 255 {
                    break;
                }
            }
        }
        let code = usize::from(r.u8()?);
        let mut dist = ((ctrl & 31) << 8) + code;
        if code == 255 && ctrl & 31 == 31 {
            let hi = usize::from(r.u8()?);
            let lo = usize::from(r.u8()?);
            dist = (hi << 8) + lo + MAX_DISTANCE;
        }
        len += len_bias;
        copy_back(out, op, dist + 1, len)?;
        op += len;
    }
    Ok(())
}

/// Reverses the row order of a bottom-up image in place.
pub(crate) fn flip_rows(pixels: &mut [u32], width: usize) {
    let mut rows = pixels.chunks_exact_mut(width);
    while let (Some(a), Some(b)) = (rows.next(), rows.next_back()) {
        a.swap_with_slice(b);
    }
}

/// Bytes per pixel of an LZ RGB type, or an error for the types SPICE
/// only sends as LZ_PLT or never sends at all.
pub(crate) fn bytes_per_pixel(ty: u32) -> Result<usize, &'static str> {
    match ty {
        TYPE_RGB16 => Ok(2),
        TYPE_RGB24 => Ok(3),
        TYPE_RGB32 | TYPE_RGBA => Ok(4),
        _ => Err("unsupported image type"),
    }
}

/// Checks width and height against [`MAX_PIXELS`] and against what
/// `payload` bytes could possibly encode; returns the pixel count.
pub(crate) fn checked_pixels(
    width: u32,
    height: u32,
    payload: usize,
) -> Result<usize, &'static str> {
    if width == 0 || height == 0 {
        return Err("empty image");
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS as u64 {
        return Err("image too large");
    }
    let pixels = pixels as usize;
    if pixels > payload.saturating_mul(MAX_PIXELS_PER_BYTE) {
        return Err("payload too short for the image size");
    }
    Ok(pixels)
}

fn decode(data: &[u8]) -> Result<Image, &'static str> {
    let mut r = Reader::new(data);
    if r.be32()? != MAGIC {
        return Err("bad magic");
    }
    if r.be32()? != VERSION {
        return Err("unsupported version");
    }
    let ty = r.be32()?;
    let width = r.be32()?;
    let height = r.be32()?;
    let stride = r.be32()?;
    let top_down = r.be32()? != 0;
    let bpp = bytes_per_pixel(ty)?;
    if u64::from(stride) != u64::from(width) * bpp as u64 {
        return Err("stride does not match width");
    }
    let n = checked_pixels(width, height, r.remaining())?;
    let mut pixels = vec![0u32; n];
    if bpp == 2 {
        decompress::<2>(&mut r, &mut pixels)?;
    } else {
        decompress::<3>(&mut r, &mut pixels)?;
    }
    if !top_down {
        flip_rows(&mut pixels, width as usize);
    }
    Ok(Image {
        width,
        height,
        pixels,
    })
}

/// Decodes an LZ_RGB payload (the bytes after its `data_size`).
pub fn decode_lz_rgb(data: &[u8]) -> Result<Image> {
    decode(data).map_err(|reason| Error::Decode {
        codec: "lz",
        reason,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Appends the big-endian LZ header.
    pub(crate) fn header(ty: u32, w: u32, h: u32, top_down: bool) -> Vec<u8> {
        let bpp = bytes_per_pixel(ty).unwrap_or(4) as u32;
        let mut v = Vec::new();
        for word in [
            MAGIC,
            VERSION,
            ty,
            w,
            h,
            w.wrapping_mul(bpp),
            u32::from(top_down),
        ] {
            v.extend_from_slice(&word.to_be_bytes());
        }
        v
    }

    fn push_literals(out: &mut Vec<u8>, px: &[u32], bpp: usize) {
        for chunk in px.chunks(32) {
            out.push((chunk.len() - 1) as u8);
            for &p in chunk {
                if bpp == 2 {
                    let c = |s: u32| (p >> (s + 3)) & 31;
                    let v = (c(16) << 10) | (c(8) << 5) | c(0);
                    out.extend_from_slice(&(v as u16).to_be_bytes());
                } else {
                    out.extend_from_slice(&[p as u8, (p >> 8) as u8, (p >> 16) as u8]);
                }
            }
        }
    }

    /// Encodes a back-reference exactly as the format defines it.
    pub(crate) fn push_ref(out: &mut Vec<u8>, len: usize, dist: usize, bias: usize) {
        let l = len - bias;
        let o = dist - 1;
        let top = if l < 6 { l + 1 } else { 7 } << 5;
        let far = o >= MAX_DISTANCE;
        out.push((top | if far { 31 } else { o >> 8 }) as u8);
        if l >= 6 {
            let mut rem = l - 6;
            while rem >= 255 {
                out.push(255);
                rem -= 255;
            }
            out.push(rem as u8);
        }
        if far {
            let f = o - MAX_DISTANCE;
            out.extend_from_slice(&[255, (f >> 8) as u8, f as u8]);
        } else {
            out.push(o as u8);
        }
    }

    /// A small greedy encoder: tries a run, the row above and a far
    /// distance at each pixel, else emits literals.
    pub(crate) fn compress(px: &[u32], width: usize, bpp: usize) -> Vec<u8> {
        let bias = if bpp == 2 { 2 } else { 1 };
        let mut out = Vec::new();
        let mut lits = Vec::new();
        let mut i = 0;
        while i < px.len() {
            let mut best = (0, 0);
            for d in [1, 2, width, 9000] {
                if d > i || d > MAX_DISTANCE + 65535 {
                    continue;
                }
                let m = (i..px.len()).take_while(|&k| px[k] == px[k - d]).count();
                if m > best.0 {
                    best = (m, d);
                }
            }
            if best.0 >= bias.max(2) {
                push_literals(&mut out, &lits, bpp);
                lits.clear();
                push_ref(&mut out, best.0, best.1, bias);
                i += best.0;
            } else {
                lits.push(px[i]);
                i += 1;
            }
        }
        push_literals(&mut out, &lits, bpp);
        out
    }

    fn pattern(w: usize, h: usize) -> Vec<u32> {
        // Text-like content: runs, repeated rows, a few noisy pixels.
        (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                if (x / 7 + y / 3) % 5 == 0 {
                    ((x * 2654435761) ^ (y * 40503)) as u32 & 0xff_ffff
                } else if y % 4 == 0 {
                    0x00aa_5500
                } else {
                    0x0000_00a8 * (x as u32 % 3)
                }
            })
            .collect()
    }

    fn encode(ty: u32, w: usize, h: usize, px: &[u32], top_down: bool) -> Vec<u8> {
        let mut v = header(ty, w as u32, h as u32, top_down);
        let bpp = if ty == TYPE_RGB16 { 2 } else { 3 };
        v.extend(compress(px, w, bpp));
        v
    }

    #[test]
    fn literals_and_runs_round_trip() {
        let (w, h) = (37, 29);
        let px = pattern(w, h);
        for ty in [TYPE_RGB24, TYPE_RGB32, TYPE_RGBA] {
            let img = decode_lz_rgb(&encode(ty, w, h, &px, true)).unwrap();
            assert_eq!((img.width, img.height), (w as u32, h as u32));
            assert_eq!(img.pixels, px);
        }
    }

    #[test]
    fn far_distances_and_long_matches() {
        // 200x100 makes the 9000-pixel distance and long runs appear.
        let (w, h) = (200, 100);
        let mut px = pattern(w, h);
        for (i, p) in px.iter_mut().enumerate().skip(9000).take(5000) {
            *p = pattern(w, h)[i - 9000];
        }
        let data = encode(TYPE_RGB32, w, h, &px, true);
        assert!(data.len() < w * h, "the test encoder should compress");
        assert_eq!(decode_lz_rgb(&data).unwrap().pixels, px);
    }

    #[test]
    fn bottom_up_rows_are_flipped() {
        let (w, h) = (3, 4);
        let px: Vec<u32> = (0..12).map(|i| i * 0x010101).collect();
        let mut stream_order = px.clone();
        flip_rows(&mut stream_order, w);
        let img = decode_lz_rgb(&encode(TYPE_RGB32, w, h, &stream_order, false)).unwrap();
        assert_eq!(img.pixels, px);
    }

    #[test]
    fn rgb16_widens_channels() {
        // x555 channels widen by repeating their top bits: 31 -> 255, 16 -> 132.
        let px = vec![
            0x00ff_8400,
            0x0000_00ff,
            0x00ff_8400,
            0x00ff_8400,
            0x00ff_8400,
        ];
        let img = decode_lz_rgb(&encode(TYPE_RGB16, 5, 1, &px, true)).unwrap();
        assert_eq!(img.pixels, px);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let data = encode(TYPE_RGB32, 37, 29, &pattern(37, 29), true);
        for cut in 0..data.len() {
            assert!(decode_lz_rgb(&data[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn hostile_headers_are_errors() {
        let body = [0u8, 1, 2, 3];
        let with = |h: Vec<u8>| [h, body.to_vec()].concat();
        // Absurd sizes: rejected before any allocation.
        assert!(decode_lz_rgb(&with(header(TYPE_RGB32, u32::MAX, u32::MAX, true))).is_err());
        assert!(decode_lz_rgb(&with(header(TYPE_RGB32, 4096, 4096, true))).is_err());
        assert!(decode_lz_rgb(&with(header(TYPE_RGB32, 0, 1, true))).is_err());
        assert!(decode_lz_rgb(&with(header(5, 1, 1, true))).is_err());
        assert!(decode_lz_rgb(&with(header(99, 1, 1, true))).is_err());
        let mut bad = with(header(TYPE_RGB32, 1, 1, true));
        bad[0] ^= 1;
        assert!(decode_lz_rgb(&bad).is_err());
        let mut bad = with(header(TYPE_RGB32, 1, 1, true));
        bad[23] ^= 1; // stride
        assert!(decode_lz_rgb(&bad).is_err());
    }

    #[test]
    fn bad_references_are_errors() {
        let mut before_start = header(TYPE_RGB32, 4, 1, true);
        push_literals(&mut before_start, &[1], 3);
        push_ref(&mut before_start, 3, 2, 1);
        assert!(decode_lz_rgb(&before_start).is_err());
        let mut past_end = header(TYPE_RGB32, 4, 1, true);
        push_literals(&mut past_end, &[1], 3);
        push_ref(&mut past_end, 9, 1, 1);
        assert!(decode_lz_rgb(&past_end).is_err());
        let mut lits_past_end = header(TYPE_RGB32, 2, 1, true);
        push_literals(&mut lits_past_end, &[1, 2, 3], 3);
        assert!(decode_lz_rgb(&lits_past_end).is_err());
    }

    #[test]
    fn reference_streams_decode_exactly() {
        let raw = include_bytes!("testdata/text_120_50.raw");
        let want: Vec<u32> = raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], 0]))
            .collect();
        for stream in [
            &include_bytes!("testdata/text_120_50.lz")[..],
            &include_bytes!("testdata/text_120_50.l24")[..],
            &include_bytes!("testdata/text_120_50.la")[..],
        ] {
            let img = decode_lz_rgb(stream).unwrap();
            assert_eq!((img.width, img.height), (120, 50));
            assert!(img.pixels == want);
        }
    }
}
