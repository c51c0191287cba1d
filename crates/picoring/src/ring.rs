//! The byte ring: monotonic positions over a [`MirrorBuf`].

use std::ptr;

use crate::error::{Error, Result};
use crate::mirror::MirrorBuf;
use crate::pins::Pins;

/// A view of a [`Ring`]'s memory handed out as a raw pointer, for bindings
/// that export memory to another runtime (Python's buffer protocol).
///
/// The ring records every export until [`Ring::release`] is called with it,
/// and never writes over the bytes it shows: pushes that would are refused.
/// The pointer stays valid for `len` bytes as long as the ring is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Export {
    /// Position of the first byte shown.
    pub start: u64,
    /// First byte of the view.
    pub ptr: *mut u8,
    /// Bytes shown.
    pub len: usize,
    /// True for a view of free space that its owner writes into.
    pub writable: bool,
}

// SAFETY: an `Export` is plain data describing a range; it never
// dereferences its pointer, and the ring it came from stays the only owner
// of the memory.
unsafe impl Send for Export {}
// SAFETY: as above: shared references only read the numbers.
unsafe impl Sync for Export {}

/// Where an idle ring restarts in its memory (see `Ring::rewind_if_idle`).
const REWIND_OFFSET: usize = 2048;

/// A byte ring buffer whose readable bytes are always one contiguous slice.
///
/// Positions are monotonic 64-bit counters: `head` is where the next byte is
/// written, `tail` where the next byte is read, `len() == head - tail`, and
/// the whole capacity is usable.
///
/// ```
/// use picoring::Ring;
///
/// let mut ring = Ring::with_capacity(8).unwrap();
/// assert!(ring.push_slice(b"abcdef"));
/// let mut out = [0u8; 4];
/// assert_eq!(ring.pop_into(&mut out), 4);
/// // This push wraps past the end of the memory...
/// assert!(ring.push_slice(b"ghijk"));
/// // ...yet the readable bytes are one slice.
/// assert_eq!(ring.as_slice(), b"efghijk");
/// assert_eq!(ring.capacity(), 8);
/// ```
#[derive(Debug)]
pub struct Ring {
    buf: MirrorBuf,
    /// Logical capacity: `1 ..= buf.len()`.
    capacity: usize,
    /// Write position. Invariant: `tail <= head` and
    /// `head - min(tail, pins.oldest()) <= capacity`.
    head: u64,
    /// Read position.
    tail: u64,
    /// Memory offsets (`< buf.len()`) of `head` and `tail`, kept up to date
    /// so that no operation divides. Invariant:
    /// `(tail_off + len()) % buf.len() == head_off`. They follow the
    /// positions, except that an idle ring (empty, no live export, nothing
    /// handed out for writing) restarts at offset 0: see [`Ring::rewind_if_idle`].
    head_off: usize,
    tail_off: usize,
    /// Highest position handed out for writing by [`Ring::writable_slice`]
    /// or a writable export: `advance_head` may publish up to here, never
    /// beyond, so bytes that nobody wrote are never shown as new.
    granted: u64,
    pins: Pins,
}

impl Ring {
    /// A ring that holds exactly `capacity` bytes. Memory is rounded up to
    /// whole pages and mapped twice.
    ///
    /// # Errors
    /// [`Error::ZeroCapacity`], [`Error::CapacityTooLarge`], or
    /// [`Error::Os`] when the system cannot give the memory.
    pub fn with_capacity(capacity: usize) -> Result<Ring> {
        let buf = MirrorBuf::new(capacity)?;
        Ok(Ring {
            buf,
            capacity,
            head: 0,
            tail: 0,
            head_off: 0,
            tail_off: 0,
            granted: 0,
            pins: Pins::default(),
        })
    }

    /// The most bytes the ring holds.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes of memory behind the ring (capacity rounded up to pages).
    pub fn memory_len(&self) -> usize {
        self.buf.len()
    }

    /// Bytes readable now.
    #[inline]
    pub fn len(&self) -> usize {
        (self.head - self.tail) as usize
    }

