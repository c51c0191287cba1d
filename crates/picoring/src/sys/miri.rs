//! A simulated OS for Miri, which cannot run `mmap` of files, `mprotect`
//! or `mremap`. It exists so that `cargo miri test` checks the ring, list,
//! queue and stream logic (bounds, aliasing, initialisation) on every path
//! except the system calls themselves.
//!
//! * A "mirror" is one heap allocation of `2 * size` bytes; the two halves
//!   are kept equal by [`MirrorBuf::sync`](crate::MirrorBuf), which copies
//!   each write into the other half (the kernel does that for free on real
//!   targets).
//! * A "reservation" is a zeroed heap allocation, readable and writable at
//!   once: committing is a no-op, extending in place always fails, and a
//!   move is an allocate-copy-free.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use crate::error::{Error, Result};

/// A fixed page size, so tests behave the same as on x86_64 Linux.
pub(crate) fn page_size() -> usize {
    4096
}

fn layout(len: usize) -> Result<Layout> {
    Layout::from_size_align(len, page_size()).map_err(|_| Error::CapacityTooLarge {
        requested: len,
        max: isize::MAX as usize,
    })
}

fn alloc_zeroed(len: usize, op: &'static str) -> Result<NonNull<u8>> {
    let layout = layout(len)?;
    // SAFETY: callers never ask for 0 bytes (rings and lists have at least
    // one page), so the layout has a non-zero size.
    let p = unsafe { alloc::alloc_zeroed(layout) };
    NonNull::new(p).ok_or(Error::Os {
        op,
        size: len,
        source: std::io::ErrorKind::OutOfMemory.into(),
    })
}

/// `2 * size` zeroed bytes whose halves start equal.
pub(crate) fn map_mirror(size: usize) -> Result<NonNull<u8>> {
    let total = size.checked_mul(2).ok_or(Error::CapacityTooLarge {
        requested: size,
        max: isize::MAX as usize / 2,
    })?;
    alloc_zeroed(total, "mmap (mirror)")
}

/// `len` zeroed, usable bytes.
pub(crate) fn reserve(len: usize) -> Result<NonNull<u8>> {
    alloc_zeroed(len, "mmap (reserve)")
}

/// Never extends: growth past a reservation takes the move path.
///
/// # Safety
/// None needed here; `unsafe` only to match the real function.
pub(crate) unsafe fn extend_reservation(_end: *mut u8, _len: usize) -> bool {
    false
}

/// Reserved memory is already usable.
///
/// # Safety
/// None needed here; `unsafe` only to match the real function.
pub(crate) unsafe fn commit(_p: *mut u8, _len: usize) -> Result<()> {
    Ok(())
}

/// Zeroes the bytes, as dropping pages does; returns true (still usable).
///
/// # Safety
/// `p .. p + len` must be memory of ours that nothing still reads.
#[must_use]
pub(crate) unsafe fn discard(p: *mut u8, len: usize) -> bool {
    // SAFETY: caller's contract.
    unsafe { std::ptr::write_bytes(p, 0, len) };
    true
}

/// Frees an allocation made by this module.
///
/// # Safety
/// `p` must come from [`map_mirror`], [`reserve`] or [`remap_move`] with
/// exactly `len` bytes, and nothing may point into it anymore.
pub(crate) unsafe fn unmap(p: *mut u8, len: usize) {
    let layout = layout(len).expect("freed with the length it was made with");
    // SAFETY: caller's contract.
    unsafe { alloc::dealloc(p, layout) };
}

/// Moves `old` bytes at `p` into a new zeroed allocation of `new` bytes.
///
/// # Safety
/// As for [`unmap`] with `len = old`; `new >= old`.
pub(crate) unsafe fn remap_move(p: *mut u8, old: usize, new: usize) -> Result<NonNull<u8>> {
    let q = alloc_zeroed(new, "mremap")?;
    // SAFETY: `p` holds `old` bytes (caller's contract), `q` at least as
    // many, and the two allocations are distinct.
    unsafe {
        std::ptr::copy_nonoverlapping(p, q.as_ptr(), old);
        unmap(p, old);
    }
    Ok(q)
}

/// Moving a reservation is a copy here, but it exercises the move path.
pub(crate) const CAN_REMAP: bool = true;

/// Unmaps the mirror of `size` bytes at `p`.
///
/// # Safety
/// As for [`unmap`], over `2 * size` bytes.
pub(crate) unsafe fn unmap_mirror(p: *mut u8, size: usize) {
    // SAFETY: caller's contract.
    unsafe { unmap(p, 2 * size) };
}

/// True for the OS error numbers that mean "out of memory or address space".
pub(crate) fn is_out_of_memory_code(code: i32) -> bool {
    code == libc::ENOMEM
}
