//! A SPICE client library: link and ticket auth, the main, display, inputs
//! and cursor channels, the image decoders and a per-surface framebuffer.
//!
//! The crate does no HTTP and keeps no global state; every parser is
//! bounds-checked so that a hostile server can only end its own connection.

pub mod error;
pub mod image;

pub use error::{Error, Result};
