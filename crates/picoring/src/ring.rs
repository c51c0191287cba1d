//! The byte ring: monotonic positions over a [`MirrorBuf`], and the one
//! state machine of views and grants (guarantees G2 and G3).
//! See [`Ring`] for the rules.

use std::ptr;

use crate::error::{Error, Result};
use crate::mirror::MirrorBuf;
use crate::pins::Pins;

/// A live readable export of a [`Ring`]: a view of its readable bytes
/// handed to another runtime (Python's buffer protocol, say) as a raw
/// pointer.
///
/// Until it is handed back to [`Ring::release`], the ring never writes
/// over the bytes it shows. It is not `Clone`: each export is released
/// once.
#[must_use = "an export pins its bytes until it is released"]
#[derive(Debug, PartialEq, Eq)]
pub struct ReadExport {
    /// Position of the first byte shown (for a token made by `from_raw`:
    /// its low bits, which the ring completes).
    start: u64,
    /// The ring's id, or 0 for a token made by `from_raw`.
    ring: u64,
    ptr: *const u8,
    len: usize,
}

// SAFETY: an export describes a range of the ring's memory; it never
// dereferences its pointer itself, and the ring stays the only owner.
unsafe impl Send for ReadExport {}
// SAFETY: as above: shared references only read the numbers.
unsafe impl Sync for ReadExport {}

impl ReadExport {
    /// First byte shown. Valid for [`len`](Self::len) bytes while the ring
    /// is alive and the export is not released.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// Bytes shown.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the view shows no byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The export as one word, for runtimes that keep one per view
    /// (`Py_buffer.internal`); [`ReadExport::from_raw`] turns it back. On
    /// targets whose words are narrower than positions, the word holds the
    /// position's low bits: a live view never lags the head by more than
    /// the capacity, so the ring completes them exactly.
    pub fn into_raw(self) -> usize {
        self.start as usize
    }

    /// Turns a word made by [`ReadExport::into_raw`] back into the export,
    /// to release it. The result only serves [`Ring::release`]: its pointer
    /// is null and its length 0.
    ///
    /// # Safety
    /// `raw` must come from `into_raw` on an export of the ring it will be
    /// released to, and each such word must be turned back at most once:
    /// releasing an export twice, or to another ring, would unpin bytes
    /// that a live view still shows.
    pub unsafe fn from_raw(raw: usize) -> ReadExport {
        ReadExport {
            start: raw as u64,
            ring: 0,
            ptr: ptr::null(),
            len: 0,
        }
    }
}

/// The open grant of a [`Ring`], exported: free space handed out for
/// writing in place, as a raw pointer, for runtimes that write through it
/// (a socket's `recv_into`, say).
///
/// Publish what was written with [`Ring::advance_head`]; hand the export
/// back to [`Ring::release_grant`] when the view is gone (which abandons
/// the grant if it was not published).
#[must_use = "an open grant refuses pushes until it is published or released"]
#[derive(Debug, PartialEq, Eq)]
pub struct GrantExport {
    start: u64,
    seq: u64,
    /// The ring's id.
    ring: u64,
    ptr: *mut u8,
    len: usize,
}

// SAFETY: as for `ReadExport`.
unsafe impl Send for GrantExport {}
// SAFETY: as for `ReadExport`.
unsafe impl Sync for GrantExport {}

impl GrantExport {
    /// First byte of the granted space. Valid for [`len`](Self::len) bytes
    /// while the ring is alive; the ring writes none of them while the
    /// grant is open.
    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Bytes granted.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a grant of no byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The open grant, borrowed: free space of a [`Ring`] to write into in
/// place. [`commit`](WriteChunk::commit) publishes a prefix of it; dropping
/// the chunk without committing abandons the grant.
///
/// ```
/// let mut ring = picoring::Ring::with_capacity(8).unwrap();
/// let mut chunk = ring.grant(Some(4)).unwrap();
/// chunk[..2].copy_from_slice(b"hi");
/// chunk.commit(2).unwrap();
/// assert_eq!(ring.as_slice(), b"hi");
/// ```
#[derive(Debug)]
pub struct WriteChunk<'a> {
    ring: &'a mut Ring,
    seq: u64,
    ptr: *mut u8,
    len: usize,
}

impl WriteChunk<'_> {
    /// Publishes the first `n` bytes of the chunk and ends the grant.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `n` is more than the chunk; the grant is
    /// then abandoned (the chunk is gone) and nothing is published.
    pub fn commit(self, n: usize) -> Result<()> {
        self.ring.advance_head(n)
    }
}

