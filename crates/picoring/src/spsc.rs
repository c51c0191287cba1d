//! A lock-free channel between one producer and one consumer thread, over
//! mirrored memory: any run of items, however it wraps, is one contiguous
//! slice, so batches are one copy and chunks are one slice.
//!
//! ```
//! let (mut tx, mut rx) = picoring::spsc::channel::<u32>(1000).unwrap();
//! let t = std::thread::spawn(move || {
//!     for i in 0..10_000u32 {
//!         while tx.push(i).is_err() {
//!             std::thread::yield_now();
//!         }
//!     }
//! });
//! let mut next = 0;
//! while next < 10_000 {
//!     if let Some(v) = rx.pop() {
//!         assert_eq!(v, next);
//!         next += 1;
//!     }
//! }
//! t.join().unwrap();
//! ```
//!
//! # How it works
//!
//! The memory holds `n` items (`n >= capacity`, whole pages). `head` and
//! `tail` count the items written and read, ever (wrapping: their
//! difference is what the channel holds), and each end keeps where its own
//! count falls in the memory. The producer owns `head`, the consumer
//! `tail`; each keeps a copy
//! of the other's, and reads the real one (an acquire load of a separate
//! cache line) only when its copy says full or empty. Publishing is a
//! release store after the items are written (producer) or read
//! (consumer), so the other side sees the items, or the slots free, whole.
//!
//! Items are `Copy`: nothing needs dropping, and a consumer can read them
//! in place. After `fork()`, a child's channels are memory of its own
//! (G6), but it does not get a copy of their items (threads do not
//! survive a fork): they read zeros there.

use std::marker::PhantomData;
use std::mem::{size_of, MaybeUninit};
use std::ops::Deref;
// Under `--cfg loom` (`make loom`), the atomics and the `Arc` are loom's,
// which explores the interleavings of its model threads and the values
// each load may see, and `Tracker` records every slot access in a loom
// cell, so that a read of a slot not ordered after its write (or a write
// not ordered after the read of the item before) is reported.
#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicUsize, Ordering},
    Arc,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicUsize, Ordering},
    Arc,
};

use crate::error::{Error, Result};
use crate::mirror::MirrorBuf;

/// Keeps a value on a cache line (and its neighbour, which some CPUs fetch
/// in pairs) of its own.
#[repr(align(128))]
pub(crate) struct CachePadded<T>(T);

impl<T> Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

pub(crate) struct Shared {
    /// Items the producer has written, ever (wrapping).
    pub(crate) head: CachePadded<AtomicUsize>,
    /// Items reserved by the producers of an [`mpsc`](crate::mpsc)
    /// channel, ever (wrapping; unused by one producer).
    pub(crate) reserved: CachePadded<AtomicUsize>,
    /// Items the consumer has read, ever (wrapping).
    pub(crate) tail: CachePadded<AtomicUsize>,
    /// `2n` items of address space: the memory, then its mirror.
    pub(crate) buf: MirrorBuf,
    pub(crate) track: Tracker,
    /// Set when the consumer is dropped.
    pub(crate) consumer_gone: AtomicBool,
}

/// Records slot accesses for loom (nothing, and no bytes, otherwise).
#[cfg(loom)]
pub(crate) struct Tracker(Vec<loom::cell::UnsafeCell<()>>);

#[cfg(loom)]
impl Tracker {
    fn new(n: usize) -> Tracker {
        Tracker((0..n).map(|_| loom::cell::UnsafeCell::new(())).collect())
    }
    /// `k` slots from `i` (less than `2n`: the mirror) were written.
    pub(crate) fn wrote(&self, i: usize, k: usize) {
        let n = self.0.len();
        for j in i..i + k {
            self.0[j % n].with_mut(|_| ());
        }
    }
    /// `k` slots from `i` were read.
    fn read(&self, i: usize, k: usize) {
        let n = self.0.len();
        for j in i..i + k {
            self.0[j % n].with(|_| ());
        }
    }
}

#[cfg(not(loom))]
pub(crate) struct Tracker;

