//! `PicoListByte`: a growable byte list that never moves its items. A thin
//! class over the core's `PicoList`.

use std::ffi::c_int;

use picoring::{ListExport, PicoList};
use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyIterator, PySlice, PyString};

use crate::args::{self, resolve_index, Data, Index, IndexValue, OptData};
use crate::errors::to_py;
use crate::ffi::{
    self, noargs, with_args, Args, BytesArg, Class, Exported, Method, Ret, Slf, Slots, TypeCell,
};
use crate::lock::{Exporter, Locked, GIL_FREE_COPY};
use crate::ringlike::arg;
use crate::subscript::subscript;

impl Exporter for PicoList {
    type Token = ListExport;
    fn release(&mut self, token: ListExport) {
        PicoList::release(self, token);
    }
}

/// A growable list of bytes whose storage never moves or copies as it
/// grows.
pub(crate) struct PicoListByte {
    state: Locked<PicoList>,
}

static TYPE: TypeCell = TypeCell::new();

impl Class for PicoListByte {
    const NAME: &'static std::ffi::CStr = c"picoring._picoring.PicoListByte";
    const DOC: &'static std::ffi::CStr = c"PicoListByte(data=None)\n--\n\n\
        A growable list of bytes whose storage never moves or copies as it grows; `data` (a \
        bytes-like object or an iterable of ints) gives its first items.";
    type New = OptData;
    type Export = ListExport;
    const NEW: Option<fn(Python<'_>, &Args<'_, '_>) -> PyResult<Self>> = Some(new);
    const SLOTS: Slots<Self> = Slots {
        len: Some(len),
        bool: Some(is_nonempty),
        repr: Some(repr),
        getitem: Some(getitem),
        setitem: Some(setitem),
        iter: Some(iter),
        buffer: Some(ffi::Buffer { export, release }),
        ..Slots::NONE
    };
    fn cell() -> &'static TypeCell {
        &TYPE
    }
    fn methods() -> Vec<Method> {
        type T = PicoListByte;
        vec![
            with_args::<T, args::Item, _>(
                c"push",
                c"push($self, item)\n--\n\nAppend one byte.",
                push,
            ),
            with_args::<T, args::Item, _>(
                c"append",
                c"append($self, item)\n--\n\n\
                Append one byte (same as push).",
                append,
            ),
            with_args::<T, Data, _>(
                c"extend",
                c"extend($self, data)\n--\n\n\
                Append every byte of `data` (a bytes-like object or an iterable of ints), or none \
                on error.",
                extend,
            ),
            with_args::<T, Index, _>(
                c"get",
                c"get($self, index)\n--\n\n\
                The byte at `index` (negative counts from the end), or None.",
                get,
            ),
            with_args::<T, IndexValue, _>(
                c"set",
                c"set($self, index, value)\n--\n\n\
                Set the byte at `index`; False if out of range. Raises BufferError while a view \
                shows that byte.",
                set,
            ),
            noargs::<T, _>(
                c"pop",
                c"pop($self, /)\n--\n\nRemove and return the last byte.",
                pop,
            ),
            noargs::<T, _>(
                c"clear",
                c"clear($self, /)\n--\n\n\
                Remove every byte and return the memory to the OS.",
                clear,
            ),
            noargs::<T, _>(c"len", c"len($self, /)\n--\n\nNumber of bytes.", len_obj),
            noargs::<T, _>(
                c"capacity",
                c"capacity($self, /)\n--\n\n\
                Bytes that fit before the next system call.",
                capacity,
            ),
        ]
    }
}

fn new(py: Python<'_>, a: &Args<'_, '_>) -> PyResult<PicoListByte> {
    let list = PicoListByte {
        state: Locked::new(PicoList::new(), "PicoListByte"),
    };
    if let Some(d) = a[0] {
        extend_from(&list, py, d)?;
    }
    Ok(list)
}

fn not_data(data: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "data must be a bytes-like object or an iterable of ints, not {}",
        args::type_name(data)
    ))
}

fn extend_from(list: &PicoListByte, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
    if ffi::supports_buffer(data) {
        let arg = BytesArg::new(data, "data")?;
        let bytes = arg.as_slice();
        let r = if bytes.len() >= GIL_FREE_COPY {
            list.state
                .with_gil_released(py, |l| l.extend_from_slice(bytes))?
        } else {
            list.state.lock(py)?.extend_from_slice(bytes)
        };
        return r.map_err(to_py);
    }
    if data.is_instance_of::<PyString>() || data.cast::<PyInt>().is_ok() {
        return Err(not_data(data));
    }
    // An iterable of ints: check them all first, so a bad item changes
    // nothing.
    let iter = match PyIterator::from_object(data) {
        Ok(it) => it,
        Err(e) => {
            ffi::discard(py, e);
            return Err(not_data(data));
        }
    };
    let mut items = Vec::new();
    for item in iter {
        items.push(args::byte(&item?, "item")?);
    }
    list.state
        .lock(py)?
        .extend_from_slice(&items)
        .map_err(to_py)
}

fn push<'py>(s: Slf<'_, 'py, PicoListByte>, a: &Args<'_, 'py>) -> Ret<'py> {
    let b = args::byte(arg(a, 0), "item")?;
    s.state.lock(s.py())?.push(b).map_err(to_py)?;
    Ok(args::none(s.py()))
}

/// `push`, under its own name (so that argument errors say `append`).
fn append<'py>(s: Slf<'_, 'py, PicoListByte>, a: &Args<'_, 'py>) -> Ret<'py> {
    let b = args::byte(arg(a, 0), "item")?;
    s.state.lock(s.py())?.push(b).map_err(to_py)?;
    Ok(args::none(s.py()))
}

