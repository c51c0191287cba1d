//! The C buffer protocol, for which PyO3 has no safe API.
//!
//! This is the one module of the bindings with `unsafe` code: filling a
//! `Py_buffer` for our own exports, reading any C-contiguous buffer that a
//! caller passes, and making a `memoryview` of ourselves. Everything about
//! memory and positions stays in the core crate.

use std::ffi::{c_int, c_void};
use std::ptr;

use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView};

/// Describes one export for [`fill_buffer`].
pub(crate) struct ExportInfo {
    pub ptr: *mut u8,
    pub len: usize,
    pub readonly: bool,
    /// Stored in `Py_buffer.internal`, handed back at release.
    pub token: u64,
}

/// Fills `view` for an export of `info` owned by `owner`.
///
/// # Safety
/// `view` must be the `Py_buffer` that CPython passed to `bf_getbuffer`, and
/// `info.ptr` must stay valid for `info.len` bytes until `bf_releasebuffer`
/// is called with the same view (the owner's bookkeeping guarantees it).
pub(crate) unsafe fn fill_buffer(
    view: *mut ffi::Py_buffer,
    flags: c_int,
    owner: &Bound<'_, PyAny>,
    info: &ExportInfo,
) -> PyResult<()> {
    if view.is_null() {
        return Err(PyBufferError::new_err("view is NULL"));
    }
    if info.readonly && (flags & ffi::PyBUF_WRITABLE) == ffi::PyBUF_WRITABLE {
        return Err(PyBufferError::new_err(
            "this view is read-only: the ring's readable bytes must not change while shown",
        ));
    }
    // SAFETY: `view` is a valid, writable Py_buffer (caller's contract); the
    // shape and strides pointers point into the view itself, which CPython
    // keeps alive (and in place) for as long as the export.
    unsafe {
        (*view).obj = owner.clone().into_any().into_ptr();
        (*view).buf = info.ptr.cast::<c_void>();
        (*view).len = info.len as ffi::Py_ssize_t;
        (*view).readonly = c_int::from(info.readonly);
        (*view).itemsize = 1;
        (*view).format = if (flags & ffi::PyBUF_FORMAT) == ffi::PyBUF_FORMAT {
            c"B".as_ptr().cast_mut()
        } else {
            ptr::null_mut()
        };
        (*view).ndim = 1;
        (*view).shape = if (flags & ffi::PyBUF_ND) == ffi::PyBUF_ND {
            &mut (*view).len
        } else {
            ptr::null_mut()
        };
        (*view).strides = if (flags & ffi::PyBUF_STRIDES) == ffi::PyBUF_STRIDES {
            &mut (*view).itemsize
        } else {
            ptr::null_mut()
        };
        (*view).suboffsets = ptr::null_mut();
        (*view).internal = info.token as usize as *mut c_void;
    }
    Ok(())
}

/// What `fill_buffer` stored about an export, read back at release.
///
/// # Safety
/// `view` must be a `Py_buffer` filled by [`fill_buffer`].
pub(crate) unsafe fn read_export(view: *mut ffi::Py_buffer) -> (u64, usize, bool) {
    // SAFETY: caller's contract: CPython hands back the view we filled.
    unsafe {
        (
            (*view).internal as usize as u64,
            (*view).len as usize,
            (*view).readonly == 0,
        )
    }
}

/// `memoryview(obj)`, through the C API (no attribute lookup).
pub(crate) fn memoryview<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyMemoryView>> {
    // SAFETY: `obj` is a live object; the call returns a new reference or
    // NULL with an exception set, which `from_owned_ptr_or_err` handles.
    unsafe {
        let p = ffi::PyMemoryView_FromObject(obj.as_ptr());
        Ok(Bound::from_owned_ptr_or_err(obj.py(), p)?.downcast_into_unchecked())
    }
}

/// The bytes of any C-contiguous buffer passed by a caller, without a copy.
pub(crate) struct BytesArg<'py> {
    inner: Inner<'py>,
}

enum Inner<'py> {
    Bytes(Bound<'py, PyBytes>),
    Buffer(Box<ffi::Py_buffer>),
}

