//! Bounds-checked reading of little-endian SPICE structures, and the small
//! writer used to build client messages.
//!
//! Every read returns a `Result` so that a hostile or truncated message ends
//! the connection with an error instead of a panic.

use crate::{Error, Result};

/// A cursor over one message body. Offsets inside SPICE messages ("pointers")
/// are relative to the start of the body, so the reader keeps the whole body
/// and can be re-positioned with [`Reader::at`].
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    /// A reader over the same body, positioned at `offset`; used to follow a
    /// pointer field. Offsets past the end are an error.
    pub fn at(&self, offset: u32) -> Result<Reader<'a>> {
        let offset = offset as usize;
        if offset > self.buf.len() {
            return Err(self.truncated(offset, 0));
        }
        Ok(Reader {
            buf: self.buf,
            pos: offset,
            what: self.what,
        })
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn truncated(&self, offset: usize, needed: usize) -> Error {
        Error::Truncated {
            what: self.what,
            offset,
            needed,
            len: self.buf.len(),
        }
    }

    /// The next `n` bytes, borrowed from the message.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| self.truncated(self.pos, n))?;
        let out = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| self.truncated(self.pos, n))?;
        self.pos = end;
        Ok(out)
    }

    /// Everything after the current position.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        out
    }

    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let b = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_le_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A `count`-element array of `elem_size`-byte items: checks that the
    /// message really holds them before anyone allocates for them.
    pub fn check_array(&self, count: u64, elem_size: usize) -> Result<()> {
        let needed = count.saturating_mul(elem_size as u64);
        if needed > self.remaining() as u64 {
            return Err(Error::Truncated {
                what: self.what,
                offset: self.pos,
                needed: usize::try_from(needed).unwrap_or(usize::MAX),
                len: self.buf.len(),
            });
        }
        Ok(())
    }
}

/// Builds a little-endian client message body.
#[derive(Default, Debug)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_stops_at_the_end() {
        let data = [1, 0, 2, 0, 0, 0, 9];
        let mut r = Reader::new(&data, "test");
        assert_eq!(r.u16().unwrap(), 1);
        assert_eq!(r.u32().unwrap(), 2);
        assert_eq!(r.u8().unwrap(), 9);
        assert!(matches!(r.u8(), Err(Error::Truncated { .. })));
    }

    #[test]
    fn pointers_past_the_end_are_errors() {
        let data = [0u8; 4];
        let r = Reader::new(&data, "test");
        assert!(r.at(4).is_ok());
        assert!(r.at(5).is_err());
        assert!(r.at(u32::MAX).is_err());
    }

    #[test]
    fn huge_lengths_do_not_overflow() {
        let data = [0u8; 4];
        let mut r = Reader::new(&data, "test");
        r.skip(2).unwrap();
        assert!(r.bytes(usize::MAX).is_err());
        assert!(r.check_array(u64::MAX, 16).is_err());
        assert!(r.check_array(1, 2).is_ok());
    }
}
