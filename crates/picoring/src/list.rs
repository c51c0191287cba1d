//! A growable byte list that never moves or copies its items as it grows.

use std::ptr::NonNull;

use crate::error::{Error, Result};
use crate::mirror::{round_to_pages, MAX_CAPACITY};
use crate::sys;

/// A live export of a [`PicoList`]: its first `len()` items, handed to
/// another runtime as a raw pointer. Until it is handed back to
/// [`PicoList::release`], those bytes never change and never move. It is
/// not `Clone`: each export is released once.
#[must_use = "an export freezes its bytes until it is released"]
#[derive(Debug, PartialEq, Eq)]
pub struct ListExport {
    ptr: *const u8,
    len: usize,
    /// The list's id, or 0 for a token made by `from_raw`.
    list: u64,
}

// SAFETY: plain numbers describing a range; never dereferenced here.
unsafe impl Send for ListExport {}
// SAFETY: as above.
unsafe impl Sync for ListExport {}

impl ListExport {
    /// First item shown (dangling for an empty view).
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// Items shown.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the view shows no item.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The export as a number, for runtimes that keep one word per view;
    /// [`ListExport::from_raw`] turns it back.
    pub fn into_raw(self) -> usize {
        self.len
    }

    /// Turns a number made by [`ListExport::into_raw`] back into the export,
    /// to release it (its pointer is null).
    ///
    /// # Safety
    /// `raw` must come from `into_raw` on an export of the list it will be
    /// released to, and each such number must be turned back at most once:
    /// releasing an export twice would unfreeze bytes that another live
    /// view still shows.
    pub unsafe fn from_raw(raw: usize) -> ListExport {
        ListExport {
            ptr: std::ptr::null(),
            len: raw,
            list: 0,
        }
    }
}

/// Address space reserved by the first growth: costs no memory.
#[cfg(not(miri))]
const INITIAL_RESERVE: usize = if usize::BITS >= 64 { 1 << 30 } else { 1 << 24 };
/// Under Miri a reservation is real heap memory: keep it small, which also
/// sends growth through the move path early.
#[cfg(miri)]
const INITIAL_RESERVE: usize = 1 << 16;
/// Smallest step by which memory is made usable.
const MIN_COMMIT: usize = 64 * 1024;

/// A growable list of bytes whose storage never moves while it grows.
///
/// The first growth reserves a large range of address space with no access
/// and no memory behind it (1 GiB on 64-bit targets); growing makes pages
/// of it usable in place (`mprotect`), so existing bytes are never copied
/// and pointers to them stay valid. Pages cost memory only once written, so
/// resident memory follows the data. Past the reservation, the range is
/// extended where it lies if the address space after it is free; otherwise
/// it is moved by remapping page tables (no data is copied), which is
/// refused while a view is exported.
///
/// ```
/// use picoring::PicoList;
///
/// let mut list = PicoList::new();
/// list.extend_from_slice(b"list_").unwrap();
/// let base = list.as_slice().as_ptr();
/// list.extend_from_slice(&vec![7u8; 1 << 20]).unwrap();
/// # // Miri's stand-in reservation is 64 KiB: there the list has moved.
/// # let base = if cfg!(miri) { list.as_slice().as_ptr() } else { base };
/// assert_eq!(list.as_slice().as_ptr(), base, "grew in place");
/// assert_eq!(list.get(0), Some(b'l'));
/// assert_eq!(list.len(), 5 + (1 << 20));
/// ```
#[derive(Debug, Default)]
pub struct PicoList {
    /// Start of the reservation; `None` until the first growth.
    base: Option<NonNull<u8>>,
    /// Bytes in the list. Invariant: `len <= committed <= reserved`.
    len: usize,
    /// Bytes from `base` that are readable and writable.
    committed: usize,
    /// Bytes of address space reserved from `base`.
    reserved: usize,
    /// Lengths of live exported views (a multiset; few).
    exports: Vec<usize>,
    /// Tells this list's exports from other lists' (0 until the first).
    id: u64,
}

