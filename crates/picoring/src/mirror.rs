//! The mirrored memory region.
//!
//! ```text
//!  base                      base + size                 base + 2*size
//!   |  physical pages 0..n    |  the same pages 0..n again  |
//!   +-------------------------+-----------------------------+
//!         ^ offset o                  ^ offset o + size: same byte
//! ```
//!
//! Any run of at most `size` bytes that starts in the first half is one
//! contiguous slice, however it wraps.

use std::ptr::NonNull;

use crate::arena::{self, Slot};
use crate::error::{Error, Result};
use crate::sys;

/// The largest region this crate maps, in bytes (16 TiB on 64-bit
/// targets): far above any real ring, low enough that no position or size
/// computation can overflow.
pub const MAX_CAPACITY: usize = if usize::BITS >= 64 { 1 << 44 } else { 1 << 29 };

/// The unit ring memory is a multiple of, in bytes: the size of a memory
/// page, or on Windows the allocation granularity (64 KiB), since views of
/// a section start on multiples of it.
///
/// ```
/// assert!(picoring::page_size().is_power_of_two());
/// ```
pub fn page_size() -> usize {
    sys::page_size()
}

/// The memory backend this build maps rings with: `"linux (memfd)"`,
/// `"posix (shm_open)"` (macOS, the BSDs, or Linux with the `posix-shm`
/// feature), `"windows (placeholders)"` or `"windows (reserve, free,
/// map)"` (once a ring has been made; `"windows"` before), or
/// `"heap (Miri)"`.
///
/// ```
/// assert!(!picoring::backend().is_empty());
/// ```
pub fn backend() -> &'static str {
    sys::backend()
}

/// Rounds `n` up to a whole number of pages, or `None` if that exceeds
/// [`MAX_CAPACITY`].
pub(crate) fn round_to_pages(n: usize) -> Option<usize> {
    let page = page_size();
    let rounded = n.checked_add(page - 1)? / page * page;
    (rounded <= MAX_CAPACITY).then_some(rounded)
}

/// Rounds `n` up to a whole number of both pages and `unit`s (their least
/// common multiple), so that items of `unit` bytes never straddle the end
/// of the memory; or, when that would more than double the memory and add
/// more than 1 MiB (an odd item size of many pages: the multiple of
/// 100,003 and 4,096 is 400 MB),
/// to pages only: the mirror keeps such items contiguous all the same, and
/// their elements stay aligned (a page is a multiple of every element
/// size). `None` if the result exceeds [`MAX_CAPACITY`].
pub(crate) fn round_to_units(n: usize, unit: usize) -> Option<usize> {
    let page = page_size();
    let pages = round_to_pages(n)?;
    let (mut a, mut b) = (page, unit.max(1));
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let whole = (page / a)
        .checked_mul(unit.max(1))
        .and_then(|step| Some(n.checked_add(step - 1)? / step * step))
        .filter(|&r| r <= MAX_CAPACITY && (r <= pages.saturating_mul(2) || r - pages <= 1 << 20));
    Some(whole.unwrap_or(pages))
}

/// A region of `len()` bytes mapped twice, back to back: byte `i` of the
/// first half is byte `i` of the second half.
///
/// The memory starts zeroed. It is given back when the value is dropped.
/// Small regions share arenas with others (one kernel mapping each, see
/// the crate docs). After `fork()` the child gets its own private copy of
/// the bytes the owner marked live.
///
/// ```
/// let m = picoring::MirrorBuf::new(1).unwrap();
/// assert_eq!(m.len(), picoring::page_size());
/// let p = m.as_ptr();
/// # if cfg!(miri) { return; } // Miri's stand-in memory is not mirrored
/// // SAFETY: both addresses lie inside the 2 * len() bytes of the mapping,
/// // and nothing else uses it.
/// unsafe {
///     *p.add(3) = 42;
///     assert_eq!(*p.add(m.len() + 3), 42);
/// }
/// ```
pub struct MirrorBuf {
    /// Start of the `2 * size` bytes of the two mappings.
    base: NonNull<u8>,
    /// Bytes in one half: a positive multiple of the page size.
    size: usize,
    /// Where the memory comes from.
    slot: Slot,
    /// False when the owner vouches that nothing was ever written, so that
    /// the memory need not be wiped when it is given back.
    touched: bool,
}

