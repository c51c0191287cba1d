//! Linux: memfd files and mremap.

use std::os::fd::{FromRawFd, OwnedFd};
use std::ptr::NonNull;

use crate::error::{Error, Result};

/// A new anonymous file of `size` zero bytes: nameless, close-on-exec,
/// freed by the kernel when its last mapping and descriptor are gone.
pub(crate) fn anon_file(size: usize) -> Result<OwnedFd> {
    // The system call itself, not glibc's wrapper: that one exists only in
    // glibc 2.27 and later, and the manylinux2014 wheel loads on 2.17.
    // SAFETY: the name is a valid NUL-terminated string; flags are valid.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_memfd_create,
            c"picoring".as_ptr(),
            libc::MFD_CLOEXEC as libc::c_uint,
        )
    } as libc::c_int;
    if fd < 0 {
        let errno = std::io::Error::last_os_error().raw_os_error();
        if errno == Some(libc::ENOSYS) || errno == Some(libc::EPERM) {
            // Kernels before 3.17 (CentOS 7's 3.10), or a seccomp filter
            // that refuses the call: POSIX shared memory.
            return super::other_unix::anon_file(size);
        }
        return Err(Error::os("memfd_create", size));
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by no one else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let len = libc::off_t::try_from(size).map_err(|_| Error::CapacityTooLarge {
        requested: size,
        max: libc::off_t::MAX as usize,
    })?;
    // SAFETY: `fd` is a valid descriptor of ours.
    if unsafe { libc::ftruncate(std::os::fd::AsRawFd::as_raw_fd(&fd), len) } != 0 {
        return Err(Error::os("ftruncate", size));
    }
    Ok(fd)
}

/// Lists can move their reservation without copying (`mremap`).
pub(crate) const CAN_REMAP: bool = true;

/// Moves a single private anonymous mapping of `old` bytes at `p` to a place
/// where it can be `new` bytes long, moving page tables and never copying
/// data. Returns the new address.
///
/// # Safety
/// `p .. p + old` must be exactly one mapping of ours, and nothing may point
/// into it (it may move).
pub(crate) unsafe fn remap_move(p: *mut u8, old: usize, new: usize) -> Result<NonNull<u8>> {
    // SAFETY: caller's contract.
    let q = unsafe { libc::mremap(p.cast(), old, new, libc::MREMAP_MAYMOVE) };
    if q == libc::MAP_FAILED {
        return Err(Error::os("mremap", new));
    }
    NonNull::new(q.cast()).ok_or_else(|| Error::os("mremap", new))
}
