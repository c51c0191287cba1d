//! A channel from several producer threads to one consumer, over mirrored
//! memory: the [`spsc`](crate::spsc) channel's memory and consumer, with
//! producers that reserve slots, then commit them in the order reserved.
//!
//! ```
//! let (tx, mut rx) = picoring::mpsc::channel::<u64>(1024).unwrap();
//! let workers: Vec<_> = (0..4u64)
//!     .map(|w| {
//!         let mut tx = tx.clone();
//!         std::thread::spawn(move || {
//!             for i in 0..1000 {
//!                 while tx.push(w << 32 | i).is_err() {
//!                     std::thread::yield_now();
//!                 }
//!             }
//!         })
//!     })
//!     .collect();
//! drop(tx);
//! let mut last = [None::<u64>; 4];
//! let mut got = 0;
//! while got < 4000 {
//!     if let Some(v) = rx.pop() {
//!         let (w, i) = ((v >> 32) as usize, v & 0xffff_ffff);
//!         assert!(last[w].map_or(true, |l| l < i), "each producer's items in order");
//!         last[w] = Some(i);
//!         got += 1;
//!     }
//! }
//! for t in workers {
//!     t.join().unwrap();
//! }
//! ```
//!
//! # How it works
//!
//! A write reserves `k` slots by advancing `reserved` (compare-and-swap,
//! checked against the consumer's `tail` so that reserved slots are free),
//! copies its items there (one copy, thanks to the mirror), then waits
//! until `head` reaches the start of its reservation (every earlier
//! reservation committed) and moves `head` past it (a release store): the
//! consumer sees whole writes, in the order they were reserved. The wait
//! is for other producers' copies only (spinning, then yielding): a
//! producer descheduled between its reservation and its commit holds the
//! later ones back meanwhile, so this is not lock-free in the strict sense
//! (rtrb's MPSC answer is a mutex around a producer; this keeps the copies
//! parallel). A write cannot panic between the two: items are `Copy`.
//! Under real-time scheduling (`SCHED_FIFO`), a high-priority producer
//! waiting for a preempted lower-priority one on the same core yields in
//! vain: give producers one priority. A process forked while one of its
//! threads was between a reservation and its commit has a channel whose
//! producers wait for that commit for ever (the thread is not in the
//! child); the consumer there reads what was committed.
//!
//! The counters are free-running `usize`s that a slot index is taken from
//! modulo the memory's length, which is not a power of two: hence 64-bit
//! targets only (2^64 items never wrap).

use std::marker::PhantomData;
use std::mem::size_of;

use crate::error::Result;
use crate::spsc::{memory, Arc, Consumer, Ordering, Shared};

/// Makes a channel of `capacity` items: a producer (clone it for more)
/// and the consumer, an [`spsc::Consumer`](Consumer).
///
/// # Errors
/// As [`spsc::channel`](crate::spsc::channel).
pub fn channel<T: Copy + Send>(capacity: usize) -> Result<(Producer<T>, Consumer<T>)> {
    let (shared, base, n) = memory::<T>(capacity)?;
    Ok((
        Producer {
            shared: Arc::clone(&shared),
            base,
            n,
            capacity,
            tail: 0,
            _items: PhantomData,
        },
        Consumer::new(shared, base, n, capacity),
    ))
}

/// A writing end of an [`mpsc`](self) [`channel`]; clones write into the
/// same channel.
pub struct Producer<T> {
    shared: Arc<Shared>,
    base: *mut T,
    /// Items in the memory, and at most in the channel.
    n: usize,
    capacity: usize,
    /// The consumer's tail, as last read by this producer.
    tail: usize,
    _items: PhantomData<T>,
}

// SAFETY: a producer may move to another thread with its items; each is
// used by one thread at a time (`&mut self` for every write), and
// producers share only atomics and the slots they reserved.
unsafe impl<T: Send> Send for Producer<T> {}

