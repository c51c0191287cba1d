//! The operating-system layer: every system call of the crate lives below
//! this module, one file per OS family, each exporting the same functions.
//!
//! * [`unix`]: mapping and unmapping, shared by every Unix.
//! * `linux`: the anonymous file is a `memfd` (no name anywhere, gone when
//!   the last mapping goes), growth can use `mremap`, and freed slots of an
//!   arena give their memory back (`MADV_REMOVE`).
//! * `other_unix` (macOS, FreeBSD, the other Unixes; and Linux with the
//!   `posix-shm` feature, so that this backend's logic is tested where the
//!   tests run): the anonymous file is a POSIX shared-memory object with a
//!   random name that is unlinked at once; no `mremap` (a list that
//!   outgrows its reservation moves with one copy, refused while a view is
//!   alive); every ring has a file of its own.
//! * `windows`: two views of a pagefile-backed section, placed with
//!   placeholders or, where those are refused, reserve-free-map with
//!   bounded retries.
//! * `miri`: heap memory standing in for mappings, so that `cargo miri
//!   test` can check the logic above the system calls.

#[cfg(miri)]
mod miri;
#[cfg(miri)]
pub(crate) use miri::*;

#[cfg(all(unix, not(miri)))]
pub(crate) mod unix;
#[cfg(all(unix, not(miri)))]
pub(crate) use unix::*;

#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    not(feature = "posix-shm"),
    not(miri)
))]
mod linux;
#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    not(feature = "posix-shm"),
    not(miri)
))]
pub(crate) use linux::{anon_file, remap_move, CAN_REMAP};

// Also on Linux: memfd's fallback on kernels before 3.17.
#[cfg(all(unix, not(miri)))]
mod other_unix;
#[cfg(all(
    unix,
    any(
        not(any(target_os = "linux", target_os = "android")),
        feature = "posix-shm"
    ),
    not(miri)
))]
pub(crate) use other_unix::{anon_file, remap_move, CAN_REMAP};

#[cfg(all(windows, not(miri)))]
mod windows;
#[cfg(all(windows, not(miri)))]
pub(crate) use windows::*;

/// The name of the backend this build maps memory with.
pub(crate) fn backend() -> &'static str {
    if cfg!(miri) {
        "heap (Miri)"
    } else if cfg!(windows) {
        #[cfg(all(windows, not(miri)))]
        match windows::mirror_method() {
            Some(windows::Method::Placeholder) => return "windows (placeholders)",
            Some(windows::Method::ReserveFreeMap) => return "windows (reserve, free, map)",
            None => {}
        }
        "windows"
    } else if cfg!(all(
        any(target_os = "linux", target_os = "android"),
        not(feature = "posix-shm")
    )) {
        "linux (memfd)"
    } else {
        "posix (shm_open)"
    }
}
