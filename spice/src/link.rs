//! Channel link: the `REDQ` header, SpiceLinkMess/SpiceLinkReply and the
//! RSA-OAEP ticket that carries the password.

use rsa::pkcs8::DecodePublicKey;
use rsa::{Oaep, RsaPublicKey};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::proto::{common_cap, link_error_name, LINK_ERR_PERMISSION_DENIED};
use crate::wire::{Reader, Writer};
use crate::{Error, Result};

pub const MAGIC: &[u8; 4] = b"REDQ";
pub const VERSION_MAJOR: u32 = 2;
pub const VERSION_MINOR: u32 = 2;
/// The ticket holds at most 60 characters (SPICE_MAX_PASSWORD_LENGTH).
pub const MAX_PASSWORD_LEN: usize = 60;
/// A link reply is 178 bytes plus a few capability words; anything much
/// larger is not a SPICE server and must not make us allocate.
const MAX_LINK_REPLY: u32 = 4096;
/// The auth mechanism number for SPICE tickets in AUTH_SELECTION.
const AUTH_MECHANISM_SPICE: u32 = 1;

/// What the client asks for when linking one channel.
#[derive(Clone, Debug)]
pub struct LinkRequest {
    pub connection_id: u32,
    pub channel_type: u8,
    pub channel_id: u8,
    pub channel_caps: Vec<u32>,
}

/// The parts of SpiceLinkReply the client uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkReply {
    pub error: u32,
    pub pub_key: Vec<u8>,
    pub common_caps: Vec<u32>,
    pub channel_caps: Vec<u32>,
}

impl LinkReply {
    pub fn has_common_cap(&self, bit: u32) -> bool {
        has_cap(&self.common_caps, bit)
    }
    pub fn has_channel_cap(&self, bit: u32) -> bool {
        has_cap(&self.channel_caps, bit)
    }
}

pub fn has_cap(words: &[u32], bit: u32) -> bool {
    words
        .get((bit / 32) as usize)
        .is_some_and(|w| w & (1 << (bit % 32)) != 0)
}

/// Capability words with the given bits set.
pub fn caps(bits: &[u32]) -> Vec<u32> {
    let mut words = Vec::new();
    for &bit in bits {
        let idx = (bit / 32) as usize;
        if words.len() <= idx {
            words.resize(idx + 1, 0);
        }
        if let Some(w) = words.get_mut(idx) {
            *w |= 1 << (bit % 32);
        }
    }
    words
}

/// The link header and SpiceLinkMess for `req`.
pub fn encode_link_mess(req: &LinkRequest) -> Vec<u8> {
    let common = caps(&[
        common_cap::AUTH_SELECTION,
        common_cap::AUTH_SPICE,
        common_cap::MINI_HEADER,
    ]);
    let mut body = Writer::new();
    body.u32(req.connection_id)
        .u8(req.channel_type)
        .u8(req.channel_id)
        .u32(common.len() as u32)
        .u32(req.channel_caps.len() as u32)
        .u32(18);
    for w in common.iter().chain(req.channel_caps.iter()) {
        body.u32(*w);
    }
    let body = body.finish();
    let mut out = Writer::new();
    out.bytes(MAGIC)
        .u32(VERSION_MAJOR)
        .u32(VERSION_MINOR)
        .u32(body.len() as u32)
        .bytes(&body);
    out.finish()
}

/// Checks a 16-byte link header and returns the size of what follows.
pub fn parse_link_header(buf: &[u8]) -> Result<u32> {
    let mut r = Reader::new(buf, "link header");
    let magic = r.bytes(4)?;
    if magic != MAGIC {
        return Err(Error::BadServer(format!("magic {magic:02x?}")));
    }
    let major = r.u32()?;
    let _minor = r.u32()?;
    if major != VERSION_MAJOR {
        return Err(Error::BadServer(format!("protocol major version {major}")));
    }
    let size = r.u32()?;
    if size > MAX_LINK_REPLY {
        return Err(Error::TooLarge {
            what: "link reply",
            size: size.into(),
            limit: MAX_LINK_REPLY.into(),
        });
    }
    Ok(size)
}

/// Parses the SpiceLinkReply body.
pub fn parse_link_reply(buf: &[u8]) -> Result<LinkReply> {
    let mut r = Reader::new(buf, "link reply");
    let error = r.u32()?;
    if error != 0 {
        // A refusing server may send nothing more than the error code.
        return Ok(LinkReply {
            error,
            pub_key: Vec::new(),
            common_caps: Vec::new(),
            channel_caps: Vec::new(),
        });
    }
    let pub_key = r.bytes(162)?.to_vec();
    let num_common = r.u32()?;
    let num_channel = r.u32()?;
    let caps_offset = r.u32()?;
    let mut c = r.at(caps_offset)?;
    c.check_array(u64::from(num_common) + u64::from(num_channel), 4)?;
    let common_caps = (0..num_common).map(|_| c.u32()).collect::<Result<_>>()?;
    let channel_caps = (0..num_channel).map(|_| c.u32()).collect::<Result<_>>()?;
    Ok(LinkReply {
        error,
        pub_key,
        common_caps,
        channel_caps,
    })
}

