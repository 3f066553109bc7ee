//! Builders for the binary server → browser messages of the viewer protocol
//! (`docs/VIEWER-PROTOCOL.md`, version 1). Every function returns one complete
//! websocket binary message: the type byte, then a little-endian body.
//!
//! Coordinates are `u16` on the wire; callers hand in values that already fit
//! (the encoder refuses frames larger than 65535 px per side), so the builders
//! take `u16` and cannot truncate silently.

use opencloud_spice::cursor::CursorImage;

use super::encode::EncodeError;

/// Message type bytes (byte 0 of every binary message).
pub const SIZE: u8 = 1;
pub const IMAGE: u8 = 2;
pub const COPY: u8 = 3;
pub const FILL: u8 = 4;
pub const FRAME: u8 = 5;
pub const CURSOR: u8 = 6;
pub const CONTROL: u8 = 16;

/// IMAGE codecs.
pub const CODEC_PNG: u8 = 1;
pub const CODEC_JPEG: u8 = 2;

/// Bytes before the encoded image in an IMAGE message.
pub const IMAGE_HEADER_LEN: usize = 10;

/// Cursors larger than this are not sent: the SPICE client refuses anything
/// above 512 px per side, and browsers ignore CSS cursors above 128 px anyway.
const MAX_CURSOR_SIDE: u16 = 512;

/// SIZE: resize the canvas.
pub fn size(width: u16, height: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(5);
    m.push(SIZE);
    m.extend_from_slice(&width.to_le_bytes());
    m.extend_from_slice(&height.to_le_bytes());
    m
}

/// Starts an IMAGE message in `m` (which is cleared); the caller appends the
/// encoded PNG or JPEG, so the image is written in place without a copy.
pub fn image_header(m: &mut Vec<u8>, x: u16, y: u16, w: u16, h: u16, codec: u8) {
    m.clear();
    m.push(IMAGE);
    for v in [x, y, w, h] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    m.push(codec);
}

/// COPY: copy the canvas rectangle at (sx, sy) to (dx, dy).
pub fn copy(sx: u16, sy: u16, w: u16, h: u16, dx: u16, dy: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(13);
    m.push(COPY);
    for v in [sx, sy, w, h, dx, dy] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    m
}

/// FILL with one opaque colour given as 0x00RRGGBB.
pub fn fill(x: u16, y: u16, w: u16, h: u16, rgb: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(12);
    m.push(FILL);
    for v in [x, y, w, h] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    let [b, g, r, _] = rgb.to_le_bytes();
    m.extend_from_slice(&[r, g, b]);
    m
}

/// FRAME: closes frame `seq`; the browser acknowledges it once drawn. The
/// latencies are those of the oldest and the newest change in the frame.
pub fn frame(seq: u32, node_latency_us: u32, newest_latency_us: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(13);
    m.push(FRAME);
    m.extend_from_slice(&seq.to_le_bytes());
    m.extend_from_slice(&node_latency_us.to_le_bytes());
    m.extend_from_slice(&newest_latency_us.to_le_bytes());
    m
}

/// CURSOR with w = 0: the browser shows no cursor over the canvas.
pub fn hide_cursor() -> Vec<u8> {
    let mut m = Vec::with_capacity(9);
    m.push(CURSOR);
    m.extend_from_slice(&[0; 8]);
    m
}

