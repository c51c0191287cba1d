//! `PicoByteStreamPy`: a bounded byte stream with an `io`-style API. A thin
//! class over the core's `ByteStream`.

use picoring::{ByteStream, Error, ReadExport};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PySlice};

use crate::args::{self, Capacity, Data};
use crate::errors::to_py;
use crate::ffi::{
    self, noargs, with_args, Args, BytesArg, Class, Method, Ret, Slf, Slots, TypeCell,
};
use crate::lock::{Locked, GIL_FREE_COPY};
use crate::ringlike::{self as rl, RingClass};

/// A bounded FIFO byte stream: `write` takes what fits, `read` returns
/// what is there.
pub(crate) struct PicoByteStreamPy {
    state: Locked<ByteStream>,
    capacity: usize,
    memory: rl::Memory,
}

static TYPE: TypeCell = TypeCell::new();

impl RingClass for PicoByteStreamPy {
    type State = ByteStream;
    const SHORT: &'static str = "PicoByteStreamPy";
    fn state(&self) -> &Locked<ByteStream> {
        &self.state
    }
    fn capacity(&self) -> usize {
        self.capacity
    }
    fn memory(&self) -> &rl::Memory {
        &self.memory
    }
}

/// `(n=-1)`: `read`'s parameter, `io`-style (-1 or None: all).
pub(crate) struct ReadN;
impl ffi::Params for ReadN {
    const NAMES: &'static [&'static std::ffi::CStr] = &[c"n"];
    const REQUIRED: usize = 0;
}

impl Class for PicoByteStreamPy {
    const NAME: &'static std::ffi::CStr = c"picoring._picoring.PicoByteStreamPy";
    const DOC: &'static std::ffi::CStr = c"PicoByteStreamPy(capacity)\n--\n\n\
        A bounded FIFO byte stream of exactly `capacity` bytes: write() takes what fits, read() \
        returns what is there, with the io methods (readinto, readable, writable, close, with).";
    type New = Capacity;
    type Export = ReadExport;
    const NEW: Option<fn(Python<'_>, &Args<'_, '_>) -> PyResult<Self>> = Some(new);
    const SLOTS: Slots<Self> = Slots {
        len: Some(rl::len::<Self>),
        bool: Some(rl::is_nonempty::<Self>),
        repr: Some(repr),
        buffer: Some(ffi::Buffer {
            export: rl::export::<Self>,
            release: rl::release::<Self>,
        }),
        getters: &[(c"closed", closed, c"True after close().")],
        iter: Some(iter),
        ..Slots::NONE
    };
    fn cell() -> &'static TypeCell {
        &TYPE
    }
    fn methods() -> Vec<Method> {
        type T = PicoByteStreamPy;
        vec![
            with_args::<T, Data, _>(
                c"write",
                c"write($self, data)\n--\n\n\
                Write as much of `data` as fits; return how many bytes were taken (0 when full).",
                write,
            ),
            with_args::<T, ReadN, _>(
                c"read",
                c"read($self, n=-1)\n--\n\n\
                Read up to `n` bytes (all that is buffered for a negative n or None); b'' when empty.",
                read,
            ),
            with_args::<T, args::Buffer, _>(
                c"readinto",
                c"readinto($self, buffer)\n--\n\n\
                Read into a writable buffer; return how many bytes were read.",
                rl::readinto::<T>,
            ),
            with_args::<T, args::Limit, _>(
                c"readline",
                c"readline($self, limit=-1)\n--\n\n\
                The bytes up to and including the next b'\\n', consumed; or `limit` bytes (at \
                most the capacity: a full stream gives all it holds) when that many are buffered \
                without one; b'' (consuming nothing) when no whole line is buffered yet.",
                readline,
            ),
            with_args::<T, args::DelimLimit, _>(
                c"read_until",
                c"read_until($self, delim, limit=-1)\n--\n\n\
                The bytes up to and including the next `delim` (a non-empty bytes-like object), \
                consumed; or `limit` bytes (at most the capacity) when that many are buffered \
                without one; b'' (consuming nothing) when no `delim` is buffered yet.",
                read_until,
            ),
            with_args::<T, args::OptN, _>(
                c"peek",
                c"peek($self, n=None)\n--\n\n\
                A read-only memoryview of the first `n` buffered bytes (fewer if fewer are \
                buffered; all for None), consuming nothing: no copy.",
                peek,
            ),
            with_args::<T, args::Find, _>(
                c"find",
                c"find($self, sub, start=None, end=None)\n--\n\n\
                The offset of `sub` (a bytes-like object or a byte value) in the buffered bytes, \
                from the read position, as bytes.find; -1 when absent. No copy.",
                rl::find::<T>,
            ),
            noargs::<T, _>(
                c"available_to_read",
                c"available_to_read($self, /)\n--\n\n\
                Bytes that can be read now.",
                available_to_read,
            ),
            noargs::<T, _>(
                c"available_to_write",
                c"available_to_write($self, /)\n--\n\n\
                Bytes that can be written now.",
                rl::free::<T>,
            ),
            noargs::<T, _>(
                c"free",
                c"free($self, /)\n--\n\n\
                Bytes that can be written now (same as available_to_write).",
                rl::free::<T>,
            ),
            noargs::<T, _>(
                c"capacity",
                c"capacity($self, /)\n--\n\nThe most bytes the stream buffers.",
                rl::capacity::<T>,
            ),
            noargs::<T, _>(
                c"clear",
                c"clear($self, /)\n--\n\nDrop every buffered byte.",
                rl::clear::<T>,
            ),
            noargs::<T, _>(
                c"readable",
                c"readable($self, /)\n--\n\nTrue unless closed.",
                open_flag,
            ),
            noargs::<T, _>(
                c"writable",
                c"writable($self, /)\n--\n\nTrue unless closed.",
                open_flag,
            ),
            noargs::<T, _>(
                c"seekable",
                c"seekable($self, /)\n--\n\n\
                Always False: a stream has no positions to seek to.",
                seekable,
            ),
            noargs::<T, _>(
                c"flush",
                c"flush($self, /)\n--\n\n\
                Nothing to flush: writes are visible to readers at once.",
                flush,
            ),
            noargs::<T, _>(
                c"close",
                c"close($self, /)\n--\n\n\
                Close the stream; further reads, writes and views raise ValueError.",
                close,
            ),
            noargs::<T, _>(c"__enter__", c"__enter__($self, /)\n--\n\n", enter),
            with_args::<T, ExitArgs, _>(
                c"__exit__",
                c"__exit__($self, exc_type=None, exc_value=None, traceback=None)\n--\n\n",
                exit,
            ),
        ]
    }
}

