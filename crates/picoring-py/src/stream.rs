//! `PicoByteStreamPy`: a bounded byte stream with an `io`-style API.

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::exceptions::PyValueError;
use pyo3::ffi as pyffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::ringcore::RingCore;
use crate::shared::count_arg;

/// A bounded FIFO byte stream: `write` takes what fits, `read` returns
/// what is there.
#[pyclass(module = "picoring._picoring", frozen)]
pub struct PicoByteStreamPy {
    core: RingCore,
    closed: AtomicBool,
}

impl PicoByteStreamPy {
    fn open(&self) -> PyResult<&RingCore> {
        if self.closed.load(Ordering::Acquire) {
            return Err(PyValueError::new_err("I/O operation on closed stream"));
        }
        Ok(&self.core)
    }
}

#[pymethods]
impl PicoByteStreamPy {
    #[new]
    fn new(capacity: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(PicoByteStreamPy {
            core: RingCore::new(capacity, "PicoByteStreamPy")?,
            closed: AtomicBool::new(false),
        })
    }

    /// Writes as much of `data` as fits; returns how many bytes were taken.
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.open()?.push_some(py, data)
    }

    /// Reads up to `n` bytes (all that is there for -1 or None).
    #[pyo3(signature = (n=None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        n: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let core = self.open()?;
        let n = match n {
            None => None,
            Some(o) if o.is_none() => None,
            Some(o) if o.extract::<i64>().is_ok_and(|v| v == -1) => None,
            Some(o) => Some(count_arg(o, "n")?),
        };
        core.pop_bytes(py, n)
    }

    /// Reads into a writable buffer; returns how many bytes were read.
    fn readinto(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.open()?.readinto(py, buffer)
    }

    /// Bytes that can be read now.
    fn available_to_read(&self, py: Python<'_>) -> PyResult<usize> {
        self.open()?.len(py)
    }

    /// Bytes that can be written now.
    fn available_to_write(&self, py: Python<'_>) -> PyResult<usize> {
        self.open()?.free(py)
    }

    /// Bytes that can be written now (same as `available_to_write`).
    fn free(&self, py: Python<'_>) -> PyResult<usize> {
        self.open()?.free(py)
    }

    /// The most bytes the stream buffers.
    fn capacity(&self) -> usize {
        self.core.capacity()
    }

    /// Drops every buffered byte.
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.open()?.clear(py)
    }

    /// True unless closed.
    fn readable(&self) -> PyResult<bool> {
        self.open().map(|_| true)
    }

    /// True unless closed.
    fn writable(&self) -> PyResult<bool> {
        self.open().map(|_| true)
    }

    /// Always False: a stream has no positions to seek to.
    fn seekable(&self) -> bool {
        false
    }

    /// Nothing to flush: writes are visible to readers at once.
    fn flush(&self) -> PyResult<()> {
        self.open().map(|_| ())
    }

    /// Closes the stream; further reads and writes raise ValueError.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// True after `close()`.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().open()?;
        Ok(slf)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.core.len(py)
    }

    fn __bool__(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.core.len(py)? > 0)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        if self.closed() {
            return format!(
                "PicoByteStreamPy(capacity={}, closed)",
                self.core.capacity()
            );
        }
        self.core.repr(py, "PicoByteStreamPy")
    }

    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut pyffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        // SAFETY: CPython calls this with the view to fill.
        unsafe { slf.get().core.get_buffer(slf.as_any(), view, flags) }
    }

    unsafe fn __releasebuffer__(&self, view: *mut pyffi::Py_buffer) {
        // SAFETY: CPython hands back a view that `__getbuffer__` filled.
        unsafe { self.core.release_buffer(view) }
    }
}
