//! Any byte string as a QUIC payload.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = opencloud_spice::image::quic::decode_quic(data);
});
