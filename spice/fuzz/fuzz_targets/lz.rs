//! Any byte string as an LZ_RGB payload: an error is fine, a panic, an
//! abort or an oversized allocation is not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = opencloud_spice::image::lz::decode_lz_rgb(data);
});
