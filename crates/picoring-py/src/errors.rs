//! Core errors as the Python exceptions a user expects.

use picoring::Error;
use pyo3::exceptions::{PyBufferError, PyMemoryError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

/// Translates a core error: out of memory or address space is
/// `MemoryError`, a bad count `ValueError`, a view or grant in the way
/// `BufferError`, the OS `OSError` (with its errno), a closed stream
/// `ValueError` (as `io` does).
pub(crate) fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    if e.is_out_of_memory() {
        return PyMemoryError::new_err(msg);
    }
    match e {
        Error::ZeroCapacity
        | Error::OutOfRange { .. }
        | Error::Closed
        | Error::PartialItem { .. }
        | Error::NotASharedPipe { .. } => PyValueError::new_err(msg),
        Error::Pinned { .. } | Error::GrantOpen { .. } => PyBufferError::new_err(msg),
        Error::Os { source, .. } => match source.raw_os_error() {
            Some(errno) => PyOSError::new_err((errno, msg)),
            None => PyOSError::new_err(msg),
        },
        Error::Unsupported { .. } | Error::LostAtFork => PyOSError::new_err(msg),
        _ => PyRuntimeError::new_err(msg),
    }
}
