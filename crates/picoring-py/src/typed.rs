//! `PicoRing`: a ring of typed, fixed-size items (a thin class over the
//! core's `TypedRing`), and `ItemArray`, the array `pop_array` returns.
//!
//! Views and the buffer protocol carry the items' format and shape, so
//! `np.asarray(view)` is a typed N-dimensional array with no copy.

use std::ffi::{c_int, CString};

use picoring::{Error, GrantExport, ReadExport, TypedRing, MAX_CAPACITY};
use pyo3::exceptions::{PyIndexError, PyMemoryError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView, PySlice, PyString, PyTuple};

use crate::args::{self, with_count, OptN, N};
use crate::errors::to_py;
use crate::ffi::{
    self, noargs, with_args, Args, Class, Exported, ItemLayout, ItemsArg, Method, Ret, Slf, Slots,
    TypeCell,
};
use crate::lock::{Exporter, Locked, GIL_FREE_COPY};
use crate::ringlike::{self as rl, RingToken};

/// A ring of `capacity` items, each `item_shape` elements of `dtype`.
pub(crate) struct PicoRing {
    state: Locked<TypedRing>,
    capacity: usize,
    item: usize,
    /// Exports of every item: `(n, *item_shape)`.
    layout: ItemLayout,
    memory: rl::Memory,
}

impl Exporter for TypedRing {
    type Token = RingToken;
    fn release(&mut self, token: RingToken) {
        match token {
            RingToken::Read(e) => {
                TypedRing::release(self, e);
            }
            RingToken::Grant(g) => {
                self.release_grant(g);
            }
        }
    }
    #[inline(always)]
    fn check(&self) -> Result<(), Error> {
        if self.is_lost() {
            Err(Error::LostAtFork)
        } else {
            Ok(())
        }
    }
}

static TYPE: TypeCell = TypeCell::new();

/// `(capacity, dtype="B", item_shape=())`.
pub(crate) struct NewParams;
impl ffi::Params for NewParams {
    const NAMES: &'static [&'static std::ffi::CStr] = &[c"capacity", c"dtype", c"item_shape"];
    const REQUIRED: usize = 1;
}