fn extend<'py>(s: Slf<'_, 'py, PicoListByte>, a: &Args<'_, 'py>) -> Ret<'py> {
    extend_from(&s, s.py(), arg(a, 0))?;
    Ok(args::none(s.py()))
}

fn get<'py>(s: Slf<'_, 'py, PicoListByte>, a: &Args<'_, 'py>) -> Ret<'py> {
    let (i, _) = args::index(arg(a, 0), "index")?;
    let l = s.state.lock(s.py())?;
    match i
        .and_then(|i| resolve_index(i, l.len()))
        .and_then(|i| l.get(i))
    {
        Some(b) => Ok(args::u8_obj(s.py(), b)),
        None => Ok(args::none(s.py())),
    }
}

fn set<'py>(s: Slf<'_, 'py, PicoListByte>, a: &Args<'_, 'py>) -> Ret<'py> {
    let (i, _) = args::index(arg(a, 0), "index")?;
    let b = args::byte(arg(a, 1), "value")?;
    let mut l = s.state.lock(s.py())?;
    let Some(i) = i.and_then(|i| resolve_index(i, l.len())) else {
        return Ok(args::boolean(s.py(), false));
    };
    l.set(i, b).map_err(to_py)?;
    Ok(args::boolean(s.py(), true))
}

fn pop<'py>(s: Slf<'_, 'py, PicoListByte>) -> Ret<'py> {
    match s.state.lock(s.py())?.pop().map_err(to_py)? {
        Some(b) => Ok(args::u8_obj(s.py(), b)),
        None => Err(PyIndexError::new_err("pop from empty PicoListByte")),
    }
}

fn clear<'py>(s: Slf<'_, 'py, PicoListByte>) -> Ret<'py> {
    s.state.lock(s.py())?.clear().map_err(to_py)?;
    Ok(args::none(s.py()))
}

fn len(s: Slf<'_, '_, PicoListByte>) -> PyResult<usize> {
    Ok(s.state.lock(s.py())?.len())
}

fn len_obj<'py>(s: Slf<'_, 'py, PicoListByte>) -> Ret<'py> {
    Ok(args::usize_obj(s.py(), len(s)?))
}

fn is_nonempty(s: Slf<'_, '_, PicoListByte>) -> PyResult<bool> {
    Ok(len(s)? > 0)
}

fn capacity<'py>(s: Slf<'_, 'py, PicoListByte>) -> Ret<'py> {
    let c = s.state.lock(s.py())?.capacity();
    Ok(args::usize_obj(s.py(), c))
}

fn getitem<'a, 'py>(s: Slf<'a, 'py, PicoListByte>, key: &'a Bound<'py, PyAny>) -> Ret<'py> {
    // An int: one lock, no detour.
    if let Some(i) = crate::subscript::plain_index(key) {
        let l = s.state.lock(s.py())?;
        if let Some(b) = resolve_index(i, l.len()).and_then(|i| l.get(i)) {
            return Ok(args::u8_obj(s.py(), b));
        }
    }
    subscript(key, "PicoListByte", |f| {
        f(s.state.lock(s.py())?.as_slice());
        Ok(())
    })
}

fn setitem<'a, 'py>(
    s: Slf<'a, 'py, PicoListByte>,
    key: &'a Bound<'py, PyAny>,
    value: Option<&'a Bound<'py, PyAny>>,
) -> PyResult<()> {
    let Some(value) = value else {
        return Err(PyTypeError::new_err(
            "PicoListByte does not support item deletion (its items never move); use pop()",
        ));
    };
    if key.cast::<PySlice>().is_ok() {
        return Err(PyTypeError::new_err(
            "PicoListByte does not support slice assignment; set items one by one",
        ));
    }
    let (i, given) = args::index(key, "index")?;
    let b = args::byte(value, "value")?;
    let mut l = s.state.lock(s.py())?;
    let len = l.len();
    let Some(i) = i.and_then(|i| resolve_index(i, len)) else {
        return Err(PyIndexError::new_err(format!(
            "PicoListByte index {given} out of range for length {len}"
        )));
    };
    l.set(i, b).map_err(to_py)
}

fn iter<'py>(s: Slf<'_, 'py, PicoListByte>) -> Ret<'py> {
    let snapshot = s.state.lock(s.py())?.as_slice().to_vec();
    Ok(PyIterator::from_object(&PyBytes::new(s.py(), &snapshot))?.into_any())
}

fn repr(s: Slf<'_, '_, PicoListByte>) -> String {
    let head = match s.state.lock(s.py()) {
        Ok(l) if l.len() <= 32 => l.as_slice().to_vec(),
        Ok(l) => return format!("PicoListByte(len={})", l.len()),
        Err(_) => return "PicoListByte(<busy>)".to_string(),
    };
    format!(
        "PicoListByte({})",
        PyBytes::new(s.py(), &head)
            .repr()
            .map(|r| r.to_string())
            .unwrap_or_default()
    )
}

fn export(s: Slf<'_, '_, PicoListByte>, _flags: c_int) -> PyResult<Exported<ListExport>> {
    let e = s.state.lock(s.py())?.export();
    Ok(Exported {
        ptr: e.as_ptr().cast_mut(),
        len: e.len(),
        readonly: true,
        token: e,
    })
}

fn release(s: Slf<'_, '_, PicoListByte>, e: ListExport) {
    s.state.release(e);
}