impl<T> Clone for Producer<T> {
    fn clone(&self) -> Self {
        Producer {
            shared: Arc::clone(&self.shared),
            base: self.base,
            n: self.n,
            capacity: self.capacity,
            tail: self.tail,
            _items: PhantomData,
        }
    }
}

impl<T: Copy> Producer<T> {
    /// Items the channel holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends one item, or gives it back when the channel is full.
    pub fn push(&mut self, value: T) -> std::result::Result<(), T> {
        if self.write(std::slice::from_ref(&value)) == 1 {
            Ok(())
        } else {
            Err(value)
        }
    }

    /// Appends as many of `items` as fit, in one copy, after the writes
    /// reserved before it; returns how many.
    pub fn write(&mut self, items: &[T]) -> usize {
        let Some((start, k)) = self.reserve(items.len()) else {
            return 0;
        };
        let i = start % self.n;
        // SAFETY: `k` slots from `i` are reserved by this producer alone
        // and free (the consumer released them: acquire load of `tail` in
        // `reserve`); `i + k <= 2n` (`k <= capacity <= n`): inside the
        // mirror; `items` is a different allocation.
        unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), self.base.add(i), k) };
        self.shared.track.wrote(i, k);
        self.shared.buf.sync(i * size_of::<T>(), k * size_of::<T>());
        self.commit(start, k);
        k
    }

    /// Reserves up to `want` free slots: where they start (a count of
    /// items ever reserved) and how many.
    fn reserve(&mut self, want: usize) -> Option<(usize, usize)> {
        let reserved = &self.shared.reserved;
        let mut r = reserved.load(Ordering::Relaxed);
        loop {
            // `r - tail` is at most the capacity for a fresh tail; a cached
            // one may be far behind (other producers moved on).
            let mut used = r.wrapping_sub(self.tail);
            if used > self.capacity || self.capacity - used < want {
                self.tail = self.shared.tail.load(Ordering::Acquire);
                used = r.wrapping_sub(self.tail);
                if used > self.capacity {
                    // `r` is older than that tail: read it again (it is
                    // never behind a tail read before it).
                    r = reserved.load(Ordering::Relaxed);
                    continue;
                }
            }
            let k = want.min(self.capacity - used);
            if k == 0 {
                return None;
            }
            match reserved.compare_exchange(
                r,
                r.wrapping_add(k),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some((r, k)),
                Err(now) => r = now,
            }
        }
    }

    /// Publishes the `k` slots reserved at `start`, once every earlier
    /// reservation is published.
    fn commit(&self, start: usize, k: usize) {
        let head = &self.shared.head;
        let mut spins = 0u32;
        while head.load(Ordering::Acquire) != start {
            spins += 1;
            if spins < 64 && !cfg!(loom) {
                std::hint::spin_loop();
            } else {
                yield_now();
            }
        }
        head.store(start.wrapping_add(k), Ordering::Release);
    }

    /// True once the consumer is gone: nothing written will be read.
    pub fn is_abandoned(&self) -> bool {
        self.shared.consumer_gone.load(Ordering::Acquire)
    }
}