    /// True when nothing is readable.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head == self.tail
    }

    /// True when `len() == capacity()`.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity
    }

    /// The write position: bytes ever published.
    #[inline]
    pub fn head(&self) -> u64 {
        self.head
    }

    /// The read position: bytes ever consumed.
    #[inline]
    pub fn tail(&self) -> u64 {
        self.tail
    }

    /// True if this is a child process whose copy of the ring could not be
    /// made at `fork()`: the ring must not be used.
    pub fn is_lost(&self) -> bool {
        self.buf.is_lost()
    }

    /// The lowest position still in use, by the reader or a live view.
    #[inline]
    fn floor(&self) -> u64 {
        match self.pins.oldest() {
            Some(p) if p < self.tail => p,
            _ => self.tail,
        }
    }

    /// Space from `head` on that nothing uses: what a writable view may
    /// cover.
    #[inline]
    fn room(&self) -> usize {
        self.capacity - (self.head - self.floor()) as usize
    }

    /// Bytes a push can take now: the capacity minus what is readable and
    /// what live views still show; 0 while a writable view is alive.
    ///
    /// ```
    /// let mut ring = picoring::Ring::with_capacity(10).unwrap();
    /// ring.push_slice(b"abc");
    /// assert_eq!(ring.free(), 7);
    /// ```
    #[inline]
    pub fn free(&self) -> usize {
        if self.head < self.pins.fence() {
            0
        } else {
            self.room()
        }
    }

    /// Pointer to the byte at memory offset `off` (`< buf.len()`).
    #[inline]
    fn ptr_at(&self, off: usize) -> *mut u8 {
        debug_assert!(off < self.buf.len());
        // SAFETY: `off < buf.len()`, so the pointer stays inside the first
        // half of the mapping.
        unsafe { self.buf.as_ptr().add(off) }
    }

    /// `off + n` reduced into the first half; `off < buf.len()` and
    /// `n <= buf.len()`.
    #[inline]
    fn wrapped(&self, off: usize, n: usize) -> usize {
        let size = self.buf.len();
        debug_assert!(off < size && n <= size);
        let o = off + n;
        if o >= size {
            o - size
        } else {
            o
        }
    }

    #[inline]
    fn check_offsets(&self) {
        debug_assert_eq!(
            (self.tail_off + self.len()) % self.buf.len(),
            self.head_off,
            "offsets out of step with positions"
        );
    }

    #[inline]
    fn bump_head(&mut self, n: usize) {
        self.head += n as u64;
        self.head_off = self.wrapped(self.head_off, n);
        self.check_offsets();
    }

    #[inline]
    fn bump_tail(&mut self, n: usize) {
        self.tail += n as u64;
        self.tail_off = self.wrapped(self.tail_off, n);
        self.check_offsets();
        self.rewind_if_idle();
    }

    /// When the ring is empty, no export is live and nothing is handed out
    /// for writing, no byte of its memory is in use: reading and writing
    /// restart near the start of the memory. A ring that is drained
    /// regularly then keeps reusing the same, cache-warm pages instead of
    /// walking through all of its memory. Positions are unaffected.
    ///
    /// The restart point is half a page in, not 0: buffers that data is
    /// copied to or from (Python `bytes`, large allocations) mostly start a
    /// few dozen bytes past a page boundary, and a copy whose source and
    /// destination sit at nearly the same offset within their pages ("4K
    /// aliasing") runs many times slower on x86.
    #[inline]
    fn rewind_if_idle(&mut self) {
        if self.head == self.tail && self.granted <= self.head && self.pins.is_empty() {
            let start = REWIND_OFFSET % self.buf.len();
            self.head_off = start;
            self.tail_off = start;
        }
    }

    /// True when the readable bytes cross the end of the memory and rely on
    /// the mirror to be one slice (for tests and benchmarks that must be
    /// sure they measure wrapped data).
    ///
    /// ```
    /// let mut ring = picoring::Ring::with_capacity(picoring::page_size()).unwrap();
    /// let size = ring.memory_len();
    /// ring.push_slice(&vec![0; size - 1]);
    /// ring.advance_tail(size - 2).unwrap(); // one byte stays: no rewind
    /// ring.push_slice(b"wraps");
    /// assert!(ring.is_wrapped());
    /// assert_eq!(&ring.as_slice()[1..], b"wraps");
    /// ```
    pub fn is_wrapped(&self) -> bool {
        self.tail_off + self.len() > self.buf.len()
    }

    /// Copies `data` to `head` and publishes it. The caller has checked
    /// `data.len() <= free()`.
    #[inline]
    fn write_at_head(&mut self, data: &[u8]) {
        debug_assert!(data.len() <= self.room());
        // The destination starts in the first half and spans at most
        // `capacity <= buf.len()` bytes, so it lies inside the mirror. It is
        // free space (past `head`, short of the floor), which no slice of
        // ours borrows and no live export shows (the caller checked `free()`).
        // SAFETY: in bounds and unaliased as above; `&mut self` means `data`
        // cannot be a borrow of the ring.
        unsafe { ptr::copy_nonoverlapping(data.as_ptr(), self.ptr_at(self.head_off), data.len()) };
        self.buf.sync(self.head_off, data.len());
        self.bump_head(data.len());
        self.granted = self.head;
    }

    /// Appends one byte; false (and no change) if there is no room.
    ///
    /// ```
    /// let mut ring = picoring::Ring::with_capacity(1).unwrap();
    /// assert!(ring.push(7));
    /// assert!(!ring.push(8));
    /// assert_eq!(ring.pop(), Some(7));
    /// ```
    #[inline]
    pub fn push(&mut self, byte: u8) -> bool {
        if self.free() == 0 {
            return false;
        }
        // SAFETY: `free() >= 1`, so the byte at `head` is free space inside
        // the mapping (see `write_at_head`).
        unsafe { *self.ptr_at(self.head_off) = byte };
        self.buf.sync(self.head_off, 1);
        self.bump_head(1);
        self.granted = self.head;
        true
    }

    /// Appends all of `data`, or nothing if it does not fit.
    ///
    /// ```
    /// let mut ring = picoring::Ring::with_capacity(4).unwrap();
    /// assert!(ring.push_slice(b"abc"));
    /// assert!(!ring.push_slice(b"de"));
    /// assert_eq!(ring.as_slice(), b"abc");
    /// ```
    #[inline]
    pub fn push_slice(&mut self, data: &[u8]) -> bool {
        if data.len() > self.free() {
            return false;
        }
        self.write_at_head(data);
        true
    }

    /// Appends as much of `data` as fits; returns how many bytes went in.
    ///
    /// ```
    /// let mut ring = picoring::Ring::with_capacity(4).unwrap();
    /// assert_eq!(ring.push_partial(b"abcdef"), 4);
    /// assert_eq!(ring.as_slice(), b"abcd");
    /// ```
    #[inline]
    pub fn push_partial(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        self.write_at_head(&data[..n]);
        n
    }

    /// Appends `data`, dropping the oldest bytes to make room (keep-latest).
    /// Data longer than the capacity keeps its last `capacity()` bytes.
    /// Returns how many bytes were dropped, old and new.
    ///
    /// # Errors
    /// [`Error::Pinned`] if it would drop bytes that a live export shows or
    /// write where a writable export is; nothing changes then.
    ///
    /// ```
    /// let mut ring = picoring::Ring::with_capacity(4).unwrap();
    /// ring.push_slice(b"abc");
    /// assert_eq!(ring.push_overwrite(b"de").unwrap(), 1);
    /// assert_eq!(ring.as_slice(), b"bcde");
    /// assert_eq!(ring.push_overwrite(b"0123456").unwrap(), 7);
    /// assert_eq!(ring.as_slice(), b"3456");
    /// ```
    pub fn push_overwrite(&mut self, data: &[u8]) -> Result<usize> {
        if self.head < self.pins.fence() {
            return Err(Error::Pinned {
                what: "push_overwrite",
            });
        }
        let skipped = data.len().saturating_sub(self.capacity);
        let data = &data[skipped..];
        let new_head = self.head + data.len() as u64;
        let needed_tail = new_head.saturating_sub(self.capacity as u64);
        if self.pins.oldest().is_some_and(|p| p < needed_tail) {
            return Err(Error::Pinned {
                what: "push_overwrite",
            });
        }
        let dropped = needed_tail.saturating_sub(self.tail) as usize;
        if needed_tail > self.tail {
            self.bump_tail((needed_tail - self.tail) as usize);
        }
        self.write_at_head(data);
        Ok(skipped + dropped)
    }

    /// Removes and returns the oldest byte.
    #[inline]
    pub fn pop(&mut self) -> Option<u8> {
        if self.is_empty() {
            return None;
        }
        // SAFETY: the ring is not empty, so the byte at `tail` is readable
        // and inside the mapping.
        let b = unsafe { *self.ptr_at(self.tail_off) };
        self.bump_tail(1);
        Some(b)
    }

    /// Moves up to `out.len()` of the oldest bytes into `out`; returns how
    /// many.
    #[inline]
    pub fn pop_into(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len());
        out[..n].copy_from_slice(&self.as_slice()[..n]);
        self.bump_tail(n);
        n
    }

    /// Like [`Ring::pop_into`], into memory that may be uninitialised (a
    /// buffer about to become a Python `bytes`, say): the first `n` elements
    /// of `out` are initialised on return, where `n` is the count returned.
    ///
    /// ```
    /// use std::mem::MaybeUninit;
    /// let mut ring = picoring::Ring::with_capacity(8).unwrap();
    /// ring.push_slice(b"abc");
    /// let mut out = [MaybeUninit::<u8>::uninit(); 2];
    /// assert_eq!(ring.pop_into_uninit(&mut out), 2);
    /// // SAFETY: the first two elements were initialised by the call.
    /// assert_eq!(unsafe { [out[0].assume_init(), out[1].assume_init()] }, *b"ab");
    /// ```
    #[inline]
    pub fn pop_into_uninit(&mut self, out: &mut [std::mem::MaybeUninit<u8>]) -> usize {
        let n = out.len().min(self.len());
        // The source is `n <= len()` readable bytes (see `as_slice`); the
        // destination is `n` elements of `out`, exclusive through `&mut`.
        // SAFETY: in bounds, non-overlapping; `MaybeUninit<u8>` is a `u8`.
        unsafe {
            ptr::copy_nonoverlapping(self.ptr_at(self.tail_off), out.as_mut_ptr().cast::<u8>(), n)
        };
        self.bump_tail(n);
        n
    }

    /// Everything readable, as one slice, however it wraps. O(1).
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        // `[tail, head)` starts in the first half and is at most
        // `capacity <= buf.len()` long; the memory starts zeroed and `head`
        // only passes bytes copied in or handed out for writing.
        // SAFETY: in bounds and initialised as above; `&self` excludes every
        // `&mut` method, so nothing writes these bytes meanwhile.
        unsafe { std::slice::from_raw_parts(self.ptr_at(self.tail_off), self.len()) }
    }

    /// The free space after `head`, as one slice, for writing in place;
    /// publish what was written with [`Ring::advance_head`].
    ///
    /// ```
    /// let mut ring = picoring::Ring::with_capacity(8).unwrap();
    /// let space = ring.writable_slice();
    /// space[..2].copy_from_slice(b"hi");
    /// ring.advance_head(2).unwrap();
    /// assert_eq!(ring.as_slice(), b"hi");
    /// ```
    pub fn writable_slice(&mut self) -> &mut [u8] {
        let n = self.free();
        self.granted = self.granted.max(self.head + n as u64);
        // SAFETY: `[head, head + free)` lies inside the mapping (as in
        // `write_at_head`) and is free space: no slice of ours and no live
        // export covers it; `&mut self` keeps it exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr_at(self.head_off), n) }
    }

    /// Publishes `n` bytes written through [`Ring::writable_slice`] or a
    /// writable export.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `n` is more than was handed out for writing
    /// and not yet published; nothing changes then.
    pub fn advance_head(&mut self, n: usize) -> Result<()> {
        let limit = (self.granted.saturating_sub(self.head) as usize).min(self.room());
        if n > limit {
            return Err(Error::OutOfRange {
                arg: "n",
                requested: n,
                limit,
                what: "the bytes handed out by a writable view and not yet published",
            });
        }
        self.buf.sync(self.head_off, n);
        self.bump_head(n);
        Ok(())
    }

    /// Consumes `n` readable bytes.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `n > len()`; nothing changes then.
    ///
    /// ```
    /// let mut ring = picoring::Ring::with_capacity(8).unwrap();
    /// ring.push_slice(b"abc");
    /// ring.advance_tail(2).unwrap();
    /// assert_eq!(ring.as_slice(), b"c");
    /// assert!(ring.advance_tail(2).is_err());
    /// ```
    pub fn advance_tail(&mut self, n: usize) -> Result<()> {
        if n > self.len() {
            return Err(Error::OutOfRange {
                arg: "n",
                requested: n,
                limit: self.len(),
                what: "the readable length",
            });
        }
        self.bump_tail(n);
        Ok(())
    }

    /// Consumes everything readable.
    pub fn clear(&mut self) {
        self.tail = self.head;
        self.tail_off = self.head_off;
        self.rewind_if_idle();
    }

    /// Exports the readable bytes. Until [`Ring::release`] is called with
    /// the result, the ring never writes over them.
    pub fn export_readable(&mut self) -> Export {
        self.pins.add(self.tail);
        Export {
            start: self.tail,
            ptr: self.ptr_at(self.tail_off),
            len: self.len(),
            writable: false,
        }
    }

    /// Exports `n` bytes of free space (all of it for `None`) for writing in
    /// place; publish with [`Ring::advance_head`]. Until released, pushes
    /// are refused and the bytes are never written by the ring.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `n` exceeds the free space.
    pub fn export_writable(&mut self, n: Option<usize>) -> Result<Export> {
        let room = self.room();
        let n = n.unwrap_or(room);
        if n > room {
            return Err(Error::OutOfRange {
                arg: "n",
                requested: n,
                limit: room,
                what: "the free space",
            });
        }
        let end = self.head + n as u64;
        self.pins.add(self.head);
        self.pins.add_fence(end);
        self.granted = self.granted.max(end);
        Ok(Export {
            start: self.head,
            ptr: self.ptr_at(self.head_off),
            len: n,
            writable: true,
        })
    }

    /// Ends an export. Returns false if it was not live (nothing changes).
    pub fn release(&mut self, export: &Export) -> bool {
        if export.writable && !self.pins.remove_fence(export.start + export.len as u64) {
            return false;
        }
        let found = self.pins.remove(export.start);
        self.rewind_if_idle();
        found
    }

    /// Number of live exports.
    pub fn live_exports(&self) -> usize {
        self.pins.count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_capacity_is_usable_and_exact() {
        let mut r = Ring::with_capacity(1000).unwrap();
        assert_eq!(r.capacity(), 1000);
        assert!(r.memory_len() >= 1000);
        assert!(r.push_slice(&[1; 1000]));
        assert!(r.is_full());
        assert!(!r.push(1));
    }

    #[test]
    fn readable_view_is_contiguous_across_the_wrap() {
        let mut r = Ring::with_capacity(4096).unwrap();
        let page = r.memory_len();
        assert!(r.push_slice(&vec![0; page - 10]));
        r.advance_tail(page - 11).unwrap();
        let data: Vec<u8> = (0..100u8).collect();
        assert!(r.push_slice(&data));
        r.advance_tail(1).unwrap();
        assert!(r.is_wrapped());
        assert_eq!(r.as_slice(), &data[..]);
    }

    #[test]
    fn an_idle_ring_restarts_near_the_start_of_its_memory() {
        let mut r = Ring::with_capacity(4096).unwrap();
        r.push_slice(b"abc");
        r.pop_into(&mut [0; 3]);
        r.push_slice(b"abc");
        let start = r.as_slice().as_ptr();
        r.pop_into(&mut [0; 3]);
        r.push_slice(b"def");
        assert_eq!(r.as_slice().as_ptr(), start, "drained: rewound");
        let e = r.export_readable();
        r.clear();
        r.push_slice(b"ghi");
        assert_ne!(r.as_slice().as_ptr(), start, "a live view keeps its bytes");
        r.release(&e);
        assert_eq!(r.tail(), 9);
        assert_eq!(r.head(), 12);
    }

    #[test]
    fn readable_export_blocks_pushes_that_would_overwrite_it() {
        let mut r = Ring::with_capacity(8).unwrap();
        r.push_slice(b"abcdefgh");
        let e = r.export_readable();
        r.clear();
        assert_eq!(r.free(), 0, "consumed bytes are still shown");
        assert!(!r.push(1));
        assert!(r.push_overwrite(b"x").is_err());
        assert!(r.release(&e));
        assert!(!r.release(&e));
        assert_eq!(r.free(), 8);
    }

    #[test]
    fn writable_export_fences_pushes_and_limits_publishing() {
        let mut r = Ring::with_capacity(8).unwrap();
        let e = r.export_writable(Some(4)).unwrap();
        assert!(!r.push(1));
        assert!(r.advance_head(5).is_err());
        r.advance_head(3).unwrap();
        assert!(!r.push(1), "the view still covers byte 3");
        r.advance_head(1).unwrap();
        assert!(r.push(1));
        assert!(r.release(&e));
        assert!(r.advance_head(1).is_err(), "nothing left handed out");
        assert!(r.export_writable(Some(4)).is_err());
    }
}