#[cfg(not(loom))]
impl Tracker {
    #[inline(always)]
    fn new(_n: usize) -> Tracker {
        Tracker
    }
    #[inline(always)]
    pub(crate) fn wrote(&self, _i: usize, _k: usize) {}
    #[inline(always)]
    fn read(&self, _i: usize, _k: usize) {}
}

/// `i` (less than `2n`) back inside `0 .. n`.
#[inline(always)]
fn wrap(i: usize, n: usize) -> usize {
    if i >= n {
        i - n
    } else {
        i
    }
}

/// Why a chunk could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooFewSlots {
    /// Slots asked for.
    pub requested: usize,
    /// Slots there were.
    pub available: usize,
}

impl std::fmt::Display for TooFewSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} slots asked for, {} available",
            self.requested, self.available
        )
    }
}

impl std::error::Error for TooFewSlots {}

/// Makes a channel of `capacity` items: the producer and the consumer ends.
///
/// # Errors
/// [`Error::ZeroCapacity`] for 0 items or zero-sized `T`;
/// [`Error::CapacityTooLarge`] past [`MAX_CAPACITY`](crate::MAX_CAPACITY)
/// bytes; [`Error::Unsupported`] for items whose size does not divide the
/// memory (an odd size of many pages); [`Error::Os`] when the OS refuses.
pub fn channel<T: Copy + Send>(capacity: usize) -> Result<(Producer<T>, Consumer<T>)> {
    let (shared, base, n) = memory::<T>(capacity)?;
    Ok((
        Producer {
            shared: Arc::clone(&shared),
            base,
            n,
            capacity,
            head: 0,
            at: 0,
            tail: 0,
            _items: PhantomData,
        },
        Consumer::new(shared, base, n, capacity),
    ))
}

/// The memory of a channel of `capacity` items (see [`channel`]'s errors):
/// the shared state, where the items start, and how many the memory holds.
pub(crate) fn memory<T: Copy + Send>(capacity: usize) -> Result<(Arc<Shared>, *mut T, usize)> {
    let item = size_of::<T>();
    if capacity == 0 || item == 0 {
        return Err(Error::ZeroCapacity);
    }
    if std::mem::align_of::<T>() > crate::page_size() {
        return Err(Error::Unsupported {
            what: "items aligned to more than a page",
        });
    }
    let bytes = capacity.checked_mul(item).ok_or(Error::CapacityTooLarge {
        requested: capacity,
        max: crate::MAX_CAPACITY / item,
    })?;
    let buf = MirrorBuf::with_unit(bytes, item)?;
    if buf.len() % item != 0 {
        return Err(Error::Unsupported {
            what:
                "items whose size does not divide the channel's memory (an odd size of many pages)",
        });
    }
    let n = buf.len() / item;
    let base = buf.as_ptr().cast::<T>();
    let shared = Arc::new(Shared {
        head: CachePadded(AtomicUsize::new(0)),
        reserved: CachePadded(AtomicUsize::new(0)),
        tail: CachePadded(AtomicUsize::new(0)),
        buf,
        track: Tracker::new(n),
        consumer_gone: AtomicBool::new(false),
    });
    Ok((shared, base, n))
}

/// The writing end of a [`channel`].
pub struct Producer<T> {
    shared: Arc<Shared>,
    base: *mut T,
    /// Items in the memory, and at most in the channel.
    n: usize,
    capacity: usize,
    /// The real head: only this end moves it.
    head: usize,
    /// Where `head` is in the memory (`head mod n`).
    at: usize,
    /// The consumer's tail, as last read.
    tail: usize,
    _items: PhantomData<T>,
}

// SAFETY: the producer end may move to another thread with its items; it
// is used by one thread at a time (`&mut self` for every write).
unsafe impl<T: Send> Send for Producer<T> {}

impl<T: Copy> Producer<T> {
    /// Items the channel holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Free slots, reading the consumer's position.
    pub fn slots(&mut self) -> usize {
        self.tail = self.shared.tail.load(Ordering::Acquire);
        self.capacity - self.head.wrapping_sub(self.tail)
    }

