//! Scroll tests: a console or a terminal window scrolled must become one
//! COPY plus images of the uncovered lines only.

use std::time::Instant;

use opencloud_spice::msg::display::Rect;

use super::sim::Canvas;
use super::tests::{bytes, console, full, kinds, ls_line, msg_y, rect, render, step, FG};
use super::*;

/// (b) A console scrolled by `n` lines: one COPY and images of the new lines
/// only. Returns (scroll bytes, full repaint bytes).
fn scroll_case(w: u32, h: u32, n: u64) -> (usize, usize) {
    let (_, fb) = console(w, h, 100);
    let mut enc = Encoder::new(EncoderConfig::default());
    let mut canvas = Canvas::default();
    let now = Instant::now();
    step(&mut enc, &mut canvas, &fb, w, h, &[full(w, h)], 0, now);
    let (_, fb2) = console(w, h, 100 + n);
    let out = step(&mut enc, &mut canvas, &fb2, w, h, &[full(w, h)], 0, now);
    assert_eq!(canvas.mismatches(&fb2, false), 0);
    let copies: Vec<_> = out.iter().filter(|m| m.kind == Kind::Copy).collect();
    assert_eq!(copies.len(), 1, "{:?}", kinds(&out));
    assert_eq!(out[0].kind, Kind::Copy, "COPY goes before what it uncovers");
    let new_top = h - 16 * n as u32;
    for m in &out[1..] {
        assert!(matches!(m.kind, Kind::Png | Kind::Fill), "{:?}", m.kind);
        assert!(
            msg_y(m) >= new_top,
            "image at y={} above the new lines",
            msg_y(m)
        );
    }
    let scrolled = bytes(&out);
    let mut fresh = Encoder::new(EncoderConfig::default());
    let mut c2 = Canvas::default();
    let repaint = bytes(&step(&mut fresh, &mut c2, &fb2, w, h, &[], 0, now)) - 5;
    println!("scroll {w}x{h} by {n} line(s): {scrolled} bytes; full PNG repaint: {repaint} bytes");
    (scrolled, repaint)
}

#[test]
fn console_scroll_is_one_copy_plus_new_lines() {
    for (w, h) in [(720, 400), (1024, 768)] {
        for n in [1, 2, 5] {
            let (scrolled, repaint) = scroll_case(w, h, n);
            // About what the new lines weigh in a full repaint, plus
            // headers.
            let share = repaint as u64 * 16 * n / u64::from(h);
            assert!(
                (scrolled as u64) < share * 3 / 2 + 200,
                "{scrolled} vs {share} of {repaint}"
            );
        }
    }
}

#[test]
fn scroll_down_and_partial_band_use_copy() {
    let (w, h) = (720, 400);
    let (lines, fb) = console(w, h, 0);
    let mut enc = Encoder::new(EncoderConfig::default());
    let mut canvas = Canvas::default();
    let now = Instant::now();
    step(&mut enc, &mut canvas, &fb, w, h, &[full(w, h)], 0, now);
    // Scroll down by 2 lines (as `less` does going back), the last line a
    // status line that does not move.
    let mut l2 = vec![ls_line(900), ls_line(901)];
    l2.extend_from_slice(&lines[..22]);
    l2.push(("-- status --".into(), FG));
    let mut fb2 = vec![0; (w * h) as usize];
    render(&mut fb2, w, h, &l2);
    let out = step(&mut enc, &mut canvas, &fb2, w, h, &[full(w, h)], 0, now);
    assert_eq!(canvas.mismatches(&fb2, false), 0);
    assert_eq!(
        out.iter().filter(|m| m.kind == Kind::Copy).count(),
        1,
        "{:?}",
        kinds(&out)
    );
    assert!(bytes(&out) < 3000, "{} bytes", bytes(&out));
}

#[test]
fn terminal_window_scroll_inside_a_still_desktop_is_a_copy() {
    let (w, h) = (1024u32, 768u32);
    // A still desktop (gradient), a terminal of 80x25 at (100, 50).
    let paint = |first: u64| {
        let mut fb: Vec<u32> = (0..w * h)
            .map(|i| (i % w * 255 / w) << 16 | (i / w * 255 / h) << 8 | 0x40)
            .collect();
        let (_, term) = console(640, 400, first);
        for y in 0..400 {
            for x in 0..640 {
                fb[((y + 50) * w + x + 100) as usize] = term[(y * 640 + x) as usize];
            }
        }
        fb
    };
    let fb = paint(10);
    let mut enc = Encoder::new(EncoderConfig::default());
    let mut canvas = Canvas::default();
    let now = Instant::now();
    step(&mut enc, &mut canvas, &fb, w, h, &[], 0, now);
    let fb2 = paint(11);
    // Column blocks wider than the terminal, from the top to the bottom.
    let blocks: Vec<Rect> = (3..24)
        .map(|i| rect(i * 32, 0, i * 32 + 32, h as i32))
        .collect();
    let out = step(&mut enc, &mut canvas, &fb2, w, h, &blocks, 0, now);
    assert_eq!(canvas.mismatches(&fb2, false), 0);
    assert_eq!(
        out.iter().filter(|m| m.kind == Kind::Copy).count(),
        1,
        "{:?}",
        kinds(&out)
    );
    for m in out.iter().filter(|m| m.kind != Kind::Copy) {
        assert!(msg_y(m) >= 50 + 384, "image at y={}", msg_y(m));
    }
    println!("terminal window scroll: {} bytes", bytes(&out));
    assert!(bytes(&out) < 1500, "{} bytes", bytes(&out));
}
