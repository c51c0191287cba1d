//! `PicoListByte`: a growable byte list that never moves its items.

use std::ffi::c_int;

use picoring::PicoList;
use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::ffi as pyffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyIterator, PySlice};

use crate::ffi::{self, BytesArg, ExportInfo};
use crate::shared::{byte_arg, resolve_index, subscript, to_py, Locked, GIL_FREE_COPY};

/// A growable list of bytes whose storage never moves or copies as it
/// grows.
#[pyclass(module = "picoring._picoring", frozen)]
pub struct PicoListByte {
    locked: Locked<PicoList>,
}

impl PicoListByte {
    fn extend_from(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        if let Ok(arg) = BytesArg::new(data, "data") {
            let bytes = arg.as_slice();
            let r = if bytes.len() >= GIL_FREE_COPY {
                self.locked
                    .with_gil_released(py, |l| l.extend_from_slice(bytes))?
            } else {
                self.locked.lock(py)?.extend_from_slice(bytes)
            };
            return r.map_err(to_py);
        }
        if data.is_instance_of::<pyo3::types::PyString>()
            || data.downcast::<pyo3::types::PyInt>().is_ok()
        {
            return Err(PyTypeError::new_err(format!(
                "data must be a bytes-like object or an iterable of ints, not {}",
                data.get_type().name()?
            )));
        }
        // An iterable of ints: check them all first, so a bad item changes
        // nothing.
        let iter = PyIterator::from_object(data).map_err(|_| {
            PyTypeError::new_err(format!(
                "data must be a bytes-like object or an iterable of ints, not {}",
                data.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        let mut items = Vec::new();
        for item in iter {
            items.push(byte_arg(&item?, "item")?);
        }
        self.locked
            .lock(py)?
            .extend_from_slice(&items)
            .map_err(to_py)
    }
}

#[pymethods]
impl PicoListByte {
    #[new]
    #[pyo3(signature = (data=None))]
    fn new(py: Python<'_>, data: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let list = PicoListByte {
            locked: Locked::new(PicoList::new(), "PicoListByte"),
        };
        if let Some(d) = data {
            list.extend_from(py, d)?;
        }
        Ok(list)
    }

    /// Appends one byte.
    fn push(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let b = byte_arg(value, "value")?;
        self.locked.lock(py)?.push(b).map_err(to_py)
    }

    /// Same as `push`, by the name `list` and `bytearray` use.
    fn append(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.push(py, value)
    }

    /// Appends every byte of `data` (a bytes-like object or an iterable of
    /// ints), or none on error.
    fn extend(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        self.extend_from(py, data)
    }

    /// The byte at `index` (negative counts from the end), or None.
    fn get(&self, py: Python<'_>, index: isize) -> PyResult<Option<u8>> {
        let l = self.locked.lock(py)?;
        Ok(resolve_index(index, l.len()).and_then(|i| l.get(i)))
    }

    /// Sets the byte at `index`; False if out of range. Raises BufferError
    /// while a view shows that byte.
    fn set(&self, py: Python<'_>, index: isize, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        let b = byte_arg(value, "value")?;
        let mut l = self.locked.lock(py)?;
        let Some(i) = resolve_index(index, l.len()) else {
            return Ok(false);
        };
        l.set(i, b).map_err(to_py)?;
        Ok(true)
    }

    /// Removes and returns the last byte.
    fn pop(&self, py: Python<'_>) -> PyResult<u8> {
        match self.locked.lock(py)?.pop().map_err(to_py)? {
            Some(b) => Ok(b),
            None => Err(PyIndexError::new_err("pop from empty PicoListByte")),
        }
    }

    /// Removes every byte and returns the memory to the OS.
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.locked.lock(py)?.clear().map_err(to_py)
    }

    /// Number of bytes.
    fn len(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.locked.lock(py)?.len())
    }

    /// Bytes that fit before the next system call.
    fn capacity(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.locked.lock(py)?.capacity())
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.len(py)
    }

    fn __bool__(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.len(py)? > 0)
    }

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        subscript(py, key, "PicoListByte", |f| {
            f(self.locked.lock(py)?.as_slice());
            Ok(())
        })
    }

    fn __setitem__(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if key.downcast::<PySlice>().is_ok() {
            return Err(PyTypeError::new_err(
                "PicoListByte does not support slice assignment; set items one by one",
            ));
        }
        let index: isize = key.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "index must be an int, not {}",
                key.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        let b = byte_arg(value, "value")?;
        let mut l = self.locked.lock(py)?;
        let len = l.len();
        let Some(i) = resolve_index(index, len) else {
            return Err(PyIndexError::new_err(format!(
                "PicoListByte index {index} out of range for length {len}"
            )));
        };
        l.set(i, b).map_err(to_py)
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        let snapshot = self.locked.lock(py)?.as_slice().to_vec();
        PyIterator::from_object(&PyBytes::new(py, &snapshot))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let head = match self.locked.lock(py) {
            Ok(l) if l.len() <= 32 => l.as_slice().to_vec(),
            Ok(l) => return format!("PicoListByte(len={})", l.len()),
            Err(_) => return "PicoListByte(<busy>)".to_string(),
        };
        format!("PicoListByte({:?})", PyBytes::new(py, &head))
    }

    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut pyffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let me = slf.get();
        let (ptr, len) = me.locked.lock(slf.py())?.export();
        let info = ExportInfo {
            ptr,
            len,
            readonly: true,
            token: 0,
        };
        // SAFETY: CPython passed `view` to fill; the list keeps the bytes
        // unchanged and in place until `__releasebuffer__`.
        if let Err(e) = unsafe { ffi::fill_buffer(view, flags, slf.as_any(), &info) } {
            me.locked.release(len);
            return Err(e);
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, view: *mut pyffi::Py_buffer) {
        // SAFETY: CPython hands back a view that `__getbuffer__` filled.
        let (_, len, _) = unsafe { ffi::read_export(view) };
        self.locked.release(len);
    }
}
