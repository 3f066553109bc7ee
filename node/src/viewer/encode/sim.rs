//! A browser simulator for the tests: applies server → browser messages to a
//! canvas the way the viewer page does, decoding PNG with the `png` crate and
//! JPEG with `jpeg-decoder`. It also remembers which pixels came from a JPEG,
//! so tests can demand exactness everywhere else.

use std::io::Cursor;

/// The browser's canvas.
#[derive(Default)]
pub struct Canvas {
    pub w: u32,
    pub h: u32,
    /// 0x00RRGGBB.
    pub px: Vec<u32>,
    /// Per pixel: last drawn from a JPEG.
    pub lossy: Vec<bool>,
}

fn u16_at(m: &[u8], off: usize) -> u32 {
    u32::from(u16::from_le_bytes([m[off], m[off + 1]]))
}

impl Canvas {
    /// Applies one message; panics (failing the test) on anything malformed.
    pub fn apply(&mut self, m: &[u8]) {
        match m[0] {
            1 => {
                assert_eq!(m.len(), 5, "SIZE length");
                self.w = u16_at(m, 1);
                self.h = u16_at(m, 3);
                let n = self.w as usize * self.h as usize;
                // "Undefined until drawn": a colour no test screen uses, so
                // that an undrawn pixel shows up in comparisons.
                self.px = vec![0x00FE_01FD; n];
                self.lossy = vec![false; n];
            }
            2 => {
                let (x, y, w, h) = (u16_at(m, 1), u16_at(m, 3), u16_at(m, 5), u16_at(m, 7));
                self.check_rect(x, y, w, h);
                let (rgb, lossy) = match m[9] {
                    1 => (decode_png(&m[10..], w, h), false),
                    2 => (decode_jpeg(&m[10..], w, h), true),
                    c => panic!("unknown codec {c}"),
                };
                for j in 0..h {
                    for i in 0..w {
                        let k = ((y + j) * self.w + x + i) as usize;
                        self.px[k] = rgb[(j * w + i) as usize];
                        self.lossy[k] = lossy;
                    }
                }
            }
            3 => {
                assert_eq!(m.len(), 13, "COPY length");
                let (sx, sy, w, h, dx, dy) = (
                    u16_at(m, 1),
                    u16_at(m, 3),
                    u16_at(m, 5),
                    u16_at(m, 7),
                    u16_at(m, 9),
                    u16_at(m, 11),
                );
                self.check_rect(sx, sy, w, h);
                self.check_rect(dx, dy, w, h);
                // Copy first, like drawImage of the canvas onto itself.
                let mut tmp = Vec::new();
                for j in 0..h {
                    for i in 0..w {
                        let k = ((sy + j) * self.w + sx + i) as usize;
                        tmp.push((self.px[k], self.lossy[k]));
                    }
                }
                for j in 0..h {
                    for i in 0..w {
                        let k = ((dy + j) * self.w + dx + i) as usize;
                        (self.px[k], self.lossy[k]) = tmp[(j * w + i) as usize];
                    }
                }
            }
            4 => {
                assert_eq!(m.len(), 12, "FILL length");
                let (x, y, w, h) = (u16_at(m, 1), u16_at(m, 3), u16_at(m, 5), u16_at(m, 7));
                self.check_rect(x, y, w, h);
                let c = u32::from(m[9]) << 16 | u32::from(m[10]) << 8 | u32::from(m[11]);
                for j in 0..h {
                    for i in 0..w {
                        let k = ((y + j) * self.w + x + i) as usize;
                        self.px[k] = c;
                        self.lossy[k] = false;
                    }
                }
            }
            t => panic!("unexpected message type {t}"),
        }
    }

    fn check_rect(&self, x: u32, y: u32, w: u32, h: u32) {
        assert!(w > 0 && h > 0, "empty rect {x},{y} {w}x{h}");
        assert!(
            x + w <= self.w && y + h <= self.h,
            "rect {x},{y} {w}x{h} outside {}x{}",
            self.w,
            self.h
        );
    }

    /// Pixels that differ from `fb`, ignoring those last drawn by JPEG when
    /// `skip_lossy`.
    pub fn mismatches(&self, fb: &[u32], skip_lossy: bool) -> usize {
        self.px
            .iter()
            .zip(fb)
            .zip(&self.lossy)
            .filter(|((&a, &b), &l)| a != b & 0xFF_FFFF && !(skip_lossy && l))
            .count()
    }

    pub fn lossy_pixels(&self) -> usize {
        self.lossy.iter().filter(|&&l| l).count()
    }

    /// Mean absolute channel error over the lossy pixels (0 when none).
    pub fn lossy_error(&self, fb: &[u32]) -> f64 {
        let (mut sum, mut n) = (0u64, 0u64);
        for ((&a, &b), &l) in self.px.iter().zip(fb).zip(&self.lossy) {
            if l {
                for s in [0, 8, 16] {
                    sum += u64::from(((a >> s) & 255).abs_diff((b >> s) & 255));
                }
                n += 3;
            }
        }
        if n == 0 {
            0.0
        } else {
            sum as f64 / n as f64
        }
    }
}

fn decode_png(data: &[u8], w: u32, h: u32) -> Vec<u32> {
    let mut dec = png::Decoder::new(Cursor::new(data));
    dec.set_transformations(png::Transformations::EXPAND);
    let mut r = dec.read_info().expect("png header");
    let mut buf = vec![0; r.output_buffer_size().expect("PNG fits in memory")];
    let info = r.next_frame(&mut buf).expect("png data");
    assert_eq!(
        (info.width, info.height),
        (w, h),
        "png size vs IMAGE header"
    );
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let ch = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        t => panic!("png colour type {t:?}"),
    };
    buf[..info.buffer_size()]
        .chunks_exact(ch)
        .map(|p| u32::from(p[0]) << 16 | u32::from(p[1]) << 8 | u32::from(p[2]))
        .collect()
}

fn decode_jpeg(data: &[u8], w: u32, h: u32) -> Vec<u32> {
    let mut dec = jpeg_decoder::Decoder::new(Cursor::new(data));
    let px = dec.decode().expect("jpeg data");
    let info = dec.info().expect("jpeg info");
    assert_eq!(
        (u32::from(info.width), u32::from(info.height)),
        (w, h),
        "jpeg size vs IMAGE header"
    );
    assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
    px.chunks_exact(3)
        .map(|p| u32::from(p[0]) << 16 | u32::from(p[1]) << 8 | u32::from(p[2]))
        .collect()
}
