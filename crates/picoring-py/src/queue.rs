//! `PicoQueueByte`: a FIFO of bytes, filled and read in place.

use std::ffi::c_int;

use pyo3::exceptions::PyValueError;
use pyo3::ffi as pyffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView};

use crate::ringcore::RingCore;
use crate::shared::{count_arg, opt_count_arg};

/// A byte queue: bulk push and pop, and in-place reserve / commit.
#[pyclass(module = "picoring._picoring", frozen)]
pub struct PicoQueueByte {
    core: RingCore,
}

#[pymethods]
impl PicoQueueByte {
    #[new]
    fn new(capacity: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(PicoQueueByte {
            core: RingCore::new(capacity, "PicoQueueByte")?,
        })
    }

    /// Appends one byte; False if the queue is full.
    fn push(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.core.push(py, value)
    }

    /// Removes and returns the oldest byte, or None if empty.
    fn pop(&self, py: Python<'_>) -> PyResult<Option<u8>> {
        self.core.pop(py)
    }

    /// Appends all of `data`, or nothing (False) if it does not fit.
    fn push_bulk(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.core.push_all(py, data)
    }

    /// Removes and returns up to `n` of the oldest bytes (all if None).
    #[pyo3(signature = (n=None))]
    fn pop_bulk<'py>(
        &self,
        py: Python<'py>,
        n: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.core.pop_bytes(py, opt_count_arg(n, "n")?)
    }

    /// A read-only memoryview of everything queued, contiguous, no copy.
    fn get_view<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyMemoryView>> {
        slf.get().core.readable_view(slf.as_any())
    }

    /// A writable memoryview of exactly `n` free bytes, or None if fewer
    /// are free now; publish what was written with `commit`.
    fn reserve<'py>(
        slf: &Bound<'py, Self>,
        n: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyMemoryView>>> {
        let n = count_arg(n, "n")?;
        let core = &slf.get().core;
        if n > core.capacity() {
            return Err(PyValueError::new_err(format!(
                "n={n} is more than the capacity ({})",
                core.capacity()
            )));
        }
        core.writable_view(slf.as_any(), Some(n), true)
    }

    /// Publishes `n` bytes written into a reservation.
    fn commit(&self, py: Python<'_>, n: &Bound<'_, PyAny>) -> PyResult<()> {
        self.core.advance_head(py, count_arg(n, "n")?)
    }

    /// Number of queued bytes.
    fn len(&self, py: Python<'_>) -> PyResult<usize> {
        self.core.len(py)
    }

    /// The most bytes the queue holds.
    fn capacity(&self) -> usize {
        self.core.capacity()
    }

    /// Bytes a push can take now.
    fn free(&self, py: Python<'_>) -> PyResult<usize> {
        self.core.free(py)
    }

    /// Drops every queued byte.
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.core.clear(py)
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.core.len(py)
    }

    fn __bool__(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.core.len(py)? > 0)
    }

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        self.core.get_item(py, key, "PicoQueueByte")
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        self.core.repr(py, "PicoQueueByte")
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
