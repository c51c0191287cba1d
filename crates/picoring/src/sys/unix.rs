//! Mapping code shared by every Unix.

use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::{self, NonNull};

use crate::error::{Error, Result};

/// True where [`remove_pages`] frees a shared file's memory, so that one
/// file can back many rings (arenas of slots): Linux with memfd files.
pub(crate) const CAN_REMOVE_PAGES: bool = cfg!(all(
    any(target_os = "linux", target_os = "android"),
    not(feature = "posix-shm")
));

/// The size of a memory page, in bytes.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n <= 0 {
        4096
    } else {
        n as usize
    }
}

/// `MAP_NORESERVE` where it exists. FreeBSD has no such flag (and never
/// counts swap for an inaccessible mapping), so there it is no flag at all.
#[cfg(not(target_os = "freebsd"))]
const NORESERVE: libc::c_int = libc::MAP_NORESERVE;
#[cfg(target_os = "freebsd")]
const NORESERVE: libc::c_int = 0;

/// Reserves `len` bytes of address space with no access and no memory
/// behind it.
pub(crate) fn reserve(len: usize) -> Result<NonNull<u8>> {
    // SAFETY: a fresh anonymous PROT_NONE mapping at an address the kernel
    // chooses cannot overlap any existing object.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Error::os("mmap (reserve)", len));
    }
    NonNull::new(p.cast()).ok_or_else(|| Error::os("mmap (reserve)", len))
}

/// Tries to extend a reservation that ends at `end` by `len` bytes without
/// moving it. Returns false if the address space there is taken.
///
/// # Safety
/// `end` must be the end of a reservation of ours, page aligned.
pub(crate) unsafe fn extend_reservation(end: *mut u8, len: usize) -> bool {
    // The POSIX backend uses a plain hint on Linux too, so that the
    // portable path is the one its tests run.
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        not(feature = "posix-shm")
    ))]
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | NORESERVE | libc::MAP_FIXED_NOREPLACE;
    #[cfg(not(all(
        any(target_os = "linux", target_os = "android"),
        not(feature = "posix-shm")
    )))]
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | NORESERVE;
    // SAFETY: without MAP_FIXED the kernel never replaces an existing
    // mapping: it either uses the hint (checked below) or picks another place.
    let p = unsafe { libc::mmap(end.cast(), len, libc::PROT_NONE, flags, -1, 0) };
    if p == libc::MAP_FAILED {
        return false;
    }
    if p.cast::<u8>() != end {
        // Old kernels ignore MAP_FIXED_NOREPLACE and treat the address as a
        // hint: the new mapping landed elsewhere, give it back.
        // SAFETY: `p` is the mapping just made, of `len` bytes, used by no one.
        unsafe { libc::munmap(p, len) };
        return false;
    }
    true
}

/// Makes `len` bytes at `p` readable and writable.
///
/// # Safety
/// `p .. p + len` must lie inside a reservation of ours.
pub(crate) unsafe fn commit(p: *mut u8, len: usize) -> Result<()> {
    // SAFETY: the range is ours (caller's contract); mprotect changes only it.
    let rc = unsafe { libc::mprotect(p.cast(), len, libc::PROT_READ | libc::PROT_WRITE) };
    if rc != 0 {
        return Err(Error::os("mprotect (commit)", len));
    }
    Ok(())
}

/// Gives the memory of `len` bytes at `p` back to the OS; they read as
/// zeros afterwards. Returns true: they stay usable.
///
/// # Safety
/// `p .. p + len` must be committed private anonymous memory of ours that
/// nothing still needs.
#[must_use]
pub(crate) unsafe fn discard(p: *mut u8, len: usize) -> bool {
    // SAFETY: caller's contract; MADV_DONTNEED on private anonymous memory
    // only drops pages, which read back as zeros.
    unsafe { libc::madvise(p.cast(), len, libc::MADV_DONTNEED) };
    true
}

/// Unmaps `len` bytes at `p`.
///
/// # Safety
/// `p .. p + len` must be mappings of ours that nothing points into anymore.
pub(crate) unsafe fn unmap(p: *mut u8, len: usize) {
    // SAFETY: caller's contract.
    let rc = unsafe { libc::munmap(p.cast(), len) };
    debug_assert_eq!(rc, 0, "munmap failed");
}

