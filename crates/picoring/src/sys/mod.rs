//! The operating-system layer: every system call of the crate lives below
//! this module, one file per OS family, each exporting the same functions.
//!
//! * [`unix`]: mapping and unmapping, shared by every Unix.
//! * `linux`: the anonymous file is a `memfd` (no name anywhere, gone when
//!   the last mapping goes), and growth can use `mremap`.
//! * `other_unix`: the anonymous file is a POSIX shared-memory object with
//!   a random name that is unlinked at once.
//! * `windows`: not implemented; every call fails with
//!   [`Error::Unsupported`](crate::Error::Unsupported).
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

#[cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]
mod linux;
#[cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]
pub(crate) use linux::{anon_file, remap_move};

#[cfg(all(unix, not(any(target_os = "linux", target_os = "android")), not(miri)))]
mod other_unix;
#[cfg(all(unix, not(any(target_os = "linux", target_os = "android")), not(miri)))]
pub(crate) use other_unix::{anon_file, remap_move};

#[cfg(all(not(unix), not(miri)))]
mod windows;
#[cfg(all(not(unix), not(miri)))]
pub(crate) use windows::*;
