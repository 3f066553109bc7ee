//! The image decoders against payloads captured from a real QEMU guest
//! (`tests/fixtures/`, see its README): each must reproduce QEMU's own
//! screendump pixel for pixel.

use opencloud_spice::image::glz::GlzDictionary;
use opencloud_spice::image::lz::decode_lz_rgb;
use opencloud_spice::image::quic::decode_quic;
use opencloud_spice::image::Image;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}/{name}")).expect("fixture present")
}

/// The screendump as 0x00RRGGBB, rows top-down.
fn screendump() -> Image {
    let decoder = png::Decoder::new(std::io::Cursor::new(fixture("screen-720x400.png")));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("PNG fits in memory")];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let step = info.color_type.samples();
    assert!(step >= 3 && info.bit_depth == png::BitDepth::Eight);
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(step)
        .map(|p| (u32::from(p[0]) << 16) | (u32::from(p[1]) << 8) | u32::from(p[2]))
        .collect();
    Image {
        width: info.width,
        height: info.height,
        pixels,
    }
}

fn assert_same(got: &Image, want: &Image) {
    assert_eq!((got.width, got.height), (want.width, want.height));
    let diff = got
        .pixels
        .iter()
        .zip(&want.pixels)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(diff, 0, "{diff} pixels differ from the screendump");
}

#[test]
fn lz_full_screen_matches_screendump() {
    assert_same(
        &decode_lz_rgb(&fixture("lz-720x400.bin")).unwrap(),
        &screendump(),
    );
}

#[test]
fn quic_full_screen_matches_screendump() {
    assert_same(
        &decode_quic(&fixture("quic-720x400.bin")).unwrap(),
        &screendump(),
    );
}

/// One record of `glz-sequence.bin`.
struct Record<'a> {
    glz: bool,
    x: usize,
    y: usize,
    w: u32,
    h: u32,
    payload: &'a [u8],
}

fn records(data: &[u8]) -> Vec<Record<'_>> {
    let mut out = Vec::new();
    let mut rest = data;
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    while !rest.is_empty() {
        let len = u32_at(rest, 17) as usize;
        out.push(Record {
            glz: rest[0] == 102,
            x: u32_at(rest, 1) as usize,
            y: u32_at(rest, 5) as usize,
            w: u32_at(rest, 9),
            h: u32_at(rest, 13),
            payload: &rest[21..21 + len],
        });
        rest = &rest[21 + len..];
    }
    out
}

fn blit(screen: &mut Image, img: &Image, x: usize, y: usize) {
    let sw = screen.width as usize;
    for (row, line) in img.pixels.chunks_exact(img.width as usize).enumerate() {
        let start = (y + row) * sw + x;
        screen.pixels[start..start + line.len()].copy_from_slice(line);
    }
}

#[test]
fn glz_sequence_matches_screendump() {
    let data = fixture("glz-sequence.bin");
    let recs = records(&data);
    let mut dict = GlzDictionary::new(4 << 20);
    let mut screen = Image {
        width: 720,
        height: 400,
        pixels: vec![0; 720 * 400],
    };
    let mut glz_images = 0;
    for r in &recs {
        let img = if r.glz {
            glz_images += 1;
            dict.decode(r.payload).unwrap()
        } else {
            decode_lz_rgb(r.payload).unwrap()
        };
        assert_eq!((img.width, img.height), (r.w, r.h));
        blit(&mut screen, &img, r.x, r.y);
    }
    assert!(glz_images > 100);
    assert_same(&screen, &screendump());
}

#[test]
fn glz_needs_its_dictionary() {
    // A record that references earlier images fails cleanly on a fresh
    // dictionary; the first one, which references nothing, decodes.
    let data = fixture("glz-sequence.bin");
    let recs = records(&data);
    let glz: Vec<_> = recs.iter().filter(|r| r.glz).collect();
    assert!(GlzDictionary::new(4 << 20).decode(glz[0].payload).is_ok());
    let failures = glz[1..]
        .iter()
        .filter(|r| GlzDictionary::new(4 << 20).decode(r.payload).is_err())
        .count();
    assert!(failures > 0, "no record used the dictionary");
}