impl Class for PicoRing {
    const NAME: &'static std::ffi::CStr = c"picoring._picoring.PicoRing";
    const DOC: &'static std::ffi::CStr = c"PicoRing(capacity, dtype='B', item_shape=())\n--\n\n\
        A circular buffer of exactly `capacity` items, each `item_shape` elements of `dtype` \
        (a struct format code such as 'f' or '<h', a NumPy dtype or its name), whose readable \
        items are always one contiguous, typed view.";
    type New = NewParams;
    type Export = ReadExport;
    const NEW: Option<fn(Python<'_>, &Args<'_, '_>) -> PyResult<Self>> = Some(new);
    const SLOTS: Slots<Self> = Slots {
        len: Some(len),
        bool: Some(is_nonempty),
        repr: Some(repr),
        getitem: Some(getitem),
        iter: Some(iter),
        buffer: Some(ffi::Buffer { export, release }),
        getters: &[
            (
                c"dtype",
                dtype,
                c"The items' element format, as a struct format string.",
            ),
            (c"itemsize", itemsize, c"Bytes per item."),
            (
                c"item_shape",
                item_shape,
                c"The shape of one item (a tuple).",
            ),
        ],
        ..Slots::NONE
    };
    fn cell() -> &'static TypeCell {
        &TYPE
    }
    fn layout(&self) -> Option<&ItemLayout> {
        Some(&self.layout)
    }
    fn methods() -> Vec<Method> {
        type T = PicoRing;
        vec![
            with_args::<T, args::Data, _>(c"push_array", c"push_array($self, data)\n--\n\n\
                Append every item of `data` (a buffer or NumPy array of the ring's dtype, shaped \
                (n, *item_shape) or item_shape; any strides), or nothing (False) if they do not \
                fit. Another dtype or shape raises TypeError: nothing is ever cast.", push_array),
            with_args::<T, args::Data, _>(c"push_overwrite", c"push_overwrite($self, data)\n--\n\n\
                Append the items of `data`, dropping the oldest items to make room; return how many \
                were dropped. Raises BufferError (changing nothing) if that would drop items a live \
                view shows, or while a writable view is open.", push_overwrite),
            with_args::<T, OptN, _>(c"pop_array", c"pop_array($self, n=None)\n--\n\n\
                Remove and return up to `n` of the oldest items (all if None) as a new ItemArray, \
                which np.asarray takes without a copy.", pop_array),
            with_args::<T, N, _>(c"latest", c"latest($self, n)\n--\n\n\
                The newest `n` items as one read-only typed view, in O(1) and with no copy; later \
                pushes never change it while it is alive.", latest),
            noargs::<T, _>(c"get_readable_view", c"get_readable_view($self, /)\n--\n\n\
                A read-only typed memoryview of every readable item: contiguous, O(1), no copy.",
                readable_view),
            with_args::<T, OptN, _>(c"get_writable_view", c"get_writable_view($self, n=None)\n--\n\n\
                A writable typed memoryview of `n` items of free space (all of it if None): the \
                ring's one open grant. Publish with advance_head(k); releasing the view unpublished \
                abandons it.", writable_view),
            with_args::<T, N, _>(c"advance_head", c"advance_head($self, n)\n--\n\n\
                Publish the first `n` items written through the open writable view, and end it.",
                advance_head),
            with_args::<T, N, _>(c"advance_tail", c"advance_tail($self, n)\n--\n\n\
                Consume `n` items.", advance_tail),
            noargs::<T, _>(c"len", c"len($self, /)\n--\n\nNumber of readable items.", len_obj),
            noargs::<T, _>(c"capacity", c"capacity($self, /)\n--\n\nThe most items the ring holds.",
                capacity),
            noargs::<T, _>(c"free", c"free($self, /)\n--\n\n\
                Items a push can take now (0 while a writable view is open).", free),
            noargs::<T, _>(c"clear", c"clear($self, /)\n--\n\n\
                Drop every readable item (an open writable view stays open).", clear),
        ]
    }
}

// --- dtype ------------------------------------------------------------------

/// The struct codes a ring holds, their sizes, and the NumPy names and
/// type strings that mean them. `Zf`/`Zd` are the buffer protocol's
/// complex numbers (PEP 3118), which NumPy reads as complex64/complex128.
const CODES: &[(&str, usize, &str, &str)] = &[
    ("b", 1, "int8", "i1"),
    ("B", 1, "uint8", "u1"),
    ("h", 2, "int16", "i2"),
    ("H", 2, "uint16", "u2"),
    ("i", 4, "int32", "i4"),
    ("I", 4, "uint32", "u4"),
    ("q", 8, "int64", "i8"),
    ("Q", 8, "uint64", "u8"),
    ("e", 2, "float16", "f2"),
    ("f", 4, "float32", "f4"),
    ("d", 8, "float64", "f8"),
    ("Zf", 8, "complex64", "c8"),
    ("Zd", 16, "complex128", "c16"),
];

const DTYPE_HELP: &str = "a struct format code (b B h H i I q Q e f d, or Zf Zd for complex; \
     optionally after <, > or =), a NumPy dtype, or its name ('float32', '<f4', 'complex64')";

