//! Arguments: the parameter lists of the methods, and the conversion of
//! counts, indexes, byte values and capacities.
//!
//! Every integer argument accepts any object with `__index__` (NumPy
//! scalars included), as `bytearray` does; anything else raises
//! `TypeError` naming the argument. Messages quote the value passed, even
//! beyond 64 bits.

use picoring::{Error, MAX_CAPACITY};
use pyo3::exceptions::{PyMemoryError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt};

use crate::ffi;

macro_rules! params {
    ($($(#[$doc:meta])* $ty:ident = [$($name:literal),*], required $req:literal;)*) => {$(
        $(#[$doc])*
        pub(crate) struct $ty;
        impl $crate::ffi::Params for $ty {
            const NAMES: &'static [&'static std::ffi::CStr] = &[$($name),*];
            const REQUIRED: usize = $req;
        }
    )*};
}
pub(crate) use params;

params! {
    /// `()`.
    NoParams = [], required 0;
    /// `(capacity)`.
    Capacity = [c"capacity"], required 1;
    /// `(data=None)`.
    OptData = [c"data"], required 0;
    /// `(item)`: one byte value.
    Item = [c"item"], required 1;
    /// `(data)`: a bytes-like object.
    Data = [c"data"], required 1;
    /// `(buffer)`: a writable buffer.
    Buffer = [c"buffer"], required 1;
    /// `(n)`: a count.
    N = [c"n"], required 1;
    /// `(n=None)`: an optional count.
    OptN = [c"n"], required 0;
    /// `(index)`.
    Index = [c"index"], required 1;
    /// `(sub, start=None, end=None)`: `find`'s, as `bytes.find`.
    Find = [c"sub", c"start", c"end"], required 1;
    /// `(limit=-1)`: `readline`'s.
    Limit = [c"limit"], required 0;
    /// `(delim, limit=-1)`: `read_until`'s.
    DelimLimit = [c"delim", c"limit"], required 1;
    /// `(index, value)`.
    IndexValue = [c"index", c"value"], required 2;
}

/// An integer argument, converted through `__index__`.
pub(crate) struct Int<'py> {
    /// The value, if it fits in an `i64`.
    pub value: Option<i64>,
    /// The int itself, for messages about values beyond 64 bits.
    pub int: Bound<'py, PyInt>,
}

impl std::fmt::Display for Int<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.value {
            Some(v) => write!(f, "{v}"),
            None => write!(f, "{}", self.int),
        }
    }
}

/// The name of `obj`'s type, for messages.
pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    match obj.get_type().name() {
        Ok(n) => n.to_string(),
        Err(e) => {
            ffi::discard(obj.py(), e);
            "?".into()
        }
    }
}

/// Converts `obj` with `__index__`; `arg` names it in the error.
#[inline]
pub(crate) fn int<'py>(obj: &Bound<'py, PyAny>, arg: &str) -> PyResult<Int<'py>> {
    let int = match obj.cast::<PyInt>() {
        Ok(i) => i.clone(),
        Err(_) => match ffi::number_index(obj) {
            Ok(i) => i,
            Err(e) => {
                ffi::discard(obj.py(), e);
                return Err(not_an_int(obj, arg));
            }
        },
    };
    Ok(Int {
        value: ffi::long_value(&int),
        int,
    })
}

fn not_an_int(obj: &Bound<'_, PyAny>, arg: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "{arg} must be an int (or an object with __index__), not {}",
        type_name(obj)
    ))
}

/// A count: an int >= 0. Values beyond what any ring holds saturate (the
/// callers clamp them or refuse them, quoting [`Count::given`]).
pub(crate) struct Count<'a, 'py> {
    pub n: usize,
    given: Given<'a, 'py>,
}

/// The argument a count came from.
enum Given<'a, 'py> {
    /// An `int` itself.
    Int(&'a Bound<'py, PyAny>),
    /// What `__index__` gave.
    Index(Int<'py>),
}

impl Count<'_, '_> {
    /// The value passed, as the caller wrote it.
    pub(crate) fn given(&self) -> String {
        match &self.given {
            Given::Int(i) => i.to_string(),
            Given::Index(i) => i.to_string(),
        }
    }
}

/// A count argument.
#[inline(always)]
pub(crate) fn count<'a, 'py>(obj: &'a Bound<'py, PyAny>, arg: &str) -> PyResult<Count<'a, 'py>> {
    if let Ok(i) = obj.cast_exact::<PyInt>() {
        if let Some(v) = ffi::long_value(i) {
            if v >= 0 {
                return Ok(Count {
                    n: usize::try_from(v).unwrap_or(usize::MAX),
                    given: Given::Int(obj),
                });
            }
        }
    }
    count_slow(obj, arg)
}

#[cold]
#[inline(never)]
fn count_slow<'a, 'py>(obj: &'a Bound<'py, PyAny>, arg: &str) -> PyResult<Count<'a, 'py>> {
    let given = int(obj, arg)?;
    let n = match given.value {
        Some(v) if v < 0 => {
            return Err(PyValueError::new_err(format!(
                "{arg} must be >= 0, got {v}"
            )))
        }
        Some(v) => usize::try_from(v).unwrap_or(usize::MAX),
        None if given.int.lt(0)? => {
            return Err(PyValueError::new_err(format!(
                "{arg} must be >= 0, got {}",
                given.int
            )))
        }
        None => usize::MAX,
    };
    Ok(Count {
        n,
        given: Given::Index(given),
    })
}

/// An optional count: `None`, or a missing argument, means "all".
#[inline(always)]
pub(crate) fn opt_count<'a, 'py>(
    obj: Option<&'a Bound<'py, PyAny>>,
    arg: &str,
) -> PyResult<Option<Count<'a, 'py>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => count(o, arg).map(Some),
    }
}