    /// At least `want` free slots? Reads the consumer's position only when
    /// the copy of it says no.
    #[inline]
    fn free_at_least(&mut self, want: usize) -> usize {
        let free = self.capacity - self.head.wrapping_sub(self.tail);
        if free >= want {
            return free;
        }
        self.slots()
    }

    /// Appends one item, or gives it back when the channel is full.
    #[inline]
    pub fn push(&mut self, value: T) -> std::result::Result<(), T> {
        if self.free_at_least(1) == 0 {
            return Err(value);
        }
        let i = self.at;
        // SAFETY: slot `i` is free (the consumer has released it: acquire
        // load of `tail`) and inside the memory; only this end writes.
        unsafe { self.base.add(i).write(value) };
        self.shared.track.wrote(i, 1);
        self.shared.buf.sync(i * size_of::<T>(), size_of::<T>());
        self.publish(1);
        Ok(())
    }

    /// Appends as many of `items` as fit, in one copy; returns how many.
    pub fn write(&mut self, items: &[T]) -> usize {
        let k = items.len().min(self.free_at_least(items.len()));
        if k > 0 {
            let i = self.at;
            // SAFETY: `k` slots from `i` are free; `i + k <= 2n` (the
            // mirror: `k <= capacity <= n`), so the copy stays in the
            // mapping; `items` is a different allocation.
            unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), self.base.add(i), k) };
            self.shared.track.wrote(i, k);
            self.shared.buf.sync(i * size_of::<T>(), k * size_of::<T>());
            self.publish(k);
        }
        k
    }

    /// `n` free slots as one contiguous slice, to fill in place and then
    /// [`WriteChunk::commit`].
    ///
    /// ```
    /// let (mut tx, mut rx) = picoring::spsc::channel::<f32>(48_000).unwrap();
    /// let t = std::thread::spawn(move || {
    ///     let mut chunk = tx.write_chunk(480).unwrap();
    ///     for s in chunk.as_mut_slice() {
    ///         s.write(0.5);
    ///     }
    ///     chunk.commit(480);
    /// });
    /// t.join().unwrap();
    /// let frame = rx.read_chunk(480).unwrap(); // one slice, in place
    /// assert!(frame.iter().all(|&s| s == 0.5));
    /// frame.release(480);
    /// ```
    ///
    /// # Errors
    /// [`TooFewSlots`] when fewer than `n` slots are free.
    pub fn write_chunk(&mut self, n: usize) -> std::result::Result<WriteChunk<'_, T>, TooFewSlots> {
        let free = self.free_at_least(n);
        if free < n {
            return Err(TooFewSlots {
                requested: n,
                available: free,
            });
        }
        let i = self.at;
        // The slots are written from now on (through the chunk).
        self.shared.track.wrote(i, n);
        Ok(WriteChunk {
            index: i,
            len: n,
            producer: self,
        })
    }

    #[inline]
    fn publish(&mut self, k: usize) {
        self.head = self.head.wrapping_add(k);
        self.at = wrap(self.at + k, self.n);
        self.shared.head.store(self.head, Ordering::Release);
    }

    /// True once the consumer is gone: nothing written will be read.
    pub fn is_abandoned(&self) -> bool {
        Arc::strong_count(&self.shared) < 2
    }
}

/// Free slots of a producer, lent to be written in place.
pub struct WriteChunk<'a, T: Copy> {
    /// Index of the first slot; `len` free slots from there.
    index: usize,
    len: usize,
    producer: &'a mut Producer<T>,
}

