//! Reassembly of guest agent messages from AGENT_DATA bodies.
//!
//! The server forwards the agent's virtio chunks one per AGENT_DATA, so a
//! message may span several bodies and, in principle, one body may end one
//! message and start the next. The reassembler treats the bodies as one
//! byte stream framed by the VDAgentMessage headers, with two guards: a
//! message larger than the limit is skipped without being stored, and a
//! header with a wrong protocol number ends the current body, since its
//! size field cannot be trusted to find the next header.

use super::msg::{check_protocol, Header, HEADER_SIZE};

/// What the reassembler found in the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete message: its header and data.
    Message(Header, &'a [u8]),
    /// A message larger than the limit, skipped in full.
    TooLarge(Header),
    /// A header with a foreign protocol number; the rest of its AGENT_DATA
    /// body was dropped.
    BadProtocol(Header),
}

#[derive(Debug)]
enum State {
    /// Collecting the 20 header bytes (`have` of them so far).
    Header,
    /// Collecting the data of a message within the limit. The buffer grows
    /// as bytes arrive, so a header that lies about its size costs only the
    /// bytes really sent.
    Data { header: Header, data: Vec<u8> },
    /// Discarding the data of a message over the limit.
    Skip { header: Header, left: u32 },
}

/// Splits the concatenated AGENT_DATA bodies back into agent messages.
#[derive(Debug)]
pub struct Reassembler {
    limit: u32,
    header: [u8; HEADER_SIZE],
    have: usize,
    state: State,
}

impl Reassembler {
    /// A reassembler that keeps messages of at most `limit` data bytes.
    pub fn new(limit: u32) -> Self {
        Reassembler {
            limit,
            header: [0; HEADER_SIZE],
            have: 0,
            state: State::Header,
        }
    }

    /// Forgets a partial message, for when the agent goes away: the server
    /// drops what it had not forwarded yet, so the next byte it sends
    /// starts a new message.
    pub fn reset(&mut self) {
        self.have = 0;
        self.state = State::Header;
    }

    /// Whether a message has started but not completed.
    pub fn is_partial(&self) -> bool {
        self.have != 0 || !matches!(self.state, State::Header)
    }

