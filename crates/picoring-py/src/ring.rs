//! `PicoRingByte`: the byte ring, with views in and out. A thin class over
//! the core's `Ring`.

use picoring::{ReadExport, Ring};
use pyo3::prelude::*;

use crate::args::{self, Capacity, Data, OptN, N};
use crate::errors::to_py;
use crate::ffi::{
    self, noargs, with_args, Args, BytesArg, Class, Method, Ret, Slf, Slots, TypeCell,
};
use crate::lock::{Locked, GIL_FREE_COPY};
use crate::ringlike::{self as rl, RingClass};

/// A circular byte buffer whose readable bytes are always one contiguous
/// memoryview.
pub(crate) struct PicoRingByte {
    state: Locked<Ring>,
    capacity: usize,
    memory: rl::Memory,
}

static TYPE: TypeCell = TypeCell::new();

impl RingClass for PicoRingByte {
    type State = Ring;
    const SHORT: &'static str = "PicoRingByte";
    fn state(&self) -> &Locked<Ring> {
        &self.state
    }
    fn capacity(&self) -> usize {
        self.capacity
    }
    fn memory(&self) -> &rl::Memory {
        &self.memory
    }
}

impl Class for PicoRingByte {
    const NAME: &'static std::ffi::CStr = c"picoring._picoring.PicoRingByte";
    const DOC: &'static std::ffi::CStr = c"PicoRingByte(capacity)\n--\n\n\
        A circular byte buffer of exactly `capacity` bytes whose readable bytes are always \
        one contiguous memoryview (its memory is mapped twice, back to back).";
    type New = Capacity;
    type Export = ReadExport;
    const NEW: Option<fn(Python<'_>, &Args<'_, '_>) -> PyResult<Self>> = Some(new);
    const SLOTS: Slots<Self> = Slots {
        len: Some(rl::len::<Self>),
        bool: Some(rl::is_nonempty::<Self>),
        repr: Some(rl::repr::<Self>),
        getitem: Some(rl::getitem::<Self>),
        buffer: Some(ffi::Buffer {
            export: rl::export::<Self>,
            release: rl::release::<Self>,
        }),
        ..Slots::NONE
    };
    fn cell() -> &'static TypeCell {
        &TYPE
    }
    fn methods() -> Vec<Method> {
        type T = PicoRingByte;
        vec![
            with_args::<T, args::Item, _>(c"push", c"push($self, item)\n--\n\n\
                Append one byte; False (and no change) if the ring is full or a writable view is open.",
                rl::push::<T>),
            noargs::<T, _>(c"pop", c"pop($self, /)\n--\n\n\
                Remove and return the oldest byte, or None if empty.", rl::pop::<T>),
            with_args::<T, Data, _>(c"push_bytes", c"push_bytes($self, data)\n--\n\n\
                Append all of `data` (any C-contiguous buffer), or nothing (False) if it does not fit.",
                rl::push_all::<T>),
            with_args::<T, Data, _>(c"push_overwrite", c"push_overwrite($self, data)\n--\n\n\
                Append `data`, dropping the oldest bytes to make room; return how many bytes were \
                dropped. Raises BufferError (changing nothing) if that would drop bytes a live view \
                shows, or while a writable view is open.", push_overwrite),
            with_args::<T, OptN, _>(c"pop_bytes", c"pop_bytes($self, n=None)\n--\n\n\
                Remove and return up to `n` of the oldest bytes (all if None).", rl::pop_bytes_n::<T>),
            noargs::<T, _>(c"len", c"len($self, /)\n--\n\nNumber of readable bytes.", rl::len_obj::<T>),
            noargs::<T, _>(c"capacity", c"capacity($self, /)\n--\n\nThe most bytes the ring holds.",
                rl::capacity::<T>),
            noargs::<T, _>(c"free", c"free($self, /)\n--\n\n\
                Bytes a push can take now (0 while a writable view is open).", rl::free::<T>),
            noargs::<T, _>(c"clear", c"clear($self, /)\n--\n\n\
                Drop every readable byte (an open writable view stays open).", rl::clear::<T>),
            noargs::<T, _>(c"get_readable_view", c"get_readable_view($self, /)\n--\n\n\
                A read-only memoryview of every readable byte: contiguous, O(1), no copy. The bytes \
                it shows never change while it is alive.", rl::readable_view::<T>),
            with_args::<T, OptN, _>(c"get_writable_view", c"get_writable_view($self, n=None)\n--\n\n\
                A writable memoryview of `n` bytes of free space (all of it if None): the ring's one \
                open grant. Publish what was written with advance_head(k), which ends the grant; \
                releasing the view unpublished abandons it. Raises BufferError while another is open.",
                writable_view),
            with_args::<T, N, _>(c"advance_head", c"advance_head($self, n)\n--\n\n\
                Publish the first `n` bytes written through the open writable view, and end it.",
                rl::advance_head::<T>),
            with_args::<T, N, _>(c"advance_tail", c"advance_tail($self, n)\n--\n\n\
                Consume `n` readable bytes.", rl::advance_tail::<T>),
            with_args::<T, args::Find, _>(c"find", c"find($self, sub, start=None, end=None)\n--\n\n\
                The offset of `sub` (a bytes-like object or a byte value) in the readable bytes, \
                from the read position, as bytes.find; -1 when absent. No copy.", rl::find::<T>),
            with_args::<T, args::Buffer, _>(c"readinto", c"readinto($self, buffer)\n--\n\n\
                Move up to len(buffer) of the oldest bytes into `buffer`; return how many.",
                rl::readinto::<T>),
        ]
    }
}

fn new(_py: Python<'_>, a: &Args<'_, '_>) -> PyResult<PicoRingByte> {
    let capacity = args::capacity(rl::arg(a, 0))?;
    let r = Ring::with_capacity(capacity).map_err(to_py)?;
    Ok(PicoRingByte {
        memory: rl::Memory::of(&r),
        state: Locked::new(r, "PicoRingByte"),
        capacity,
    })
}

fn push_overwrite<'py>(s: Slf<'_, 'py, PicoRingByte>, a: &Args<'_, 'py>) -> Ret<'py> {
    let data = BytesArg::new(rl::arg(a, 0), "data")?;
    let bytes = rl::not_in_ring(&s, data.as_slice());
    let bytes = &bytes[..];
    let r = if bytes.len() >= GIL_FREE_COPY {
        s.state
            .with_gil_released(s.py(), |r| r.push_overwrite(bytes))?
    } else {
        s.state.lock(s.py())?.push_overwrite(bytes)
    };
    Ok(args::usize_obj(s.py(), r.map_err(to_py)?))
}

fn writable_view<'py>(s: Slf<'_, 'py, PicoRingByte>, a: &Args<'_, 'py>) -> Ret<'py> {
    let n = args::opt_count(a[0], "n")?;
    let g = s.state.lock(s.py())?.export_grant(n.as_ref().map(|c| c.n));
    let g = g.map_err(|e| args::with_opt_count(e, &n))?;
    Ok(rl::grant_view(s, g)?.into_any())
}