/// CURSOR: the guest's cursor image as an RGBA PNG (pixels are 0xAARRGGBB).
/// An empty image hides the cursor.
pub fn cursor_message(img: &CursorImage) -> Result<Vec<u8>, EncodeError> {
    let (w, h) = (img.width, img.height);
    if w == 0 || h == 0 {
        return Ok(hide_cursor());
    }
    if w > MAX_CURSOR_SIDE || h > MAX_CURSOR_SIDE {
        return Err(EncodeError::TooLarge {
            width: w.into(),
            height: h.into(),
        });
    }
    let n = usize::from(w) * usize::from(h);
    let Some(pixels) = img.pixels.get(..n) else {
        return Err(EncodeError::ShortFramebuffer {
            len: img.pixels.len(),
            need: n,
        });
    };
    let mut rgba = Vec::with_capacity(n * 4);
    for &p in pixels {
        let [b, g, r, a] = p.to_le_bytes();
        rgba.extend_from_slice(&[r, g, b, a]);
    }
    // The hot spot lies inside the image (at most 512), so it fits an i16;
    // clamp anyway rather than wrap if a hostile server says otherwise.
    let hx = i16::try_from(img.hot_x).unwrap_or(i16::MAX);
    let hy = i16::try_from(img.hot_y).unwrap_or(i16::MAX);
    let mut m = Vec::with_capacity(9 + n);
    m.push(CURSOR);
    m.extend_from_slice(&hx.to_le_bytes());
    m.extend_from_slice(&hy.to_le_bytes());
    m.extend_from_slice(&w.to_le_bytes());
    m.extend_from_slice(&h.to_le_bytes());
    let mut enc = png::Encoder::new(&mut m, w.into(), h.into());
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header().map_err(EncodeError::png)?;
    writer.write_image_data(&rgba).map_err(EncodeError::png)?;
    writer.finish().map_err(EncodeError::png)?;
    Ok(m)
}

/// CONTROL: a JSON object with a `"kind"` (hello, mouse, clipboard, error).
pub fn control(value: &serde_json::Value) -> Vec<u8> {
    let mut m = vec![CONTROL];
    // Serialising a `Value` to a Vec cannot fail (no IO, string keys only).
    if serde_json::to_writer(&mut m, value).is_err() {
        m.truncate(1);
        m.extend_from_slice(b"{}");
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_layouts() {
        assert_eq!(size(0x0102, 0x0304), [1, 2, 1, 4, 3]);
        assert_eq!(
            copy(1, 2, 3, 4, 5, 6),
            [3, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0]
        );
        assert_eq!(
            fill(1, 2, 3, 4, 0x00AABBCC),
            [4, 1, 0, 2, 0, 3, 0, 4, 0, 0xAA, 0xBB, 0xCC]
        );
        assert_eq!(
            frame(7, 0x01020304, 0x05060708),
            [5, 7, 0, 0, 0, 4, 3, 2, 1, 8, 7, 6, 5]
        );
        assert_eq!(hide_cursor(), [6, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut m = vec![9, 9];
        image_header(&mut m, 1, 2, 3, 4, CODEC_JPEG);
        assert_eq!(m, [2, 1, 0, 2, 0, 3, 0, 4, 0, 2]);
        assert_eq!(m.len(), IMAGE_HEADER_LEN);
    }

    #[test]
    fn control_is_json_with_kind() {
        let m = control(
            &serde_json::json!({"kind": "error", "message": "no \"such\" token", "retry": false}),
        );
        assert_eq!(m[0], CONTROL);
        let v: serde_json::Value = serde_json::from_slice(&m[1..]).unwrap();
        assert_eq!(v["kind"], "error");
        assert_eq!(v["message"], "no \"such\" token");
        assert_eq!(v["retry"], false);
    }

    #[test]
    fn cursor_is_rgba_png() {
        let img = CursorImage {
            width: 2,
            height: 1,
            hot_x: 1,
            hot_y: 0,
            pixels: vec![0x80FF0000, 0xFF00FF00],
        };
        let m = cursor_message(&img).unwrap();
        assert_eq!(&m[..9], &[6, 1, 0, 0, 0, 2, 0, 1, 0]);
        let dec = png::Decoder::new(std::io::Cursor::new(&m[9..]));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().expect("PNG fits in memory")];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgba);
        assert_eq!(&buf[..8], &[0xFF, 0, 0, 0x80, 0, 0xFF, 0, 0xFF]);
        // Too few pixels for the size: an error, not a panic.
        let short = CursorImage {
            pixels: vec![0],
            ..img.clone()
        };
        assert!(cursor_message(&short).is_err());
        let empty = CursorImage { width: 0, ..img };
        assert_eq!(cursor_message(&empty).unwrap(), hide_cursor());
    }
}
