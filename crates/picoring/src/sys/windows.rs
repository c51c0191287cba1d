//! Windows: mirrored memory needs placeholders (`VirtualAlloc2` and
//! `MapViewOfFile3`), which are not implemented yet. Every call fails with a
//! clear error instead of misbehaving.

use std::ptr::NonNull;

use crate::error::{Error, Result};

const WHAT: &str = "mirrored memory on Windows (VirtualAlloc2 placeholders are not implemented)";

pub(crate) fn page_size() -> usize {
    4096
}

pub(crate) fn map_mirror(_size: usize) -> Result<NonNull<u8>> {
    Err(Error::Unsupported { what: WHAT })
}

pub(crate) fn reserve(_len: usize) -> Result<NonNull<u8>> {
    Err(Error::Unsupported { what: WHAT })
}

pub(crate) unsafe fn extend_reservation(_end: *mut u8, _len: usize) -> bool {
    false
}

pub(crate) unsafe fn commit(_p: *mut u8, _len: usize) -> Result<()> {
    Err(Error::Unsupported { what: WHAT })
}

pub(crate) unsafe fn discard(_p: *mut u8, _len: usize) {}

pub(crate) unsafe fn unmap(_p: *mut u8, _len: usize) {}

pub(crate) unsafe fn remap_move(_p: *mut u8, _old: usize, _new: usize) -> Result<NonNull<u8>> {
    Err(Error::Unsupported { what: WHAT })
}
