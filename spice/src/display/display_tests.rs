//! Display state: drawing onto surfaces, caches and limits.

use super::*;
use crate::msg::display::{parse, Rect, SurfaceCreate};
use crate::proto::display_msg;
use crate::wire::Writer;

fn display_with_surface(w: u32, h: u32) -> Display {
    let mut d = Display::new(CacheConfig::default(), None);
    d.handle(&DisplayMessage::SurfaceCreate(SurfaceCreate {
        surface_id: 0,
        width: w,
        height: h,
        format: 32,
        flags: 1,
    }))
    .unwrap();
    d
}

fn copy(x: i32, y: i32, w: u32, h: u32, px: &[u32]) -> Vec<u8> {
    crate::msg::display::tests::draw_copy_bitmap(x, y, w, h, px)
}

#[test]
fn draw_copy_paints_and_marks_dirty() {
    let mut d = display_with_surface(4, 3);
    d.primary_mut().unwrap().take_dirty();
    let body = copy(1, 1, 2, 1, &[0xff112233, 0x445566]);
    d.handle(&parse(display_msg::DRAW_COPY, &body).unwrap())
        .unwrap();
    let s = d.primary_mut().unwrap();
    assert_eq!(&s.pixels[4..8], &[0, 0x112233, 0x445566, 0]);
    assert_eq!(
        s.take_dirty(),
        vec![Rect {
            top: 1,
            left: 1,
            bottom: 2,
            right: 3
        }]
    );
    assert_eq!(d.stats().get("bitmap").unwrap().images, 1);
}

#[test]
fn draw_outside_the_surface_is_clipped() {
    let mut d = display_with_surface(2, 2);
    let body = copy(1, 1, 3, 3, &[7; 9]);
    d.handle(&parse(display_msg::DRAW_COPY, &body).unwrap())
        .unwrap();
    assert_eq!(d.primary().unwrap().pixels, vec![0, 0, 0, 7]);
    let body = copy(-100, -100, 1, 1, &[7]);
    d.handle(&parse(display_msg::DRAW_COPY, &body).unwrap())
        .unwrap();
}

#[test]
fn cache_me_then_from_cache() {
    let mut d = display_with_surface(2, 1);
    let mut body = copy(0, 0, 1, 1, &[9]);
    let desc = 21 + 4 + 16 + 2 + 1 + 13;
    body[desc + 9] = image_flags::CACHE_ME;
    d.handle(&parse(display_msg::DRAW_COPY, &body).unwrap())
        .unwrap();
    // The same image id, now FROM_CACHE, drawn at x = 1.
    let mut b = Writer::new();
    b.u32(0).i32(0).i32(1).i32(1).i32(2).u8(0).u32(57);
    b.i32(0)
        .i32(0)
        .i32(1)
        .i32(1)
        .u16(8)
        .u8(0)
        .u8(0)
        .i32(0)
        .i32(0)
        .u32(0);
    b.u64(1)
        .u8(crate::proto::image_type::FROM_CACHE)
        .u8(0)
        .u32(1)
        .u32(1);
    d.handle(&parse(display_msg::DRAW_COPY, &b.finish()).unwrap())
        .unwrap();
    assert_eq!(d.primary().unwrap().pixels, vec![9, 9]);
    d.handle(&DisplayMessage::InvalAllPixmaps).unwrap();
    let mut b = Writer::new();
    b.u32(0).i32(0).i32(1).i32(1).i32(2).u8(0).u32(57);
    b.i32(0)
        .i32(0)
        .i32(1)
        .i32(1)
        .u16(8)
        .u8(0)
        .u8(0)
        .i32(0)
        .i32(0)
        .u32(0);
    b.u64(1)
        .u8(crate::proto::image_type::FROM_CACHE)
        .u8(0)
        .u32(1)
        .u32(1);
    assert!(d
        .handle(&parse(display_msg::DRAW_COPY, &b.finish()).unwrap())
        .is_err());
}

#[test]
fn fill_and_copy_bits() {
    let mut d = display_with_surface(3, 2);
    let mut b = Writer::new();
    b.u32(0).i32(0).i32(0).i32(1).i32(3).u8(0);
    b.u8(1).u32(0xabcdef).u16(8).u8(0).i32(0).i32(0).u32(0);
    d.handle(&parse(display_msg::DRAW_FILL, &b.finish()).unwrap())
        .unwrap();
    // Copy the top row down one line (a scroll).
    let mut b = Writer::new();
    b.u32(0).i32(1).i32(0).i32(2).i32(3).u8(0).i32(0).i32(0);
    d.handle(&parse(display_msg::COPY_BITS, &b.finish()).unwrap())
        .unwrap();
    assert_eq!(d.primary().unwrap().pixels, vec![0xabcdef; 6]);
}

#[test]
fn hostile_surfaces_and_unknown_targets() {
    let mut d = Display::new(CacheConfig::default(), None);
    let huge = SurfaceCreate {
        surface_id: 0,
        width: 100_000,
        height: 100_000,
        format: 32,
        flags: 1,
    };
    assert!(matches!(
        d.handle(&DisplayMessage::SurfaceCreate(huge)),
        Err(Error::TooLarge { .. })
    ));
    let body = copy(0, 0, 1, 1, &[1]);
    assert!(d
        .handle(&parse(display_msg::DRAW_COPY, &body).unwrap())
        .is_err());
}

#[test]
fn extreme_coordinates_do_not_overflow() {
    let mut d = display_with_surface(4, 4);
    // A box far to the top-left with a huge source area: scaled copy.
    let mut b = Writer::new();
    b.u32(0)
        .i32(i32::MIN)
        .i32(i32::MIN)
        .i32(i32::MAX)
        .i32(i32::MAX)
        .u8(0);
    b.u32(57)
        .i32(i32::MIN)
        .i32(i32::MIN)
        .i32(i32::MAX)
        .i32(i32::MAX);
    b.u16(8).u8(0).u8(0).i32(0).i32(0).u32(0);
    b.u64(1).u8(0).u8(0).u32(1).u32(1);
    b.u8(8).u8(4).u32(1).u32(1).u32(4).u32(0).u32(5);
    d.handle(&parse(display_msg::DRAW_COPY, &b.finish()).unwrap())
        .unwrap();
    // A pattern brush anchored at the far corner.
    let mut b = Writer::new();
    b.u32(0).i32(0).i32(0).i32(4).i32(4).u8(0);
    b.u8(2)
        .u32(49)
        .i32(i32::MIN)
        .i32(i32::MAX)
        .u16(8)
        .u8(0)
        .i32(0)
        .i32(0)
        .u32(0);
    assert_eq!(b.buf.len(), 49);
    b.u64(2).u8(0).u8(0).u32(1).u32(1);
    b.u8(8).u8(4).u32(1).u32(1).u32(4).u32(0).u32(6);
    d.handle(&parse(display_msg::DRAW_FILL, &b.finish()).unwrap())
        .unwrap();
    assert_eq!(d.primary().unwrap().pixels, vec![6; 16]);
}
