//! The SPICE guest agent (spice-vdagent) as seen from the client: resize
//! requests and clipboard text in both directions. IO-free: [`Agent`] takes
//! the main channel's agent messages and returns the main channel messages
//! to send; [`crate::client::Session`] drives it over TCP.
//!
//! On the main channel, agent traffic is a stream of VDAgentMessages
//! (header + data, [`msg`]) cut into AGENT_DATA bodies of at most
//! [`MAX_DATA_SIZE`](crate::proto::vd_agent::MAX_DATA_SIZE) bytes. The
//! VDIChunkHeader of `vd_agent.h` never appears here: the server adds it
//! when it writes to the guest's virtio port and removes it when it reads.
//! Both directions are flow controlled with tokens, one per AGENT_DATA.

pub mod msg;
mod state;
pub mod stream;

pub use state::{Agent, Output, CLIENT_CAPS, MAX_CLIPBOARD_TEXT, TOKEN_WINDOW};
