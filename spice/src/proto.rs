//! Protocol numbers from spice-protocol's `spice/protocol.h`, `enums.h` and
//! spice-common's `spice.proto`, kept in one place.

/// Channel types.
pub mod channel {
    pub const MAIN: u8 = 1;
    pub const DISPLAY: u8 = 2;
    pub const INPUTS: u8 = 3;
    pub const CURSOR: u8 = 4;
    pub const PLAYBACK: u8 = 5;
    pub const RECORD: u8 = 6;
}

/// Common capability bits, advertised on every channel.
pub mod common_cap {
    pub const AUTH_SELECTION: u32 = 0;
    pub const AUTH_SPICE: u32 = 1;
    pub const MINI_HEADER: u32 = 3;
}

/// Main channel capability bits.
pub mod main_cap {
    /// The server announces a connecting agent with AGENT_CONNECTED_TOKENS,
    /// which carries the client's fresh token count, instead of
    /// AGENT_CONNECTED.
    pub const AGENT_CONNECTED_TOKENS: u32 = 2;
}

/// Display channel capability bits.
pub mod display_cap {
    pub const PREF_COMPRESSION: u32 = 6;
}

/// Messages every channel shares (server side).
pub mod base_msg {
    pub const MIGRATE: u16 = 1;
    pub const MIGRATE_DATA: u16 = 2;
    pub const SET_ACK: u16 = 3;
    pub const PING: u16 = 4;
    pub const WAIT_FOR_CHANNELS: u16 = 5;
    pub const DISCONNECTING: u16 = 6;
    pub const NOTIFY: u16 = 7;
    pub const LIST: u16 = 8;
}

/// Messages every channel shares (client side).
pub mod base_msgc {
    pub const ACK_SYNC: u16 = 1;
    pub const ACK: u16 = 2;
    pub const PONG: u16 = 3;
}

pub mod main_msg {
    pub const INIT: u16 = 103;
    pub const CHANNELS_LIST: u16 = 104;
    pub const MOUSE_MODE: u16 = 105;
    pub const MULTI_MEDIA_TIME: u16 = 106;
    pub const AGENT_CONNECTED: u16 = 107;
    pub const AGENT_DISCONNECTED: u16 = 108;
    pub const AGENT_DATA: u16 = 109;
    pub const AGENT_TOKEN: u16 = 110;
    pub const NAME: u16 = 113;
    pub const UUID: u16 = 114;
    pub const AGENT_CONNECTED_TOKENS: u16 = 115;
}

pub mod main_msgc {
    pub const ATTACH_CHANNELS: u16 = 104;
    pub const MOUSE_MODE_REQUEST: u16 = 105;
    /// u32: how many AGENT_DATA messages the server may send us.
    pub const AGENT_START: u16 = 106;
    pub const AGENT_DATA: u16 = 107;
    /// u32: more AGENT_DATA messages the server may send us.
    pub const AGENT_TOKEN: u16 = 108;
}

pub mod display_msg {
    pub const MODE: u16 = 101;
    pub const MARK: u16 = 102;
    pub const RESET: u16 = 103;
    pub const COPY_BITS: u16 = 104;
    pub const INVAL_LIST: u16 = 105;
    pub const INVAL_ALL_PIXMAPS: u16 = 106;
    pub const INVAL_PALETTE: u16 = 107;
    pub const INVAL_ALL_PALETTES: u16 = 108;
    pub const STREAM_CREATE: u16 = 122;
    pub const STREAM_DESTROY_ALL: u16 = 126;
    pub const DRAW_FILL: u16 = 302;
    pub const DRAW_COPY: u16 = 304;
    pub const SURFACE_CREATE: u16 = 314;
    pub const SURFACE_DESTROY: u16 = 315;
    pub const MONITORS_CONFIG: u16 = 317;
}

pub mod display_msgc {
    pub const INIT: u16 = 101;
    pub const PREFERRED_COMPRESSION: u16 = 103;
}

pub mod inputs_msg {
    pub const INIT: u16 = 101;
    pub const KEY_MODIFIERS: u16 = 102;
    pub const MOUSE_MOTION_ACK: u16 = 111;
}

pub mod inputs_msgc {
    pub const KEY_DOWN: u16 = 101;
    pub const KEY_UP: u16 = 102;
    pub const MOUSE_MOTION: u16 = 111;
    pub const MOUSE_POSITION: u16 = 112;
    pub const MOUSE_PRESS: u16 = 113;
    pub const MOUSE_RELEASE: u16 = 114;
}

pub mod cursor_msg {
    pub const INIT: u16 = 101;
    pub const RESET: u16 = 102;
    pub const SET: u16 = 103;
    pub const MOVE: u16 = 104;
    pub const HIDE: u16 = 105;
    pub const TRAIL: u16 = 106;
    pub const INVAL_ONE: u16 = 107;
    pub const INVAL_ALL: u16 = 108;
}

/// The guest agent protocol of spice-protocol's `spice/vd_agent.h`, carried
/// in the main channel's AGENT_DATA messages.
pub mod vd_agent {
    /// The `protocol` field of every VDAgentMessage.
    pub const PROTOCOL: u32 = 1;
    /// The most bytes one AGENT_DATA body may hold, in both directions; the
    /// server refuses (and disconnects) a client that sends more.
    pub const MAX_DATA_SIZE: usize = 2048;