impl std::ops::Deref for WriteChunk<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // The chunk is the open grant: `len` bytes of the ring's free space,
        // initialised (the memory starts zeroed).
        // SAFETY: nothing else reads or writes them while the chunk
        // mutably borrows the ring.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl std::ops::DerefMut for WriteChunk<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes it exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for WriteChunk<'_> {
    fn drop(&mut self) {
        self.ring.end_grant(self.seq);
    }
}

/// The open grant.
#[derive(Debug, Clone, Copy)]
struct Grant {
    /// Bytes granted from `head`. Invariant: `len <= room()`.
    len: usize,
    /// Tells this grant from earlier ones, whose exports may still be live.
    seq: u64,
}

/// Where an idle ring restarts in its memory (see `Ring::rewind_if_idle`).
const REWIND_OFFSET: usize = 2048;

/// A byte ring buffer whose readable bytes are always one contiguous slice.
///
/// Positions are monotonic 64-bit counters: `head` is where the next byte is
/// written, `tail` where the next byte is read, `len() == head - tail`, and
/// the whole capacity is usable.
///
/// # Views and grants
///
/// Memory handed to someone else is either a *readable export* (a view of
/// readable bytes) or the *grant* (free space handed out for writing in
/// place). The rules, which every type of the crate builds on:
///
/// ```text
///                    export_readable()          release(ReadExport)
///   readable:  ──────────────────────────▶ pin ──────────────────────▶ unpinned
///
///                grant(n) / export_grant(n)
///   grant:   none ───────────────────────────▶ open(n) ──┐
///             ▲  ◀── advance_head(k), k <= n: k published │
///             └───── abandoned: the chunk or the export ◀─┘
///                    released before publishing
/// ```
///
/// * Every live export pins its start position: the writer never wraps
///   onto it, so the bytes it shows never change (`room() = capacity -
///   (head - min(tail, oldest pin))`). Consuming stays allowed; the space
///   comes back when the view goes.
/// * At most one grant is open. It covers `[head, head + n)`; while it is
///   open, pushes are refused (they would write into it) and asking for a
///   second grant fails with [`Error::GrantOpen`].
/// * `advance_head(k)` publishes `k <= n` bytes of the open grant and ends
///   it. Nothing else ever publishes bytes that were not pushed: with no
///   grant open only `advance_head(0)` is accepted (and does nothing).
/// * Releasing the grant's export (or dropping its [`WriteChunk`]) before
///   publishing abandons it. Releasing it after publishing only unpins it.
/// * A call that is refused changes nothing, and so does an empty push.
/// * Exports are tokens ([`ReadExport`], [`GrantExport`]) that the release
///   consumes: none can be released twice.
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
    /// Write position. Invariants: `tail <= head`, and
    /// `head + grant.len - min(tail, pins.oldest()) <= capacity`.
    head: u64,
    /// Read position.
    tail: u64,
    /// Memory offsets (`< buf.len()`) of `head` and `tail`, kept up to date
    /// so that no operation divides. Invariant:
    /// `(tail_off + len()) % buf.len() == head_off`. They follow the
    /// positions, except that an idle ring restarts near the start of its
    /// memory: see [`Ring::rewind_if_idle`].
    head_off: usize,
    tail_off: usize,
    /// The open grant, if any: `[head, head + len)`.
    grant: Option<Grant>,
    /// Grants ever opened (numbers them).
    grants: u64,
    /// Start positions of live exports.
    pins: Pins,
    /// Tells this ring's exports from other rings' (never 0).
    id: u64,
    /// Every count a typed ring passes is a multiple of this (1 for byte
    /// rings); the memory is a multiple of it, and so is the restart point
    /// of [`Ring::rewind_if_idle`], so items never straddle the end of the
    /// memory and stay aligned.
    unit: usize,
}

/// The position whose low `bits` bits are `low` and which lags `head` by
/// less than `2^bits` (a pinned position lags the head by at most the
/// capacity, which is far less).
fn complete_position(head: u64, low: u64, bits: u32) -> u64 {
    let mask = if bits >= 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    };
    head - (head.wrapping_sub(low) & mask)
}