impl<'py> BytesArg<'py> {
    /// Borrows the bytes of `obj`; `arg` names the argument in errors.
    pub(crate) fn new(obj: &Bound<'py, PyAny>, arg: &str) -> PyResult<BytesArg<'py>> {
        if let Ok(b) = obj.downcast::<PyBytes>() {
            return Ok(BytesArg {
                inner: Inner::Bytes(b.clone()),
            });
        }
        let mut view = Box::new(ffi::Py_buffer::new());
        // SAFETY: `view` is a zeroed Py_buffer of ours; PyBUF_SIMPLE asks
        // for one contiguous run of bytes, which non-contiguous exporters
        // refuse (an error, handled below).
        let rc = unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut *view, ffi::PyBUF_SIMPLE) };
        if rc != 0 {
            let cause = PyErr::fetch(obj.py());
            let err = PyTypeError::new_err(format!(
                "{arg} must be a C-contiguous bytes-like object (bytes, bytearray, \
                 memoryview, array.array, numpy array), not {}",
                obj.get_type().name()?
            ));
            err.set_cause(obj.py(), Some(cause));
            return Err(err);
        }
        Ok(BytesArg {
            inner: Inner::Buffer(view),
        })
    }

    /// The bytes. Valid while `self` lives.
    pub(crate) fn as_slice(&self) -> &[u8] {
        match &self.inner {
            Inner::Bytes(b) => b.as_bytes(),
            Inner::Buffer(view) => {
                if view.len <= 0 || view.buf.is_null() {
                    return &[];
                }
                // SAFETY: the export is held until `drop`, so `buf` points to
                // `len` readable bytes (PyBUF_SIMPLE: contiguous, in bytes).
                // Python code cannot resize the exporter while it is exported.
                unsafe { std::slice::from_raw_parts(view.buf.cast::<u8>(), view.len as usize) }
            }
        }
    }
}

impl Drop for BytesArg<'_> {
    fn drop(&mut self) {
        if let Inner::Buffer(view) = &mut self.inner {
            // SAFETY: the view was filled by a successful PyObject_GetBuffer
            // and is released once; the `'py` lifetime means the GIL is held.
            unsafe { ffi::PyBuffer_Release(&mut **view) };
        }
    }
}

/// A writable buffer passed by a caller (`readinto`), as bytes.
pub(crate) struct WritableArg {
    view: Box<ffi::Py_buffer>,
}

impl WritableArg {
    pub(crate) fn new(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<WritableArg> {
        let mut view = Box::new(ffi::Py_buffer::new());
        // SAFETY: as in `BytesArg::new`, asking for a writable buffer.
        let rc = unsafe {
            ffi::PyObject_GetBuffer(
                obj.as_ptr(),
                &mut *view,
                ffi::PyBUF_SIMPLE | ffi::PyBUF_WRITABLE,
            )
        };
        if rc != 0 {
            let cause = PyErr::fetch(obj.py());
            let err = PyTypeError::new_err(format!(
                "{arg} must be a writable C-contiguous buffer (bytearray, memoryview, \
                 array.array, numpy array), not {}",
                obj.get_type().name()?
            ));
            err.set_cause(obj.py(), Some(cause));
            return Err(err);
        }
        Ok(WritableArg { view })
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        if self.view.len <= 0 || self.view.buf.is_null() {
            return &mut [];
        }
        // SAFETY: a writable contiguous export held until `drop`.
        unsafe {
            std::slice::from_raw_parts_mut(self.view.buf.cast::<u8>(), self.view.len as usize)
        }
    }
}

impl Drop for WritableArg {
    fn drop(&mut self) {
        // SAFETY: filled by a successful PyObject_GetBuffer, released once.
        // Dropped only with the GIL held (never moved into a GIL-free section).
        unsafe { ffi::PyBuffer_Release(&mut *self.view) };
    }
}

/// A new `bytes` of `len` bytes filled by `fill`, without zeroing it first.
/// `fill` initialises a prefix of the slice it is given and returns its
/// length; a prefix shorter than `len` gives a shorter `bytes` (copied).
pub(crate) fn bytes_filled<'py>(
    py: Python<'py>,
    len: usize,
    fill: impl FnOnce(&mut [std::mem::MaybeUninit<u8>]) -> PyResult<usize>,
) -> PyResult<Bound<'py, PyBytes>> {
    // SAFETY: PyBytes_FromStringAndSize(NULL, n) returns a new bytes object
    // of `n` bytes, or NULL with an exception set.
    let obj = unsafe {
        let p = ffi::PyBytes_FromStringAndSize(ptr::null(), len as ffi::Py_ssize_t);
        Bound::from_owned_ptr_or_err(py, p)?.downcast_into_unchecked::<PyBytes>()
    };
    // SAFETY: the object is new and referenced only here, so nobody else
    // reads or writes its buffer; its `len` bytes are allocated; viewing them
    // as `MaybeUninit<u8>` makes no claim that they are initialised.
    let data = unsafe { ffi::PyBytes_AsString(obj.as_ptr()).cast::<u8>() };
    let uninit = data.cast::<std::mem::MaybeUninit<u8>>();
    // SAFETY: as above: `len` allocated bytes that only we use.
    let buf = unsafe { std::slice::from_raw_parts_mut(uninit, len) };
    let written = fill(buf)?.min(len);
    if written < len {
        // SAFETY: `fill` initialised the first `written` bytes; only they
        // are read.
        let prefix = unsafe { std::slice::from_raw_parts(data, written) };
        return Ok(PyBytes::new(py, prefix));
    }
    Ok(obj)
}