/// Canonical form of a format string or NumPy name: the struct code,
/// prefixed with `<` or `>` only when that is not this machine's byte
/// order (native formats are the ones `memoryview` can index). `None` if
/// it is not one of [`CODES`].
pub(crate) fn canonical(text: &str) -> Option<(String, usize)> {
    let little = cfg!(target_endian = "little");
    let (order, rest) = match text.as_bytes().first() {
        Some(b'<') => (Some(true), &text[1..]),
        Some(b'>' | b'!') => (Some(false), &text[1..]),
        Some(b'=' | b'@' | b'|') => (None, &text[1..]),
        _ => (None, text),
    };
    // Native-size codes (what NumPy exports for int64 on Linux, say) mean
    // the fixed-size code of their native size; with an explicit byte
    // order they have the standard sizes, as in `struct`.
    let explicit = order.is_some() || text.starts_with('=');
    let rest = match rest {
        "l" if !explicit && std::mem::size_of::<std::ffi::c_long>() == 8 => "q",
        "L" if !explicit && std::mem::size_of::<std::ffi::c_ulong>() == 8 => "Q",
        "l" => "i",
        "L" => "I",
        "n" if !explicit && std::mem::size_of::<isize>() == 8 => "q",
        "N" if !explicit && std::mem::size_of::<usize>() == 8 => "Q",
        r => r,
    };
    let found = CODES
        .iter()
        .find(|c| c.0 == rest || (order.is_none() && c.2 == rest) || c.3 == rest)?;
    let (code, size) = (found.0, found.1);
    let prefix = match order {
        _ if size == 1 => "",
        Some(true) if !little => "<",
        Some(false) if little => ">",
        _ => "",
    };
    Some((format!("{prefix}{code}"), size))
}

/// The `dtype` argument as its canonical format and element size.
fn parse_dtype(obj: Option<&Bound<'_, PyAny>>) -> PyResult<(String, usize)> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(("B".into(), 1));
    };
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_str()?;
        return canonical(text).ok_or_else(|| {
            PyTypeError::new_err(format!(
                "dtype '{text}' is not supported: give {DTYPE_HELP}"
            ))
        });
    }
    // A NumPy dtype, or a type NumPy makes one of (np.float32): through
    // NumPy itself, imported only then.
    let py = obj.py();
    let described = py
        .import("numpy")
        .and_then(|np| np.getattr("dtype")?.call1((obj,)))
        .and_then(|d| d.getattr("str")?.extract::<String>());
    match described.ok().and_then(|s| canonical(&s)) {
        Some(c) => Ok(c),
        None => Err(PyTypeError::new_err(format!(
            "dtype {} is not supported: give {DTYPE_HELP}",
            obj.repr().map(|r| r.to_string()).unwrap_or_default()
        ))),
    }
}

/// The `item_shape` argument: a tuple (or list) of positive ints, or one.
fn parse_shape(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<usize>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    let dims: Vec<Bound<'_, PyAny>> = if ffi::number_index(obj).is_ok() {
        vec![obj.clone()]
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        t.iter().collect()
    } else if let Ok(l) = obj.cast::<pyo3::types::PyList>() {
        l.iter().collect()
    } else {
        return Err(PyTypeError::new_err(format!(
            "item_shape must be a tuple of ints, not {}",
            args::type_name(obj)
        )));
    };
    if dims.len() >= ffi::MAX_ITEM_NDIM {
        return Err(PyValueError::new_err(format!(
            "item_shape has {} dimensions; at most {} are supported",
            dims.len(),
            ffi::MAX_ITEM_NDIM - 1
        )));
    }
    dims.iter()
        .map(|d| {
            let v = args::int(d, "item_shape")?;
            match v.value {
                Some(n) if n > 0 && n as u64 <= MAX_CAPACITY as u64 => Ok(n as usize),
                _ => Err(PyValueError::new_err(format!(
                    "item_shape dimensions must be > 0 and at most {MAX_CAPACITY}, got {v}"
                ))),
            }
        })
        .collect()
}