/// `__exit__`'s three arguments (ignored).
pub(crate) struct ExitArgs;
impl ffi::Params for ExitArgs {
    const NAMES: &'static [&'static std::ffi::CStr] = &[c"exc_type", c"exc_value", c"traceback"];
    const REQUIRED: usize = 0;
}

fn new(_py: Python<'_>, a: &Args<'_, '_>) -> PyResult<PicoByteStreamPy> {
    let capacity = args::capacity(rl::arg(a, 0))?;
    let r = ByteStream::with_capacity(capacity).map_err(to_py)?;
    Ok(PicoByteStreamPy {
        memory: rl::Memory::of(r.as_ring()),
        state: Locked::new(r, "PicoByteStreamPy"),
        capacity,
    })
}

fn write<'py>(s: Slf<'_, 'py, PicoByteStreamPy>, a: &Args<'_, 'py>) -> Ret<'py> {
    let data = BytesArg::new(rl::arg(a, 0), "data")?;
    let bytes = rl::not_in_ring(&s, data.as_slice());
    let bytes = &bytes[..];
    let n = if bytes.len() >= GIL_FREE_COPY {
        s.state
            .with_gil_released(s.py(), |st| st.write_partial(bytes))?
    } else {
        s.state.lock(s.py())?.write_partial(bytes)
    };
    Ok(args::usize_obj(s.py(), n.map_err(to_py)?))
}

fn read<'py>(s: Slf<'_, 'py, PicoByteStreamPy>, a: &Args<'_, 'py>) -> Ret<'py> {
    // As io streams do: None or any negative count reads everything.
    rl::pop_bytes(s, args::io_count(a[0], "n")?)
}

fn available_to_read<'py>(s: Slf<'_, 'py, PicoByteStreamPy>) -> Ret<'py> {
    let n = s.state.lock(s.py())?.available_to_read().map_err(to_py)?;
    Ok(args::usize_obj(s.py(), n))
}

fn open_flag<'py>(s: Slf<'_, 'py, PicoByteStreamPy>) -> Ret<'py> {
    if s.state.lock(s.py())?.is_closed() {
        return Err(to_py(picoring::Error::Closed));
    }
    Ok(args::boolean(s.py(), true))
}

fn seekable<'py>(s: Slf<'_, 'py, PicoByteStreamPy>) -> Ret<'py> {
    Ok(args::boolean(s.py(), false))
}

