//! `obj[key]` over bytes, for an int or a slice `key`, as `bytes` does.

use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PySlice};

use crate::args::{self, resolve_index};
use crate::ffi::Ret;

/// `key` as an index, if it is an `int` that fits in `isize`.
#[inline(always)]
pub(crate) fn plain_index(key: &Bound<'_, PyAny>) -> Option<isize> {
    let i = key.cast_exact::<PyInt>().ok()?;
    crate::ffi::long_value(i).and_then(|i| isize::try_from(i).ok())
}

/// `obj[key]` over bytes that `read` hands to its callback with the object
/// locked. The lock is never held while Python code runs (resolving a slice
/// may call `__index__`; building the result allocates), so a slice takes
/// two short locks: one for the length, one to copy the bytes out. A plain
/// int takes one.
#[inline]
pub(crate) fn subscript<'py>(
    key: &Bound<'py, PyAny>,
    what: &str,
    read: impl Fn(&mut dyn FnMut(&[u8])) -> PyResult<()>,
) -> Ret<'py> {
    let py = key.py();
    {
        if let Some(i) = plain_index(key) {
            let mut got = Err(0);
            read(&mut |data| {
                got = resolve_index(i, data.len())
                    .map(|i| data[i])
                    .ok_or(data.len())
            })?;
            return match got {
                Ok(b) => Ok(args::u8_obj(py, b)),
                Err(len) => Err(out_of_range(what, &i.to_string(), len)),
            };
        }
    }
    let mut len = 0;
    read(&mut |data| len = data.len())?;
    let sel = select(key, len, what)?;
    let mut picked = None;
    read(&mut |data| picked = Some(sel.pick(data, what)))?;
    match picked.expect("read calls back once")? {
        Picked::Byte(b) => Ok(args::u8_obj(py, b)),
        Picked::Bytes(v) => Ok(PyBytes::new(py, &v).into_any()),
    }
}

fn out_of_range(what: &str, index: &str, len: usize) -> PyErr {
    PyIndexError::new_err(format!(
        "{what} index {index} out of range for length {len}"
    ))
}

/// What `obj[key]` asks for, resolved against a length.
enum Selection {
    Index(usize),
    Slice {
        start: isize,
        step: isize,
        len: usize,
    },
}

/// What a selection picked out, copied so that the lock can go before any
/// Python object is made.
enum Picked {
    Byte(u8),
    Bytes(Vec<u8>),
}

/// Resolves an int or slice `key` against `len` (may run Python code:
/// `__index__`), before the state is locked.
fn select(key: &Bound<'_, PyAny>, len: usize, what: &str) -> PyResult<Selection> {
    if let Ok(slice) = key.cast::<PySlice>() {
        let ind = slice.indices(len as isize)?;
        return Ok(Selection::Slice {
            start: ind.start,
            step: ind.step,
            len: ind.slicelength,
        });
    }
    let (i, given) = args::index(key, "index").map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} indices must be integers or slices, not {}",
            args::type_name(key)
        ))
    })?;
    i.and_then(|i| resolve_index(i, len))
        .map(Selection::Index)
        .ok_or_else(|| out_of_range(what, &given.to_string(), len))
}

impl Selection {
    /// Copies the selected bytes out of `data` (the locked state).
    fn pick(&self, data: &[u8], what: &str) -> PyResult<Picked> {
        let gone = || PyIndexError::new_err(format!("{what} changed size during the call"));
        match *self {
            Selection::Index(i) => data.get(i).map(|&b| Picked::Byte(b)).ok_or_else(gone),
            Selection::Slice { start, step, len } => {
                if len == 0 {
                    return Ok(Picked::Bytes(Vec::new()));
                }
                let last = start + (len as isize - 1) * step;
                if start.max(last) as usize >= data.len() {
                    return Err(gone());
                }
                if step == 1 {
                    let s = start as usize;
                    return Ok(Picked::Bytes(data[s..s + len].to_vec()));
                }
                Ok(Picked::Bytes(
                    (0..len)
                        .map(|k| data[(start + k as isize * step) as usize])
                        .collect(),
                ))
            }
        }
    }
}