fn shape_text(dims: &[usize]) -> String {
    match dims {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn new(_py: Python<'_>, a: &Args<'_, '_>) -> PyResult<PicoRing> {
    let (format, elem) = parse_dtype(a[1])?;
    let item_shape = parse_shape(a[2])?;
    let v = args::int(rl::arg(a, 0), "capacity")?;
    let capacity = match v.value {
        Some(c) if c > 0 => c as u64,
        Some(_) => {
            return Err(PyValueError::new_err(format!(
                "capacity must be > 0, got {v}"
            )));
        }
        None if v.int.lt(0)? => {
            return Err(PyValueError::new_err(format!(
                "capacity must be > 0, got {v}"
            )));
        }
        None => u64::MAX,
    };
    let item = item_shape
        .iter()
        .try_fold(elem, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_CAPACITY);
    let bytes = item.and_then(|i| capacity.checked_mul(i as u64));
    let (Some(item), Some(_)) = (item, bytes.filter(|&b| b <= MAX_CAPACITY as u64)) else {
        return Err(PyMemoryError::new_err(format!(
            "capacity {v} items of {} bytes is larger than the maximum {MAX_CAPACITY} bytes",
            item.map_or_else(|| "more than that".to_string(), |i| i.to_string())
        )));
    };
    let capacity = capacity as usize;
    let r = TypedRing::with_capacity(capacity, item).map_err(to_py)?;
    Ok(PicoRing {
        memory: rl::Memory::of(r.as_ring()),
        state: Locked::new(r, "PicoRing"),
        capacity,
        item,
        layout: ItemLayout {
            format: CString::new(format).expect("no NUL in a format"),
            elem_size: elem,
            item_shape,
            items_dim: true,
        },
    })
}

// --- pushing and popping -----------------------------------------------------

/// The items of a `push_array`/`push_overwrite` argument, checked against
/// the ring's dtype and item shape, as one contiguous run of bytes (the
/// caller's own, or a C-ordered copy of a strided one).
fn items_of<'a>(
    s: &Slf<'_, '_, PicoRing>,
    arr: &'a ItemsArg,
) -> PyResult<std::borrow::Cow<'a, [u8]>> {
    let ours = s.layout.format.to_str().expect("ASCII");
    let theirs = arr.format();
    if canonical(&theirs).map(|c| c.0).as_deref() != Some(ours) {
        return Err(PyTypeError::new_err(format!(
            "data has format '{theirs}', but this ring holds '{ours}' items: nothing is cast \
             (convert with numpy's astype first)"
        )));
    }
    let shape = arr.shape();
    let k = s.layout.item_shape.len();
    let whole = shape.len() == k + 1 && shape[1..] == s.layout.item_shape[..];
    let single = shape.len() == k && shape[..] == s.layout.item_shape[..];
    if !whole && !single {
        return Err(PyTypeError::new_err(format!(
            "data has shape {}, but this ring's items have shape {}: data must be shaped \
             (n, *item_shape) or item_shape",
            shape_text(&shape),
            shape_text(&s.layout.item_shape)
        )));
    }
    match arr.contiguous() {
        Some(b) => Ok(if s.memory.overlaps(b.as_ptr(), b.len()) {
            std::borrow::Cow::Owned(b.to_vec())
        } else {
            std::borrow::Cow::Borrowed(b)
        }),
        None => {
            let mut v = vec![0; arr.len()];
            arr.copy_to(s.py(), &mut v)?;
            Ok(std::borrow::Cow::Owned(v))
        }
    }
}

/// Runs `f` on the ring with `bytes.len()` deciding whether the GIL is
/// released meanwhile.
fn with_ring<R: Send>(
    s: &Slf<'_, '_, PicoRing>,
    size: usize,
    f: impl FnOnce(&mut TypedRing) -> R + Send,
) -> PyResult<R> {
    if size >= GIL_FREE_COPY {
        s.state.with_gil_released(s.py(), f)
    } else {
        Ok(f(&mut *s.state.lock(s.py())?))
    }
}

fn push_array<'py>(s: Slf<'_, 'py, PicoRing>, a: &Args<'_, 'py>) -> Ret<'py> {
    let arr = ItemsArg::new(rl::arg(a, 0), "data")?;
    let data = items_of(&s, &arr)?;
    let data = &data[..];
    let ok = with_ring(&s, data.len(), |r| r.push(data))?.map_err(to_py)?;
    Ok(args::boolean(s.py(), ok))
}

fn push_overwrite<'py>(s: Slf<'_, 'py, PicoRing>, a: &Args<'_, 'py>) -> Ret<'py> {
    let arr = ItemsArg::new(rl::arg(a, 0), "data")?;
    let data = items_of(&s, &arr)?;
    let data = &data[..];
    let dropped = with_ring(&s, data.len(), |r| r.push_overwrite(data))?.map_err(to_py)?;
    Ok(args::usize_obj(s.py(), dropped))
}

