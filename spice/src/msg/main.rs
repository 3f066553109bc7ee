//! Main channel messages.

use super::unknown;
use crate::proto::main_msg;
use crate::wire::Reader;
use crate::Result;

/// MAIN_INIT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MainInit {
    pub session_id: u32,
    pub display_channels_hint: u32,
    pub supported_mouse_modes: u32,
    pub current_mouse_mode: u32,
    pub agent_connected: u32,
    pub agent_tokens: u32,
    pub multi_media_time: u32,
    pub ram_hint: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MainMessage<'a> {
    Init(MainInit),
    /// (channel type, channel id) pairs.
    ChannelsList(Vec<(u8, u8)>),
    MouseMode {
        supported: u16,
        current: u16,
    },
    MultiMediaTime(u32),
    AgentConnected,
    AgentDisconnected(u32),
    AgentData(&'a [u8]),
    AgentToken(u32),
    AgentConnectedTokens(u32),
    Name(&'a [u8]),
    Uuid(&'a [u8]),
    /// Migration messages: parsed for type only, since migration is not
    /// supported and the server continues without it.
    Migration(u16),
}

pub fn parse(msg_type: u16, body: &[u8]) -> Result<MainMessage<'_>> {
    let mut r = Reader::new(body, "main message");
    Ok(match msg_type {
        main_msg::INIT => MainMessage::Init(MainInit {
            session_id: r.u32()?,
            display_channels_hint: r.u32()?,
            supported_mouse_modes: r.u32()?,
            current_mouse_mode: r.u32()?,
            agent_connected: r.u32()?,
            agent_tokens: r.u32()?,
            multi_media_time: r.u32()?,
            ram_hint: r.u32()?,
        }),
        main_msg::CHANNELS_LIST => {
            let n = r.u32()?;
            r.check_array(n.into(), 2)?;
            let list = (0..n)
                .map(|_| Ok((r.u8()?, r.u8()?)))
                .collect::<Result<_>>()?;
            MainMessage::ChannelsList(list)
        }
        main_msg::MOUSE_MODE => MainMessage::MouseMode {
            supported: r.u16()?,
            current: r.u16()?,
        },
        main_msg::MULTI_MEDIA_TIME => MainMessage::MultiMediaTime(r.u32()?),
        main_msg::AGENT_CONNECTED => MainMessage::AgentConnected,
        main_msg::AGENT_DISCONNECTED => MainMessage::AgentDisconnected(r.u32()?),
        main_msg::AGENT_DATA => MainMessage::AgentData(r.rest()),
        main_msg::AGENT_TOKEN => MainMessage::AgentToken(r.u32()?),
        main_msg::AGENT_CONNECTED_TOKENS => MainMessage::AgentConnectedTokens(r.u32()?),
        main_msg::NAME => {
            let n = r.u32()?;
            MainMessage::Name(r.bytes(n as usize)?)
        }
        main_msg::UUID => MainMessage::Uuid(r.bytes(16)?),
        101 | 102 | 111 | 112 | 116..=118 => MainMessage::Migration(msg_type),
        t => return Err(unknown("main", t)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Writer;

    #[test]
    fn init_and_truncated_init() {
        let mut w = Writer::new();
        for v in [5u32, 1, 3, 1, 0, 10, 0, 0] {
            w.u32(v);
        }
        let b = w.finish();
        match parse(main_msg::INIT, &b).unwrap() {
            MainMessage::Init(i) => assert_eq!(i.session_id, 5),
            m => panic!("{m:?}"),
        }
        assert!(parse(main_msg::INIT, &b[..31]).is_err());
    }

    #[test]
    fn channels_list_with_a_lying_count() {
        let mut w = Writer::new();
        w.u32(2).bytes(&[2, 0, 4, 0]);
        let b = w.finish();
        assert_eq!(
            parse(main_msg::CHANNELS_LIST, &b).unwrap(),
            MainMessage::ChannelsList(vec![(2, 0), (4, 0)])
        );
        let mut w = Writer::new();
        w.u32(u32::MAX).bytes(&[2, 0]);
        assert!(parse(main_msg::CHANNELS_LIST, &w.finish()).is_err());
    }

    #[test]
    fn name_past_the_end_and_unknown_types() {
        let mut w = Writer::new();
        w.u32(100).bytes(b"vm");
        assert!(parse(main_msg::NAME, &w.finish()).is_err());
        assert!(parse(250, &[]).is_err());
    }
}
