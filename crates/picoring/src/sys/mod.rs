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

#[cfg(unix)]
pub(crate) mod unix;
#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use linux::{anon_file, remap_move};

#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
mod other_unix;
#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
pub(crate) use other_unix::{anon_file, remap_move};

#[cfg(not(unix))]
mod windows;
#[cfg(not(unix))]
pub(crate) use windows::*;