fn pop_array<'py>(s: Slf<'_, 'py, PicoRing>, a: &Args<'_, 'py>) -> Ret<'py> {
    let py = s.py();
    let want = args::opt_count(a[0], "n")?.map_or(usize::MAX, |c| c.n);
    let mut g = s.state.lock(py)?;
    let n = want.min(g.len());
    // Allocating a `bytes` runs no Python code: one lock throughout.
    let bytes = ffi::bytes_filled(py, n * s.item, |buf| Ok(g.pop_into_uninit(buf)))?;
    drop(g);
    let array = ItemArray {
        bytes: ffi::Owned::new(bytes.as_any()),
        layout: s.layout.clone(),
    };
    ffi::new_instance(py, array).map_err(|(e, _)| e)
}

// --- views ---------------------------------------------------------------------

fn readable_view<'py>(s: Slf<'_, 'py, PicoRing>) -> Ret<'py> {
    Ok(ffi::memoryview(s.obj())?.into_any())
}

fn give_back_read(owner: &Bound<'_, PyAny>, e: ReadExport) {
    if let Some(r) = ffi::value::<PicoRing>(owner) {
        r.state.release(RingToken::Read(e));
    }
}

fn give_back_grant(owner: &Bound<'_, PyAny>, g: GrantExport) {
    if let Some(r) = ffi::value::<PicoRing>(owner) {
        r.state.release(RingToken::Grant(g));
    }
}

fn is_open(owner: &Bound<'_, PyAny>, g: &GrantExport) -> Option<bool> {
    let r = ffi::value::<PicoRing>(owner)?;
    let st = r.state.try_now()?;
    Some(st.is_open_grant(g))
}

fn latest<'py>(s: Slf<'_, 'py, PicoRing>, a: &Args<'_, 'py>) -> Ret<'py> {
    let n = args::count(rl::arg(a, 0), "n")?;
    let e = s
        .state
        .lock(s.py())?
        .export_latest(n.n)
        .map_err(|e| with_count(e, &n))?;
    let (ptr, len) = (e.as_ptr(), e.len());
    let layout = s.layout.clone();
    Ok(crate::views::read_view(s.obj(), e, ptr, len, layout, give_back_read)?.into_any())
}

fn writable_view<'py>(s: Slf<'_, 'py, PicoRing>, a: &Args<'_, 'py>) -> Ret<'py> {
    let n = args::opt_count(a[0], "n")?;
    let g = s.state.lock(s.py())?.export_grant(n.as_ref().map(|c| c.n));
    let g = g.map_err(|e| args::with_opt_count(e, &n))?;
    let layout = Some(s.layout.clone());
    let v = crate::views::writable_view(s.obj(), "PicoRing", g, give_back_grant, is_open, layout);
    Ok(v?.into_any())
}

/// `ring[i]`: the item (a number for scalar items of a native format, else
/// a read-only view of the one item); `ring[a:b]`: a typed view of those
/// items. Neither copies.
fn getitem<'a, 'py>(s: Slf<'a, 'py, PicoRing>, key: &'a Bound<'py, PyAny>) -> Ret<'py> {
    let py = s.py();
    if key.cast::<PySlice>().is_ok() {
        let view: Bound<'py, PyMemoryView> = ffi::memoryview(s.obj())?;
        return view.get_item(key);
    }
    let (index, given) = args::index(key, "index")?;
    let mut g = s.state.lock(py)?;
    let len = g.len();
    let Some(i) = index.and_then(|i| args::resolve_index(i, len)) else {
        return Err(PyIndexError::new_err(format!(
            "PicoRing index {given} out of range for {len} items"
        )));
    };
    let e = g.export_from(i).map_err(to_py)?;
    drop(g);
    let ptr = e.as_ptr();
    let mut layout = s.layout.clone();
    layout.items_dim = false;
    let scalar = layout.item_shape.is_empty();
    let format = layout.format.to_str().expect("ASCII").to_owned();
    let view = crate::views::read_view(s.obj(), e, ptr, s.item, layout, give_back_read)?;
    if scalar {
        // The number, read by the struct module (which knows every byte
        // order and half floats; complex numbers are two floats); the view
        // (and its pin) goes at once.
        let (order, code) = match format.as_bytes()[0] {
            b'<' | b'>' => format.split_at(1),
            _ => ("", format.as_str()),
        };
        let (spec, complex) = match code {
            "Zf" => (format!("{order}ff"), true),
            "Zd" => (format!("{order}dd"), true),
            c => (format!("{order}{c}"), false),
        };
        let got = py
            .import("struct")?
            .getattr("unpack_from")?
            .call1((spec, &view));
        view.call_method0("release")?;
        let got = got?;
        if complex {
            let (re, im): (f64, f64) = got.extract()?;
            return Ok(pyo3::types::PyComplex::from_doubles(py, re, im).into_any());
        }
        return got.get_item(0);
    }
    Ok(view.into_any())
}

