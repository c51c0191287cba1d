//! The one error type of the crate.

use std::fmt;
use std::io;

/// Everything that can go wrong in picoring.
///
/// Every variant carries the numbers a caller needs to understand the
/// failure: the size asked for, the argument and its limit. A call that
/// returns an error has changed nothing.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A capacity of zero was asked for.
    ZeroCapacity,
    /// The capacity asked for is larger than this crate can map.
    CapacityTooLarge {
        /// The capacity asked for, in bytes.
        requested: usize,
        /// The largest capacity that can be asked for, in bytes.
        max: usize,
    },
    /// The operating system refused a call (no memory, no file descriptors,
    /// a mapping limit, ...).
    Os {
        /// The system call that failed.
        op: &'static str,
        /// The number of bytes being mapped or changed.
        size: usize,
        /// What the operating system said.
        source: io::Error,
    },
    /// The process is close to its limit of memory mappings
    /// (`vm.max_map_count` on Linux): the ring is refused so that the
    /// allocator and the rest of the process keep room to work.
    MappingLimit {
        /// The number of bytes asked for.
        size: usize,
        /// Mappings the process holds now.
        in_use: usize,
        /// The limit.
        max: usize,
    },
    /// Mirrored memory is not implemented on this platform.
    Unsupported {
        /// What is missing.
        what: &'static str,
    },
    /// A count is larger than what the structure allows right now.
    OutOfRange {
        /// The name of the argument, as the caller spelled it.
        arg: &'static str,
        /// The value given.
        requested: usize,
        /// The largest value accepted now.
        limit: usize,
        /// What the limit is (for the message).
        what: &'static str,
    },
    /// The call would change bytes that an exported view shows.
    Pinned {
        /// What was refused, for the message.
        what: &'static str,
    },
    /// The call needs the free space after the write position, which an
    /// open writable grant holds (at most one grant is open at a time).
    GrantOpen {
        /// What was refused, for the message.
        what: &'static str,
        /// Bytes of the open grant.
        len: usize,
        /// The method that publishes the grant (`advance_head`, `commit`).
        publish: &'static str,
    },
    /// The stream was closed.
    Closed,
    /// The data is not a whole number of items of a typed ring.
    PartialItem {
        /// Bytes given.
        len: usize,
        /// Bytes per item.
        item_size: usize,
    },
    /// The memory of a ring could not be made private to this process
    /// after `fork()`; the ring is unusable in the child.
    LostAtFork,
    /// A file opened as a shared pipe is not one.
    NotASharedPipe {
        /// What is wrong with it.
        reason: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    // The Miri stand-in and the Windows stub report failures without one.
    #[cfg_attr(any(miri, not(unix)), allow(dead_code))]
    pub(crate) fn os(op: &'static str, size: usize) -> Self {
        Error::Os {
            op,
            size,
            source: io::Error::last_os_error(),
        }
    }

    /// Reports an OS failure against `size`, the number of bytes the caller
    /// asked for, rather than the size of the system call that failed.
    pub(crate) fn for_request(self, size: usize) -> Self {
        match self {
            Error::Os { op, source, .. } => Error::Os { op, size, source },
            other => other,
        }
    }

    /// True when the failure is a lack of memory or address space, which a
    /// binding should report as an out-of-memory condition.
    pub fn is_out_of_memory(&self) -> bool {
        match self {
            Error::CapacityTooLarge { .. } | Error::MappingLimit { .. } => true,
            Error::Os { source, .. } => source
                .raw_os_error()
                .is_some_and(crate::sys::is_out_of_memory_code),
            _ => false,
        }
    }

    /// The OS error number, if the failure came from the operating system.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Os { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ZeroCapacity => write!(f, "capacity must be > 0, got 0"),
            Error::CapacityTooLarge { requested, max } => write!(
                f,
                "capacity {requested} bytes is larger than the maximum {max} bytes"
            ),
            Error::Os { op, size, source } => {
                write!(f, "{op} failed for {size} bytes: {source}")?;
                let maps = ["mmap", "mprotect", "mremap"]
                    .iter()
                    .any(|m| op.starts_with(m));
                if cfg!(unix) && source.raw_os_error() == Some(libc::ENOMEM) && maps {
                    write!(
                        f,
                        " (out of memory, or the process reached its limit of memory \
                         mappings, vm.max_map_count)"
                    )?;
                }
                Ok(())
            }
            Error::MappingLimit { size, in_use, max } => write!(
                f,
                "a ring of {size} bytes is refused: the process holds {in_use} memory mappings \
                 and its limit is {max} (vm.max_map_count); picoring leaves room below it for \
                 the allocator. Free some rings, or raise vm.max_map_count with sysctl"
            ),
            Error::Unsupported { what } => write!(f, "not supported on this platform: {what}"),
            Error::OutOfRange {
                arg,
                requested,
                limit,
                what,
            } => write!(f, "{arg}={requested} is more than {what} ({limit})"),
            Error::Pinned { what } => write!(
                f,
                "{what} would change bytes shown by a live view; release the view first"
            ),
            Error::GrantOpen { what, len, publish } => write!(
                f,
                "{what} is refused while a writable view of {len} bytes is open; \
                 publish it with {publish}(n) or release the view first"
            ),
            Error::Closed => write!(f, "I/O operation on closed stream"),
            Error::PartialItem { len, item_size } => write!(
                f,
                "data of {len} bytes is not a whole number of {item_size}-byte items"
            ),
            Error::LostAtFork => write!(
                f,
                "this ring's memory could not be copied for the child process at fork(); \
                 it is unusable here"
            ),
            Error::NotASharedPipe { reason } => write!(f, "not a shared pipe: {reason}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Os { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Os { source, .. } => source,
            other => io::Error::other(other),
        }
    }
}
