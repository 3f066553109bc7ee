//! Decode throughput of the SPICE image decoders on the payloads captured
//! from the test guest (`tests/fixtures/`). Run with
//! `cargo bench -p opencloud-spice --bench decode`; prints megapixels per
//! second per decoder on one core, and the payload bytes per format.

use std::time::{Duration, Instant};

use opencloud_spice::image::glz::GlzDictionary;
use opencloud_spice::image::lz::decode_lz_rgb;
use opencloud_spice::image::quic::decode_quic;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Runs `f` (which returns the pixels it decoded) for at least `min`,
/// returning the best-of-rounds megapixels per second.
fn measure(min: Duration, mut f: impl FnMut() -> usize) -> f64 {
    let start = Instant::now();
    let mut best = 0f64;
    while start.elapsed() < min {
        let t = Instant::now();
        let mut pixels = 0;
        // Rounds of ~50 ms smooth out timer noise; the best round is the
        // least disturbed by the other work on the machine.
        while t.elapsed() < Duration::from_millis(50) {
            pixels += f();
        }
        best = best.max(pixels as f64 / t.elapsed().as_secs_f64() / 1e6);
    }
    best
}

/// The GLZ records of `glz-sequence.bin` (see the fixtures README).
fn glz_records(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 21 {
        let len = u32::from_le_bytes([rest[17], rest[18], rest[19], rest[20]]) as usize;
        if rest[0] == 102 {
            out.push(&rest[21..21 + len]);
        }
        rest = &rest[21 + len..];
    }
    out
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // and only wants a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let min = Duration::from_millis(if full { 3000 } else { 100 });

    let lz = fixture("lz-720x400.bin");
    let quic = fixture("quic-720x400.bin");
    let seq = fixture("glz-sequence.bin");
    let glz = glz_records(&seq);
    let glz_bytes: usize = glz.iter().map(|r| r.len()).sum();

    let decode_glz = || {
        let mut dict = GlzDictionary::new(4 << 20);
        glz.iter()
            .map(|r| dict.decode(r).map(|i| i.pixels.len()).unwrap_or(0))
            .sum::<usize>()
    };
    let glz_pixels = decode_glz();

    let lz_rate = measure(min, || {
        decode_lz_rgb(&lz).map(|i| i.pixels.len()).unwrap_or(0)
    });
    let quic_rate = measure(min, || {
        decode_quic(&quic).map(|i| i.pixels.len()).unwrap_or(0)
    });
    let glz_rate = measure(min, decode_glz);

    println!("decoder  payload                       bytes     Mpixel/s");
    println!(
        "LZ       720x400 full screen      {:>9}   {lz_rate:>9.0}",
        lz.len()
    );
    println!(
        "QUIC     720x400 full screen      {:>9}   {quic_rate:>9.0}",
        quic.len()
    );
    println!(
        "GLZ      {} tiles, {} pixels {:>9}   {glz_rate:>9.0}",
        glz.len(),
        glz_pixels,
        glz_bytes
    );
}
