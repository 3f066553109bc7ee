//! A SPICE client library: link and ticket auth, the main, display, inputs
//! and cursor channels, the image decoders, a per-surface framebuffer, and
//! the guest agent for resize requests and clipboard text ([`agent`]).
//!
//! The crate does no HTTP and keeps no global state; every parser is
//! bounds-checked so that a hostile server can only end its own connection.
//! The protocol state ([`display::Display`], [`cursor::Cursor`],
//! [`agent::Agent`], the parsers in [`msg`]) is IO-free; [`client`] runs it over TCP with tokio.

pub mod agent;
pub mod client;
pub mod cursor;
pub mod display;
pub mod error;
pub mod framing;
pub mod image;
pub mod inputs;
pub mod keymap;
pub mod link;
pub mod msg;
pub mod proto;
pub mod wire;

pub use client::{Compression, Config, Session};
pub use error::{Error, Result};