/// Ids of rings and lists, for their exports.
pub(crate) fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Ring {
    /// A ring that holds exactly `capacity` bytes. Memory is rounded up to
    /// whole pages and mapped twice.
    ///
    /// # Errors
    /// [`Error::ZeroCapacity`], [`Error::CapacityTooLarge`], or
    /// [`Error::Os`] when the system cannot give the memory.
    pub fn with_capacity(capacity: usize) -> Result<Ring> {
        Self::with_unit(capacity, 1)
    }

    /// A ring of `capacity` bytes whose memory is a whole number of `unit`s
    /// (`capacity` is one too: the caller checks).
    pub(crate) fn with_unit(capacity: usize, unit: usize) -> Result<Ring> {
        debug_assert!(unit > 0 && capacity % unit == 0);
        let buf = MirrorBuf::with_unit(capacity, unit)?;
        let ring = Ring {
            buf,
            capacity,
            head: 0,
            tail: 0,
            head_off: 0,
            tail_off: 0,
            grant: None,
            grants: 0,
            pins: Pins::default(),
            id: next_id(),
            unit,
        };
        ring.note_live();
        Ok(ring)
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

    /// First byte of the ring's memory: `2 * memory_len()` bytes (the two
    /// halves) from here are the ring's.
    pub fn memory_start(&self) -> *const u8 {
        self.buf.as_ptr()
    }

    /// True if the `len` bytes at `p` touch the ring's memory (both
    /// halves). A slice that does must not be passed to a method that
    /// writes the ring (`push_slice`, say): the ring may write where it
    /// points. Bindings that receive buffers from elsewhere (a view kept
    /// after it was published) check with this and copy first.
    pub fn overlaps(&self, p: *const u8, len: usize) -> bool {
        let (a, b) = (p as usize, (p as usize).saturating_add(len));
        let base = self.buf.as_ptr() as usize;
        len > 0 && a < base + 2 * self.buf.len() && b > base
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

    /// Bytes of the open grant, or `None` when no grant is open.
    #[inline]
    pub fn grant_len(&self) -> Option<usize> {
        self.grant.map(|g| g.len)
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

    /// Space from `head` on that nothing uses: what a grant may cover.
    #[inline]
    fn room(&self) -> usize {
        self.capacity - (self.head - self.floor()) as usize
    }

    /// Bytes a push can take now: the capacity minus what is readable and
    /// what live views still show; 0 while a grant is open.
    ///
    /// ```
    /// let mut ring = picoring::Ring::with_capacity(10).unwrap();
    /// ring.push_slice(b"abc");
    /// assert_eq!(ring.free(), 7);
    /// ```
    #[inline]
    pub fn free(&self) -> usize {
        if self.grant.is_some() {
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
    fn check_invariants(&self) {
        debug_assert!(self.tail <= self.head);
        debug_assert_eq!(
            (self.tail_off + self.len()) % self.buf.len(),
            self.head_off,
            "offsets out of step with positions"
        );
        debug_assert!(
            self.head + self.grant.map_or(0, |g| g.len) as u64 - self.floor()
                <= self.capacity as u64,
            "the writer reached bytes still in use"
        );
    }

    /// Tells the fork handler which bytes a child process can see: from
    /// the floor (the oldest pin or the tail) to the head, then the open
    /// grant. Called after every change of positions, pins or grant, so
    /// that `fork()` copies only live data, never free space.
    #[inline]
    fn note_live(&self) {
        self.check_invariants();
        let grant = self.grant.map_or(0, |g| g.len);
        if self.pins.is_empty() {
            // The common case: the live bytes run from the tail.
            self.buf
                .set_live(self.tail_off, (self.head - self.tail) as usize, grant);
            return;
        }
        let floor = self.floor();
        let back = (self.tail - floor) as usize;
        let off = if back <= self.tail_off {
            self.tail_off - back
        } else {
            self.tail_off + self.buf.len() - back
        };
        self.buf.set_live(off, (self.head - floor) as usize, grant);
    }

    #[inline]
    fn bump_head(&mut self, n: usize) {
        self.head += n as u64;
        self.head_off = self.wrapped(self.head_off, n);
        self.note_live();
    }

    #[inline]
    fn bump_tail(&mut self, n: usize) {
        self.tail += n as u64;
        self.tail_off = self.wrapped(self.tail_off, n);
        self.rewind_if_idle();
        self.note_live();
    }

    /// When the ring is empty, no export is live and no grant is open, no
    /// byte of its memory is in use: reading and writing restart near the
    /// start of the memory. A ring that is drained regularly then keeps
    /// reusing the same, cache-warm pages instead of walking through all of
    /// its memory. Positions are unaffected.
    ///
    /// The restart point is half a page in, not 0: buffers that data is
    /// copied to or from (Python `bytes`, large allocations) mostly start a
    /// few dozen bytes past a page boundary, and a copy whose source and
    /// destination sit at nearly the same offset within their pages ("4K
    /// aliasing") runs many times slower on x86.
    #[inline]
    fn rewind_if_idle(&mut self) {
        if self.head == self.tail && self.grant.is_none() && self.pins.is_empty() {
            let start = REWIND_OFFSET / self.unit * self.unit % self.buf.len();
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
    /// that no grant is open and `data.len() <= room()`.
    #[inline]
    fn write_at_head(&mut self, data: &[u8]) {
        debug_assert!(self.grant.is_none() && data.len() <= self.room());
        // The destination starts in the first half and spans at most
        // `capacity <= buf.len()` bytes, so it lies inside the mirror. It is
        // free space (past `head`, short of the floor), which no slice of
        // ours borrows, no live export shows and no grant covers.
        // SAFETY: in bounds and unaliased as above; `&mut self` means `data`
        // cannot be a borrow of the ring.
        unsafe { ptr::copy_nonoverlapping(data.as_ptr(), self.ptr_at(self.head_off), data.len()) };
        self.buf.sync(self.head_off, data.len());
        self.bump_head(data.len());
    }

    /// Appends one byte; false (and no change) if there is no room or a
    /// grant is open.
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
        // SAFETY: `free() >= 1` and no grant is open, so the byte at `head`
        // is free space inside the mapping (see `write_at_head`).
        unsafe { *self.ptr_at(self.head_off) = byte };
        self.buf.sync(self.head_off, 1);
        self.bump_head(1);
        true
    }

    /// Appends all of `data`, or nothing if it does not fit or a grant is
    /// open. Empty data always succeeds and changes nothing.
    ///
    /// ```
    /// let mut ring = picoring::Ring::with_capacity(4).unwrap();
    /// assert!(ring.push_slice(b"abc"));
    /// assert!(!ring.push_slice(b"de"));
    /// assert_eq!(ring.as_slice(), b"abc");
    /// ```
    #[inline]
    pub fn push_slice(&mut self, data: &[u8]) -> bool {
        if data.is_empty() {
            return true;
        }
        if data.len() > self.free() {
            return false;
        }
        self.write_at_head(data);
        true
    }

    /// Appends as much of `data` as fits; returns how many bytes went in
    /// (0 while a grant is open).
    ///
    /// ```
    /// let mut ring = picoring::Ring::with_capacity(4).unwrap();
    /// assert_eq!(ring.push_partial(b"abcdef"), 4);
    /// assert_eq!(ring.as_slice(), b"abcd");
    /// ```
    #[inline]
    pub fn push_partial(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n > 0 {
            self.write_at_head(&data[..n]);
        }
        n
    }

    /// Appends `data`, dropping the oldest bytes to make room (keep-latest).
    /// Data longer than the capacity keeps its last `capacity()` bytes.
    /// Returns how many bytes were dropped, old and new.
    ///
    /// # Errors
    /// [`Error::Pinned`] if it would drop bytes that a live export shows,
    /// [`Error::GrantOpen`] while a grant is open; nothing changes then.
    /// Empty data changes nothing and returns 0.
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
        if data.is_empty() {
            return Ok(0);
        }
        if let Some(g) = self.grant {
            return Err(self.grant_open("push_overwrite", g));
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
        if dropped > 0 {
            self.bump_tail(dropped);
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
        // only passes bytes copied in or published from the grant.
        // SAFETY: in bounds and initialised as above; `&self` excludes every
        // `&mut` method, so nothing writes these bytes meanwhile.
        unsafe { std::slice::from_raw_parts(self.ptr_at(self.tail_off), self.len()) }
    }

    /// The offset of the first `needle` in the readable bytes
    /// `[start, end)`, counted from the read position, like `bytes.find`:
    /// `end` beyond [`len`](Ring::len) means the end, and `None` if it is
    /// not there (an empty `needle` is found at `start` if `start <= end`
    /// and `start <= len`). O(n) with SIMD (memchr's `memmem`), no copy.
    ///
    /// ```
    /// let mut ring = picoring::Ring::with_capacity(16).unwrap();
    /// ring.push_slice(b"GET / HTTP/1.1\r\n");
    /// assert_eq!(ring.find(b"\r\n", 0, usize::MAX), Some(14));
    /// assert_eq!(ring.find(b"GET", 1, usize::MAX), None);
    /// assert_eq!(ring.find(b"", 16, usize::MAX), Some(16));
    /// assert_eq!(ring.find(b"", 17, usize::MAX), None);
    /// ```
    pub fn find(&self, needle: &[u8], start: usize, end: usize) -> Option<usize> {
        let hay = self.as_slice();
        let end = end.min(hay.len());
        if start > hay.len() || start > end {
            return None;
        }
        let hay = &hay[start..end];
        let at = match needle {
            [] => Some(0),
            [b] => memchr::memchr(*b, hay),
            _ => memchr::memmem::find(hay, needle),
        };
        at.map(|i| i + start)
    }

    /// Opens the grant over `n` bytes of free space (all of it for `None`)
    /// and borrows it as a [`WriteChunk`]: write into it, then
    /// [`commit`](WriteChunk::commit) what was written. Its bytes are
    /// unspecified until written (whatever the memory last held, or zeros).
    ///
    /// # Errors
    /// [`Error::GrantOpen`] while an exported grant is open;
    /// [`Error::OutOfRange`] if `n` exceeds the free space. Nothing changes
    /// then.
    ///
    /// ```
    /// let mut ring = picoring::Ring::with_capacity(8).unwrap();
    /// let chunk = ring.grant(None).unwrap();
    /// assert_eq!(chunk.len(), 8);
    /// drop(chunk); // abandoned: nothing published
    /// assert!(ring.is_empty());
    /// assert!(ring.grant(Some(9)).is_err());
    /// ```
    pub fn grant(&mut self, n: Option<usize>) -> Result<WriteChunk<'_>> {
        let (seq, ptr, len) = self.open_grant(n, "a writable view")?;
        Ok(WriteChunk {
            ring: self,
            seq,
            ptr,
            len,
        })
    }

    /// Opens the grant (see [`Ring::grant`]) and exports it: publish with
    /// [`Ring::advance_head`], hand the export back to
    /// [`Ring::release_grant`] once the view is gone.
    ///
    /// # Errors
    /// As [`Ring::grant`].
    ///
    /// ```
    /// use picoring::{Error, Ring};
    /// let mut ring = Ring::with_capacity(8).unwrap();
    /// let g = ring.export_grant(Some(4)).unwrap();
    /// // SAFETY: the grant's 4 bytes are ours to write.
    /// unsafe { g.as_mut_ptr().copy_from(b"abcd".as_ptr(), 4) };
    /// assert!(matches!(ring.export_grant(Some(1)), Err(Error::GrantOpen { len: 4, .. })));
    /// ring.advance_head(3).unwrap(); // publishes 3 bytes, ends the grant
    /// ring.release_grant(g);
    /// assert_eq!(ring.as_slice(), b"abc");
    /// ```
    pub fn export_grant(&mut self, n: Option<usize>) -> Result<GrantExport> {
        let start = self.head;
        let (seq, ptr, len) = self.open_grant(n, "a second writable view")?;
        self.pins.add(start);
        self.note_live();
        Ok(GrantExport {
            start,
            seq,
            ring: self.id,
            ptr,
            len,
        })
    }

    fn open_grant(
        &mut self,
        n: Option<usize>,
        what: &'static str,
    ) -> Result<(u64, *mut u8, usize)> {
        if let Some(g) = self.grant {
            return Err(self.grant_open(what, g));
        }
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
        self.grants += 1;
        self.grant = Some(Grant {
            len: n,
            seq: self.grants,
        });
        self.note_live();
        Ok((self.grants, self.ptr_at(self.head_off), n))
    }

    /// The error for a call refused because the grant `g` is open.
    fn grant_open(&self, what: &'static str, g: Grant) -> Error {
        Error::GrantOpen {
            what,
            len: g.len,
            publish: "advance_head",
        }
    }

    /// Ends the grant numbered `seq` if it is still open (abandoned: nothing
    /// published).
    fn end_grant(&mut self, seq: u64) -> bool {
        if self.grant.is_some_and(|g| g.seq == seq) {
            self.grant = None;
            self.rewind_if_idle();
            self.note_live();
            return true;
        }
        false
    }

    /// Publishes `n` bytes written into the open grant, and ends it.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `n` is more than the open grant (or `n > 0`
    /// with no grant open); nothing changes then, the grant stays open.
    ///
    /// ```
    /// let mut ring = picoring::Ring::with_capacity(8).unwrap();
    /// assert!(ring.advance_head(1).is_err(), "nothing was handed out");
    /// let g = ring.export_grant(None).unwrap();
    /// assert!(ring.advance_head(9).is_err());
    /// ring.advance_head(2).unwrap();
    /// ring.release_grant(g);
    /// assert_eq!(ring.len(), 2);
    /// ```
    pub fn advance_head(&mut self, n: usize) -> Result<()> {
        let limit = self.grant.map_or(0, |g| g.len);
        if n > limit {
            return Err(Error::OutOfRange {
                arg: "n",
                requested: n,
                limit,
                what: if self.grant.is_some() {
                    "the open writable view"
                } else {
                    "what is handed out for writing (no writable view is open; one released \
                     before it was published is abandoned)"
                },
            });
        }
        if self.grant.take().is_none() {
            return Ok(());
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

    /// Consumes everything readable (an open grant stays open).
    pub fn clear(&mut self) {
        let n = self.len();
        self.bump_tail(n);
    }

    /// Exports the readable bytes. Until [`Ring::release`] is called with
    /// the result, the ring never writes over them.
    ///
    /// ```
    /// let mut ring = picoring::Ring::with_capacity(4).unwrap();
    /// ring.push_slice(b"abcd");
    /// let view = ring.export_readable();
    /// ring.clear(); // consuming is allowed...
    /// assert!(!ring.push(b'x')); // ...but nothing lands on the view
    /// ring.release(view);
    /// assert!(ring.push(b'x'));
    /// ```
    pub fn export_readable(&mut self) -> ReadExport {
        self.pins.add(self.tail);
        self.note_live();
        ReadExport {
            start: self.tail,
            ring: self.id,
            ptr: self.ptr_at(self.tail_off),
            len: self.len(),
        }
    }

    /// Exports the readable bytes from the `skip`th on (the newest
    /// `len() - skip`), pinned as [`Ring::export_readable`] pins.
    ///
    /// ```
    /// let mut ring = picoring::Ring::with_capacity(4).unwrap();
    /// ring.push_slice(b"abcd");
    /// let newest = ring.export_readable_from(2).unwrap();
    /// assert_eq!(newest.len(), 2);
    /// ring.advance_tail(4).unwrap();
    /// assert!(ring.push_slice(b"xy"), "the two oldest bytes are free");
    /// assert!(!ring.push(b'z'), "but not those the export shows");
    /// ring.release(newest);
    /// ```
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `skip > len()`; nothing changes then.
    pub fn export_readable_from(&mut self, skip: usize) -> Result<ReadExport> {
        if skip > self.len() {
            return Err(Error::OutOfRange {
                arg: "n",
                requested: skip,
                limit: self.len(),
                what: "the readable length",
            });
        }
        let start = self.tail + skip as u64;
        self.pins.add(start);
        self.note_live();
        Ok(ReadExport {
            start,
            ring: self.id,
            ptr: self.ptr_at(self.wrapped(self.tail_off, skip)),
            len: self.len() - skip,
        })
    }

    /// Ends a readable export. Returns false, and changes nothing, if it is
    /// another ring's or no live export started where it did.
    pub fn release(&mut self, export: ReadExport) -> bool {
        let start = if export.ring == 0 {
            complete_position(self.head, export.start, usize::BITS)
        } else if export.ring == self.id {
            export.start
        } else {
            return false;
        };
        self.unpin(start)
    }

    /// True if `export` is the open grant (not yet published nor abandoned).
    pub fn is_open_grant(&self, export: &GrantExport) -> bool {
        export.ring == self.id && self.grant.is_some_and(|g| g.seq == export.seq)
    }

    /// Ends an exported grant: abandons it if it is still open (nothing is
    /// published), and unpins its start. Returns true if it was still open;
    /// another ring's export changes nothing.
    pub fn release_grant(&mut self, export: GrantExport) -> bool {
        if export.ring != self.id {
            return false;
        }
        let open = self.end_grant(export.seq);
        self.unpin(export.start);
        open
    }

    fn unpin(&mut self, start: u64) -> bool {
        let found = self.pins.remove(start);
        self.rewind_if_idle();
        self.note_live();
        found
    }

    /// Number of live exports, readable and grant.
    pub fn live_exports(&self) -> usize {
        self.pins.count()
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        if self.head == 0 && self.grants == 0 {
            // Nothing was ever written or handed out for writing: the
            // memory is still all zeros and need not be wiped for reuse.
            self.buf.set_untouched();
        }
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
        // Capacity = memory (a page; 64 KiB on Windows), so that it wraps.
        let mut r = Ring::with_capacity(crate::page_size()).unwrap();
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
        assert!(r.release(e));
        assert_eq!(r.tail(), 9);
        assert_eq!(r.head(), 12);
    }

    #[test]
    fn readable_export_blocks_pushes_that_would_overwrite_it() {
        let mut r = Ring::with_capacity(8).unwrap();
        r.push_slice(b"abcdefgh");
        let e = r.export_readable();
        let e2 = r.export_readable();
        r.clear();
        assert_eq!(r.free(), 0, "consumed bytes are still shown");
        assert!(!r.push(1));
        assert!(matches!(r.push_overwrite(b"x"), Err(Error::Pinned { .. })));
        assert!(r.release(e));
        assert_eq!(r.free(), 0, "the second view still shows them");
        assert!(r.release(e2));
        // SAFETY: nothing started at 0 is pinned any more: a stray release
        // is refused rather than unpinning something else.
        assert!(!r.release(unsafe { ReadExport::from_raw(0) }));
        let mut other = Ring::with_capacity(8).unwrap();
        let og = other.export_grant(Some(1)).unwrap();
        assert!(!r.release_grant(og), "another ring's grant changes nothing");
        assert_eq!(other.grant_len(), Some(1));
        assert_eq!(r.free(), 8);
    }

    #[test]
    fn one_grant_at_a_time_and_publishing_ends_it() {
        let mut r = Ring::with_capacity(8).unwrap();
        let g = r.export_grant(Some(4)).unwrap();
        assert!(!r.push(1), "pushes would write into the grant");
        assert!(r.push_slice(b""), "an empty push changes nothing");
        assert_eq!(r.push_partial(b"xy"), 0);
        let second = r.export_grant(Some(1)).unwrap_err();
        assert!(
            matches!(second, Error::GrantOpen { len: 4, .. }),
            "{second}"
        );
        assert!(r.grant(Some(1)).is_err());
        assert!(r.advance_head(5).is_err());
        assert_eq!(
            r.grant_len(),
            Some(4),
            "the refused publish changed nothing"
        );
        r.advance_head(3).unwrap();
        assert_eq!(r.grant_len(), None, "publishing ended the grant");
        assert!(r.advance_head(1).is_err(), "nothing left handed out");
        r.advance_head(0).unwrap();
        assert!(r.push(1));
        // A new grant while the old export is still referenced.
        let g2 = r.export_grant(None).unwrap();
        assert_eq!(g2.len(), 4);
        assert!(!r.is_open_grant(&g) && r.is_open_grant(&g2));
        assert!(!r.release_grant(g), "the first grant was already published");
        assert_eq!(
            r.grant_len(),
            Some(4),
            "releasing the old view left the new grant alone"
        );
        assert!(r.release_grant(g2), "abandoned");
        assert_eq!(r.len(), 4);
        assert_eq!(r.live_exports(), 0);
    }

    #[test]
    fn push_overwrite_is_refused_while_a_grant_is_open() {
        let mut r = Ring::with_capacity(8).unwrap();
        r.push_slice(b"abc");
        let g = r.export_grant(Some(2)).unwrap();
        assert!(matches!(
            r.push_overwrite(b"x"),
            Err(Error::GrantOpen { len: 2, .. })
        ));
        assert_eq!(r.push_overwrite(b"").unwrap(), 0);
        assert_eq!(r.grant_len(), Some(2));
        r.clear();
        assert_eq!(r.grant_len(), Some(2), "clear leaves the grant open");
        r.release_grant(g);
        assert_eq!(r.push_overwrite(b"0123456789").unwrap(), 2);
        assert_eq!(r.as_slice(), b"23456789");
    }

    #[test]
    fn a_dropped_chunk_abandons_the_grant() {
        let mut r = Ring::with_capacity(8).unwrap();
        {
            let mut c = r.grant(Some(3)).unwrap();
            c.copy_from_slice(b"abc");
        }
        assert_eq!(r.grant_len(), None);
        assert!(r.is_empty());
        assert!(
            r.advance_head(3).is_err(),
            "abandoned bytes are never published"
        );
        let mut c = r.grant(None).unwrap();
        c[..2].copy_from_slice(b"hi");
        assert!(c.commit(9).is_err());
        assert_eq!(r.grant_len(), None, "the chunk is gone with its commit");
        assert!(r.is_empty());
    }

    #[test]
    fn wrapped_full_and_empty_are_exact() {
        let mut r = Ring::with_capacity(crate::page_size()).unwrap();
        let size = r.memory_len();
        assert!(!r.is_wrapped() && !r.is_full() && r.is_empty());
        // A fresh ring starts at offset 0: all of the memory, not wrapped.
        let cap = r.capacity();
        assert!(r.push_slice(&vec![1; cap]));
        assert!(r.is_full() && !r.is_empty());
        assert_eq!(r.is_wrapped(), cap > size);
        r.advance_tail(1).unwrap();
        assert!(r.push(2));
        assert!(r.is_wrapped(), "one byte past the end of the memory");
        assert!(r.is_full());
    }

    #[test]
    fn a_drained_ring_restarts_half_a_page_in() {
        let mut r = Ring::with_capacity(4096).unwrap();
        r.push_slice(b"a");
        let first = r.as_slice().as_ptr() as usize; // offset 0
        r.pop();
        r.push_slice(b"b");
        let again = r.as_slice().as_ptr() as usize;
        // Pages are at least 4 KiB: half of one is 2048 bytes in.
        assert_eq!(again - first, 2048);
    }

    #[test]
    fn export_tokens_round_trip_to_the_right_pin() {
        let mut r = Ring::with_capacity(16).unwrap();
        let empty = r.export_readable();
        assert!(empty.is_empty() && empty.as_ptr() == r.as_slice().as_ptr());
        assert!(r.release(empty));
        r.push_slice(b"abcd");
        let first = r.export_readable();
        assert!(!first.is_empty() && first.len() == 4);
        r.advance_tail(2).unwrap();
        let second = r.export_readable();
        r.advance_tail(2).unwrap();
        r.push_slice(&[7; 12]);
        assert_eq!(r.free(), 0, "the first view, at position 0, holds 4 bytes");
        // The second export, by number: its pin (position 2) goes, the
        // first one's stays.
        let raw = second.into_raw();
        assert_eq!(raw, 2);
        let mut other = Ring::with_capacity(16).unwrap();
        other.push_slice(b"zz");
        let foreign = other.export_readable();
        assert!(!r.release(foreign), "another ring's export changes nothing");
        assert_eq!(r.live_exports(), 2);
        // SAFETY: `raw` came from `into_raw` on this ring, turned back once.
        assert!(r.release(unsafe { ReadExport::from_raw(raw) }));
        assert_eq!(r.free(), 0);
        assert!(r.release(first));
        assert_eq!(r.free(), 4);
        let g = r.export_grant(Some(0)).unwrap();
        assert!(g.is_empty());
        assert_eq!(g.len(), 0);
        r.release_grant(g);
        let g = r.export_grant(None).unwrap();
        assert!(!g.is_empty());
        r.release_grant(g);
    }

    #[test]
    fn overlaps_sees_both_halves_and_nothing_else() {
        let r = Ring::with_capacity(4096).unwrap();
        let base = r.as_slice().as_ptr();
        assert_eq!(r.memory_start(), base, "a new ring starts at offset 0");
        let size = r.memory_len();
        assert!(r.overlaps(base, 1));
        assert!(r.overlaps(base.wrapping_add(2 * size - 1), 1));
        assert!(r.overlaps(base.wrapping_sub(1), 2));
        assert!(!r.overlaps(base.wrapping_add(2 * size), 10));
        assert!(!r.overlaps(base.wrapping_sub(10), 10));
        assert!(!r.overlaps(base, 0));
    }

    #[test]
    fn positions_come_back_whole_from_their_low_bits() {
        // What a 32-bit target's one-word tokens go through.
        let head = (7u64 << 32) + 100;
        for start in [head, head - 1, head - 100, head - 101, head - (1 << 29)] {
            let low = start & u64::from(u32::MAX);
            assert_eq!(complete_position(head, low, 32), start, "{start}");
        }
        assert_eq!(complete_position(head, head - 5, 64), head - 5);
    }

    #[test]
    fn a_ring_that_only_pushed_leaves_zeros_for_the_next() {
        // The slot of a dropped ring is wiped unless nothing was ever
        // written: a ring that pushed (and granted nothing) is wiped too.
        let size = 7 * crate::page_size();
        {
            let mut r = Ring::with_capacity(size).unwrap();
            assert!(r.push_slice(&vec![0xAB; size]));
        }
        {
            let mut r = Ring::with_capacity(size).unwrap();
            let g = r.grant(None).unwrap();
            assert!(
                g.iter().all(|&b| b == 0),
                "a new ring showed the bytes of the one before"
            );
        }
        {
            let mut r = Ring::with_capacity(size).unwrap();
            let mut g = r.grant(None).unwrap();
            g.fill(0xCD);
            // Granted, written, abandoned: nothing published, still wiped.
        }
        let mut r = Ring::with_capacity(size).unwrap();
        assert!(r.grant(None).unwrap().iter().all(|&b| b == 0));
    }

    #[test]
    fn a_grant_never_exceeds_the_room_left_by_views() {
        let mut r = Ring::with_capacity(8).unwrap();
        r.push_slice(b"abcdef");
        let v = r.export_readable();
        r.advance_tail(6).unwrap();
        assert!(
            r.export_grant(Some(3)).is_err(),
            "only 2 bytes do not show in the view"
        );
        let g = r.export_grant(None).unwrap();
        assert_eq!(g.len(), 2);
        r.release_grant(g);
        r.release(v);
        assert_eq!(r.export_grant(None).map(|g| g.len()).unwrap(), 8);
    }
}
