//! Encoder tests: every produced message is applied to a simulated browser
//! canvas ([`super::sim`]) and the canvas is compared with the framebuffer.

use std::time::{Duration, Instant};

use opencloud_spice::msg::display::Rect;

use super::sim::Canvas;
use super::*;

pub(super) const BG: u32 = 0x000000;
pub(super) const FG: u32 = 0xAAAAAA;
pub(super) const BLUE: u32 = 0x5555FF;

/// A deterministic generator (xorshift64*), so failures reproduce.
pub(super) struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub(super) fn rect(left: i32, top: i32, right: i32, bottom: i32) -> Rect {
    Rect {
        top,
        left,
        bottom,
        right,
    }
}

pub(super) fn full(w: u32, h: u32) -> Rect {
    rect(0, 0, w as i32, h as i32)
}

/// An 8x16 glyph-like bitmap for `c`: the same character always looks the
/// same, as in a real font, and a space is blank.
fn glyph(c: u8) -> [u8; 16] {
    let mut g = [0u8; 16];
    if c == b' ' {
        return g;
    }
    let mut r = Rng(0x9E37_79B9_7F4A_7C15 ^ (u64::from(c) * 0x1000_0001));
    for row in g.iter_mut().take(13).skip(3) {
        *row = (r.next() >> 24) as u8 & 0x7E;
    }
    g
}

/// A line such as `ls -lR /` prints, varied by `n`.
pub(super) fn ls_line(n: u64) -> (String, u32) {
    let mut r = Rng(n.wrapping_mul(0x5851_F42D_4C95_7F2D) | 1);
    if n.is_multiple_of(7) {
        return (format!("/usr/share/doc/package-{}:", r.below(5000)), BLUE);
    }
    let dir = r.below(4) == 0;
    let line = format!(
        "{} {:>2} root root {:>8} Jan {:>2} 1{}:{:02} {}file_{}.{}",
        if dir { "drwxr-xr-x" } else { "-rw-r--r--" },
        r.below(20),
        r.below(10_000_000),
        r.below(31) + 1,
        r.below(10),
        r.below(60),
        if dir { "sub" } else { "" },
        r.below(100_000),
        ["txt", "gz", "so", "conf", "html"][r.below(5) as usize],
    );
    (line, if dir { BLUE } else { FG })
}

/// Draws `lines` as 8x16 text on a `w` x `h` console.
pub(super) fn render(fb: &mut [u32], w: u32, h: u32, lines: &[(String, u32)]) {
    fb.fill(BG);
    let cols = (w / 8) as usize;
    for (row, (text, fg)) in lines.iter().enumerate().take((h / 16) as usize) {
        for (col, &c) in text.as_bytes().iter().enumerate().take(cols) {
            let g = glyph(c);
            for (gy, bits) in g.iter().enumerate() {
                for gx in 0..8 {
                    if bits & (0x80 >> gx) != 0 {
                        let y = row * 16 + gy;
                        let x = col * 8 + gx;
                        fb[y * w as usize + x] = *fg;
                    }
                }
            }
        }
    }
}

/// Encodes, applies every message to the canvas, returns the messages.
#[allow(clippy::too_many_arguments)]
pub(super) fn step(
    enc: &mut Encoder,
    canvas: &mut Canvas,
    fb: &[u32],
    w: u32,
    h: u32,
    dirty: &[Rect],
    lag: u32,
    now: Instant,
) -> Vec<Encoded> {
    let mut out = Vec::new();
    enc.encode(fb, w, h, dirty, lag, now, &mut out).unwrap();
    for m in &out {
        assert!(
            m.bytes.len() < 1 << 20,
            "message of {} bytes",
            m.bytes.len()
        );
        canvas.apply(&m.bytes);
    }
    out
}

pub(super) fn refine(
    enc: &mut Encoder,
    canvas: &mut Canvas,
    fb: &[u32],
    w: u32,
    h: u32,
    now: Instant,
) -> Vec<Encoded> {
    let mut out = Vec::new();
    enc.refine(fb, w, h, now, &mut out).unwrap();
    for m in &out {
        canvas.apply(&m.bytes);
    }
    out
}

pub(super) fn bytes(out: &[Encoded]) -> usize {
    out.iter().map(|m| m.bytes.len()).sum()
}

pub(super) fn kinds(out: &[Encoded]) -> Vec<Kind> {
    out.iter().map(|m| m.kind).collect()
}

/// y of an IMAGE or FILL message.
pub(super) fn msg_y(m: &Encoded) -> u32 {
    u32::from(u16::from_le_bytes([m.bytes[3], m.bytes[4]]))
}

