//! Figures rather than verdicts: bytes and time per frame for the workloads
//! the encoder is tuned for, and the PNG settings it was tuned with. Run
//! `cargo test --release -p opencloud viewer::encode::bench -- --nocapture`
//! for meaningful times (debug builds are ~10x slower). Each test still
//! asserts the outcome, so a regression in what is sent fails here too.

use std::time::{Duration, Instant};

use super::sim::Canvas;
use super::tests::{bytes, console, full, ls_line, rect, render, step, BG, FG};
use super::*;

/// 1024x768 console printing `ls -lR /`: QEMU resends the whole screen after
/// every scroll of one line.
#[test]
fn console_scroll_1024x768_bytes_and_time() {
    for level in [1, 6] {
        console_scroll(level);
    }
}

fn console_scroll(level: u32) {
    let (w, h) = (1024u32, 768u32);
    let frames = if cfg!(debug_assertions) { 15 } else { 200 };
    let (mut lines, mut fb) = console(w, h, 0);
    let mut enc = Encoder::new(EncoderConfig {
        png_palette_level: level,
        ..EncoderConfig::default()
    });
    let mut canvas = Canvas::default();
    let mut now = Instant::now();
    let first = bytes(&step(
        &mut enc,
        &mut canvas,
        &fb,
        w,
        h,
        &[full(w, h)],
        0,
        now,
    ));
    let (mut total_bytes, mut total_time) = (0usize, Duration::ZERO);
    let mut out = Vec::new();
    for n in 0..frames {
        now += Duration::from_millis(20);
        lines.remove(0);
        lines.push(ls_line(1000 + n));
        render(&mut fb, w, h, &lines);
        out.clear();
        let t = Instant::now();
        enc.encode(&fb, w, h, &[full(w, h)], 0, now, &mut out)
            .unwrap();
        total_time += t.elapsed();
        total_bytes += bytes(&out);
        assert_eq!(out[0].kind, Kind::Copy);
        for m in &out {
            canvas.apply(&m.bytes);
        }
    }
    assert_eq!(canvas.mismatches(&fb, false), 0);
    let per = total_bytes / frames as usize;
    println!(
        "1024x768 console scroll by one line, zlib level {level}: {per} bytes/frame (first full frame {first} bytes), \
         {:.3} ms/frame encode over {frames} frames",
        total_time.as_secs_f64() * 1000.0 / frames as f64
    );
    assert!(per * 20 < first, "{per} vs {first}");
}

/// The cheapest frame: `-vga std` resending an unchanged screen as 32-pixel
/// column blocks.
#[test]
fn unchanged_column_blocks_time() {
    let (w, h) = (1024u32, 768u32);
    let (_, fb) = console(w, h, 0);
    let mut enc = Encoder::new(EncoderConfig::default());
    let mut canvas = Canvas::default();
    let now = Instant::now();
    step(&mut enc, &mut canvas, &fb, w, h, &[], 0, now);
    let blocks: Vec<_> = (0..w as i32 / 32)
        .map(|i| rect(i * 32, 0, i * 32 + 32, h as i32))
        .collect();
    let frames = if cfg!(debug_assertions) { 10 } else { 500 };
    let mut out = Vec::new();
    let t = Instant::now();
    for _ in 0..frames {
        enc.encode(&fb, w, h, &blocks, 0, now, &mut out).unwrap();
    }
    assert!(out.is_empty());
    println!(
        "1024x768 unchanged column blocks: {:.3} ms/frame",
        t.elapsed().as_secs_f64() * 1000.0 / frames as f64
    );
}

/// Anti-aliased text over a gradient: more than 256 colours, the case where
/// the RGB filter matters.
fn desktop(w: u32, h: u32) -> Vec<u32> {
    let (_, text) = console(w, h, 40);
    let mut fb = vec![0; (w * h) as usize];
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) as usize;
            let bg = (x * 200 / w) << 16 | (y * 200 / h) << 8 | 0x60;
            // Glyph pixels and their right neighbours blend like sub-pixel
            // anti-aliasing does.
            let on = text[i] != BG;
            let left = x > 0 && text[i - 1] != BG;
            fb[i] = match (on, left) {
                (true, _) => FG,
                (false, true) => blend(FG, bg),
                _ => bg,
            };
        }
    }
    fb
}

