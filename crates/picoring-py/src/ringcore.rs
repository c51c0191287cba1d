//! The translation layer shared by the three ring-based classes
//! (`PicoRingByte`, `PicoQueueByte`, `PicoByteStreamPy`): argument
//! conversion, locking, GIL release and the buffer protocol. The ring logic
//! itself is `picoring::Ring`.

use std::ffi::c_int;

use picoring::{Error, Export, Ring};
use pyo3::ffi as pyffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView};

use crate::ffi::{self, BytesArg, ExportInfo, WritableArg};
use crate::shared::{
    byte_arg, capacity_arg, subscript, thread_key, to_py, Exporter, Locked, GIL_FREE_COPY,
};

pub(crate) struct RingState {
    pub ring: Ring,
    /// A writable export made by `get_writable_view`, waiting for the
    /// `memoryview` call that thread is about to make.
    staged: Option<(u64, Export)>,
}

impl Exporter for RingState {
    type Token = Export;
    fn release(&mut self, token: &Export) {
        self.ring.release(token);
    }
    fn check(&self) -> Result<(), Error> {
        if self.ring.is_lost() {
            Err(Error::LostAtFork)
        } else {
            Ok(())
        }
    }
}

pub(crate) struct RingCore {
    locked: Locked<RingState>,
    capacity: usize,
}

impl RingCore {
    pub(crate) fn new(capacity: &Bound<'_, PyAny>, name: &'static str) -> PyResult<RingCore> {
        let capacity = capacity_arg(capacity)?;
        let ring = Ring::with_capacity(capacity).map_err(to_py)?;
        Ok(RingCore {
            locked: Locked::new(RingState { ring, staged: None }, name),
            capacity,
        })
    }

    pub(crate) fn lock(&self, py: Python<'_>) -> PyResult<crate::shared::Guard<'_, RingState>> {
        self.locked.lock(py)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn len(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.lock(py)?.ring.len())
    }

    pub(crate) fn free(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.lock(py)?.ring.free())
    }