/// A console of `w` x `h` with lines `first..`.
pub(super) fn console(w: u32, h: u32, first: u64) -> (Vec<(String, u32)>, Vec<u32>) {
    let lines: Vec<_> = (first..first + u64::from(h / 16)).map(ls_line).collect();
    let mut fb = vec![0; (w * h) as usize];
    render(&mut fb, w, h, &lines);
    (lines, fb)
}

#[test]
fn first_frame_is_size_then_exact_repaint() {
    let (w, h) = (720, 400);
    let (_, fb) = console(w, h, 0);
    let mut enc = Encoder::new(EncoderConfig::default());
    let mut canvas = Canvas::default();
    // (g) SIZE comes first even with no dirty rectangle at all.
    let out = step(&mut enc, &mut canvas, &fb, w, h, &[], 0, Instant::now());
    assert_eq!(out[0].kind, Kind::Size);
    assert_eq!(out[0].bytes, wire::size(720, 400));
    assert!(out[1..].iter().all(|m| m.kind != Kind::Size));
    assert_eq!(canvas.mismatches(&fb, false), 0);
    println!("full repaint of a 720x400 console: {} bytes", bytes(&out));
}

#[test]
fn resize_sends_size_first_and_repaints() {
    let mut enc = Encoder::new(EncoderConfig::default());
    let mut canvas = Canvas::default();
    let now = Instant::now();
    let (_, fb) = console(720, 400, 0);
    step(
        &mut enc,
        &mut canvas,
        &fb,
        720,
        400,
        &[full(720, 400)],
        0,
        now,
    );
    let (_, fb2) = console(1024, 768, 5);
    // Even a dirty list that covers only a corner repaints the new size.
    let out = step(
        &mut enc,
        &mut canvas,
        &fb2,
        1024,
        768,
        &[rect(0, 0, 8, 8)],
        0,
        now,
    );
    assert_eq!(out[0].kind, Kind::Size);
    assert_eq!((canvas.w, canvas.h), (1024, 768));
    assert_eq!(canvas.mismatches(&fb2, false), 0);
    // reset(): a new browser gets SIZE and everything again.
    enc.reset();
    let mut fresh = Canvas::default();
    let out = step(&mut enc, &mut fresh, &fb2, 1024, 768, &[], 0, now);
    assert_eq!(out[0].kind, Kind::Size);
    assert_eq!(fresh.mismatches(&fb2, false), 0);
}

#[test]
fn unchanged_dirty_rects_produce_nothing() {
    let (w, h) = (1024, 768);
    let (_, fb) = console(w, h, 0);
    let mut enc = Encoder::new(EncoderConfig::default());
    let mut canvas = Canvas::default();
    let now = Instant::now();
    step(&mut enc, &mut canvas, &fb, w, h, &[full(w, h)], 0, now);
    // What -vga std does: resend every 32-pixel column block unchanged.
    let blocks: Vec<Rect> = (0..w as i32 / 32)
        .map(|i| rect(i * 32, 0, i * 32 + 32, h as i32))
        .collect();
    let out = step(&mut enc, &mut canvas, &fb, w, h, &blocks, 0, now);
    assert!(out.is_empty(), "{:?}", kinds(&out));
    assert!(step(&mut enc, &mut canvas, &fb, w, h, &[], 0, now).is_empty());
}

#[test]
fn one_changed_character_in_column_blocks_is_one_small_image() {
    let (w, h) = (1024, 768);
    let (_, mut fb) = console(w, h, 0);
    let mut enc = Encoder::new(EncoderConfig::default());
    let mut canvas = Canvas::default();
    let now = Instant::now();
    step(&mut enc, &mut canvas, &fb, w, h, &[full(w, h)], 0, now);
    // One character cell at column 70, text row 20 changes.
    for y in 323..333 {
        for x in 561..567 {
            if (x + y) % 3 == 0 {
                fb[y * w as usize + x] = 0xFF0000;
            }
        }
    }
    let blocks: Vec<Rect> = (0..w as i32 / 32)
        .map(|i| rect(i * 32, 0, i * 32 + 32, h as i32))
        .collect();
    let out = step(&mut enc, &mut canvas, &fb, w, h, &blocks, 0, now);
    assert_eq!(kinds(&out), [Kind::Png]);
    assert!(out[0].bytes.len() < 200, "{} bytes", out[0].bytes.len());
    assert_eq!(canvas.mismatches(&fb, false), 0);
}