fn flush<'py>(s: Slf<'_, 'py, PicoByteStreamPy>) -> Ret<'py> {
    open_flag(s)?;
    Ok(args::none(s.py()))
}

fn close<'py>(s: Slf<'_, 'py, PicoByteStreamPy>) -> Ret<'py> {
    s.state.lock(s.py())?.close();
    Ok(args::none(s.py()))
}

fn closed<'py>(s: Slf<'_, 'py, PicoByteStreamPy>) -> Ret<'py> {
    let c = s.state.lock(s.py())?.is_closed();
    Ok(args::boolean(s.py(), c))
}

fn enter<'py>(s: Slf<'_, 'py, PicoByteStreamPy>) -> Ret<'py> {
    open_flag(s)?;
    Ok(s.obj().clone())
}

fn exit<'py>(s: Slf<'_, 'py, PicoByteStreamPy>, _a: &Args<'_, 'py>) -> Ret<'py> {
    close(s)?;
    Ok(args::boolean(s.py(), false))
}

fn repr(s: Slf<'_, '_, PicoByteStreamPy>) -> String {
    let closed = s.state.lock(s.py()).map(|g| g.is_closed()).unwrap_or(false);
    if closed {
        return format!("PicoByteStreamPy(capacity={}, closed)", s.capacity);
    }
    rl::repr(s)
}

fn readline<'py>(s: Slf<'_, 'py, PicoByteStreamPy>, a: &Args<'_, 'py>) -> Ret<'py> {
    let limit = args::io_count(a[0], "limit")?;
    take_record(s, b"\n", limit)
}

fn read_until<'py>(s: Slf<'_, 'py, PicoByteStreamPy>, a: &Args<'_, 'py>) -> Ret<'py> {
    let delim = BytesArg::new(rl::arg(a, 0), "delim")?;
    if delim.as_slice().is_empty() {
        return Err(PyValueError::new_err("delim must not be empty, got b''"));
    }
    let limit = args::io_count(a[1], "limit")?;
    let delim = rl::not_in_ring(&s, delim.as_slice());
    take_record(s, &delim, limit)
}

/// Consumes and returns the next record ending in `delim` (see
/// `ByteStream::record_len`), or `b""` when none is buffered whole.
fn take_record<'py>(
    s: Slf<'_, 'py, PicoByteStreamPy>,
    delim: &[u8],
    limit: Option<usize>,
) -> Ret<'py> {
    let py = s.py();
    let mut g = s.state.lock(py)?;
    let Some(n) = g.record_len(delim, limit).map_err(to_py)? else {
        return Ok(PyBytes::new(py, b"").into_any());
    };
    if n < GIL_FREE_COPY {
        // Allocating a `bytes` runs no Python code: one lock throughout.
        let out = ffi::bytes_filled(py, n, |buf| g.read_into_uninit(buf).map_err(to_py))?;
        return Ok(out.into_any());
    }
    drop(g);
    // A long record: found and copied out without the GIL (again, under
    // one lock: another reader may have taken it meanwhile).
    let got = s
        .state
        .with_gil_released(py, |st| -> Result<Vec<u8>, Error> {
            let Some(n) = st.record_len(delim, limit)? else {
                return Ok(Vec::new());
            };
            let mut v = vec![0; n];
            st.read_into(&mut v)?;
            Ok(v)
        })?;
    Ok(PyBytes::new(py, &got.map_err(to_py)?).into_any())
}

fn peek<'py>(s: Slf<'_, 'py, PicoByteStreamPy>, a: &Args<'_, 'py>) -> Ret<'py> {
    let n = args::opt_count(a[0], "n")?.map(|c| c.n);
    let py = s.py();
    let view = ffi::memoryview(s.obj())?;
    match n {
        // The slice keeps the export (and its pin) alive, as the view does.
        Some(n) if n < view.len()? => {
            let n = isize::try_from(n).expect("below the view's length");
            Ok(view.get_item(PySlice::new(py, 0, n, 1))?)
        }
        _ => Ok(view.into_any()),
    }
}

/// `iter(stream)`: the buffered whole lines, each consumed as it is
/// yielded (`iter(stream.readline, b"")`).
fn iter<'py>(s: Slf<'_, 'py, PicoByteStreamPy>) -> Ret<'py> {
    let py = s.py();
    let readline = s.obj().getattr("readline")?;
    let builtins = py.import("builtins")?;
    builtins
        .getattr("iter")?
        .call1((readline, PyBytes::new(py, b"")))
}
