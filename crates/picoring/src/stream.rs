//! A byte stream over a [`Ring`], with the standard I/O traits.

use std::io::{self, BufRead, Read, Write};

use crate::error::Result;
use crate::ring::Ring;

/// A bounded FIFO of bytes implementing [`Read`], [`Write`] and [`BufRead`].
///
/// `write` takes as much as fits and returns the count (0 when full);
/// `read` returns what is there (0 when empty).
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
/// ```
#[derive(Debug)]
pub struct ByteStream {
    ring: Ring,
}

impl ByteStream {
    /// A stream that buffers exactly `capacity` bytes.
    ///
    /// # Errors
    /// As [`Ring::with_capacity`].
    pub fn with_capacity(capacity: usize) -> Result<ByteStream> {
        Ok(ByteStream {
            ring: Ring::with_capacity(capacity)?,
        })
    }

    /// Bytes that can be read now.
    pub fn available_to_read(&self) -> usize {
        self.ring.len()
    }

    /// Bytes that can be written now.
    pub fn available_to_write(&self) -> usize {
        self.ring.free()
    }

    /// The ring underneath.
    pub fn as_ring(&self) -> &Ring {
        &self.ring
    }

    /// The ring underneath, mutably.
    pub fn as_ring_mut(&mut self) -> &mut Ring {
        &mut self.ring
    }
}

impl Read for ByteStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.ring.pop_into(buf))
    }
}

impl Write for ByteStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.ring.push_partial(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl BufRead for ByteStream {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        Ok(self.ring.as_slice())
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.ring.len());
        // Cannot fail: `amt <= len()`.
        let _ = self.ring.advance_tail(amt);
    }
}