#[test]
fn cleared_screen_is_fill() {
    let (w, h) = (1024, 768);
    let (_, fb) = console(w, h, 0);
    let mut enc = Encoder::new(EncoderConfig::default());
    let mut canvas = Canvas::default();
    let now = Instant::now();
    step(&mut enc, &mut canvas, &fb, w, h, &[full(w, h)], 0, now);
    let mut blank = vec![BG; (w * h) as usize];
    let out = step(&mut enc, &mut canvas, &blank, w, h, &[full(w, h)], 0, now);
    assert!(
        !out.is_empty() && out.iter().all(|m| m.kind == Kind::Fill),
        "{:?}",
        kinds(&out)
    );
    assert_eq!(canvas.mismatches(&blank, false), 0);
    // A whole screen turning one colour is a single FILL.
    blank.fill(0x123456);
    let out = step(&mut enc, &mut canvas, &blank, w, h, &[full(w, h)], 0, now);
    assert_eq!(kinds(&out), [Kind::Fill]);
    assert_eq!(out[0].bytes, wire::fill(0, 0, 1024, 768, 0x123456));
}

/// A photo-like region: smooth gradients plus noise, different every `t`.
pub(super) fn paint_photo(fb: &mut [u32], w: u32, r: PRect, t: u64) {
    let mut rng = Rng(t.wrapping_mul(0x9E37_79B9) | 1);
    for y in r.y0..r.y1 {
        for x in r.x0..r.x1 {
            let n = rng.below(24) as u32;
            let red = (x * 2 + t as u32 * 7 + n) & 255;
            let green = (y * 3 + t as u32 * 3 + n) & 255;
            let blue = ((x + y) + n * 2) & 255;
            fb[(y * w + x) as usize] = red << 16 | green << 8 | blue;
        }
    }
}

#[test]
fn video_goes_jpeg_and_quality_drops_with_lag_then_refines_exact() {
    let (w, h) = (640, 480);
    let (_, mut fb) = console(w, h, 0);
    let video = PRect {
        x0: 128,
        y0: 96,
        x1: 448,
        y1: 336,
    };
    let dirty = [rect(128, 96, 448, 336)];
    let mut enc = Encoder::new(EncoderConfig::default());
    let mut canvas = Canvas::default();
    let t0 = Instant::now();
    step(&mut enc, &mut canvas, &fb, w, h, &[full(w, h)], 0, t0);
    let mut now = t0;
    let mut saw_jpeg = false;
    for t in 1..=6 {
        now += Duration::from_millis(40);
        paint_photo(&mut fb, w, video, t);
        let out = step(&mut enc, &mut canvas, &fb, w, h, &dirty, 0, now);
        saw_jpeg |= out.iter().any(|m| m.kind == Kind::Jpeg);
        // The first changes of a region are not yet "often": lossless.
        if t == 1 {
            assert!(out.iter().all(|m| m.kind == Kind::Png), "{:?}", kinds(&out));
        }
        // Outside lossy pixels the canvas is exact at every frame.
        assert_eq!(canvas.mismatches(&fb, true), 0);
    }
    assert!(saw_jpeg);
    assert!(canvas.lossy_pixels() > 0);
    assert!(
        canvas.lossy_error(&fb) < 25.0,
        "error {}",
        canvas.lossy_error(&fb)
    );

    // Same history, same next frame, lag 0 vs lag 3: fewer bytes, more error.
    now += Duration::from_millis(40);
    paint_photo(&mut fb, w, video, 7);
    let mut results = Vec::new();
    for lag in [0, 3] {
        let mut e = Encoder::new(EncoderConfig::default());
        let mut c = Canvas::default();
        let mut f = fb.clone();
        let mut tn = t0;
        step(&mut e, &mut c, &f, w, h, &[full(w, h)], 0, tn);
        for t in 1..=7 {
            tn += Duration::from_millis(40);
            paint_photo(&mut f, w, video, t);
            let lag_now = if t == 7 { lag } else { 0 };
            let out = step(&mut e, &mut c, &f, w, h, &dirty, lag_now, tn);
            if t == 7 {
                assert!(
                    out.iter().all(|m| m.kind == Kind::Jpeg),
                    "{:?}",
                    kinds(&out)
                );
                results.push((bytes(&out), c.lossy_error(&f)));
            }
        }
    }
    println!(
        "video frame 320x240: lag 0 {:?}, lag 3 {:?} (bytes, mean error)",
        results[0], results[1]
    );
    assert!(results[1].0 * 10 < results[0].0 * 8, "{results:?}");
    assert!(results[1].1 > results[0].1, "{results:?}");

    // The video stops: nothing to refine before refine_delay, then PNGs make
    // the canvas exact and nothing is left to refine.
    let due = enc.next_refine_at().expect("lossy tiles pending");
    assert_eq!(
        due,
        now - Duration::from_millis(40) + Duration::from_millis(300)
    );
    assert!(refine(
        &mut enc,
        &mut canvas,
        &fb,
        w,
        h,
        due - Duration::from_millis(1)
    )
    .is_empty());
    // fb changed since the last encode (frame 7 was painted): refine sends
    // the current pixels, so the canvas matches the framebuffer exactly.
    let out = refine(&mut enc, &mut canvas, &fb, w, h, due);
    assert!(
        !out.is_empty() && out.iter().all(|m| m.kind == Kind::Png),
        "{:?}",
        kinds(&out)
    );
    assert_eq!(canvas.mismatches(&fb, false), 0);
    assert_eq!(enc.next_refine_at(), None);
    assert!(refine(
        &mut enc,
        &mut canvas,
        &fb,
        w,
        h,
        due + Duration::from_secs(1)
    )
    .is_empty());
    // And the next encode of the same screen has nothing to say.
    assert!(step(&mut enc, &mut canvas, &fb, w, h, &dirty, 0, due).is_empty());
}