    pub(crate) fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.lock(py)?.ring.clear();
        Ok(())
    }

    pub(crate) fn push(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        let b = byte_arg(value, "value")?;
        Ok(self.lock(py)?.ring.push(b))
    }

    pub(crate) fn pop(&self, py: Python<'_>) -> PyResult<Option<u8>> {
        Ok(self.lock(py)?.ring.pop())
    }

    /// All of `data` or nothing.
    pub(crate) fn push_all(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        let arg = BytesArg::new(data, "data")?;
        let bytes = arg.as_slice();
        if bytes.len() >= GIL_FREE_COPY {
            return self
                .locked
                .with_gil_released(py, |s| s.ring.push_slice(bytes));
        }
        Ok(self.lock(py)?.ring.push_slice(bytes))
    }

    /// As much of `data` as fits.
    pub(crate) fn push_some(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let arg = BytesArg::new(data, "data")?;
        let bytes = arg.as_slice();
        if bytes.len() >= GIL_FREE_COPY {
            return self
                .locked
                .with_gil_released(py, |s| s.ring.push_partial(bytes));
        }
        Ok(self.lock(py)?.ring.push_partial(bytes))
    }

    pub(crate) fn push_overwrite(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        let arg = BytesArg::new(data, "data")?;
        let bytes = arg.as_slice();
        let r = if bytes.len() >= GIL_FREE_COPY {
            self.locked
                .with_gil_released(py, |s| s.ring.push_overwrite(bytes))?
        } else {
            self.lock(py)?.ring.push_overwrite(bytes)
        };
        r.map_err(to_py)
    }

    /// Up to `n` of the oldest bytes (all for `None`), as `bytes`; never
    /// allocates more than what is there.
    pub(crate) fn pop_bytes<'py>(
        &self,
        py: Python<'py>,
        n: Option<usize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        // Size the result, then allocate it with the state unlocked (the
        // allocation may run the garbage collector, hence Python code).
        let n = n.unwrap_or(usize::MAX).min(self.lock(py)?.ring.len());
        if n < GIL_FREE_COPY {
            return ffi::bytes_filled(py, n, |buf| Ok(self.lock(py)?.ring.pop_into_uninit(buf)));
        }
        ffi::bytes_filled(py, n, |buf| {
            self.locked
                .with_gil_released(py, |s| s.ring.pop_into_uninit(buf))
        })
    }

    /// Moves up to `len(buffer)` bytes into `buffer`; returns how many.
    pub(crate) fn readinto(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<usize> {
        let mut arg = WritableArg::new(buffer, "buffer")?;
        let out = arg.as_mut_slice();
        if out.len() >= GIL_FREE_COPY {
            return self.locked.with_gil_released(py, |s| s.ring.pop_into(out));
        }
        Ok(self.lock(py)?.ring.pop_into(out))
    }

    pub(crate) fn advance_head(&self, py: Python<'_>, n: usize) -> PyResult<()> {
        self.lock(py)?.ring.advance_head(n).map_err(to_py)
    }

    pub(crate) fn advance_tail(&self, py: Python<'_>, n: usize) -> PyResult<()> {
        self.lock(py)?.ring.advance_tail(n).map_err(to_py)
    }

    /// `self[key]` over the readable bytes.
    pub(crate) fn get_item(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        what: &str,
    ) -> PyResult<PyObject> {
        subscript(py, key, what, |f| {
            f(self.lock(py)?.ring.as_slice());
            Ok(())
        })
    }

    /// A read-only view of the readable bytes.
    pub(crate) fn readable_view<'py>(
        &self,
        slf: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyMemoryView>> {
        ffi::memoryview(slf)
    }

    /// A writable view of `n` bytes of free space (all for `None`). With
    /// `or_none`, too little space gives `None` instead of an error.
    pub(crate) fn writable_view<'py>(
        &self,
        slf: &Bound<'py, PyAny>,
        n: Option<usize>,
        or_none: bool,
    ) -> PyResult<Option<Bound<'py, PyMemoryView>>> {
        let py = slf.py();
        {
            let mut g = self.lock(py)?;
            let export = match g.ring.export_writable(n) {
                Ok(e) => e,
                Err(Error::OutOfRange { .. })
                    if or_none && n.is_some_and(|n| n <= self.capacity) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(to_py(e)),
            };
            if let Some((_, old)) = g.staged.replace((thread_key(), export)) {
                g.ring.release(&old);
            }
        }
        match ffi::memoryview(slf) {
            Ok(mv) => Ok(Some(mv)),
            Err(err) => {
                let mut g = self.lock(py)?;
                if let Some((_, e)) = g.staged.take() {
                    g.ring.release(&e);
                }
                Err(err)
            }
        }
    }

    /// `bf_getbuffer`: exports the readable bytes, or the writable space
    /// staged by `writable_view` on this thread.
    ///
    /// # Safety
    /// As [`ffi::fill_buffer`].
    pub(crate) unsafe fn get_buffer(
        &self,
        slf: &Bound<'_, PyAny>,
        view: *mut pyffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let export = {
            let mut g = self.lock(slf.py())?;
            match g.staged.take() {
                Some((who, e)) if who == thread_key() => e,
                other => {
                    g.staged = other;
                    g.ring.export_readable()
                }
            }
        };
        let info = ExportInfo {
            ptr: export.ptr,
            len: export.len,
            readonly: !export.writable,
            token: export.start,
        };
        // SAFETY: caller's contract for `view`; the ring keeps the exported
        // bytes valid and unwritten until the release below or in
        // `release_buffer`.
        if let Err(e) = unsafe { ffi::fill_buffer(view, flags, slf, &info) } {
            self.locked.release(export);
            return Err(e);
        }
        Ok(())
    }

    /// `bf_releasebuffer`.
    ///
    /// # Safety
    /// `view` must have been filled by [`RingCore::get_buffer`].
    pub(crate) unsafe fn release_buffer(&self, view: *mut pyffi::Py_buffer) {
        // SAFETY: caller's contract.
        let (start, len, writable) = unsafe { ffi::read_export(view) };
        self.locked.release(Export {
            start,
            ptr: std::ptr::null_mut(),
            len,
            writable,
        });
    }

    pub(crate) fn repr(&self, py: Python<'_>, name: &str) -> String {
        match self.lock(py) {
            Ok(g) => format!(
                "{name}(capacity={}, len={}, free={})",
                self.capacity,
                g.ring.len(),
                g.ring.free()
            ),
            Err(_) => format!("{name}(capacity={}, <unusable>)", self.capacity),
        }
    }
}