/// `iter(ring)`: the items readable when it starts, as `ring[i]` gives
/// them (`map(ring.__getitem__, range(len(ring)))`).
fn iter<'py>(s: Slf<'_, 'py, PicoRing>) -> Ret<'py> {
    let py = s.py();
    let n = s.state.lock(py)?.len();
    let builtins = py.import("builtins")?;
    let range = builtins.getattr("range")?.call1((n,))?;
    builtins
        .getattr("map")?
        .call1((s.obj().getattr("__getitem__")?, range))
}

fn export(s: Slf<'_, '_, PicoRing>, _flags: c_int) -> PyResult<Exported<ReadExport>> {
    let e = s.state.lock(s.py())?.export_readable();
    Ok(Exported {
        ptr: e.as_ptr().cast_mut(),
        len: e.len(),
        readonly: true,
        token: e,
    })
}

fn release(s: Slf<'_, '_, PicoRing>, e: ReadExport) {
    s.state.release(RingToken::Read(e));
}

// --- counts ----------------------------------------------------------------------

fn len(s: Slf<'_, '_, PicoRing>) -> PyResult<usize> {
    Ok(s.state.lock(s.py())?.len())
}

fn is_nonempty(s: Slf<'_, '_, PicoRing>) -> PyResult<bool> {
    Ok(len(s)? > 0)
}

fn len_obj<'py>(s: Slf<'_, 'py, PicoRing>) -> Ret<'py> {
    Ok(args::usize_obj(s.py(), len(s)?))
}

fn capacity<'py>(s: Slf<'_, 'py, PicoRing>) -> Ret<'py> {
    Ok(args::usize_obj(s.py(), s.capacity))
}

fn free<'py>(s: Slf<'_, 'py, PicoRing>) -> Ret<'py> {
    let f = s.state.lock(s.py())?.free();
    Ok(args::usize_obj(s.py(), f))
}

fn clear<'py>(s: Slf<'_, 'py, PicoRing>) -> Ret<'py> {
    s.state.lock(s.py())?.clear();
    Ok(args::none(s.py()))
}

fn advance_head<'py>(s: Slf<'_, 'py, PicoRing>, a: &Args<'_, 'py>) -> Ret<'py> {
    let n = args::count(rl::arg(a, 0), "n")?;
    s.state
        .lock(s.py())?
        .advance_head(n.n)
        .map_err(|e| with_count(e, &n))?;
    Ok(args::none(s.py()))
}

fn advance_tail<'py>(s: Slf<'_, 'py, PicoRing>, a: &Args<'_, 'py>) -> Ret<'py> {
    let n = args::count(rl::arg(a, 0), "n")?;
    s.state
        .lock(s.py())?
        .advance_tail(n.n)
        .map_err(|e| with_count(e, &n))?;
    Ok(args::none(s.py()))
}

fn dtype<'py>(s: Slf<'_, 'py, PicoRing>) -> Ret<'py> {
    Ok(PyString::new(s.py(), s.layout.format.to_str().expect("ASCII")).into_any())
}

fn itemsize<'py>(s: Slf<'_, 'py, PicoRing>) -> Ret<'py> {
    Ok(args::usize_obj(s.py(), s.item))
}

fn item_shape<'py>(s: Slf<'_, 'py, PicoRing>) -> Ret<'py> {
    Ok(PyTuple::new(s.py(), &s.layout.item_shape)?.into_any())
}