/// RSA-OAEP (SHA-1, MGF1-SHA1) of the password and its NUL terminator
/// under the server's key. The server checks OAEP padding even when
/// ticketing is disabled, so an empty password is encrypted too.
pub fn encrypt_ticket(pub_key_der: &[u8], password: &str) -> Result<Vec<u8>> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(Error::PasswordTooLong);
    }
    let key = RsaPublicKey::from_public_key_der(pub_key_der)
        .map_err(|e| Error::Crypto(format!("server public key: {e}")))?;
    let mut plain = password.as_bytes().to_vec();
    plain.push(0);
    let mut rng = rand::thread_rng();
    key.encrypt(&mut rng, Oaep::new::<sha1::Sha1>(), &plain)
        .map_err(|e| Error::Crypto(e.to_string()))
}

/// Links one channel over `stream`: sends the link message, reads the
/// reply, authenticates with `password` and checks the verdict.
pub async fn handshake<S>(stream: &mut S, req: &LinkRequest, password: &str) -> Result<LinkReply>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(&encode_link_mess(req)).await?;
    let mut header = [0u8; 16];
    stream.read_exact(&mut header).await?;
    let size = parse_link_header(&header)?;
    let mut body = vec![0u8; size as usize];
    stream.read_exact(&mut body).await?;
    let reply = parse_link_reply(&body)?;
    if reply.error != 0 {
        return Err(Error::LinkRefused(link_error_name(reply.error)));
    }
    if !reply.has_common_cap(common_cap::MINI_HEADER) {
        return Err(Error::Unsupported {
            what: "server without the mini header capability",
            value: 0,
        });
    }
    let ticket = encrypt_ticket(&reply.pub_key, password)?;
    let mut out = Vec::with_capacity(4 + ticket.len());
    if reply.has_common_cap(common_cap::AUTH_SELECTION) {
        out.extend_from_slice(&AUTH_MECHANISM_SPICE.to_le_bytes());
    }
    out.extend_from_slice(&ticket);
    stream.write_all(&out).await?;
    let mut verdict = [0u8; 4];
    stream.read_exact(&mut verdict).await?;
    match u32::from_le_bytes(verdict) {
        0 => Ok(reply),
        LINK_ERR_PERMISSION_DENIED => Err(Error::AuthFailed),
        code => Err(Error::LinkRefused(link_error_name(code))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_mess_layout() {
        let m = encode_link_mess(&LinkRequest {
            connection_id: 7,
            channel_type: 2,
            channel_id: 0,
            channel_caps: caps(&[6]),
        });
        assert_eq!(&m[..4], b"REDQ");
        assert_eq!(parse_link_header(&m[..16]).unwrap(), 18 + 8);
        assert_eq!(&m[16..20], &7u32.to_le_bytes());
        assert_eq!(m[20], 2);
        // common caps: selection, spice, mini header = 0xb; channel caps bit 6.
        assert_eq!(&m[34..38], &0xbu32.to_le_bytes());
        assert_eq!(&m[38..42], &0x40u32.to_le_bytes());
    }

    #[test]
    fn bad_headers_are_rejected() {
        assert!(parse_link_header(b"HTTP/1.1 400 Bad").is_err());
        let mut h = encode_link_mess(&LinkRequest {
            connection_id: 0,
            channel_type: 1,
            channel_id: 0,
            channel_caps: vec![],
        });
        h[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse_link_header(&h[..16]),
            Err(Error::TooLarge { .. })
        ));
        assert!(parse_link_header(&h[..10]).is_err());
    }

    #[test]
    fn reply_with_caps_past_the_end_is_an_error() {
        let mut w = Writer::new();
        w.u32(0).bytes(&[0u8; 162]).u32(1).u32(0).u32(178).u32(0xb);
        let ok = w.finish();
        let reply = parse_link_reply(&ok).unwrap();
        assert!(reply.has_common_cap(common_cap::MINI_HEADER));
        assert!(parse_link_reply(&ok[..ok.len() - 1]).is_err());
        let mut w = Writer::new();
        w.u32(0)
            .bytes(&[0u8; 162])
            .u32(u32::MAX)
            .u32(u32::MAX)
            .u32(178);
        assert!(parse_link_reply(&w.finish()).is_err());
    }

    #[test]
    fn long_passwords_and_bad_keys_are_errors() {
        assert!(matches!(
            encrypt_ticket(&[0u8; 162], &"x".repeat(61)),
            Err(Error::PasswordTooLong)
        ));
        assert!(matches!(
            encrypt_ticket(&[0u8; 162], "pw"),
            Err(Error::Crypto(_))
        ));
    }
}
