//! A ring of fixed-size items over a [`Ring`].

use crate::error::{Error, Result};
use crate::ring::{GrantExport, ReadExport, Ring};

/// A ring of `capacity` items of `item_size` bytes each: audio frames,
/// samples, video frames. Every count is in items, and the ring only ever
/// holds, hands out and publishes whole items. Its memory is a whole
/// number of both pages and items, so items never straddle the end of the
/// memory (unless that would more than double the memory and add more
/// than 1 MiB: then pages only, and the mirror keeps each item contiguous
/// anyway).
///
/// The views, grants and their rules are the [`Ring`]'s (see there), with
/// counts in items. [`latest`](TypedRing::latest) and
/// [`export_latest`](TypedRing::export_latest) show the newest `n` items
/// as one slice in O(1), the read of a sliding window.
///
/// ```
/// use picoring::TypedRing;
///
/// // A window of 4 stereo f32 frames (8 bytes each).
/// let mut w = TypedRing::with_capacity(4, 8).unwrap();
/// for i in 0..6u8 {
///     w.push_overwrite(&[i; 8]).unwrap();
/// }
/// assert_eq!(w.len(), 4);
/// assert_eq!(w.latest(2).unwrap(), &[[4u8; 8], [5; 8]].concat()[..]);
/// assert!(w.latest(5).is_err());
/// ```
#[derive(Debug)]
pub struct TypedRing {
    ring: Ring,
    item: usize,
}

impl TypedRing {
    /// A ring that holds exactly `capacity` items of `item_size` bytes.
    ///
    /// # Errors
    /// [`Error::ZeroCapacity`] if either is 0, [`Error::CapacityTooLarge`]
    /// past [`MAX_CAPACITY`](crate::MAX_CAPACITY) bytes (memory rounded up
    /// included), or the errors of [`Ring::with_capacity`].
    pub fn with_capacity(capacity: usize, item_size: usize) -> Result<TypedRing> {
        if capacity == 0 || item_size == 0 {
            return Err(Error::ZeroCapacity);
        }
        let bytes = capacity
            .checked_mul(item_size)
            .ok_or(Error::CapacityTooLarge {
                requested: usize::MAX,
                max: crate::MAX_CAPACITY,
            })?;
        Ok(TypedRing {
            ring: Ring::with_unit(bytes, item_size)?,
            item: item_size,
        })
    }

    /// Bytes per item.
    #[inline]
    pub fn item_size(&self) -> usize {
        self.item
    }