fn blend(a: u32, b: u32) -> u32 {
    let ch = |s: u32| ((((a >> s) & 255) + ((b >> s) & 255)) / 2) << s;
    ch(16) | ch(8) | ch(0)
}

fn png_size(
    fb: &[u32],
    w: u32,
    h: u32,
    palette: bool,
    f: png::Filter,
    adaptive: bool,
    c: png::Compression,
) -> (usize, Duration) {
    let t = Instant::now();
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    let data: Vec<u8> = if palette {
        // Test screens have < 16 colours: one byte per pixel index is the
        // 8-bit palette case.
        let mut colors: Vec<u32> = Vec::new();
        let idx = fb
            .iter()
            .map(|p| match colors.iter().position(|c| c == p) {
                Some(i) => i as u8,
                None => {
                    colors.push(*p);
                    (colors.len() - 1) as u8
                }
            })
            .collect();
        let pal: Vec<u8> = colors
            .iter()
            .flat_map(|c| [(c >> 16) as u8, (c >> 8) as u8, *c as u8])
            .collect();
        enc.set_color(png::ColorType::Indexed);
        enc.set_palette(pal);
        idx
    } else {
        enc.set_color(png::ColorType::Rgb);
        fb.iter()
            .flat_map(|c| [(c >> 16) as u8, (c >> 8) as u8, *c as u8])
            .collect()
    };
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(c);
    enc.set_filter(if adaptive { png::Filter::Adaptive } else { f });
    let mut wr = enc.write_header().unwrap();
    wr.write_image_data(&data).unwrap();
    wr.finish().unwrap();
    (out.len(), t.elapsed())
}

/// Prints PNG sizes and times per filter and compression; the defaults
/// (palette: no filter; RGB: `EncoderConfig::png_rgb_filter`; Fast) are
/// chosen from this table. Asserts only that the palette path beats RGB on
/// text, which is why the encoder builds palettes.
#[test]
fn png_filter_report() {
    use png::{Compression as C, Filter as F};
    let (w, h) = (1024u32, 768u32);
    let (_, text) = console(w, h, 7);
    let desk = desktop(w, h);
    let cases = [
        (F::NoFilter, false),
        (F::Sub, false),
        (F::Up, false),
        (F::Paeth, false),
        (F::Sub, true),
    ];
    for (name, fb, palette) in [
        ("text/palette8", &text, true),
        ("text/rgb", &text, false),
        ("desktop/rgb", &desk, false),
    ] {
        for c in [C::Fast, C::Balanced] {
            for (f, adaptive) in cases {
                let (n, t) = png_size(fb, w, h, palette, f, adaptive, c);
                println!(
                    "png {name:14} {c:?}/{f:?}{}: {n:7} bytes {:7.2} ms",
                    if adaptive { "+adaptive" } else { "" },
                    t.as_secs_f64() * 1000.0
                );
            }
        }
    }
    let (pal, _) = png_size(&text, w, h, true, F::NoFilter, false, C::Fast);
    let (rgb, _) = png_size(&text, w, h, false, F::Sub, false, C::Fast);
    assert!(pal < rgb, "palette {pal} vs rgb {rgb}");
    // What the encoder itself sends for both screens.
    for (name, fb, c, level) in [
        ("text", &text, C::Fast, 1),
        ("text", &text, C::Balanced, 6),
        ("desktop", &desk, C::Fast, 1),
        ("desktop", &desk, C::Balanced, 6),
    ] {
        let mut enc = Encoder::new(EncoderConfig {
            png_rgb_compression: c,
            png_palette_level: level,
            ..EncoderConfig::default()
        });
        let mut canvas = Canvas::default();
        let mut out = Vec::new();
        let t = Instant::now();
        enc.encode(fb, w, h, &[], 0, Instant::now(), &mut out)
            .unwrap();
        let took = t.elapsed();
        for m in &out {
            canvas.apply(&m.bytes);
        }
        println!(
            "encoder full repaint {name} {c:?}: {} bytes in {} messages, {:.2} ms",
            bytes(&out),
            out.len(),
            took.as_secs_f64() * 1000.0
        );
        assert_eq!(canvas.mismatches(fb, false), 0);
    }
}
