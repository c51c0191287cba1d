//! A byte stream over a [`Ring`], with the standard I/O traits.

use std::io::{self, BufRead, Read, Write};

use crate::error::{Error, Result};
use crate::ring::{ReadExport, Ring};

/// A bounded FIFO of bytes, like a pipe with both ends in one value:
/// [`write_partial`](ByteStream::write_partial) takes as much as fits and
/// returns the count (0 when full), [`read_into`](ByteStream::read_into)
/// returns what is there (0 when empty). Implements [`Read`], [`Write`]
/// and [`BufRead`].
///
/// After [`close`](ByteStream::close), reading, writing and exporting fail
/// with [`Error::Closed`] (`io::ErrorKind::Other` through the I/O traits).
///
/// ```
/// use std::io::{BufRead, Read, Write};
/// use picoring::ByteStream;
///
/// let mut s = ByteStream::with_capacity(4096).unwrap();
/// s.write_all(b"Hello Pico\nrest").unwrap();
/// let mut line = String::new();
/// s.read_line(&mut line).unwrap();
/// assert_eq!(line, "Hello Pico\n");
/// let mut rest = Vec::new();
/// s.read_to_end(&mut rest).unwrap();
/// assert_eq!(rest, b"rest");
/// s.close();
/// assert!(s.write_partial(b"x").is_err());
/// ```
#[derive(Debug)]
pub struct ByteStream {
    ring: Ring,
    closed: bool,
}

impl ByteStream {
    /// A stream that buffers exactly `capacity` bytes.
    ///
    /// # Errors
    /// As [`Ring::with_capacity`].
    pub fn with_capacity(capacity: usize) -> Result<ByteStream> {
        Ok(ByteStream {
            ring: Ring::with_capacity(capacity)?,
            closed: false,
        })
    }

    /// The ring, if the stream is open.
    #[inline]
    fn open(&self) -> Result<&Ring> {
        if self.closed {
            return Err(Error::Closed);
        }
        Ok(&self.ring)
    }

    /// The ring, mutably, if the stream is open.
    #[inline]
    fn open_mut(&mut self) -> Result<&mut Ring> {
        if self.closed {
            return Err(Error::Closed);
        }
        Ok(&mut self.ring)
    }

    /// Writes as much of `data` as fits; returns how many bytes were taken.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`ByteStream::close`].
    #[inline]
    pub fn write_partial(&mut self, data: &[u8]) -> Result<usize> {
        Ok(self.open_mut()?.push_partial(data))
    }

    /// Moves up to `out.len()` buffered bytes into `out`; returns how many.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`ByteStream::close`].
    #[inline]
    pub fn read_into(&mut self, out: &mut [u8]) -> Result<usize> {
        Ok(self.open_mut()?.pop_into(out))
    }

    /// Like [`ByteStream::read_into`], into memory that may be
    /// uninitialised (see [`Ring::pop_into_uninit`]).
    ///
    /// # Errors
    /// [`Error::Closed`] after [`ByteStream::close`].
    #[inline]
    pub fn read_into_uninit(&mut self, out: &mut [std::mem::MaybeUninit<u8>]) -> Result<usize> {
        Ok(self.open_mut()?.pop_into_uninit(out))
    }

    /// How many bytes the next "read until `delim`" takes, or `None` if
    /// no whole record is buffered yet (the caller waits for more; nothing
    /// is consumed): up to and including the first `delim`, or `limit`
    /// bytes when `limit` are buffered and no `delim` ends within them
    /// (`limit` is at most the capacity: a full stream without a `delim`
    /// gives all its bytes). An empty `delim` ends at once (0). Nothing
    /// changes.
    ///
    /// ```
    /// let mut s = picoring::ByteStream::with_capacity(64).unwrap();
    /// s.write_partial(b"ab\ncd").unwrap();
    /// assert_eq!(s.record_len(b"\n", None).unwrap(), Some(3));
    /// assert_eq!(s.record_len(b"\n", Some(2)).unwrap(), Some(2));
    /// assert_eq!(s.record_len(b"d", None).unwrap(), Some(5));
    /// assert_eq!(s.record_len(b"x", None).unwrap(), None);
    /// assert_eq!(s.record_len(b"x", Some(9)).unwrap(), None);
    /// s.write_partial(&[b'y'; 59]).unwrap(); // full, and no b"x"
    /// assert_eq!(s.record_len(b"x", None).unwrap(), Some(64));
    /// ```
    ///
    /// # Errors
    /// [`Error::Closed`] after [`ByteStream::close`].
    pub fn record_len(&self, delim: &[u8], limit: Option<usize>) -> Result<Option<usize>> {
        let ring = self.open()?;
        // A record can be no longer than the stream holds: a full stream
        // with no delimiter in it gives its bytes (else nothing could ever
        // be read or written again).
        let limit = limit.unwrap_or(usize::MAX).min(ring.capacity());
        // The delimiter must end within `limit` bytes.
        if let Some(i) = ring.find(delim, 0, limit) {
            return Ok(Some(i + delim.len()));
        }
        Ok((ring.len() >= limit).then_some(limit))
    }

    /// Bytes that can be read now.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`ByteStream::close`].
    pub fn available_to_read(&self) -> Result<usize> {
        Ok(self.open()?.len())
    }

    /// Bytes that can be written now.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`ByteStream::close`].
    pub fn available_to_write(&self) -> Result<usize> {
        Ok(self.open()?.free())
    }

    /// Drops every buffered byte.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`ByteStream::close`].
    pub fn clear(&mut self) -> Result<()> {
        self.open_mut()?.clear();
        Ok(())
    }

    /// Exports the buffered bytes (see [`Ring::export_readable`]).
    ///
    /// # Errors
    /// [`Error::Closed`] after [`ByteStream::close`].
    pub fn export_readable(&mut self) -> Result<ReadExport> {
        Ok(self.open_mut()?.export_readable())
    }

    /// Ends an export; allowed after `close` too (see [`Ring::release`]).
    pub fn release(&mut self, export: ReadExport) -> bool {
        self.ring.release(export)
    }

    /// Closes the stream: reads, writes and new exports fail from now on.
    /// The buffered bytes stay until the stream is dropped.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// True after [`ByteStream::close`].
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Bytes buffered (also after `close`).
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// The most bytes the stream buffers.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// The ring underneath.
    pub fn as_ring(&self) -> &Ring {
        &self.ring
    }

    /// The ring underneath, mutably, while the stream is open.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`ByteStream::close`].
    pub fn ring_mut(&mut self) -> Result<&mut Ring> {
        self.open_mut()
    }
}

impl Read for ByteStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.read_into(buf)?)
    }
}

impl Write for ByteStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.write_partial(buf)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.open()?;
        Ok(())
    }
}

impl BufRead for ByteStream {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        Ok(self.open()?.as_slice())
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.ring.len());
        // Cannot fail: `amt <= len()`.
        let _ = self.ring.advance_tail(amt);
    }
}