#[cfg(loom)]
use loom::thread::yield_now;
#[cfg(not(loom))]
use std::thread::yield_now;

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    /// Half a page: the memory is two slots.
    type Item = [u8; 2048];

    /// A page per item: the memory is one slot, reused by every item, so
    /// each reservation waits for the consumer's release of the one before
    /// (the reload of the producer's cached `tail`).
    #[test]
    fn reservations_wait_for_the_consumers_release() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let (tx, mut rx) = channel::<[u8; 4096]>(1).unwrap();
            let mut tx1 = tx.clone();
            drop(tx);
            let t = thread::spawn(move || {
                for v in 1..=2u8 {
                    while tx1.push([v; 4096]).is_err() {
                        thread::yield_now();
                    }
                }
            });
            for v in 1..=2u8 {
                let x = loop {
                    match rx.pop() {
                        Some(x) => break x,
                        None => thread::yield_now(),
                    }
                };
                assert!(x.iter().all(|&b| b == v), "item {v} whole");
            }
            t.join().unwrap();
        });
    }

    /// One producer thread, and the main thread writing then reading:
    /// whichever reserves second commits after the first (a wait on the
    /// other's commit), and the consumer sees both items whole. (With a
    /// consumer spinning beside two spinning producers, loom's search does
    /// not end: it can alternate two yielding threads for ever.)
    #[test]
    fn two_producers_whole_items_committed_in_reserved_order() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            assert_eq!(crate::page_size(), 4096, "the model assumes 4 KiB pages");
            let (mut tx, mut rx) = channel::<Item>(2).unwrap();
            let mut tx1 = tx.clone();
            let t = thread::spawn(move || {
                assert!(tx1.push([1; 2048]).is_ok(), "room for both");
            });
            assert!(tx.push([2; 2048]).is_ok(), "room for both");
            let mut seen = Vec::new();
            while seen.len() < 2 {
                match rx.pop() {
                    Some(x) => {
                        assert!(x.iter().all(|&b| b == x[0]), "a whole item");
                        seen.push(x[0]);
                    }
                    None => thread::yield_now(),
                }
            }
            seen.sort_unstable();
            assert_eq!(seen, [1, 2]);
            t.join().unwrap();
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_exact_and_refusals_change_nothing() {
        let (mut tx, mut rx) = channel::<u32>(10).unwrap();
        let mut tx2 = tx.clone();
        assert_eq!(tx.write(&[1; 7]), 7);
        assert_eq!(tx2.write(&[2; 7]), 3, "what fits");
        assert_eq!(tx.push(9), Err(9));
        assert_eq!(rx.pop(), Some(1));
        assert_eq!(tx2.push(3), Ok(()));
        let mut out = [0u32; 20];
        assert_eq!(rx.read(&mut out), 10);
        assert_eq!(&out[..10], &[1, 1, 1, 1, 1, 1, 2, 2, 2, 3]);
        assert_eq!(rx.pop(), None);
        assert!(!rx.is_abandoned());
        drop((tx, tx2));
        assert!(rx.is_abandoned(), "every producer gone");
        let (tx, rx) = channel::<u32>(10).unwrap();
        drop(rx);
        assert!(tx.is_abandoned());
    }

    #[test]
    fn four_producers_every_item_once_each_in_order() {
        const PER: u64 = if cfg!(miri) { 2_000 } else { 200_000 };
        let (tx, mut rx) = channel::<u64>(1000).unwrap();
        let workers: Vec<_> = (0..4u64)
            .map(|w| {
                let mut tx = tx.clone();
                std::thread::spawn(move || {
                    let mut i = 0;
                    while i < PER {
                        // Batches of 1 to 7 items, some across the wrap.
                        let k = (i % 7 + 1).min(PER - i);
                        let batch: Vec<u64> = (i..i + k).map(|j| w << 32 | j).collect();
                        let mut sent = 0;
                        while sent < batch.len() {
                            sent += tx.write(&batch[sent..]);
                            if sent < batch.len() {
                                std::thread::yield_now();
                            }
                        }
                        i += k;
                    }
                })
            })
            .collect();
        drop(tx);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut next = [0u64; 4];
        let mut got = 0;
        let mut buf = [0u64; 64];
        while got < 4 * PER {
            assert!(
                std::time::Instant::now() < deadline,
                "items lost: {got} arrived"
            );
            let n = rx.read(&mut buf);
            for &v in &buf[..n] {
                let (w, j) = ((v >> 32) as usize, v & 0xffff_ffff);
                assert_eq!(j, next[w], "producer {w}");
                next[w] += 1;
            }
            got += n as u64;
            if n == 0 {
                std::thread::yield_now();
            }
        }
        for t in workers {
            t.join().unwrap();
        }
        assert_eq!(next, [PER; 4]);
    }
}
