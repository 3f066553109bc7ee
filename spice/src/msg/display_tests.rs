//! Display message parsing: well-formed commands and hostile variants.

use super::*;
use crate::wire::Writer;

/// A DRAW_COPY of a `w`x`h` 32-bit top-down bitmap to (x, y) on surface 0.
pub(crate) fn draw_copy_bitmap(x: i32, y: i32, w: u32, h: u32, pixels: &[u32]) -> Vec<u8> {
    let mut b = Writer::new();
    // base: surface, box (top, left, bottom, right), clip none
    b.u32(0)
        .i32(y)
        .i32(x)
        .i32(y + h as i32)
        .i32(x + w as i32)
        .u8(0);
    let image_ptr = 21 + 4 + 16 + 2 + 1 + 13;
    b.u32(image_ptr as u32);
    b.i32(0).i32(0).i32(h as i32).i32(w as i32); // src area
    b.u16(8).u8(0); // rop PUT, scale mode
    b.u8(0).i32(0).i32(0).u32(0); // mask: none
    assert_eq!(b.buf.len(), image_ptr);
    b.u64(1).u8(0).u8(0).u32(w).u32(h); // descriptor: BITMAP
    b.u8(8).u8(4).u32(w).u32(h).u32(w * 4).u32(0); // 32-bit, top-down, no palette
    for p in pixels {
        b.u32(*p);
    }
    b.finish()
}

#[test]
fn parses_draw_copy() {
    let body = draw_copy_bitmap(3, 4, 2, 1, &[0x112233, 0x445566]);
    match parse(display_msg::DRAW_COPY, &body).unwrap() {
        DisplayMessage::DrawCopy(d) => {
            assert_eq!(
                d.base.bbox,
                Rect {
                    top: 4,
                    left: 3,
                    bottom: 5,
                    right: 5
                }
            );
            assert_eq!(d.rop, 8);
            match d.src.data {
                ImageData::Bitmap(b) => assert_eq!(b.data.len(), 8),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_truncation_of_a_draw_copy_is_an_error() {
    let body = draw_copy_bitmap(0, 0, 2, 2, &[1, 2, 3, 4]);
    for len in 0..body.len() {
        assert!(
            parse(display_msg::DRAW_COPY, &body[..len]).is_err(),
            "len {len}"
        );
    }
}

#[test]
fn pointers_and_counts_past_the_end() {
    let mut body = draw_copy_bitmap(0, 0, 1, 1, &[1]);
    // Image pointer past the end.
    body[21..25].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(parse(display_msg::DRAW_COPY, &body).is_err());
    // Clip with an absurd rectangle count.
    let mut b = Writer::new();
    b.u32(0)
        .i32(0)
        .i32(0)
        .i32(1)
        .i32(1)
        .u8(1)
        .u32(u32::MAX)
        .i32(0)
        .i32(0);
    assert!(parse(display_msg::COPY_BITS, &b.finish()).is_err());
    // Unknown clip type.
    let mut b = Writer::new();
    b.u32(0).i32(0).i32(0).i32(1).i32(1).u8(7).i32(0).i32(0);
    assert!(matches!(
        parse(display_msg::COPY_BITS, &b.finish()),
        Err(Error::Malformed { .. })
    ));
    // An INVAL_LIST claiming more entries than it has.
    let mut b = Writer::new();
    b.u16(1000).u8(1).u64(5);
    assert!(parse(display_msg::INVAL_LIST, &b.finish()).is_err());
}

#[test]
fn bitmap_larger_than_the_message_is_an_error() {
    let mut body = draw_copy_bitmap(0, 0, 1, 1, &[1]);
    // Stride (after the descriptor and format, flags, x, y) made huge.
    let stride_at = body.len() - 4 - 4 - 4;
    body[stride_at..stride_at + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    assert!(parse(display_msg::DRAW_COPY, &body).is_err());
}

#[test]
fn fills_surfaces_and_unknown_types() {
    let mut b = Writer::new();
    b.u32(0).i32(0).i32(0).i32(2).i32(2).u8(0);
    b.u8(1).u32(0xff0000).u16(8).u8(0).i32(0).i32(0).u32(0);
    match parse(display_msg::DRAW_FILL, &b.finish()).unwrap() {
        DisplayMessage::DrawFill(f) => assert_eq!(f.brush, Brush::Solid(0xff0000)),
        other => panic!("{other:?}"),
    }
    let mut b = Writer::new();
    b.u32(0).u32(720).u32(400).u32(32).u32(1);
    assert!(matches!(
        parse(display_msg::SURFACE_CREATE, &b.finish()).unwrap(),
        DisplayMessage::SurfaceCreate(SurfaceCreate { width: 720, .. })
    ));
    assert!(matches!(parse(999, &[]), Err(Error::Unsupported { .. })));
    assert!(matches!(parse(303, &[]), Err(Error::Unsupported { .. })));
}
