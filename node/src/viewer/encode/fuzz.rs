//! Randomised sequences of screen changes (scrolls, fills, text, video,
//! resizes, reconnections, lag) checked against the browser simulator after
//! every frame: lossless pixels exact after each encode, every pixel exact
//! once refine() has run.

use std::time::{Duration, Instant};

use opencloud_spice::msg::display::Rect;

use super::sim::Canvas;
use super::tests::{console, full, paint_photo, rect, refine, step, Rng};
use super::*;

struct World {
    w: u32,
    h: u32,
    fb: Vec<u32>,
}

impl World {
    fn fill(&mut self, r: PRect, c: u32) {
        for y in r.y0..r.y1 {
            for x in r.x0..r.x1 {
                self.fb[(y * self.w + x) as usize] = c;
            }
        }
    }

    /// Moves rows `r` by `dy` (content scrolls), leaving the uncovered rows.
    fn shift(&mut self, r: PRect, dy: i32) {
        let old = self.fb.clone();
        for y in r.y0..r.y1 {
            let sy = y as i32 + dy;
            if sy < r.y0 as i32 || sy >= r.y1 as i32 {
                continue;
            }
            for x in r.x0..r.x1 {
                self.fb[(y * self.w + x) as usize] = old[(sy as u32 * self.w + x) as usize];
            }
        }
    }

    fn random_rect(&self, rng: &mut Rng) -> PRect {
        let x0 = rng.below(u64::from(self.w)) as u32;
        let y0 = rng.below(u64::from(self.h)) as u32;
        let x1 = x0 + 1 + rng.below(u64::from(self.w - x0)) as u32;
        let y1 = y0 + 1 + rng.below(u64::from(self.h - y0)) as u32;
        PRect { x0, y0, x1, y1 }
    }
}

fn to_rect(r: PRect) -> Rect {
    rect(r.x0 as i32, r.y0 as i32, r.x1 as i32, r.y1 as i32)
}

fn run(seed: u64, cfg: EncoderConfig, steps: u32) {
    let mut rng = Rng(seed);
    let sizes = [(720u32, 400u32), (640, 480), (200, 150), (333, 97)];
    let (w, h) = sizes[0];
    let (_, fb) = console(w, h, seed);
    let mut world = World { w, h, fb };
    let mut enc = Encoder::new(cfg.clone());
    let mut canvas = Canvas::default();
    let mut now = Instant::now();
    let mut video = None;
    step(&mut enc, &mut canvas, &world.fb, w, h, &[], 0, now);
    for i in 0..steps {
        now += Duration::from_millis(10 + rng.below(60));
        let mut dirty: Vec<Rect> = Vec::new();
        match rng.below(12) {
            0 | 1 => {
                // Console scroll of a band by whole or odd rows.
                let r = world.random_rect(&mut rng);
                let dy = [16, -16, 32, 3, -7][rng.below(5) as usize];
                world.shift(r, dy);
                dirty.push(to_rect(r));
            }
            2 => {
                let (_, fb) = console(world.w, world.h, rng.next());
                world.fb = fb;
                dirty.push(full(world.w, world.h));
            }
            3 | 4 => {
                let r = world.random_rect(&mut rng);
                world.fill(r, rng.next() as u32 & 0xFF_FFFF);
                dirty.push(to_rect(r));
            }
            5..=7 => {
                // A video keeps playing in one place for a while.
                let r = match video {
                    Some(r) if rng.below(8) != 0 => r,
                    _ => world.random_rect(&mut rng),
                };
                video = Some(r);
                paint_photo(&mut world.fb, world.w, r, u64::from(i));
                dirty.push(to_rect(r));
            }
            8 => {
                // Scattered single pixels, reported as sloppy column blocks.
                for _ in 0..1 + rng.below(20) {
                    let x = rng.below(u64::from(world.w)) as u32;
                    let y = rng.below(u64::from(world.h)) as u32;
                    world.fb[(y * world.w + x) as usize] = rng.next() as u32 & 0xFF_FFFF;
                    let bx = (x / 32 * 32) as i32;
                    dirty.push(rect(bx, -5, bx + 32, world.h as i32 + 5));
                }
            }
            9 => {
                // Resize (or the same size again).
                let (w, h) = sizes[rng.below(sizes.len() as u64) as usize];
                let (_, fb) = console(w, h, rng.next());
                world = World { w, h, fb };
                video = None;
                dirty.push(full(w, h));
            }
            10 => enc.reset_and(&mut canvas),
            _ => {
                // Nothing changes; the server resends something anyway.
                dirty.push(to_rect(world.random_rect(&mut rng)));
            }
        }
        let lag = rng.below(5) as u32;
        step(
            &mut enc,
            &mut canvas,
            &world.fb,
            world.w,
            world.h,
            &dirty,
            lag,
            now,
        );
        assert_eq!(
            canvas.mismatches(&world.fb, true),
            0,
            "seed {seed} step {i}: lossless pixels differ"
        );
        if rng.below(4) == 0 {
            refine(&mut enc, &mut canvas, &world.fb, world.w, world.h, now);
            assert_eq!(
                canvas.mismatches(&world.fb, true),
                0,
                "seed {seed} step {i} refine"
            );
        }
    }
    // The screen settles: after refine_delay everything is exact.
    let due = enc.next_refine_at();
    let later = now + cfg.refine_delay;
    if let Some(d) = due {
        assert!(d <= later, "refine due {:?} after the delay", d - now);
    }
    refine(&mut enc, &mut canvas, &world.fb, world.w, world.h, later);
    assert_eq!(
        canvas.mismatches(&world.fb, false),
        0,
        "seed {seed}: not exact after refine"
    );
    assert_eq!(canvas.lossy_pixels(), 0, "seed {seed}");
    assert_eq!(enc.next_refine_at(), None);
}

