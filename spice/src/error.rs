//! The crate's one error type.

/// Everything that can go wrong while talking SPICE or decoding its images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An image payload is malformed, truncated or claims impossible sizes.
    #[error("bad {codec} image: {reason}")]
    Decode {
        codec: &'static str,
        reason: &'static str,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
