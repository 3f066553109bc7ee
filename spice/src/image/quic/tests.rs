use super::*;

/// The raw reference image as `0x00RRGGBB`.
pub(crate) fn raw_pixels(raw: &[u8]) -> Vec<u32> {
    raw.chunks_exact(4)
        .map(|c| u32::from(c[0]) | (u32::from(c[1]) << 8) | (u32::from(c[2]) << 16))
        .collect()
}

const TEXT_RAW: &[u8] = include_bytes!("../testdata/text_120_50.raw");
const TEXT_QUIC: &[u8] = include_bytes!("../testdata/text_120_50.quic");
const PHOTO_RAW: &[u8] = include_bytes!("../testdata/photo_300_60.raw");

fn header(ty: u32, w: u32, h: u32) -> Vec<u8> {
    [MAGIC, VERSION, ty, w, h]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect()
}

#[test]
fn reference_streams_decode_exactly() {
    let cases: [(&[u8], &[u8], u32, u32); 4] = [
        (TEXT_QUIC, TEXT_RAW, 120, 50),
        (
            include_bytes!("../testdata/text_120_50.q24"),
            TEXT_RAW,
            120,
            50,
        ),
        (
            include_bytes!("../testdata/photo_300_60.quic"),
            PHOTO_RAW,
            300,
            60,
        ),
        (
            include_bytes!("../testdata/photo_300_60.qa"),
            PHOTO_RAW,
            300,
            60,
        ),
    ];
    for (stream, raw, w, h) in cases {
        let img = decode_quic(stream).unwrap();
        assert_eq!((img.width, img.height), (w, h));
        assert!(img.pixels == raw_pixels(raw), "pixels differ");
    }
}

#[test]
fn truncation_is_an_error_or_harmless() {
    let want = raw_pixels(TEXT_RAW);
    // The encoder pads with 33 zero bits, so the last word or two may go
    // without loss; anything shorter must fail.
    let n = TEXT_QUIC.len();
    for cut in (0..n).step_by(13).chain(n - 64..n) {
        match decode_quic(&TEXT_QUIC[..cut]) {
            Ok(img) => {
                assert!(cut + 8 >= TEXT_QUIC.len(), "cut at {cut} decoded");
                assert!(img.pixels == want);
            }
            Err(e) => assert!(matches!(e, Error::Decode { codec: "quic", .. })),
        }
    }
}

#[test]
fn hostile_headers_are_errors() {
    let body = vec![0xa5u8; 64];
    let with = |h: Vec<u8>| [h, body.clone()].concat();
    for (ty, w, h) in [
        (1, 4, 4),                 // gray: not sent for display images
        (2, 4, 4),                 // RGB16: unsupported
        (99, 4, 4),                // unknown
        (TYPE_RGB32, 0, 4),        // empty
        (TYPE_RGB32, 4, 0),        // empty
        (TYPE_RGB32, u32::MAX, 2), // absurd
        (TYPE_RGB32, 1 << 14, 1 << 14),
        (TYPE_RGB32, 1000, 1), // wider than 64 bytes can code
        (TYPE_RGB32, 1, 1000), // taller than 64 bytes can code
    ] {
        assert!(
            decode_quic(&with(header(ty, w, h))).is_err(),
            "{ty} {w}x{h}"
        );
    }
    let mut bad = TEXT_QUIC.to_vec();
    bad[0] ^= 1;
    assert!(decode_quic(&bad).is_err());
    let mut bad = TEXT_QUIC.to_vec();
    bad[4] = 1;
    assert!(decode_quic(&bad).is_err());
}

#[test]
fn garbage_bodies_never_panic() {
    // A small LCG keeps the test deterministic without a dependency.
    let mut seed = 0x2545_f491_u32;
    let mut next = move || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        (seed >> 16) as u8
    };
    for round in 0..300 {
        let (w, h) = (1 + round % 37, 1 + round % 23);
        let ty = [TYPE_RGB24, TYPE_RGB32, TYPE_RGBA][round as usize % 3];
        let mut data = header(ty, w, h);
        let len = 16 + (round as usize * 7) % 600;
        // Bias some rounds towards long runs of ones and of zeros.
        data.extend((0..len).map(|_| match round % 4 {
            0 => 0xff,
            1 => next() | 0xf0,
            2 => next() & 0x0f,
            _ => next(),
        }));
        let _ = decode_quic(&data);
    }
}

#[test]
fn corrupted_streams_never_panic() {
    let mut data = TEXT_QUIC.to_vec();
    for i in (20..data.len()).step_by(97) {
        data[i] ^= 0x5a;
        let _ = decode_quic(&data);
    }
}