/// An io-style count (`read(n=-1)`): `None` (all) for a missing
/// argument, `None` or any negative int, else the count.
#[inline(always)]
pub(crate) fn io_count(obj: Option<&Bound<'_, PyAny>>, arg: &str) -> PyResult<Option<usize>> {
    let Some(o) = obj else { return Ok(None) };
    if let Ok(i) = o.cast_exact::<PyInt>() {
        if let Some(v) = ffi::long_value(i) {
            return Ok(usize::try_from(v).ok());
        }
    }
    io_count_slow(o, arg)
}

#[cold]
#[inline(never)]
fn io_count_slow(o: &Bound<'_, PyAny>, arg: &str) -> PyResult<Option<usize>> {
    if o.is_none() {
        return Ok(None);
    }
    let v = int(o, arg)?;
    match v.value {
        Some(v) => Ok(usize::try_from(v).ok()),
        None if v.int.lt(0)? => Ok(None),
        None => Ok(Some(usize::MAX)),
    }
}

/// A byte value: an int in `range(0, 256)`.
#[inline(always)]
pub(crate) fn byte(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<u8> {
    if let Ok(i) = obj.cast_exact::<PyInt>() {
        if let Some(b @ 0..=255) = ffi::long_value(i) {
            return Ok(b as u8);
        }
    }
    byte_slow(obj, arg)
}

#[cold]
#[inline(never)]
fn byte_slow(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<u8> {
    let v = int(obj, arg)?;
    match v.value {
        Some(b @ 0..=255) => Ok(b as u8),
        _ => Err(PyValueError::new_err(format!(
            "{arg} must be in range(0, 256), got {v}"
        ))),
    }
}

/// An index: any int, negative counting from the end. `None` when it is
/// beyond `isize` (out of range of anything).
#[inline]
pub(crate) fn index<'py>(
    obj: &Bound<'py, PyAny>,
    arg: &str,
) -> PyResult<(Option<isize>, Int<'py>)> {
    let v = int(obj, arg)?;
    Ok((v.value.and_then(|i| isize::try_from(i).ok()), v))
}

/// A slice bound (`find`'s `start` and `end`): `None` for a missing
/// argument or `None`; ints beyond `isize` saturate (they mean "before the
/// start" or "after the end" all the same).
pub(crate) fn slice_bound(obj: Option<&Bound<'_, PyAny>>, arg: &str) -> PyResult<Option<isize>> {
    let Some(o) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let v = int(o, arg)?;
    Ok(Some(match v.value.and_then(|i| isize::try_from(i).ok()) {
        Some(i) => i,
        None if v.int.lt(0)? => isize::MIN,
        None => isize::MAX,
    }))
}

/// Resolves a slice bound against `len` as Python does: negative counts
/// from the end (clamped to 0), `None` is `default`. The result may exceed
/// `len` (`find` needs to tell `start > len` apart).
pub(crate) fn resolve_bound(bound: Option<isize>, len: usize, default: usize) -> usize {
    match bound {
        None => default,
        Some(i) if i < 0 => len.saturating_sub(i.unsigned_abs()),
        Some(i) => i as usize,
    }
}

/// Resolves a possibly negative index against `len`.
#[inline]
pub(crate) fn resolve_index(index: isize, len: usize) -> Option<usize> {
    let i = if index < 0 {
        index.checked_add(len as isize)?
    } else {
        index
    };
    (i >= 0 && (i as usize) < len).then_some(i as usize)
}

/// A capacity argument: an int in `1 ..= MAX_CAPACITY`.
pub(crate) fn capacity(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    let v = int(obj, "capacity")?;
    match v.value {
        Some(c) if c <= 0 => Err(PyValueError::new_err(format!(
            "capacity must be > 0, got {c}"
        ))),
        Some(c) if c as u64 <= MAX_CAPACITY as u64 => Ok(c as usize),
        None if v.int.lt(0)? => Err(PyValueError::new_err(format!(
            "capacity must be > 0, got {}",
            v.int
        ))),
        _ => Err(PyMemoryError::new_err(format!(
            "capacity {v} bytes is larger than the maximum {MAX_CAPACITY} bytes"
        ))),
    }
}

/// A core error about the count `given`, with the value as it was passed
/// (the core only knows the saturated one).
pub(crate) fn with_count(e: Error, given: &Count<'_, '_>) -> PyErr {
    match e {
        Error::OutOfRange {
            arg, limit, what, ..
        } => PyValueError::new_err(format!(
            "{arg}={} is more than {what} ({limit})",
            given.given()
        )),
        other => crate::errors::to_py(other),
    }
}

/// A core error about an optional count (`None`: the default was used, and
/// the core's message says what it was).
pub(crate) fn with_opt_count(e: Error, given: &Option<Count<'_, '_>>) -> PyErr {
    match given {
        Some(n) => with_count(e, n),
        None => crate::errors::to_py(e),
    }
}

// --- results -------------------------------------------------------------------

/// `bool` as a Python object.
#[inline]
pub(crate) fn boolean(py: Python<'_>, b: bool) -> Bound<'_, PyAny> {
    PyBool::new(py, b).to_owned().into_any()
}

/// A count as a Python int.
#[inline]
pub(crate) fn usize_obj(py: Python<'_>, v: usize) -> Bound<'_, PyAny> {
    v.into_pyobject(py).expect("infallible").into_any()
}

/// A byte as a Python int.
#[inline]
pub(crate) fn u8_obj(py: Python<'_>, v: u8) -> Bound<'_, PyAny> {
    v.into_pyobject(py).expect("infallible").into_any()
}

/// `None` as a Python object.
#[inline]
pub(crate) fn none(py: Python<'_>) -> Bound<'_, PyAny> {
    py.None().into_bound(py)
}
