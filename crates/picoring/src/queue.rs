//! A reservation-based byte queue over a [`Ring`].

use crate::error::{Error, Result};
use crate::ring::{GrantExport, Ring, WriteChunk};

/// A FIFO byte queue written in place and read in place.
///
/// Writers [`reserve`](Queue::reserve) exactly the space they need, fill it
/// and [`commit`](Queue::commit) it; readers [`peek`](Queue::peek) at
/// everything queued as one slice and [`release`](Queue::release) what they
/// used. A reservation is the ring's grant (see [`Ring`]'s rules): one at a
/// time, ended by its commit.
///
/// ```
/// use picoring::Queue;
///
/// let mut q = Queue::with_capacity(1024).unwrap();
/// if let Some(mut buf) = q.reserve(2).unwrap() {
///     buf.copy_from_slice(&[10, 20]);
///     buf.commit(2).unwrap();
/// }
/// assert_eq!(q.peek(), &[10, 20]);
/// let n = q.peek().len();
/// q.release(n).unwrap();
/// assert!(q.is_empty());
/// ```
#[derive(Debug)]
pub struct Queue {
    ring: Ring,
}

impl Queue {
    /// A queue that holds exactly `capacity` bytes.
    ///
    /// # Errors
    /// As [`Ring::with_capacity`].
    pub fn with_capacity(capacity: usize) -> Result<Queue> {
        Ok(Queue {
            ring: Ring::with_capacity(capacity)?,
        })
    }

    /// Checks a reservation of `n` bytes: `Ok(false)` if fewer are free now.
    fn check_reserve(&self, n: usize) -> Result<bool> {
        if n > self.ring.capacity() {
            return Err(Error::OutOfRange {
                arg: "n",
                requested: n,
                limit: self.ring.capacity(),
                what: "the capacity",
            });
        }
        if let Some(len) = self.ring.grant_len() {
            return Err(Error::GrantOpen {
                what: "a second reservation",
                len,
                publish: "commit",
            });
        }
        Ok(n <= self.ring.free())
    }

    /// Exactly `n` bytes of free space to write into, or `None` if fewer
    /// are free now (nothing changes then). Dropping the chunk without
    /// committing abandons the reservation.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `n` exceeds the capacity (it could never
    /// fit); [`Error::GrantOpen`] while an exported reservation is open.
    pub fn reserve(&mut self, n: usize) -> Result<Option<WriteChunk<'_>>> {
        if !self.check_reserve(n)? {
            return Ok(None);
        }
        self.ring.grant(Some(n)).map(Some)
    }

    /// Like [`Queue::reserve`], exported: publish with [`Queue::commit`],
    /// hand the export back to [`Queue::release_reservation`] once the
    /// view is gone.
    ///
    /// # Errors
    /// As [`Queue::reserve`].
    pub fn export_reserve(&mut self, n: usize) -> Result<Option<GrantExport>> {
        if !self.check_reserve(n)? {
            return Ok(None);
        }
        self.ring.export_grant(Some(n)).map(Some)
    }

    /// Publishes `n` bytes written into the open reservation, and ends it.
    ///
    /// # Errors
    /// As [`Ring::advance_head`].
    pub fn commit(&mut self, n: usize) -> Result<()> {
        self.ring.advance_head(n)
    }

    /// Ends an exported reservation (abandoned if not committed); true if
    /// it was still open.
    pub fn release_reservation(&mut self, export: GrantExport) -> bool {
        self.ring.release_grant(export)
    }

    /// Everything queued, as one slice.
    pub fn peek(&self) -> &[u8] {
        self.ring.as_slice()
    }

    /// Drops the `n` oldest bytes.
    ///
    /// # Errors
    /// As [`Ring::advance_tail`].
    pub fn release(&mut self, n: usize) -> Result<()> {
        self.ring.advance_tail(n)
    }

    /// Appends one byte; false if full (or a reservation is open).
    pub fn push(&mut self, byte: u8) -> bool {
        self.ring.push(byte)
    }

    /// Removes the oldest byte.
    pub fn pop(&mut self) -> Option<u8> {
        self.ring.pop()
    }

    /// Appends all of `data` or nothing (see [`Ring::push_slice`]).
    pub fn push_slice(&mut self, data: &[u8]) -> bool {
        self.ring.push_slice(data)
    }

    /// Moves up to `out.len()` bytes out; returns how many.
    pub fn pop_into(&mut self, out: &mut [u8]) -> usize {
        self.ring.pop_into(out)
    }

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// The most bytes the queue holds.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// The ring underneath: views, positions, and what the ring does.
    pub fn as_ring(&self) -> &Ring {
        &self.ring
    }

    /// The ring underneath, mutably. Its grant is the queue's reservation.
    pub fn as_ring_mut(&mut self) -> &mut Ring {
        &mut self.ring
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_is_exact_and_refusals_change_nothing() {
        let mut q = Queue::with_capacity(8).unwrap();
        assert!(q.push_slice(b"abcde"));
        assert!(q.reserve(4).unwrap().is_none(), "only 3 are free");
        assert!(matches!(
            q.reserve(9),
            Err(Error::OutOfRange { limit: 8, .. })
        ));
        let r = q.export_reserve(2).unwrap().unwrap();
        assert_eq!(r.len(), 2);
        let err = q.export_reserve(1).unwrap_err();
        assert!(err.to_string().contains("commit(n)"), "{err}");
        assert!(q.reserve(1).is_err(), "one reservation at a time");
        assert!(q.push_slice(b""), "empty push: fine, changes nothing");
        assert!(q.commit(3).is_err(), "more than reserved");
        assert_eq!(q.as_ring().grant_len(), Some(2));
        q.commit(1).unwrap();
        assert!(
            q.commit(1).is_err(),
            "the reservation ended with its commit"
        );
        assert!(!q.release_reservation(r));
        assert_eq!(q.len(), 6);
    }

    #[test]
    fn an_empty_queue_reserves_its_whole_capacity() {
        let mut q = Queue::with_capacity(8).unwrap();
        let mut chunk = q.reserve(8).unwrap().expect("all 8 bytes are free");
        assert_eq!(chunk.len(), 8);
        chunk.copy_from_slice(b"12345678");
        chunk.commit(8).unwrap();
        assert_eq!(q.as_ring().as_slice(), b"12345678");
        assert!(q.reserve(1).unwrap().is_none(), "full");
    }
}
