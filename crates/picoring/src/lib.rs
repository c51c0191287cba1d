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
//!   capacity usable, and bookkeeping of exported views ([`Export`]) so that
//!   memory handed to another runtime is never written over.
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
//! # fork
//! Mirrored pages are shared mappings, which `fork()` would share between
//! parent and child. A `pthread_atfork` handler gives the child a private
//! copy of every live ring at the same addresses, so rings in the two
//! processes are independent. Code that works on rings outside the lock
//! that normally excludes forks can hold forks off with [`hold_off_fork`].
#![deny(missing_docs)]

mod error;
mod fork;
mod list;
mod mirror;
mod pins;
mod queue;
mod ring;
mod stream;
mod sys;

pub use error::{Error, Result};
pub use fork::{hold_off_fork, ForkHold};
pub use list::PicoList;
pub use mirror::{page_size, MirrorBuf, MAX_CAPACITY};
pub use queue::Queue;
pub use ring::{Export, Ring};
pub use stream::ByteStream;