impl<T: Copy> WriteChunk<'_, T> {
    /// The slots: one contiguous slice, even across the end of the memory.
    pub fn as_mut_slice(&mut self) -> &mut [MaybeUninit<T>] {
        // SAFETY: `len` free slots from `index`, inside the `2n` items of
        // the mirror; only this end writes them until the chunk is
        // committed (the chunk borrows the producer, the slice the chunk).
        unsafe {
            std::slice::from_raw_parts_mut(
                self.producer.base.add(self.index).cast::<MaybeUninit<T>>(),
                self.len,
            )
        }
    }

    /// Fills the first `items.len()` slots from `items` and commits them.
    ///
    /// # Panics
    /// If `items` is longer than the chunk.
    pub fn fill_and_commit(mut self, items: &[T]) {
        assert!(items.len() <= self.len, "more items than slots");
        for (s, v) in self.as_mut_slice().iter_mut().zip(items) {
            s.write(*v);
        }
        self.commit(items.len());
    }

    /// Publishes the first `n` slots, which must have been written; the
    /// rest stay free.
    ///
    /// # Panics
    /// If `n` is more than the chunk's length.
    pub fn commit(self, n: usize) {
        assert!(n <= self.len, "commit({n}) of a chunk of {}", self.len);
        self.producer
            .shared
            .buf
            .sync(self.index * size_of::<T>(), n * size_of::<T>());
        self.producer.publish(n);
    }
}

/// The reading end of a [`channel`].
pub struct Consumer<T> {
    shared: Arc<Shared>,
    base: *mut T,
    /// Items in the memory, and at most in the channel.
    n: usize,
    capacity: usize,
    /// The producer's head, as last read.
    head: usize,
    /// The real tail: only this end moves it.
    tail: usize,
    /// Where `tail` is in the memory (`tail mod n`).
    at: usize,
    _items: PhantomData<T>,
}

// SAFETY: as for `Producer`.
unsafe impl<T: Send> Send for Consumer<T> {}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        self.shared.consumer_gone.store(true, Ordering::Release);
    }
}

impl<T: Copy> Consumer<T> {
    pub(crate) fn new(shared: Arc<Shared>, base: *mut T, n: usize, capacity: usize) -> Self {
        Consumer {
            shared,
            base,
            n,
            capacity,
            head: 0,
            tail: 0,
            at: 0,
            _items: PhantomData,
        }
    }

    /// Items the channel holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Items ready to read, reading the producer's position.
    pub fn slots(&mut self) -> usize {
        self.head = self.shared.head.load(Ordering::Acquire);
        self.head.wrapping_sub(self.tail)
    }

    #[inline]
    fn ready_at_least(&mut self, want: usize) -> usize {
        let ready = self.head.wrapping_sub(self.tail);
        if ready >= want {
            return ready;
        }
        self.slots()
    }

    /// Takes the oldest item, if any.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        if self.ready_at_least(1) == 0 {
            return None;
        }
        let i = self.at;
        // SAFETY: slot `i` was published by the producer (acquire load of
        // `head`) and is not written again until this end releases it.
        let v = unsafe { self.base.add(i).read() };
        self.shared.track.read(i, 1);
        self.release(1);
        Some(v)
    }

    /// The oldest item, left in the channel.
    pub fn peek(&mut self) -> Option<&T> {
        if self.ready_at_least(1) == 0 {
            return None;
        }
        self.shared.track.read(self.at, 1);
        // SAFETY: as in `pop`; the borrow of `self` keeps the slot from
        // being released while the reference lives.
        Some(unsafe { &*self.base.add(self.at) })
    }

    /// Moves as many items as are ready (up to `out.len()`) into `out`, in
    /// one copy; returns how many.
    pub fn read(&mut self, out: &mut [T]) -> usize {
        let k = out.len().min(self.ready_at_least(out.len()));
        if k > 0 {
            let i = self.at;
            // SAFETY: `k` published slots from `i`, inside the mirror;
            // `out` is a different allocation.
            unsafe { std::ptr::copy_nonoverlapping(self.base.add(i), out.as_mut_ptr(), k) };
            self.shared.track.read(i, k);
            self.release(k);
        }
        k
    }

    /// The `n` oldest items as one contiguous slice, read in place until
    /// [`ReadChunk::release`].
    ///
    /// # Errors
    /// [`TooFewSlots`] when fewer than `n` items are ready.
    pub fn read_chunk(&mut self, n: usize) -> std::result::Result<ReadChunk<'_, T>, TooFewSlots> {
        let ready = self.ready_at_least(n);
        if ready < n {
            return Err(TooFewSlots {
                requested: n,
                available: ready,
            });
        }
        let i = self.at;
        self.shared.track.read(i, n);
        // SAFETY: `n` published slots from `i`, inside the mirror; the
        // producer does not write them until they are released, which the
        // chunk's borrow of the consumer defers.
        let items = unsafe { std::slice::from_raw_parts(self.base.add(i), n) };
        Ok(ReadChunk {
            items,
            consumer: self,
        })
    }

    #[inline]
    fn release(&mut self, k: usize) {
        self.tail = self.tail.wrapping_add(k);
        self.at = wrap(self.at + k, self.n);
        self.shared.tail.store(self.tail, Ordering::Release);
    }

    /// True once the producer (every producer of an
    /// [`mpsc`](crate::mpsc) channel) is gone: what is ready is all there
    /// will be.
    pub fn is_abandoned(&self) -> bool {
        let gone = Arc::strong_count(&self.shared) < 2;
        // The count is read relaxed: order the reads of `head` after it,
        // so that the last producer's publication is seen.
        fence(Ordering::Acquire);
        gone
    }
}