/// Maps `len` bytes of `fd` from `offset`, shared, at exactly `addr`,
/// replacing whatever was there.
///
/// # Safety
/// `addr .. addr + len` must be address space of ours that nothing else
/// uses as anything but this mapping.
pub(crate) unsafe fn map_file_fixed(
    addr: *mut u8,
    len: usize,
    fd: &OwnedFd,
    offset: usize,
) -> Result<()> {
    // SAFETY: caller's contract; MAP_FIXED replaces only `addr .. addr+len`.
    let p = unsafe {
        libc::mmap(
            addr.cast(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd.as_raw_fd(),
            offset as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Error::os("mmap (mirror)", len));
    }
    Ok(())
}

/// The largest file this process may make (`ulimit -f`), in bytes.
pub(crate) fn file_size_limit() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim) } != 0
        || lim.rlim_cur == libc::RLIM_INFINITY
    {
        return usize::MAX;
    }
    usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX)
}

/// Writes all of `data` to `fd` (a file of ours at least `offset +
/// data.len()` bytes long) at `offset`.
///
/// The POSIX backend writes through a shared mapping of the file: macOS
/// refuses `write` and `pwrite` on shared-memory objects (`ENOTSUP`),
/// which can only be mapped.
#[cfg(not(all(
    any(target_os = "linux", target_os = "android"),
    not(feature = "posix-shm")
)))]
pub(crate) fn write_at(fd: &OwnedFd, data: &[u8], offset: usize) -> Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    let page = page_size();
    let start = offset / page * page;
    let len = offset + data.len() - start;
    // SAFETY: a new shared mapping of our own file at an address the
    // kernel chooses; it overlaps nothing.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            start as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Error::os("mmap (fork copy)", data.len()));
    }
    // SAFETY: the mapping holds `len` bytes, `offset - start + data.len()
    // = len`; `data` is other memory.
    unsafe {
        ptr::copy_nonoverlapping(
            data.as_ptr(),
            p.cast::<u8>().add(offset - start),
            data.len(),
        );
        libc::munmap(p, len);
    }
    Ok(())
}

/// Writes all of `data` to `fd` at `offset`.
#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    not(feature = "posix-shm")
))]
pub(crate) fn write_at(fd: &OwnedFd, mut data: &[u8], mut offset: usize) -> Result<()> {
    while !data.is_empty() {
        // SAFETY: `data` is a live slice of `data.len()` readable bytes.
        let n = unsafe {
            libc::pwrite(
                fd.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                offset as libc::off_t,
            )
        };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::os("pwrite (fork copy)", data.len()));
        }
        data = &data[n as usize..];
        offset += n as usize;
    }
    Ok(())
}

/// For each page of the `len` bytes at offset `off` from `base` (`off` a
/// whole number of pages), whether it holds memory (is resident), or
/// `None` if the system cannot tell.
pub(crate) fn resident_pages(base: *mut u8, off: usize, len: usize) -> Option<Vec<bool>> {
    let page = page_size();
    debug_assert!(off % page == 0);
    let pages = len.div_ceil(page);
    if pages == 0 {
        return Some(Vec::new());
    }
    let mut vec = vec![0u8; pages];
    // SAFETY: `vec` has one byte per page of the range; mincore only reads
    // the page tables and the page cache of our own mappings.
    let rc = unsafe { libc::mincore(base.wrapping_add(off).cast(), len, vec.as_mut_ptr().cast()) };
    (rc == 0).then(|| vec.iter().map(|&b| b & 1 != 0).collect())
}

/// Replaces `len` bytes at `addr` with private zero pages.
///
/// # Safety
/// As for [`map_file_fixed`].
pub(crate) unsafe fn map_zero_fixed(addr: *mut u8, len: usize) {
    // SAFETY: caller's contract.
    unsafe {
        libc::mmap(
            addr.cast(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        )
    };
}

/// Frees the memory behind `len` bytes of a shared file mapping at `p`
/// (punches a hole in the file): the bytes read as zeros afterwards, in
/// every mapping of them. Returns false where this is not possible.
///
/// # Safety
/// `p .. p + len` must be a shared file mapping of ours whose bytes nothing
/// still needs.
pub(crate) unsafe fn remove_pages(p: *mut u8, len: usize) -> bool {
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        not(feature = "posix-shm")
    ))]
    {
        // SAFETY: caller's contract; MADV_REMOVE only frees the pages of
        // the file range behind the mapping.
        unsafe { libc::madvise(p.cast(), len, libc::MADV_REMOVE) == 0 }
    }
    #[cfg(not(all(
        any(target_os = "linux", target_os = "android"),
        not(feature = "posix-shm")
    )))]
    {
        let _ = (p, len);
        false
    }
}

/// True for the OS error numbers that mean "out of memory or address space".
pub(crate) fn is_out_of_memory_code(code: i32) -> bool {
    code == libc::ENOMEM
}
