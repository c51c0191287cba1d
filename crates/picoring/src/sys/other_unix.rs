//! Unix without memfd: POSIX shared memory with a random name that is
//! unlinked at once, so nothing is left behind. On Linux, also where
//! `memfd_create` is missing (kernels before 3.17).

// On Linux with memfd only `anon_file` is used (the fallback for old kernels).
#![cfg_attr(
    all(
        any(target_os = "linux", target_os = "android"),
        not(feature = "posix-shm")
    ),
    allow(dead_code)
)]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new anonymous file of `size` zero bytes with no name left behind.
///
/// ```text
/// "/pr" pid "." counter "." nanoseconds, each in hex: at most 29 bytes
/// ```
pub(crate) fn anon_file(size: usize) -> Result<OwnedFd> {
    for _ in 0..64 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // Short: macOS limits these names to 31 bytes. At most 3 + 8 + 1 +
        // 8 + 1 + 8 = 29 here (a repeat is refused by O_EXCL and retried).
        let name = shm_name(std::process::id(), n as u32, nanos);
        // SAFETY: `name` is NUL-terminated; flags and mode are valid.
        let fd = unsafe {
            libc::shm_open(
                name.as_ptr().cast(),
                libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
                // macOS declares the mode as a variadic `c_uint`, the others
                // as `mode_t`.
                #[cfg(target_vendor = "apple")]
                (0o600 as libc::c_uint),
                #[cfg(not(target_vendor = "apple"))]
                (0o600 as libc::mode_t),
            )
        };
        if fd < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EEXIST) {
                continue;
            }
            return Err(Error::os("shm_open", size));
        }
        // SAFETY: the name is ours; unlinking it leaves the open file alive.
        unsafe { libc::shm_unlink(name.as_ptr().cast()) };
        // SAFETY: `fd` was just opened and is owned by no one else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: `fd` is a valid descriptor of ours.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
        let len = libc::off_t::try_from(size).map_err(|_| Error::CapacityTooLarge {
            requested: size,
            max: libc::off_t::MAX as usize,
        })?;
        // SAFETY: `fd` is a valid descriptor of ours.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len) } != 0 {
            return Err(Error::os("ftruncate", size));
        }
        return Ok(fd);
    }
    Err(Error::os("shm_open", size))
}

/// There is no `mremap`: a list that outgrows its reservation moves by
/// one copy.
pub(crate) const CAN_REMAP: bool = false;

/// The object's name, NUL-terminated: at most 3 + 8 + 1 + 8 + 1 + 8 = 29
/// bytes before the NUL (macOS allows 31).
fn shm_name(pid: u32, n: u32, nanos: u32) -> String {
    format!("/pr{pid:x}.{n:x}.{nanos:x}\0")
}

/// No `mremap` here: growth that would move is refused.
///
/// # Safety
/// None needed; this never touches memory.
pub(crate) unsafe fn remap_move(_p: *mut u8, _old: usize, _new: usize) -> Result<NonNull<u8>> {
    Err(Error::Unsupported {
        what: "moving a list reservation (mremap)",
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_fit_in_macos_31_bytes() {
        let name = super::shm_name(u32::MAX, u32::MAX, 999_999_999);
        assert!(name.ends_with('\0'));
        assert!(name.len() - 1 <= 31, "{name}: {} bytes", name.len() - 1);
    }
}
