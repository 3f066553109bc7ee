//! A sequence of GLZ_RGB payloads through one dictionary, so that
//! cross-image references and window eviction are exercised. Input:
//! records of a little-endian u16 length and that many payload bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opencloud_spice::image::glz::GlzDictionary;

fuzz_target!(|data: &[u8]| {
    // A small window makes eviction happen within one input.
    let mut dict = GlzDictionary::new(1 << 16);
    let mut rest = data;
    while let [lo, hi, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        let (payload, next) = tail.split_at(len);
        let _ = dict.decode(payload);
        rest = next;
    }
});