/// Items of a consumer, lent to be read in place.
pub struct ReadChunk<'a, T: Copy> {
    items: &'a [T],
    consumer: &'a mut Consumer<T>,
}

impl<T: Copy> ReadChunk<'_, T> {
    /// The items: one contiguous slice, even across the end of the memory.
    pub fn as_slice(&self) -> &[T] {
        self.items
    }

    /// Gives the first `n` items' slots back to the producer; the rest
    /// stay to be read again.
    ///
    /// # Panics
    /// If `n` is more than the chunk's length.
    pub fn release(self, n: usize) {
        assert!(
            n <= self.items.len(),
            "release({n}) of a chunk of {}",
            self.items.len()
        );
        self.consumer.release(n);
    }
}

impl<T: Copy> Deref for ReadChunk<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.items
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! The orderings, explored by loom (`make loom`). Items of half a page
    //! make the memory two slots long, so slots are reused after two
    //! items: a write that is not ordered after the read of the item
    //! before (the consumer's release, the producer's acquire) is caught
    //! too.
    use super::*;
    use loom::thread;

    type Item = [u8; 2048];

    fn item(v: u8) -> Item {
        let mut x = [v; 2048];
        x[1] = v.wrapping_mul(3);
        x
    }

    fn model(f: impl Fn() + Sync + Send + 'static) {
        assert_eq!(crate::page_size(), 4096, "the models assume 4 KiB pages");
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(f);
    }

    #[test]
    fn single_items_arrive_whole_and_in_order() {
        model(|| {
            let (mut tx, mut rx) = channel::<Item>(2).unwrap();
            assert_eq!(tx.shared.track.0.len(), 2, "two slots of memory");
            let t = thread::spawn(move || {
                for v in 1..=3 {
                    while tx.push(item(v)).is_err() {
                        thread::yield_now();
                    }
                }
            });
            for v in 1..=3 {
                loop {
                    if let Some(x) = rx.pop() {
                        assert_eq!(x, item(v));
                        break;
                    }
                    thread::yield_now();
                }
            }
            t.join().unwrap();
        });
    }

    #[test]
    fn batches_and_chunks_arrive_whole_and_in_order() {
        model(|| {
            let (mut tx, mut rx) = channel::<Item>(2).unwrap();
            let t = thread::spawn(move || {
                // A batch of one, then a chunk of two (across the end of
                // the memory, after the first is read).
                while tx.write(&[item(1)]) == 0 {
                    thread::yield_now();
                }
                loop {
                    match tx.write_chunk(2) {
                        Ok(c) => {
                            c.fill_and_commit(&[item(2), item(3)]);
                            break;
                        }
                        Err(_) => thread::yield_now(),
                    }
                }
            });
            let mut got = Vec::new();
            while got.len() < 3 {
                match rx.read_chunk(1) {
                    Ok(c) => {
                        got.push(c[0]);
                        c.release(1);
                    }
                    Err(_) => {
                        let mut out = [item(0); 2];
                        let k = rx.read(&mut out);
                        got.extend_from_slice(&out[..k]);
                        if k == 0 {
                            thread::yield_now();
                        }
                    }
                }
            }
            assert_eq!(got, vec![item(1), item(2), item(3)]);
            t.join().unwrap();
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[test]
    fn capacity_is_exact_and_full_refuses() {
        let (mut tx, mut rx) = channel::<u8>(10).unwrap();
        assert_eq!((tx.capacity(), rx.capacity()), (10, 10));
        assert_eq!(tx.write(&[7; 25]), 10);
        assert_eq!(tx.push(1), Err(1));
        assert_eq!(tx.slots(), 0);
        assert_eq!(rx.slots(), 10);
        assert_eq!(rx.pop(), Some(7));
        assert_eq!(tx.push(1), Ok(()));
        let mut out = [0u8; 20];
        assert_eq!(rx.read(&mut out), 10);
        assert_eq!(&out[..10], &[7, 7, 7, 7, 7, 7, 7, 7, 7, 1]);
        assert_eq!(rx.pop(), None);
        assert!(channel::<u8>(0).is_err());
        assert!(channel::<()>(4).is_err());
        assert!(channel::<u64>(usize::MAX / 4).is_err());
    }

    #[test]
    fn chunks_are_contiguous_across_the_end_of_memory() {
        let (mut tx, mut rx) = channel::<u32>(1000).unwrap();
        let n = tx.n;
        assert!(n >= 1000);
        // Walk the positions to 10 items before the end of the memory.
        let mut next = 0u32;
        let mut expect = 0u32;
        while tx.at != n - 10 {
            let k = (n - 10 - tx.at).min(500);
            let batch: Vec<u32> = (next..next + k as u32).collect();
            assert_eq!(tx.write(&batch), k);
            next += k as u32;
            let mut out = vec![0; k];
            assert_eq!(rx.read(&mut out), k);
            assert!(out.iter().all(|&v| {
                let ok = v == expect;
                expect += 1;
                ok
            }));
        }
        let mut chunk = tx.write_chunk(100).unwrap();
        let p = chunk.as_mut_slice().as_ptr();
        for (k, s) in chunk.as_mut_slice().iter_mut().enumerate() {
            s.write(next + k as u32);
        }
        chunk.commit(100);
        let c = rx.read_chunk(100).unwrap();
        assert_eq!(c.as_ptr(), p.cast(), "one slice, where it was written");
        assert!(c.iter().copied().eq(next..next + 100), "across the end");
        c.release(40);
        assert_eq!(rx.slots(), 60);
        let c = rx.read_chunk(60).unwrap();
        assert_eq!(c[0], next + 40);
        c.release(60);
        assert_eq!(tx.slots(), 1000);
    }

    #[test]
    fn refused_chunks_change_nothing() {
        let (mut tx, mut rx) = channel::<u16>(8).unwrap();
        assert_eq!(tx.write(&[1, 2, 3]), 3);
        assert_eq!(
            tx.write_chunk(6).err(),
            Some(TooFewSlots {
                requested: 6,
                available: 5
            })
        );
        assert_eq!(
            rx.read_chunk(4).err(),
            Some(TooFewSlots {
                requested: 4,
                available: 3
            })
        );
        assert_eq!(rx.peek(), Some(&1));
        let c = tx.write_chunk(5).unwrap();
        c.commit(0);
        assert_eq!(rx.slots(), 3);
        let c = tx.write_chunk(2).unwrap();
        c.fill_and_commit(&[4]);
        let mut out = [0; 8];
        assert_eq!(rx.read(&mut out), 4);
        assert_eq!(&out[..4], &[1, 2, 3, 4]);
    }

    #[test]
    fn abandoned_ends_say_so() {
        let (tx, rx) = channel::<u8>(4).unwrap();
        assert!(!tx.is_abandoned() && !rx.is_abandoned());
        drop(rx);
        assert!(tx.is_abandoned());
        let (tx, rx) = channel::<u8>(4).unwrap();
        drop(tx);
        assert!(rx.is_abandoned());
    }

    #[test]
    fn one_thread_matches_a_deque() {
        // Deterministic pseudo-random batches against a VecDeque.
        let (mut tx, mut rx) = channel::<u8>(300).unwrap();
        let mut model = VecDeque::new();
        let mut x: u32 = 12345;
        let mut next = 0u8;
        for _ in 0..if cfg!(miri) { 200 } else { 20_000 } {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let k = (x >> 16) as usize % 200;
            if x & 1 == 0 {
                let batch: Vec<u8> = (0..k)
                    .map(|_| {
                        next = next.wrapping_add(1);
                        next
                    })
                    .collect();
                let w = tx.write(&batch);
                assert_eq!(w, k.min(300 - model.len()));
                model.extend(&batch[..w]);
            } else {
                let mut out = vec![0; k];
                let r = rx.read(&mut out);
                assert_eq!(r, k.min(model.len()));
                let want: Vec<u8> = model.drain(..r).collect();
                assert_eq!(&out[..r], &want[..]);
            }
        }
    }

    #[test]
    #[cfg(all(unix, not(miri)))]
    fn a_forked_child_writes_only_its_own_copy() {
        // G6: the channel's memory is a shared file mapping; a child must
        // not write into the parent's.
        let (mut tx, mut rx) = channel::<u32>(64).unwrap();
        assert_eq!(tx.write(&[1, 2, 3]), 3);
        // SAFETY: the child only uses the channel's memory and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // Walk the child's positions around the whole memory, over the
            // slots where the parent's items are.
            let mut out = [0u32; 60];
            for _ in 0..2 * tx.n / 60 + 1 {
                rx.read(&mut out);
                tx.write(&[9; 60]);
            }
            // SAFETY: _exit is always safe in the child.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        let mut out = [0u32; 64];
        assert_eq!(rx.read(&mut out), 3);
        assert_eq!(
            &out[..3],
            &[1, 2, 3],
            "the child's writes reached the parent"
        );
        assert_eq!(tx.write(&[4; 64]), 64);
        assert_eq!(rx.read(&mut out), 64);
        assert!(out.iter().all(|&v| v == 4));
    }

    #[test]
    fn two_threads_every_item_once_in_order() {
        let total: u64 = if cfg!(miri) { 2_000 } else { 4_000_000 };
        let (mut tx, mut rx) = channel::<u64>(777).unwrap();
        let producer = std::thread::spawn(move || {
            let mut i = 0u64;
            let mut batch = Vec::with_capacity(97);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            while i < total {
                assert!(
                    std::time::Instant::now() < deadline,
                    "producer stuck at {i}"
                );
                match i % 3 {
                    0 => {
                        if tx.push(i).is_ok() {
                            i += 1;
                        }
                    }
                    1 => {
                        batch.clear();
                        batch.extend(i..(i + 97).min(total));
                        i += tx.write(&batch) as u64;
                    }
                    _ => {
                        let want = (total - i).min(31) as usize;
                        if let Ok(mut c) = tx.write_chunk(want) {
                            for (k, s) in c.as_mut_slice().iter_mut().enumerate() {
                                s.write(i + k as u64);
                            }
                            c.commit(want);
                            i += want as u64;
                        }
                    }
                }
                if i % 1000 == 0 {
                    std::thread::yield_now();
                }
            }
        });
        let mut next = 0u64;
        let mut out = [0u64; 64];
        // A broken channel may lose items instead of corrupting them: fail,
        // rather than wait for ever.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while next < total {
            assert!(std::time::Instant::now() < deadline, "stuck at item {next}");
            match next % 3 {
                0 => {
                    if let Some(v) = rx.pop() {
                        assert_eq!(v, next);
                        next += 1;
                    }
                }
                1 => {
                    let r = rx.read(&mut out);
                    for &v in &out[..r] {
                        assert_eq!(v, next);
                        next += 1;
                    }
                }
                _ => {
                    let ready = rx.slots().min(50);
                    if ready > 0 {
                        let c = rx.read_chunk(ready).unwrap();
                        assert!(c.iter().copied().eq(next..next + ready as u64));
                        c.release(ready);
                        next += ready as u64;
                    }
                }
            }
        }
        producer.join().unwrap();
        assert_eq!(rx.pop(), None);
        assert!(rx.is_abandoned());
    }
}
