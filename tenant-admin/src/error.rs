//! The crate's one error type.

/// What can go wrong in the tenant domain.
///
/// The messages of [`Error::Invalid`] are written for the admin who sent the
/// input and can be shown as they are. The three directory cases stay
/// distinct so that a sign-in page can say "wrong user name or password"
/// only when that is what happened, and "the directory is unavailable"
/// otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Input that breaks a rule; the message says which one.
    #[error("{0}")]
    Invalid(String),
    /// The password hasher refused its parameters; a bug or a bad config,
    /// never the user's fault.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The directory does not know this user, or the password is wrong. The
    /// two are deliberately not told apart.
    #[error("wrong user name or password")]
    InvalidCredentials,
    /// The directory could not be reached or did not answer in time.
    #[error("the directory is unavailable: {0}")]
    DirectoryUnavailable(String),
    /// The directory answered, but the tenant's settings do not work with it
    /// (service account refused, bad base DN or filter, TLS trust).
    #[error("the directory settings are wrong: {0}")]
    DirectoryMisconfigured(String),
}

impl Error {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