    /// The most items the ring holds.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.ring.capacity() / self.item
    }

    /// Items readable now.
    #[inline]
    pub fn len(&self) -> usize {
        self.ring.len() / self.item
    }

    /// True when no item is readable.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Items a push can take now (0 while a grant is open).
    #[inline]
    pub fn free(&self) -> usize {
        self.ring.free() / self.item
    }

    /// The byte ring underneath (all its counts are whole items).
    #[inline]
    pub fn as_ring(&self) -> &Ring {
        &self.ring
    }

    /// Items of the open grant, or `None`.
    #[inline]
    pub fn grant_len(&self) -> Option<usize> {
        self.ring.grant_len().map(|n| n / self.item)
    }

    /// `n` items as bytes, saturating (a count that large is refused by
    /// the ring anyway, and the bindings quote the count as given).
    #[inline]
    fn bytes(&self, n: usize) -> usize {
        n.saturating_mul(self.item)
    }

    /// A byte-counted error of the ring, in items.
    fn in_items(&self, e: Error) -> Error {
        match e {
            Error::OutOfRange {
                arg,
                requested,
                limit,
                what,
            } => Error::OutOfRange {
                arg,
                requested: requested / self.item,
                limit: limit / self.item,
                what,
            },
            other => other,
        }
    }

    /// Checks that `data` is whole items.
    fn whole(&self, data: &[u8]) -> Result<()> {
        if data.len() % self.item == 0 {
            Ok(())
        } else {
            Err(Error::PartialItem {
                len: data.len(),
                item_size: self.item,
            })
        }
    }

    /// Appends all of `data` (whole items), or nothing (`false`) if it does
    /// not fit or a grant is open.
    ///
    /// # Errors
    /// [`Error::PartialItem`] if `data` is not whole items; nothing changes.
    #[inline]
    pub fn push(&mut self, data: &[u8]) -> Result<bool> {
        self.whole(data)?;
        Ok(self.ring.push_slice(data))
    }

    /// Appends `data` (whole items), dropping the oldest items to make
    /// room; returns how many items were dropped (those of `data` that
    /// could never fit included).
    ///
    /// # Errors
    /// [`Error::PartialItem`], or as [`Ring::push_overwrite`]
    /// ([`Error::Pinned`] if a live export shows items it would drop,
    /// [`Error::GrantOpen`]); nothing changes then.
    pub fn push_overwrite(&mut self, data: &[u8]) -> Result<usize> {
        self.whole(data)?;
        Ok(self.ring.push_overwrite(data)? / self.item)
    }

    /// Moves the oldest whole items that fit in `out` into it; returns how
    /// many bytes (a multiple of the item size).
    #[inline]
    pub fn pop_into(&mut self, out: &mut [u8]) -> usize {
        let n = out.len() / self.item * self.item;
        self.ring.pop_into(&mut out[..n])
    }

    /// Like [`TypedRing::pop_into`], into memory that may be
    /// uninitialised (see [`Ring::pop_into_uninit`]).
    #[inline]
    pub fn pop_into_uninit(&mut self, out: &mut [std::mem::MaybeUninit<u8>]) -> usize {
        let n = out.len() / self.item * self.item;
        self.ring.pop_into_uninit(&mut out[..n])
    }

    /// Every readable item, as one slice of bytes. O(1).
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        self.ring.as_slice()
    }

    /// The newest `n` items, as one slice of bytes. O(1), however the
    /// data wraps.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `n > len()`.
    pub fn latest(&self, n: usize) -> Result<&[u8]> {
        let len = self.len();
        if n > len {
            return Err(latest_too_many(n, len));
        }
        let all = self.ring.as_slice();
        Ok(&all[all.len() - n * self.item..])
    }

    /// The item at `index` (from the oldest), as its bytes.
    #[inline]
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        let at = index.checked_mul(self.item)?;
        self.ring.as_slice().get(at..at + self.item)
    }

    /// Exports every readable item (see [`Ring::export_readable`]).
    #[inline]
    pub fn export_readable(&mut self) -> ReadExport {
        self.ring.export_readable()
    }

    /// Exports the newest `n` items, pinned like any readable export: a
    /// sliding window's view that later pushes never change.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `n > len()`; nothing changes then.
    pub fn export_latest(&mut self, n: usize) -> Result<ReadExport> {
        let len = self.len();
        if n > len {
            return Err(latest_too_many(n, len));
        }
        self.ring.export_readable_from((len - n) * self.item)
    }

    /// Exports the readable items from the `skip`th on (the item at index
    /// `skip` first), pinned like any readable export.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `skip > len()`; nothing changes then.
    pub fn export_from(&mut self, skip: usize) -> Result<ReadExport> {
        let b = self.bytes(skip);
        self.ring
            .export_readable_from(b)
            .map_err(|e| self.in_items(e))
    }

    /// Ends a readable export (see [`Ring::release`]).
    #[inline]
    pub fn release(&mut self, export: ReadExport) -> bool {
        self.ring.release(export)
    }

    /// Opens the grant over `n` items of free space (all whole free items
    /// for `None`) and exports it (see [`Ring::export_grant`]).
    ///
    /// # Errors
    /// As [`Ring::export_grant`], counted in items.
    pub fn export_grant(&mut self, n: Option<usize>) -> Result<GrantExport> {
        let n = n.map(|n| self.bytes(n));
        self.ring.export_grant(n).map_err(|e| self.in_items(e))
    }

    /// Ends an exported grant (see [`Ring::release_grant`]).
    #[inline]
    pub fn release_grant(&mut self, export: GrantExport) -> bool {
        self.ring.release_grant(export)
    }

    /// True if `export` is the open grant.
    #[inline]
    pub fn is_open_grant(&self, export: &GrantExport) -> bool {
        self.ring.is_open_grant(export)
    }

    /// Publishes `n` items written into the open grant, and ends it.
    ///
    /// # Errors
    /// As [`Ring::advance_head`], counted in items.
    pub fn advance_head(&mut self, n: usize) -> Result<()> {
        let b = self.bytes(n);
        self.ring.advance_head(b).map_err(|e| self.in_items(e))
    }

    /// Consumes `n` items.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `n > len()`; nothing changes then.
    pub fn advance_tail(&mut self, n: usize) -> Result<()> {
        let b = self.bytes(n);
        self.ring.advance_tail(b).map_err(|e| self.in_items(e))
    }

    /// Consumes every readable item (an open grant stays open).
    #[inline]
    pub fn clear(&mut self) {
        self.ring.clear();
    }

    /// Number of live exports, readable and grant.
    #[inline]
    pub fn live_exports(&self) -> usize {
        self.ring.live_exports()
    }

    /// True if this is a child process whose copy could not be made at
    /// `fork()` (see [`Ring::is_lost`]).
    #[inline]
    pub fn is_lost(&self) -> bool {
        self.ring.is_lost()
    }
}