    /// Feeds one AGENT_DATA body and calls `on` for every message completed
    /// (or skipped) by it, in order. Messages are handed over one by one so
    /// that a body with thousands of tiny messages needs no list of them.
    pub fn push(&mut self, mut input: &[u8], mut on: impl FnMut(Event<'_>)) {
        while !input.is_empty() {
            match &mut self.state {
                State::Header => {
                    let n = (HEADER_SIZE - self.have).min(input.len());
                    let (head, rest) = input.split_at(n);
                    self.header[self.have..self.have + n].copy_from_slice(head);
                    self.have += n;
                    input = rest;
                    if self.have < HEADER_SIZE {
                        continue;
                    }
                    self.have = 0;
                    let header = Header::parse(&self.header);
                    if check_protocol(&header).is_err() {
                        on(Event::BadProtocol(header));
                        return;
                    }
                    let size = header.size as usize;
                    if header.size > self.limit {
                        self.state = State::Skip {
                            header,
                            left: header.size,
                        };
                    } else if size <= input.len() {
                        // The common case, the whole message in this body:
                        // no copy.
                        let (data, rest) = input.split_at(size);
                        on(Event::Message(header, data));
                        input = rest;
                    } else {
                        let mut data = Vec::with_capacity(input.len());
                        data.extend_from_slice(input);
                        input = &[];
                        self.state = State::Data { header, data };
                    }
                }
                State::Data { header, data } => {
                    let need = (header.size as usize).saturating_sub(data.len());
                    let (part, rest) = input.split_at(need.min(input.len()));
                    data.extend_from_slice(part);
                    input = rest;
                    if data.len() >= header.size as usize {
                        if let State::Data { header, data } =
                            std::mem::replace(&mut self.state, State::Header)
                        {
                            on(Event::Message(header, &data));
                        }
                    }
                }
                State::Skip { header, left } => {
                    let n = (*left as usize).min(input.len());
                    input = input.split_at(n).1;
                    *left -= n as u32;
                    if *left == 0 {
                        let header = *header;
                        self.state = State::Header;
                        on(Event::TooLarge(header));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::msg::encode;
    use crate::proto::vd_agent::msg;

    /// Collects owned copies of what `push` reports.
    fn feed(r: &mut Reassembler, body: &[u8]) -> Vec<(u32, Result<Vec<u8>, &'static str>)> {
        let mut out = Vec::new();
        r.push(body, |e| {
            out.push(match e {
                Event::Message(h, d) => (h.msg_type, Ok(d.to_vec())),
                Event::TooLarge(h) => (h.msg_type, Err("too large")),
                Event::BadProtocol(h) => (h.msg_type, Err("bad protocol")),
            })
        });
        out
    }

    #[test]
    fn one_message_in_one_body() {
        let mut r = Reassembler::new(100);
        let m = encode(msg::REPLY, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            feed(&mut r, &m),
            vec![(3, Ok(vec![1, 2, 3, 4, 5, 6, 7, 8]))]
        );
        assert!(!r.is_partial());
        // An empty message is complete with its header.
        assert_eq!(
            feed(&mut r, &encode(msg::CLIPBOARD_RELEASE, &[])),
            vec![(9, Ok(vec![]))]
        );
    }

    #[test]
    fn a_message_over_several_bodies_and_a_split_header() {
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let m = encode(msg::CLIPBOARD, &data);
        let mut r = Reassembler::new(1 << 20);
        // Bodies cut anywhere, including inside the header.
        let cuts = [7, 20, 21, 2048, 4000, m.len()];
        let mut start = 0;
        let mut got = Vec::new();
        for end in cuts {
            got.extend(feed(&mut r, &m[start..end]));
            start = end;
            if end < m.len() {
                assert!(got.is_empty());
                assert!(r.is_partial());
            }
        }
        assert_eq!(got, vec![(4, Ok(data))]);
        assert!(!r.is_partial());
    }

    #[test]
    fn several_messages_in_one_body() {
        let mut body = encode(msg::REPLY, &[0; 8]);
        body.extend(encode(msg::CLIPBOARD_RELEASE, &[]));
        let third = encode(msg::CLIPBOARD_REQUEST, &[1, 0, 0, 0]);
        body.extend(&third[..10]);
        let mut r = Reassembler::new(100);
        assert_eq!(
            feed(&mut r, &body),
            vec![(3, Ok(vec![0; 8])), (9, Ok(vec![]))]
        );
        assert_eq!(feed(&mut r, &third[10..]), vec![(8, Ok(vec![1, 0, 0, 0]))]);
    }

    #[test]
    fn a_truncated_header_waits_and_reset_forgets_it() {
        let mut r = Reassembler::new(100);
        let m = encode(msg::REPLY, &[0; 8]);
        assert!(feed(&mut r, &m[..11]).is_empty());
        assert!(r.is_partial());
        r.reset();
        assert!(!r.is_partial());
        assert_eq!(feed(&mut r, &m), vec![(3, Ok(vec![0; 8]))]);
    }

    #[test]
    fn huge_sizes_are_skipped_without_storing_them() {
        let mut r = Reassembler::new(1000);
        let mut m = encode(msg::CLIPBOARD, &[9; 1001]);
        m.extend(encode(msg::REPLY, &[0; 8]));
        let (a, b) = m.split_at(600);
        assert!(feed(&mut r, a).is_empty());
        assert!(matches!(r.state, State::Skip { .. }));
        assert_eq!(
            feed(&mut r, b),
            vec![(4, Err("too large")), (3, Ok(vec![0; 8]))]
        );
        // A header claiming 4 GiB: nothing is allocated, the stream is
        // swallowed until the agent reconnects.
        let mut liar = encode(msg::CLIPBOARD, &[]);
        liar[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        liar.extend([0; 100]);
        assert!(feed(&mut r, &liar).is_empty());
        match &r.state {
            State::Skip { left, .. } => assert_eq!(*left, u32::MAX - 100),
            s => panic!("{s:?}"),
        }
        r.reset();
        assert_eq!(feed(&mut r, &encode(msg::REPLY, &[0; 8])).len(), 1);
    }

    #[test]
    fn a_lying_size_within_the_limit_takes_only_what_arrives() {
        let mut r = Reassembler::new(1 << 20);
        let mut m = encode(msg::CLIPBOARD, &[1; 10]);
        m[16..20].copy_from_slice(&(1u32 << 20).to_le_bytes());
        assert!(feed(&mut r, &m).is_empty());
        match &r.state {
            State::Data { data, .. } => assert!(data.capacity() < 1024),
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn a_foreign_protocol_drops_the_rest_of_its_body() {
        let mut r = Reassembler::new(100);
        let mut body = encode(msg::REPLY, &[0; 8]);
        body[0] = 7;
        body.extend(encode(msg::REPLY, &[0; 8]));
        assert_eq!(feed(&mut r, &body), vec![(3, Err("bad protocol"))]);
        assert!(!r.is_partial());
        assert_eq!(feed(&mut r, &encode(msg::REPLY, &[0; 8])).len(), 1);
    }
}
