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
    /// A server message is shorter than its fields, or points past its end.
    #[error("truncated {what}: needed {needed} bytes at offset {offset}, message has {len}")]
    Truncated {
        what: &'static str,
        offset: usize,
        needed: usize,
        len: usize,
    },
    /// A server message is well framed but its content makes no sense.
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    /// A message or image claims more bytes or pixels than we accept.
    #[error("{what} too large: {size} (limit {limit})")]
    TooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
    },
    /// The server uses a feature this client does not implement.
    #[error("unsupported {what}: {value}")]
    Unsupported { what: &'static str, value: u64 },
    /// The server refused the ticket (wrong or expired password).
    #[error("authentication failed: the server rejected the password")]
    AuthFailed,
    /// The server answered the link with an error code other than
    /// PERMISSION_DENIED.
    #[error("link refused by the server: {0}")]
    LinkRefused(&'static str),
    /// The server is not a SPICE server, or speaks another major version.
    #[error("not a SPICE 2.x server: {0}")]
    BadServer(String),
    /// The password is longer than the SPICE ticket allows.
    #[error("password too long: at most 60 bytes")]
    PasswordTooLong,
    /// The server's public key is unusable or the ticket cannot be encrypted.
    #[error("ticket encryption: {0}")]
    Crypto(String),
    /// A step of the protocol did not complete in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The connection closed, or a channel task ended.
    #[error("connection closed: {0}")]
    Closed(String),
    /// The guest agent is not connected, or does not offer what was asked.
    #[error("guest agent unavailable: {0}")]
    AgentUnavailable(&'static str),
    /// A text or key name has no scancode.
    #[error("no scancode for {0}")]
    UnknownKey(String),
    /// Socket or dump-file IO.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Malformed {
            what,
            reason: reason.into(),
        }
    }
}
