//! Server messages of every channel, in sequence, through the parsers and
//! into the display and cursor state, as a hostile server would send them.
//!
//! Input: repeated records of u8 channel type (1 main, 2 display, 3 inputs,
//! 4 cursor, anything else: the link reply parser), u16 message type, u16
//! body length, body. The display starts with a 64x64 primary surface so
//! that drawing commands reach the framebuffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opencloud_spice::cursor::Cursor;
use opencloud_spice::display::{CacheConfig, Display};
use opencloud_spice::framing::AckState;
use opencloud_spice::msg::display::{DisplayMessage, SurfaceCreate};
use opencloud_spice::msg::{self, ServerMessage};

fuzz_target!(|data: &[u8]| {
    let cache = CacheConfig {
        pixmap_cache_pixels: 1 << 16,
        glz_window_pixels: 1 << 16,
    };
    let mut display = Display::new(cache, None);
    let _ = display.handle(&DisplayMessage::SurfaceCreate(SurfaceCreate {
        surface_id: 0,
        width: 64,
        height: 64,
        format: 32,
        flags: 1,
    }));
    let mut cursor = Cursor::default();
    let mut ack = AckState::default();
    let mut rest = data;
    while rest.len() >= 5 {
        let channel = rest[0];
        let msg_type = u16::from_le_bytes([rest[1], rest[2]]);
        let len = usize::from(u16::from_le_bytes([rest[3], rest[4]])).min(rest.len() - 5);
        let body = &rest[5..5 + len];
        rest = &rest[5 + len..];
        if !(1..=4).contains(&channel) {
            let _ = opencloud_spice::link::parse_link_reply(body);
            continue;
        }
        ack.on_message();
        match ack.handle_base(msg_type, body) {
            Ok(Some(_)) | Err(_) => continue,
            Ok(None) => {}
        }
        match msg::parse(channel, msg_type, body) {
            Ok(ServerMessage::Display(DisplayMessage::SurfaceCreate(c)))
                if u64::from(c.width) * u64::from(c.height) > 1 << 16 =>
            {
                // Big surfaces are legal; allocating them on every run
                // would only slow the fuzzer down.
            }
            Ok(ServerMessage::Display(m)) => {
                let _ = display.handle(&m);
            }
            Ok(ServerMessage::Cursor(m)) => {
                let _ = cursor.handle(&m);
            }
            _ => {}
        }
    }
    if let Some(s) = display.primary_mut() {
        let _ = s.take_dirty();
    }
});
