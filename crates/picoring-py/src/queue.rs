//! `PicoQueueByte`: a FIFO of bytes, filled and read in place. A thin class
//! over the core's `Queue`.

use picoring::{Queue, ReadExport};
use pyo3::prelude::*;

use crate::args::{self, with_count, Capacity, Data, OptN, N};
use crate::errors::to_py;
use crate::ffi::{self, noargs, with_args, Args, Class, Method, Ret, Slf, Slots, TypeCell};
use crate::lock::Locked;
use crate::ringlike::{self as rl, RingClass};

/// A byte queue: bulk push and pop, and in-place reserve / commit.
pub(crate) struct PicoQueueByte {
    state: Locked<Queue>,
    capacity: usize,
    memory: rl::Memory,
}

static TYPE: TypeCell = TypeCell::new();

impl RingClass for PicoQueueByte {
    type State = Queue;
    const SHORT: &'static str = "PicoQueueByte";
    fn state(&self) -> &Locked<Queue> {
        &self.state
    }
    fn capacity(&self) -> usize {
        self.capacity
    }
    fn memory(&self) -> &rl::Memory {
        &self.memory
    }
}

impl Class for PicoQueueByte {
    const NAME: &'static std::ffi::CStr = c"picoring._picoring.PicoQueueByte";
    const DOC: &'static std::ffi::CStr = c"PicoQueueByte(capacity)\n--\n\n\
        A FIFO byte queue of exactly `capacity` bytes: bulk push and pop, a contiguous view of \
        everything queued, and in-place reserve / commit.";
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
        type T = PicoQueueByte;
        vec![
            with_args::<T, args::Item, _>(c"push", c"push($self, item)\n--\n\n\
                Append one byte; False (and no change) if the queue is full or a reservation is open.",
                rl::push::<T>),
            with_args::<T, args::Find, _>(c"find", c"find($self, sub, start=None, end=None)\n--\n\n\
                The offset of `sub` (a bytes-like object or a byte value) in the readable bytes, \
                from the read position, as bytes.find; -1 when absent. No copy.", rl::find::<T>),
            noargs::<T, _>(c"pop", c"pop($self, /)\n--\n\n\
                Remove and return the oldest byte, or None if empty.", rl::pop::<T>),
            with_args::<T, Data, _>(c"push_bulk", c"push_bulk($self, data)\n--\n\n\
                Append all of `data` (any C-contiguous buffer), or nothing (False) if it does not fit.",
                rl::push_all::<T>),
            with_args::<T, OptN, _>(c"pop_bulk", c"pop_bulk($self, n=None)\n--\n\n\
                Remove and return up to `n` of the oldest bytes (all if None).", rl::pop_bytes_n::<T>),
            noargs::<T, _>(c"get_view", c"get_view($self, /)\n--\n\n\
                A read-only memoryview of everything queued: contiguous, O(1), no copy.",
                rl::readable_view::<T>),
            with_args::<T, N, _>(c"reserve", c"reserve($self, n)\n--\n\n\
                A writable memoryview of exactly `n` free bytes, or None if fewer are free now. \
                Publish what was written with commit(k), which ends the reservation; releasing \
                the view uncommitted abandons it. One reservation at a time (BufferError).",
                reserve),
            with_args::<T, N, _>(c"commit", c"commit($self, n)\n--\n\n\
                Publish the first `n` bytes written into the open reservation, and end it.",
                rl::advance_head::<T>),
            noargs::<T, _>(c"len", c"len($self, /)\n--\n\nNumber of queued bytes.", rl::len_obj::<T>),
            noargs::<T, _>(c"capacity", c"capacity($self, /)\n--\n\nThe most bytes the queue holds.",
                rl::capacity::<T>),
            noargs::<T, _>(c"free", c"free($self, /)\n--\n\n\
                Bytes a push can take now (0 while a reservation is open).", rl::free::<T>),
            noargs::<T, _>(c"clear", c"clear($self, /)\n--\n\nDrop every queued byte.", rl::clear::<T>),
        ]
    }
}

fn new(_py: Python<'_>, a: &Args<'_, '_>) -> PyResult<PicoQueueByte> {
    let capacity = args::capacity(rl::arg(a, 0))?;
    let r = Queue::with_capacity(capacity).map_err(to_py)?;
    Ok(PicoQueueByte {
        memory: rl::Memory::of(r.as_ring()),
        state: Locked::new(r, "PicoQueueByte"),
        capacity,
    })
}

fn reserve<'py>(s: Slf<'_, 'py, PicoQueueByte>, a: &Args<'_, 'py>) -> Ret<'py> {
    let n = args::count(rl::arg(a, 0), "n")?;
    let g = s
        .state
        .lock(s.py())?
        .export_reserve(n.n)
        .map_err(|e| with_count(e, &n))?;
    match g {
        Some(g) => Ok(rl::grant_view(s, g)?.into_any()),
        None => Ok(args::none(s.py())),
    }
}
