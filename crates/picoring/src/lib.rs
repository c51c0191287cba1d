//! Ring buffers whose readable bytes are always one contiguous slice.
//!
//! A ring's physical pages are mapped twice, back to back, in virtual
//! memory ("hardware memory mirroring"). Any run of bytes in the ring, however
//! it wraps past the end, is then a single slice: reading everything is
//! O(1) with no copy, and writing never splits a copy in two.
//!
//! ```text
//!  virtual:  [ page 0 | page 1 | ... | page n ][ page 0 | page 1 | ... | page n ]
//!                          tail ^---------- readable ------------^ head
//!  physical: [ page 0 | page 1 | ... | page n ]   (one copy)
//! ```
//!
//! * [`MirrorBuf`]: the mirrored memory itself.
//! * [`Ring`]: a byte ring with monotonic 64-bit positions, the whole
//!   capacity usable, and the rules of exported views ([`ReadExport`]) and
//!   of the write grant ([`WriteChunk`], [`GrantExport`]), so that memory
//!   handed to another runtime is never written over and nothing is ever
//!   published that was not written.
//! * [`Queue`]: reserve / commit / peek / release on top of a ring.
//! * [`ByteStream`]: [`std::io::Read`], [`Write`](std::io::Write) and
//!   [`BufRead`](std::io::BufRead) on top of a ring.
//! * [`PicoList`]: a growable byte list that never moves or copies its items.
//!
//! # Platforms
//! Linux uses `memfd_create` (nothing named, nothing left behind); other
//! Unix systems use `shm_open` with a random name unlinked at once. Windows
//! is not implemented yet: constructors return [`Error::Unsupported`].
//!
//! Rings of up to 64 KiB share anonymous files laid out so that the kernel
//! merges neighbouring mappings: one mapping per ring, so a process holds
//! tens of thousands of them within Linux's default `vm.max_map_count`,
//! and a freed ring's memory is reused by the next without a system call.
//!
//! # fork
//! Mirrored pages are shared mappings, which `fork()` would share between
//! parent and child. A `pthread_atfork` handler gives the child a private
//! copy of every ring at the same addresses, so rings in the two processes
//! are independent; it copies only the bytes a ring still shows (readable
//! or pinned by a view, and its open grant), so the cost of a fork follows
//! the live data, not the capacity. Code that works on rings outside the
//! lock that normally excludes forks can hold forks off with
//! [`hold_off_fork`].
#![deny(missing_docs)]

mod arena;
mod error;
mod fork;
mod list;
mod mirror;
// 64-bit only: its counters must not wrap (see the module docs).
#[cfg(target_pointer_width = "64")]
pub mod mpsc;
mod pins;
pub mod pipe;
mod queue;
mod ring;
#[cfg(all(target_os = "linux", not(miri)))]
pub mod shared_pipe;
pub mod spsc;
mod stream;
mod sys;
mod typed;

pub use error::{Error, Result};
pub use fork::{hold_off_fork, ForkHold};
pub use list::{ListExport, PicoList};
pub use mirror::{backend, page_size, MirrorBuf, MAX_CAPACITY};
pub use queue::Queue;
pub use ring::{GrantExport, ReadExport, Ring, WriteChunk};
pub use stream::ByteStream;
pub use typed::TypedRing;