fn repr(s: Slf<'_, '_, PicoRing>) -> String {
    let head = format!(
        "PicoRing(capacity={}, dtype='{}', item_shape={}",
        s.capacity,
        s.layout.format.to_str().unwrap_or("?"),
        shape_text(&s.layout.item_shape)
    );
    match s.state.lock(s.py()) {
        Ok(g) => format!("{head}, len={}, free={})", g.len(), g.free()),
        Err(_) => format!("{head}, <unusable>)"),
    }
}

// --- ItemArray ---------------------------------------------------------------

/// Items popped from a `PicoRing`: their own memory (a `bytes`), exported
/// read-only with the ring's format and shape. The `bytes` is held as an
/// [`ffi::Owned`], given back directly at dealloc (a `Py` would be queued
/// for later in a slot that PyO3 did not enter, and pile up).
pub(crate) struct ItemArray {
    bytes: ffi::Owned,
    layout: ItemLayout,
}

impl ItemArray {
    /// The items' bytes (a `bytes` made by `pop_array`: immutable).
    fn bytes<'a>(&'a self, py: Python<'a>) -> &'a [u8] {
        let b = self.bytes.bind(py);
        b.cast::<PyBytes>().map_or(&[][..], |b| b.as_bytes())
    }
}

static ARRAY_TYPE: TypeCell = TypeCell::new();

impl Class for ItemArray {
    const NAME: &'static std::ffi::CStr = c"picoring._picoring.ItemArray";
    const DOC: &'static std::ffi::CStr = c"Items popped from a PicoRing, in memory of their own: \
        np.asarray(a) and memoryview(a) see them typed and shaped, without a copy.";
    type New = args::NoParams;
    type Export = ();
    const NEW: Option<fn(Python<'_>, &Args<'_, '_>) -> PyResult<Self>> = None;
    const SLOTS: Slots<Self> = Slots {
        len: Some(array_len),
        repr: Some(array_repr),
        buffer: Some(ffi::Buffer {
            export: array_export,
            release: array_release,
        }),
        getters: &[
            (
                c"dtype",
                array_dtype,
                c"The element format, as a struct format string.",
            ),
            (c"shape", array_shape, c"(items, *item_shape)."),
        ],
        ..Slots::NONE
    };
    fn cell() -> &'static TypeCell {
        &ARRAY_TYPE
    }
    fn methods() -> Vec<Method> {
        Vec::new()
    }
    fn layout(&self) -> Option<&ItemLayout> {
        Some(&self.layout)
    }
}

fn array_items(s: &Slf<'_, '_, ItemArray>) -> usize {
    s.bytes(s.py()).len() / s.layout.item_size().max(1)
}

fn array_len(s: Slf<'_, '_, ItemArray>) -> PyResult<usize> {
    Ok(array_items(&s))
}

fn array_shape<'py>(s: Slf<'_, 'py, ItemArray>) -> Ret<'py> {
    let mut dims = vec![array_items(&s)];
    dims.extend(&s.layout.item_shape);
    Ok(PyTuple::new(s.py(), dims)?.into_any())
}

fn array_dtype<'py>(s: Slf<'_, 'py, ItemArray>) -> Ret<'py> {
    Ok(PyString::new(s.py(), s.layout.format.to_str().expect("ASCII")).into_any())
}

fn array_repr(s: Slf<'_, '_, ItemArray>) -> String {
    let mut dims = vec![array_items(&s)];
    dims.extend(&s.layout.item_shape);
    format!(
        "ItemArray(dtype='{}', shape={})",
        s.layout.format.to_str().unwrap_or("?"),
        shape_text(&dims)
    )
}

fn array_export(s: Slf<'_, '_, ItemArray>, _flags: c_int) -> PyResult<Exported<()>> {
    let b = s.bytes(s.py());
    Ok(Exported {
        ptr: b.as_ptr().cast_mut(),
        len: b.len(),
        readonly: true,
        token: (),
    })
}

fn array_release(_s: Slf<'_, '_, ItemArray>, (): ()) {}