    /// VDAgentMessage types.
    pub mod msg {
        pub const MOUSE_STATE: u32 = 1;
        pub const MONITORS_CONFIG: u32 = 2;
        pub const REPLY: u32 = 3;
        pub const CLIPBOARD: u32 = 4;
        pub const DISPLAY_CONFIG: u32 = 5;
        pub const ANNOUNCE_CAPABILITIES: u32 = 6;
        pub const CLIPBOARD_GRAB: u32 = 7;
        pub const CLIPBOARD_REQUEST: u32 = 8;
        pub const CLIPBOARD_RELEASE: u32 = 9;
        pub const FILE_XFER_START: u32 = 10;
        pub const FILE_XFER_STATUS: u32 = 11;
        pub const FILE_XFER_DATA: u32 = 12;
        pub const CLIENT_DISCONNECTED: u32 = 13;
        pub const MAX_CLIPBOARD: u32 = 14;
        pub const AUDIO_VOLUME_SYNC: u32 = 15;
        pub const GRAPHICS_DEVICE_INFO: u32 = 16;
    }

    /// Capability bits of ANNOUNCE_CAPABILITIES.
    pub mod cap {
        pub const MOUSE_STATE: u32 = 0;
        pub const MONITORS_CONFIG: u32 = 1;
        pub const REPLY: u32 = 2;
        pub const CLIPBOARD: u32 = 3;
        pub const DISPLAY_CONFIG: u32 = 4;
        pub const CLIPBOARD_BY_DEMAND: u32 = 5;
        pub const CLIPBOARD_SELECTION: u32 = 6;
        pub const SPARSE_MONITORS_CONFIG: u32 = 7;
        pub const GUEST_LINEEND_LF: u32 = 8;
        pub const GUEST_LINEEND_CRLF: u32 = 9;
        pub const MAX_CLIPBOARD: u32 = 10;
        pub const AUDIO_VOLUME_SYNC: u32 = 11;
        pub const MONITORS_CONFIG_POSITION: u32 = 12;
        pub const FILE_XFER_DISABLED: u32 = 13;
        pub const FILE_XFER_DETAILED_ERRORS: u32 = 14;
        pub const GRAPHICS_DEVICE_INFO: u32 = 15;
        pub const CLIPBOARD_NO_RELEASE_ON_REGRAB: u32 = 16;
        pub const CLIPBOARD_GRAB_SERIAL: u32 = 17;
    }

    /// Clipboard data types.
    pub mod clipboard {
        pub const NONE: u32 = 0;
        pub const UTF8_TEXT: u32 = 1;
        pub const IMAGE_PNG: u32 = 2;
    }

    /// Clipboard selections (the first byte of the selection prefix).
    pub mod selection {
        pub const CLIPBOARD: u8 = 0;
        pub const PRIMARY: u8 = 1;
        pub const SECONDARY: u8 = 2;
    }

    /// The `error` field of VDAgentReply.
    pub const REPLY_SUCCESS: u32 = 1;
}

/// Mouse modes (a flag set in MOUSE_MODE, a single value in requests).
pub mod mouse_mode {
    pub const SERVER: u16 = 1;
    pub const CLIENT: u16 = 2;
}

/// Image types of an image descriptor.
pub mod image_type {
    pub const BITMAP: u8 = 0;
    pub const QUIC: u8 = 1;
    pub const LZ_PLT: u8 = 100;
    pub const LZ_RGB: u8 = 101;
    pub const GLZ_RGB: u8 = 102;
    pub const FROM_CACHE: u8 = 103;
    pub const SURFACE: u8 = 104;
    pub const JPEG: u8 = 105;
    pub const FROM_CACHE_LOSSLESS: u8 = 106;
    pub const ZLIB_GLZ_RGB: u8 = 107;
    pub const JPEG_ALPHA: u8 = 108;
    pub const LZ4: u8 = 109;
}

/// Image descriptor flags.
pub mod image_flags {
    pub const CACHE_ME: u8 = 1;
    pub const CACHE_REPLACE_ME: u8 = 4;
}

/// Bitmap formats of a BITMAP image.
pub mod bitmap_fmt {
    pub const BIT16: u8 = 6;
    pub const BIT24: u8 = 7;
    pub const BIT32: u8 = 8;
    pub const RGBA: u8 = 9;
}

/// Bitmap flags.
pub mod bitmap_flags {
    pub const PAL_FROM_CACHE: u8 = 2;
    pub const TOP_DOWN: u8 = 4;
}

/// Raster operation descriptor bits.
pub mod ropd {
    pub const INVERS_SRC: u16 = 1;
    pub const INVERS_BRUSH: u16 = 2;
    pub const INVERS_DEST: u16 = 4;
    pub const OP_PUT: u16 = 8;
    pub const OP_OR: u16 = 16;
    pub const OP_AND: u16 = 32;
    pub const OP_XOR: u16 = 64;
    pub const OP_BLACKNESS: u16 = 128;
    pub const OP_WHITENESS: u16 = 256;
    pub const OP_INVERS: u16 = 512;
    pub const INVERS_RES: u16 = 1024;
}

/// Link error codes of SpiceLinkReply and of the ticket answer.
pub fn link_error_name(code: u32) -> &'static str {
    match code {
        0 => "OK",
        1 => "ERROR",
        2 => "INVALID_MAGIC",
        3 => "INVALID_DATA",
        4 => "VERSION_MISMATCH",
        5 => "NEED_SECURED",
        6 => "NEED_UNSECURED",
        7 => "PERMISSION_DENIED",
        8 => "BAD_CONNECTION_ID",
        9 => "CHANNEL_NOT_AVAILABLE",
        _ => "unknown error",
    }
}

pub const LINK_ERR_PERMISSION_DENIED: u32 = 7;
