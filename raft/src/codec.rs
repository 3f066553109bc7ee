//! Binary encoding of everything the store writes to disk or sends to peers.
//!
//! One place, one set of options, so the disk and wire formats cannot drift
//! apart. Decoding is limited in size: a corrupt or hostile length prefix is an
//! error, not a multi-gigabyte allocation.

use bincode::Options;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The largest message or record the store accepts (snapshot chunks included).
pub const MAX_MESSAGE: u64 = 256 * 1024 * 1024;

fn options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_limit(MAX_MESSAGE)
}

pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, bincode::Error> {
    options().serialize(value)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, bincode::Error> {
    options().deserialize(bytes)
}
