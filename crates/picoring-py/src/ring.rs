//! `PicoRingByte`: the byte ring, with views in and out.

use std::ffi::c_int;

use pyo3::ffi as pyffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView};

use crate::ringcore::RingCore;
use crate::shared::{count_arg, opt_count_arg};

/// A circular byte buffer whose readable bytes are always one contiguous
/// memoryview.
#[pyclass(module = "picoring._picoring", frozen)]
pub struct PicoRingByte {
    core: RingCore,
}

#[pymethods]
impl PicoRingByte {
    #[new]
    fn new(capacity: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(PicoRingByte {
            core: RingCore::new(capacity, "PicoRingByte")?,
        })
    }

    /// Appends one byte; False if the ring is full.
    fn push(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.core.push(py, value)
    }

    /// Removes and returns the oldest byte, or None if empty.
    fn pop(&self, py: Python<'_>) -> PyResult<Option<u8>> {
        self.core.pop(py)
    }

    /// Appends all of `data`, or nothing (False) if it does not fit.
    fn push_bytes(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.core.push_all(py, data)
    }

    /// Appends `data`, dropping the oldest bytes to make room; returns how
    /// many bytes were dropped.
    fn push_overwrite(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.core.push_overwrite(py, data)
    }

    /// Removes and returns up to `n` of the oldest bytes (all if None).
    #[pyo3(signature = (n=None))]
    fn pop_bytes<'py>(
        &self,
        py: Python<'py>,
        n: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.core.pop_bytes(py, opt_count_arg(n, "n")?)
    }

    /// Number of readable bytes.
    fn len(&self, py: Python<'_>) -> PyResult<usize> {
        self.core.len(py)
    }

    /// The most bytes the ring holds.
    fn capacity(&self) -> usize {
        self.core.capacity()
    }

    /// Bytes a push can take now.
    fn free(&self, py: Python<'_>) -> PyResult<usize> {
        self.core.free(py)
    }

    /// Drops every readable byte.
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.core.clear(py)
    }

    /// A read-only memoryview of every readable byte, contiguous, no copy.
    fn get_readable_view<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyMemoryView>> {
        slf.get().core.readable_view(slf.as_any())
    }

    /// A writable memoryview of `n` bytes of free space (all if None);
    /// publish what was written with `advance_head`.
    #[pyo3(signature = (n=None))]
    fn get_writable_view<'py>(
        slf: &Bound<'py, Self>,
        n: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyMemoryView>> {
        let n = opt_count_arg(n, "n")?;
        let view = slf.get().core.writable_view(slf.as_any(), n, false)?;
        Ok(view.expect("errors are raised when or_none is false"))
    }

    /// Publishes `n` bytes written through a writable view.
    fn advance_head(&self, py: Python<'_>, n: &Bound<'_, PyAny>) -> PyResult<()> {
        self.core.advance_head(py, count_arg(n, "n")?)
    }

    /// Consumes `n` readable bytes.
    fn advance_tail(&self, py: Python<'_>, n: &Bound<'_, PyAny>) -> PyResult<()> {
        self.core.advance_tail(py, count_arg(n, "n")?)
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.core.len(py)
    }

    fn __bool__(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.core.len(py)? > 0)
    }

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        self.core.get_item(py, key, "PicoRingByte")
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        self.core.repr(py, "PicoRingByte")
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