// SAFETY: the list owns its mapping exclusively, like a `Vec<u8>`.
unsafe impl Send for PicoList {}
// SAFETY: `&PicoList` only reads.
unsafe impl Sync for PicoList {}

impl PicoList {
    /// An empty list; no memory or address space is taken until it grows.
    pub const fn new() -> PicoList {
        PicoList {
            base: None,
            len: 0,
            committed: 0,
            reserved: 0,
            exports: Vec::new(),
            id: 0,
        }
    }

    /// An empty list with room for `capacity` bytes made usable up front.
    ///
    /// # Errors
    /// [`Error::CapacityTooLarge`] or [`Error::Os`].
    pub fn with_capacity(capacity: usize) -> Result<PicoList> {
        let mut list = PicoList::new();
        list.reserve(capacity)?;
        Ok(list)
    }

    /// Bytes in the list.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the list has no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes that can be held without another system call.
    pub fn capacity(&self) -> usize {
        self.committed
    }

    /// Bytes of address space reserved: how far the list grows without
    /// moving.
    pub fn reserved(&self) -> usize {
        self.reserved
    }

    /// The items, as one slice.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self.base {
            // SAFETY: `len <= committed` bytes from `base` are readable and
            // were all written (or are zero pages); `&self` excludes writers.
            Some(p) => unsafe { std::slice::from_raw_parts(p.as_ptr(), self.len) },
            None => &[],
        }
    }

    /// The items, as one mutable slice.
    ///
    /// # Errors
    /// [`Error::Pinned`] while a view is exported (its bytes must not change).
    pub fn as_mut_slice(&mut self) -> Result<&mut [u8]> {
        if !self.exports.is_empty() {
            return Err(Error::Pinned { what: "writing" });
        }
        Ok(match self.base {
            // SAFETY: as in `as_slice`, and `&mut self` makes it exclusive.
            Some(p) => unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), self.len) },
            None => &mut [],
        })
    }

    /// The byte at `index`.
    #[inline]
    pub fn get(&self, index: usize) -> Option<u8> {
        self.as_slice().get(index).copied()
    }

    /// Sets the byte at `index`.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `index >= len()`; [`Error::Pinned`] if a
    /// live view shows that byte.
    pub fn set(&mut self, index: usize, value: u8) -> Result<()> {
        if index >= self.len {
            return Err(Error::OutOfRange {
                arg: "index",
                requested: index,
                limit: self.len,
                what: "the last index",
            });
        }
        if self.exported_len() > index {
            return Err(Error::Pinned {
                what: "setting an item",
            });
        }
        let p = self.base.expect("len > 0 implies a base");
        // SAFETY: `index < len <= committed`, so the byte is writable memory
        // of ours; no export shows it (checked above).
        unsafe { *p.as_ptr().add(index) = value };
        Ok(())
    }

    /// Makes room for `additional` more bytes.
    ///
    /// # Errors
    /// [`Error::CapacityTooLarge`], [`Error::Os`], or [`Error::Pinned`] if
    /// the reservation would have to move while a view is exported.
    pub fn reserve(&mut self, additional: usize) -> Result<()> {
        let need = self
            .len
            .checked_add(additional)
            .ok_or(Error::CapacityTooLarge {
                requested: usize::MAX,
                max: MAX_CAPACITY,
            })?;
        if need <= self.committed {
            return Ok(());
        }
        let too_large = Error::CapacityTooLarge {
            requested: need,
            max: MAX_CAPACITY,
        };
        let need_pages = round_to_pages(need).ok_or(too_large)?;
        let base = match self.base {
            Some(b) => b,
            None => {
                let (b, reserved) = reserve_up_to(need_pages.max(INITIAL_RESERVE), need_pages)?;
                self.base = Some(b);
                self.reserved = reserved;
                b
            }
        };
        let base = if need_pages > self.reserved {
            self.grow_reservation(base, need_pages)?
        } else {
            base
        };
        let target = need_pages
            .max(self.committed.saturating_mul(2))
            .max(MIN_COMMIT)
            .min(self.reserved);
        let target = round_to_pages(target)
            .unwrap_or(self.reserved)
            .min(self.reserved);
        if target > self.committed {
            // SAFETY: `committed .. target` lies inside our reservation.
            unsafe { sys::commit(base.as_ptr().add(self.committed), target - self.committed)? };
            self.committed = target;
        }
        Ok(())
    }

    /// Grows the reservation to at least `need` bytes; returns the base
    /// (which moves only when no view is exported).
    fn grow_reservation(&mut self, base: NonNull<u8>, need: usize) -> Result<NonNull<u8>> {
        let want = need
            .max(self.reserved.saturating_mul(2))
            .min(round_to_pages(MAX_CAPACITY).unwrap_or(MAX_CAPACITY));
        match self.grow_reservation_to(base, want) {
            // Short of address space (a ulimit -v, say): try the least
            // that will do before giving up.
            Err(e) if e.is_out_of_memory() && want > need => self.grow_reservation_to(base, need),
            r => r,
        }
    }

    fn grow_reservation_to(
        &mut self,
        base: NonNull<u8>,
        new_reserved: usize,
    ) -> Result<NonNull<u8>> {
        // SAFETY: `base + reserved` is the end of our reservation.
        if unsafe {
            sys::extend_reservation(
                base.as_ptr().add(self.reserved),
                new_reserved - self.reserved,
            )
        } {
            self.reserved = new_reserved;
            return Ok(base);
        }
        if !self.exports.is_empty() {
            return Err(Error::Pinned {
                what: "growing the list past its reserved address space (which moves it)",
            });
        }
        if !sys::CAN_REMAP {
            return self.move_by_copy(base, new_reserved);
        }
        // Make the whole reservation one mapping, then move its page tables.
        // SAFETY: `committed .. reserved` lies inside our reservation.
        unsafe {
            sys::commit(
                base.as_ptr().add(self.committed),
                self.reserved - self.committed,
            )?
        };
        self.committed = self.reserved;
        // SAFETY: the reservation is one mapping now (uniform protection),
        // and no export points into it; `&mut self` means no slice does.
        match unsafe { sys::remap_move(base.as_ptr(), self.reserved, new_reserved) } {
            Ok(p) => {
                self.base = Some(p);
                self.reserved = new_reserved;
                self.committed = new_reserved;
                Ok(p)
            }
            // mremap refused: a fresh reservation and one copy.
            Err(_) => self.move_by_copy(base, new_reserved),
        }
    }

    /// Moves the items into a fresh reservation of `new_reserved` bytes
    /// with one copy (where the system cannot move page tables).
    fn move_by_copy(&mut self, base: NonNull<u8>, new_reserved: usize) -> Result<NonNull<u8>> {
        let p = sys::reserve(new_reserved)?;
        let used = round_to_pages(self.len.max(1))
            .unwrap_or(self.reserved)
            .min(new_reserved);
        // SAFETY: `p` is our fresh reservation, `used <= new_reserved`.
        if let Err(e) = unsafe { sys::commit(p.as_ptr(), used) } {
            // SAFETY: the fresh reservation is used by no one.
            unsafe { sys::unmap(p.as_ptr(), new_reserved) };
            return Err(e);
        }
        // SAFETY: both ranges hold at least `len` bytes and are distinct
        // mappings; the old one is then given back.
        unsafe {
            std::ptr::copy_nonoverlapping(base.as_ptr(), p.as_ptr(), self.len);
            sys::unmap(base.as_ptr(), self.reserved);
        }
        self.base = Some(p);
        self.reserved = new_reserved;
        self.committed = used;
        Ok(p)
    }

    /// Appends one byte.
    ///
    /// # Errors
    /// As [`PicoList::reserve`].
    #[inline]
    pub fn push(&mut self, value: u8) -> Result<()> {
        if self.len == self.committed {
            self.reserve(1)?;
        }
        let p = self.base.expect("reserved");
        // SAFETY: `len < committed`, so the byte is writable memory of ours,
        // beyond every exported view (views show at most `len` bytes).
        unsafe { *p.as_ptr().add(self.len) = value };
        self.len += 1;
        Ok(())
    }

    /// Appends all of `data`, or nothing on error.
    ///
    /// # Errors
    /// As [`PicoList::reserve`].
    pub fn extend_from_slice(&mut self, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.reserve(data.len())?;
        let p = self.base.expect("reserved");
        // SAFETY: `len + data.len() <= committed`; the destination is beyond
        // every exported view; `data` cannot alias it (it is unused space
        // that no slice of ours borrows).
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), p.as_ptr().add(self.len), data.len())
        };
        self.len += data.len();
        Ok(())
    }

    /// Removes and returns the last byte.
    ///
    /// # Errors
    /// [`Error::Pinned`] if a live view shows it.
    pub fn pop(&mut self) -> Result<Option<u8>> {
        if self.len == 0 {
            return Ok(None);
        }
        if self.exported_len() >= self.len {
            return Err(Error::Pinned { what: "pop" });
        }
        let b = self.as_slice()[self.len - 1];
        self.len -= 1;
        Ok(Some(b))
    }

    /// Shortens the list to `len` bytes (no-op if already shorter).
    ///
    /// # Errors
    /// [`Error::Pinned`] if a live view shows bytes that would go.
    pub fn truncate(&mut self, len: usize) -> Result<()> {
        if len >= self.len {
            return Ok(());
        }
        if self.exported_len() > len {
            return Err(Error::Pinned {
                what: "shrinking the list",
            });
        }
        self.len = len;
        Ok(())
    }

    /// Removes every byte and gives the memory back to the OS, keeping the
    /// address space.
    ///
    /// # Errors
    /// [`Error::Pinned`] while a view is exported.
    pub fn clear(&mut self) -> Result<()> {
        self.truncate(0)?;
        if let Some(p) = self.base {
            // SAFETY: the committed range is ours and holds no items now.
            if !unsafe { sys::discard(p.as_ptr(), self.committed) } {
                // Decommitted (Windows): committed again as the list grows.
                self.committed = 0;
            }
        }
        Ok(())
    }

    fn exported_len(&self) -> usize {
        self.exports.iter().copied().max().unwrap_or(0)
    }

    /// Exports the items. Until [`PicoList::release`] is called with the
    /// result, those bytes never change and the storage never moves.
    ///
    /// ```
    /// let mut list = picoring::PicoList::new();
    /// list.extend_from_slice(b"abc").unwrap();
    /// let view = list.export();
    /// assert_eq!(view.len(), 3);
    /// assert!(list.set(0, b'x').is_err(), "the view shows that byte");
    /// list.push(b'd').unwrap(); // growth is fine: the items never move
    /// assert!(list.release(view));
    /// list.set(0, b'x').unwrap();
    /// ```
    pub fn export(&mut self) -> ListExport {
        if self.id == 0 {
            self.id = crate::ring::next_id();
        }
        self.exports.push(self.len);
        let p = self
            .base
            .map_or(NonNull::dangling().as_ptr(), |b| b.as_ptr());
        ListExport {
            ptr: p,
            len: self.len,
            list: self.id,
        }
    }

    /// Ends an export; false if no live export had its length (nothing
    /// changes then).
    pub fn release(&mut self, export: ListExport) -> bool {
        if export.list != 0 && export.list != self.id {
            return false;
        }
        match self.exports.iter().position(|&l| l == export.len) {
            Some(i) => {
                self.exports.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Number of live exports.
    pub fn live_exports(&self) -> usize {
        self.exports.len()
    }
}

/// Reserves `want` bytes, or as close to it as the address space allows but
/// no less than `need` (both whole pages): a process limited by
/// `RLIMIT_AS` still gets lists, only with smaller reservations.
fn reserve_up_to(want: usize, need: usize) -> Result<(NonNull<u8>, usize)> {
    let mut len = want;
    loop {
        match sys::reserve(len) {
            Ok(p) => return Ok((p, len)),
            Err(e) if e.is_out_of_memory() && len > need => {
                len = round_to_pages(len / 2).unwrap_or(need).max(need);
            }
            Err(e) => return Err(e),
        }
    }
}

impl Drop for PicoList {
    fn drop(&mut self) {
        if let Some(p) = self.base {
            // SAFETY: the reservation is ours; `&mut self` means nothing
            // borrows it.
            unsafe { sys::unmap(p.as_ptr(), self.reserved) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_without_moving() {
        // Within the first reservation (only 64 KiB under Miri).
        let n = (3 * MIN_COMMIT).min(INITIAL_RESERVE - 1);
        let mut l = PicoList::new();
        l.push(1).unwrap();
        let base = l.as_slice().as_ptr();
        for i in 0..n {
            l.push(i as u8).unwrap();
        }
        assert_eq!(l.as_slice().as_ptr(), base);
        assert_eq!(l.get(1), Some(0));
        assert_eq!(l.len(), n + 1);
    }

    #[test]
    fn exports_freeze_the_bytes_they_show() {
        let mut l = PicoList::new();
        l.extend_from_slice(b"abc").unwrap();
        let e = l.export();
        assert_eq!(e.len(), 3);
        assert!(matches!(l.set(1, 0), Err(Error::Pinned { .. })));
        assert!(matches!(l.pop(), Err(Error::Pinned { .. })));
        l.push(b'd').unwrap();
        l.set(3, b'D').unwrap();
        assert_eq!(l.pop().unwrap(), Some(b'D'));
        let mut other = PicoList::new();
        other.extend_from_slice(b"xyz").unwrap();
        assert!(
            !l.release(other.export()),
            "another list's export changes nothing"
        );
        assert_eq!(l.live_exports(), 1);
        assert!(l.release(e));
        // SAFETY: no export of 3 bytes is live: the stray release is refused.
        assert!(!l.release(unsafe { ListExport::from_raw(3) }));
        l.clear().unwrap();
        assert!(l.is_empty());
        l.push(5).unwrap();
        assert_eq!(l.as_slice(), &[5]);
    }

    #[test]
    #[cfg(not(miri))]
    fn a_move_is_refused_while_a_view_is_alive() {
        let mut l = PicoList::new();
        l.extend_from_slice(b"keep").unwrap();
        let (base, reserved) = (l.as_slice().as_ptr(), l.reserved());
        // Take the address space right after the reservation (on Windows a
        // reservation never extends anyway), so that growing past it moves.
        // SAFETY: `base + reserved` is the end of the list's reservation.
        let end = unsafe { base.add(reserved) }.cast_mut();
        // SAFETY: `end` is the end of a reservation of ours; on Unix this
        // maps a page there, which blocks the list's extension.
        let blocked = unsafe { sys::extend_reservation(end, crate::page_size()) };
        let view = l.export();
        let err = l.reserve(reserved).expect_err("the view pins the bytes");
        assert!(matches!(err, Error::Pinned { .. }), "{err}");
        assert_eq!((l.as_slice(), l.reserved()), (&b"keep"[..], reserved));
        assert!(l.release(view));
        l.reserve(reserved).unwrap();
        assert!(l.reserved() > reserved);
        assert_eq!(l.as_slice(), b"keep");
        assert_ne!(l.as_slice().as_ptr(), base, "it moved");
        if blocked {
            // SAFETY: the page mapped above, used by no one.
            unsafe { sys::unmap(end, crate::page_size()) };
        }
    }

    #[test]
    fn growth_past_the_reservation_keeps_the_data() {
        let mut l = PicoList::new();
        l.extend_from_slice(&[9; 100]).unwrap();
        let reserved = l.reserved();
        l.extend_from_slice(&vec![1; reserved]).unwrap();
        assert!(l.reserved() > reserved);
        assert_eq!(&l.as_slice()[..100], &[9; 100][..]);
        assert_eq!(l.len(), 100 + reserved);
    }
}