#[test]
fn hostile_inputs_error_or_nothing() {
    let mut enc = Encoder::new(EncoderConfig::default());
    let mut out = Vec::new();
    let now = Instant::now();
    let fb = vec![0x00FF_FFFFu32; 64 * 64];
    assert!(matches!(
        enc.encode(&fb, 0, 10, &[], 0, now, &mut out),
        Err(EncodeError::Empty { .. })
    ));
    assert!(matches!(
        enc.encode(&fb, 65536, 1, &[], 0, now, &mut out),
        Err(EncodeError::TooLarge { .. })
    ));
    assert!(matches!(
        enc.encode(&fb, 65, 64, &[], 0, now, &mut out),
        Err(EncodeError::ShortFramebuffer { .. })
    ));
    assert!(matches!(
        enc.encode(&fb, u32::MAX, u32::MAX, &[], 0, now, &mut out),
        Err(EncodeError::TooLarge { .. })
    ));
    assert!(enc.refine(&fb, 65, 64, now, &mut out).is_err());
    assert!(out.is_empty());
    // Nothing sent yet: refine has nothing to do.
    enc.refine(&fb, 64, 64, now, &mut out).unwrap();
    assert!(out.is_empty());

    let mut canvas = Canvas::default();
    step(&mut enc, &mut canvas, &fb, 64, 64, &[], 0, now);
    let wild = [
        rect(i32::MIN, i32::MIN, i32::MAX, i32::MAX),
        rect(-100, -100, -1, -1),
        rect(100, 100, 10, 10),
        rect(64, 0, 1000, 64),
        rect(i32::MAX, i32::MAX, i32::MIN, i32::MIN),
        rect(5, 5, 5, 100),
    ];
    let mut fb2 = fb.clone();
    fb2[64 * 10 + 10] = 0;
    let out = step(&mut enc, &mut canvas, &fb2, 64, 64, &wild, u32::MAX, now);
    assert_eq!(canvas.mismatches(&fb2, false), 0, "{:?}", kinds(&out));
    // Thousands of rectangles: bounded work, same result.
    let many: Vec<Rect> = (0..10_000)
        .map(|i| rect(i % 64, i % 61, i % 64 + 3, i % 61 + 3))
        .collect();
    let fb3 = vec![0x0012_3456u32; 64 * 64];
    step(&mut enc, &mut canvas, &fb3, 64, 64, &many, 0, now);
    assert_eq!(canvas.mismatches(&fb3, false), 0);
    // A longer buffer than needed is fine; garbage in the top byte is ignored
    // in what is drawn.
    let long = vec![0xFF00_0000u32; 64 * 64 + 100];
    step(
        &mut enc,
        &mut canvas,
        &long,
        64,
        64,
        &[full(64, 64)],
        0,
        now,
    );
    assert_eq!(canvas.mismatches(&long, false), 0);
    // One-pixel screens and extreme aspect ratios.
    for (w, h) in [(1u32, 1u32), (1, 3000), (3000, 1), (65535, 1)] {
        let f: Vec<u32> = (0..w * h)
            .map(|i| i.wrapping_mul(2_654_435_761) >> 8)
            .collect();
        let mut c = Canvas::default();
        step(&mut enc, &mut c, &f, w, h, &[full(w, h)], 0, now);
        assert_eq!(c.mismatches(&f, false), 0, "{w}x{h}");
    }
}

#[test]
fn big_incompressible_frames_are_split_under_one_mib() {
    let (w, h) = (1920, 1080);
    let mut rng = Rng(7);
    let fb: Vec<u32> = (0..w * h).map(|_| rng.next() as u32 & 0xFF_FFFF).collect();
    let mut enc = Encoder::new(EncoderConfig::default());
    let mut canvas = Canvas::default();
    let out = step(&mut enc, &mut canvas, &fb, w, h, &[], 0, Instant::now());
    assert!(out.len() > 3, "{} messages", out.len());
    assert!(out.iter().all(|m| m.bytes.len() < 1 << 20));
    assert_eq!(canvas.mismatches(&fb, false), 0);
}