// SAFETY: `MirrorBuf` owns its memory exclusively (like a `Box<[u8]>`); the
// raw pointer is never shared with another owner, so moving it to another
// thread is sound.
unsafe impl Send for MirrorBuf {}
// SAFETY: `&MirrorBuf` only reads `base`, `size` and atomics.
unsafe impl Sync for MirrorBuf {}

impl MirrorBuf {
    /// Maps a region of at least `min_len` bytes (rounded up to whole pages).
    ///
    /// # Errors
    /// [`Error::ZeroCapacity`] for 0, [`Error::CapacityTooLarge`] past
    /// [`MAX_CAPACITY`], [`Error::Os`] when the OS refuses (no memory, no file
    /// descriptors, too many mappings).
    pub fn new(min_len: usize) -> Result<MirrorBuf> {
        Self::with_unit(min_len, 1)
    }

    /// Like [`MirrorBuf::new`], with a length that is also a whole number
    /// of `unit`s (so that items of `unit` bytes wrap on item boundaries),
    /// unless that would more than double it and add more than 1 MiB.
    ///
    /// ```
    /// let m = picoring::MirrorBuf::with_unit(1, 3).unwrap();
    /// assert_eq!(m.len(), 3 * picoring::page_size());
    /// ```
    ///
    /// # Errors
    /// As [`MirrorBuf::new`].
    pub fn with_unit(min_len: usize, unit: usize) -> Result<MirrorBuf> {
        if min_len == 0 {
            return Err(Error::ZeroCapacity);
        }
        let size = round_to_units(min_len, unit).ok_or(Error::CapacityTooLarge {
            requested: min_len,
            max: MAX_CAPACITY,
        })?;
        let m = arena::map(size).map_err(|e| e.for_request(min_len))?;
        Ok(MirrorBuf {
            base: m.base,
            size,
            slot: m.slot,
            touched: true,
        })
    }

    /// Bytes in one half of the mirror.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.size
    }

    /// Start of the mapping: `len() * 2` bytes are addressable from here.
    pub fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// True in a child process whose private copy could not be made at
    /// fork time: the memory then reads as zeros and must not be used.
    #[inline]
    pub fn is_lost(&self) -> bool {
        self.slot.is_lost()
    }

    /// Marks what a child process must see after `fork()`: `len` bytes of
    /// data from offset `off` (wrapping past the end of the first half),
    /// then `grant` bytes handed out for writing, of which only the pages
    /// that hold memory are copied. The rest is not copied for it. Starts
    /// empty.
    #[inline]
    pub(crate) fn set_live(&self, off: usize, len: usize, grant: usize) {
        debug_assert!(off < self.size && len + grant <= self.size);
        self.slot.set_live(off, len, grant);
    }

    /// Tells the drop that nothing was ever written to the memory.
    pub(crate) fn set_untouched(&mut self) {
        self.touched = false;
    }

    /// Makes the other half show the `len` bytes just written at offset
    /// `off` (`off < len()`, `len <= len()`). Real mirrors do this in
    /// hardware, so this does nothing; under Miri the two halves are
    /// separate heap memory and the bytes are copied.
    #[inline(always)]
    pub(crate) fn sync(&self, off: usize, len: usize) {
        debug_assert!(off < self.size && len <= self.size);
        #[cfg(miri)]
        {
            let first = len.min(self.size - off);
            let p = self.base.as_ptr();
            // `off + first <= size` and `len <= size`: every range lies in
            // the `2 * size` bytes, source and destination in different
            // halves. Callers hold `&mut` on the owner: no slice is alive.
            // SAFETY: in bounds, non-overlapping and unaliased, as above.
            unsafe {
                std::ptr::copy_nonoverlapping(p.add(off), p.add(off + self.size), first);
                std::ptr::copy_nonoverlapping(p.add(self.size), p, len - first);
            }
        }
    }
}

impl Drop for MirrorBuf {
    fn drop(&mut self) {
        // `&mut self` means no slice borrowed from this value is alive.
        self.slot.free(!self.touched);
    }
}

impl std::fmt::Debug for MirrorBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorBuf")
            .field("base", &self.base)
            .field("len", &self.size)
            .finish()
    }
}
