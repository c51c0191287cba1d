//! A reservation-based byte queue over a [`Ring`].

use crate::error::Result;
use crate::ring::Ring;

/// A FIFO byte queue written in place and read in place.
///
/// Writers [`reserve`](Queue::reserve) space, fill it and
/// [`commit`](Queue::commit) it; readers [`peek`](Queue::peek) at everything
/// queued as one slice and [`release`](Queue::release) what they used.
///
/// ```
/// use picoring::Queue;
///
/// let mut q = Queue::with_capacity(1024).unwrap();
/// if let Some(buf) = q.reserve(2) {
///     buf.copy_from_slice(&[10, 20]);
///     q.commit(2).unwrap();
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

    /// `n` bytes of free space to write into, or `None` if fewer are free.
    pub fn reserve(&mut self, n: usize) -> Option<&mut [u8]> {
        let space = self.ring.writable_slice();
        if space.len() < n {
            return None;
        }
        Some(&mut space[..n])
    }

    /// Publishes `n` bytes written into the last reservation.
    ///
    /// # Errors
    /// As [`Ring::advance_head`].
    pub fn commit(&mut self, n: usize) -> Result<()> {
        self.ring.advance_head(n)
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

    /// Appends one byte; false if full.
    pub fn push(&mut self, byte: u8) -> bool {
        self.ring.push(byte)
    }

    /// Removes the oldest byte.
    pub fn pop(&mut self) -> Option<u8> {
        self.ring.pop()
    }

    /// Appends all of `data` or nothing.
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

    /// The ring underneath.
    pub fn as_ring(&self) -> &Ring {
        &self.ring
    }

    /// The ring underneath, mutably.
    pub fn as_ring_mut(&mut self) -> &mut Ring {
        &mut self.ring
    }
}
