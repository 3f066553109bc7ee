//! Cursor channel messages.

use super::unknown;
use crate::proto::cursor_msg;
use crate::wire::Reader;
use crate::Result;

/// Cursor flags.
pub const FLAG_NONE: u16 = 1;
pub const FLAG_CACHE_ME: u16 = 2;
pub const FLAG_FROM_CACHE: u16 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CursorHeader {
    pub unique: u64,
    pub kind: u8,
    pub width: u16,
    pub height: u16,
    pub hot_x: u16,
    pub hot_y: u16,
}

/// A cursor shape as sent: flags, header (absent with FLAG_NONE) and the
/// raw image data that fills the rest of the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CursorShape<'a> {
    pub flags: u16,
    pub header: Option<CursorHeader>,
    pub data: &'a [u8],
}

fn read_shape<'a>(r: &mut Reader<'a>) -> Result<CursorShape<'a>> {
    let flags = r.u16()?;
    let header = if flags & FLAG_NONE != 0 {
        None
    } else {
        Some(CursorHeader {
            unique: r.u64()?,
            kind: r.u8()?,
            width: r.u16()?,
            height: r.u16()?,
            hot_x: r.u16()?,
            hot_y: r.u16()?,
        })
    };
    Ok(CursorShape {
        flags,
        header,
        data: r.rest(),
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CursorMessage<'a> {
    Init {
        position: (i16, i16),
        visible: bool,
        shape: CursorShape<'a>,
    },
    Reset,
    Set {
        position: (i16, i16),
        visible: bool,
        shape: CursorShape<'a>,
    },
    Move((i16, i16)),
    Hide,
    Trail,
    InvalOne(u64),
    InvalAll,
}

pub fn parse(msg_type: u16, body: &[u8]) -> Result<CursorMessage<'_>> {
    let mut r = Reader::new(body, "cursor message");
    Ok(match msg_type {
        cursor_msg::INIT => {
            let position = (r.i16()?, r.i16()?);
            let _trail_length = r.u16()?;
            let _trail_frequency = r.u16()?;
            let visible = r.u8()? != 0;
            CursorMessage::Init {
                position,
                visible,
                shape: read_shape(&mut r)?,
            }
        }
        cursor_msg::RESET => CursorMessage::Reset,
        cursor_msg::SET => {
            let position = (r.i16()?, r.i16()?);
            let visible = r.u8()? != 0;
            CursorMessage::Set {
                position,
                visible,
                shape: read_shape(&mut r)?,
            }
        }
        cursor_msg::MOVE => CursorMessage::Move((r.i16()?, r.i16()?)),
        cursor_msg::HIDE => CursorMessage::Hide,
        cursor_msg::TRAIL => {
            r.skip(4)?;
            CursorMessage::Trail
        }
        cursor_msg::INVAL_ONE => CursorMessage::InvalOne(r.u64()?),
        cursor_msg::INVAL_ALL => CursorMessage::InvalAll,
        t => return Err(unknown("cursor", t)),
    })
}