fn latest_too_many(n: usize, len: usize) -> Error {
    Error::OutOfRange {
        arg: "n",
        requested: n,
        limit: len,
        what: "the items readable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_whole_pages_and_items() {
        let page = crate::page_size();
        for item in [1, 2, 3, 4, 8, 12, 921_600] {
            let r = TypedRing::with_capacity(5, item).unwrap();
            let m = r.as_ring().memory_len();
            // Whole items unless that costs more than twice the pages and
            // over 1 MiB more (a 640x480 RGB frame with 64 KiB pages).
            let (mut a, mut b) = (page, item);
            while b != 0 {
                (a, b) = (b, a % b);
            }
            let lcm = page / a * item;
            let whole = (5 * item).div_ceil(lcm) * lcm;
            let pages = (5 * item).div_ceil(page) * page;
            if whole <= 2 * pages || whole - pages <= 1 << 20 {
                assert_eq!(m, whole, "item {item}");
            } else {
                assert_eq!(m, pages, "item {item}");
            }
            assert_eq!(m % page, 0);
            assert!(m >= 5 * item);
            assert_eq!(r.capacity(), 5);
        }
        if page == 4096 {
            // With 4 KiB pages a frame of 921,600 bytes gets whole items.
            let m = TypedRing::with_capacity(5, 921_600).unwrap();
            assert_eq!(m.as_ring().memory_len() % 921_600, 0);
        }
        // An odd size of many pages: whole items would cost thousands of
        // times the memory; pages only, then.
        for item in [4097, 100_003] {
            let r = TypedRing::with_capacity(2, item).unwrap();
            let m = r.as_ring().memory_len();
            assert_eq!(m, (2 * item).div_ceil(page) * page, "item {item}");
        }
        assert!(TypedRing::with_capacity(0, 4).is_err());
        assert!(TypedRing::with_capacity(4, 0).is_err());
        assert!(TypedRing::with_capacity(usize::MAX, 2).is_err());
    }

    #[test]
    fn three_byte_items_wrap_on_item_boundaries() {
        let mut r = TypedRing::with_capacity(1000, 3).unwrap();
        let mut next = 0u8;
        for round in 0..50 {
            let batch: Vec<u8> = (0..(37 + round) * 3)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            r.push_overwrite(&batch).unwrap();
            let ring = r.as_ring();
            // The read position is always at an item boundary of memory.
            let off = ring.as_slice().as_ptr() as usize - ring.memory_start() as usize;
            assert_eq!(ring.len() % 3, 0);
            assert_eq!(off % 3, 0, "round {round}");
            assert_eq!(r.latest(1).unwrap(), &batch[batch.len() - 3..]);
            if round % 7 == 0 {
                r.advance_tail(r.len()).unwrap(); // idle: the ring rewinds
            }
        }
    }

    #[test]
    fn partial_items_are_refused_and_change_nothing() {
        let mut r = TypedRing::with_capacity(4, 4).unwrap();
        assert!(matches!(
            r.push(&[1; 6]),
            Err(Error::PartialItem {
                len: 6,
                item_size: 4
            })
        ));
        assert!(r.push_overwrite(&[1; 3]).is_err());
        assert!(r.is_empty());
        assert!(r.push(&[]).unwrap());
        assert!(r.push(&[7; 8]).unwrap());
        let mut out = [0u8; 7];
        assert_eq!(r.pop_into(&mut out), 4, "only whole items");
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn counts_are_items_and_errors_too() {
        let mut r = TypedRing::with_capacity(8, 2).unwrap();
        assert!(r.push(&[1; 6]).unwrap());
        assert_eq!((r.len(), r.free()), (3, 5));
        match r.advance_tail(4) {
            Err(Error::OutOfRange {
                requested: 4,
                limit: 3,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        let g = r.export_grant(Some(2)).unwrap();
        assert_eq!((g.len(), r.grant_len()), (4, Some(2)));
        match r.advance_head(3) {
            Err(Error::OutOfRange {
                requested: 3,
                limit: 2,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        r.advance_head(1).unwrap();
        assert!(!r.release_grant(g), "published: not open any more");
        assert_eq!(r.len(), 4);
        assert!(r.export_grant(Some(5)).is_err());
        assert_eq!(r.get(3), Some(&r.as_slice()[6..8]));
        assert_eq!(r.get(4), None);
        assert_eq!(r.get(usize::MAX), None);
    }

    #[test]
    fn a_latest_export_pins_its_items() {
        let mut r = TypedRing::with_capacity(4, 2).unwrap();
        r.push(&[1, 1, 2, 2, 3, 3, 4, 4]).unwrap();
        let e = r.export_latest(2).unwrap();
        assert_eq!(e.len(), 4);
        assert!(r.export_latest(5).is_err());
        // Dropping the two oldest items is fine; the window's are not.
        assert_eq!(r.push_overwrite(&[5, 5, 6, 6]).unwrap(), 2);
        assert!(matches!(
            r.push_overwrite(&[7, 7]),
            Err(Error::Pinned { .. })
        ));
        assert_eq!(r.latest(4).unwrap(), &[3, 3, 4, 4, 5, 5, 6, 6]);
        assert!(r.release(e));
        assert_eq!(r.push_overwrite(&[7, 7]).unwrap(), 1);
        assert_eq!(r.live_exports(), 0);
    }
}