impl Encoder {
    /// A new browser: the encoder forgets, the canvas starts over.
    fn reset_and(&mut self, canvas: &mut Canvas) {
        self.reset();
        *canvas = Canvas::default();
    }
}

#[test]
fn random_sequences_stay_exact() {
    let steps = if cfg!(debug_assertions) { 60 } else { 400 };
    for seed in 1..=6 {
        run(seed, EncoderConfig::default(), steps);
    }
}

#[test]
fn random_sequences_with_odd_tiles_and_tiny_messages() {
    let cfg = EncoderConfig {
        tile_width: 24,
        tile_height: 9,
        hot_changes: 1.0,
        photo_min_colors: 8,
        scroll_min_rows: 1,
        max_image_raw_bytes: 3000,
        ..EncoderConfig::default()
    };
    let steps = if cfg!(debug_assertions) { 40 } else { 300 };
    for seed in 100..=103 {
        run(seed, cfg.clone(), steps);
    }
}

#[test]
fn scroll_of_lossy_content_moves_lossiness() {
    // A video region scrolls away (a web page with a playing video scrolled):
    // the pixels that came from JPEG stay marked and get refined.
    let (w, h) = (640u32, 480u32);
    let (_, mut fb) = console(w, h, 3);
    let mut enc = Encoder::new(EncoderConfig::default());
    let mut canvas = Canvas::default();
    let mut now = Instant::now();
    step(&mut enc, &mut canvas, &fb, w, h, &[], 0, now);
    let video = PRect {
        x0: 64,
        y0: 160,
        x1: 576,
        y1: 320,
    };
    for t in 0..6 {
        now += Duration::from_millis(30);
        paint_photo(&mut fb, w, video, t);
        step(&mut enc, &mut canvas, &fb, w, h, &[to_rect(video)], 0, now);
    }
    assert!(canvas.lossy_pixels() > 0);
    let mut world = World { w, h, fb };
    world.shift(full_prect(w, h), 64);
    now += Duration::from_millis(30);
    let out = step(
        &mut enc,
        &mut canvas,
        &world.fb,
        w,
        h,
        &[full(w, h)],
        0,
        now,
    );
    assert!(out.iter().any(|m| m.kind == Kind::Copy));
    assert_eq!(canvas.mismatches(&world.fb, true), 0);
    refine(
        &mut enc,
        &mut canvas,
        &world.fb,
        w,
        h,
        now + Duration::from_secs(1),
    );
    assert_eq!(canvas.mismatches(&world.fb, false), 0);
}

fn full_prect(w: u32, h: u32) -> PRect {
    PRect {
        x0: 0,
        y0: 0,
        x1: w,
        y1: h,
    }
}
