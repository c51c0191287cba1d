//! What `PicoRingByte`, `PicoQueueByte` and `PicoByteStreamPy` share,
//! written once: each class wraps one core type (`Ring`, `Queue`,
//! `ByteStream`) behind a [`Locked`], and these functions translate
//! arguments and results around the core's methods.

use std::ffi::c_int;

use picoring::{ByteStream, Error, GrantExport, Queue, ReadExport, Ring};
use pyo3::prelude::*;
use pyo3::types::PyMemoryView;

use crate::args::{self, with_count};
use crate::errors::to_py;
use crate::ffi::{self, Args, BytesArg, Class, Exported, Ret, Slf, WritableArg};
use crate::lock::{Exporter, Locked, GIL_FREE_COPY};
use crate::subscript::subscript;

/// An export of a ring-based state, as its lock takes it back.
pub(crate) enum RingToken {
    Read(ReadExport),
    Grant(GrantExport),
}

/// A core type built on a [`Ring`].
pub(crate) trait RingState: Exporter<Token = RingToken> {
    /// The ring, to read.
    fn ring(&self) -> &Ring;
    /// The ring, to change: an error when the state refuses changes (a
    /// closed stream).
    fn ring_mut(&mut self) -> Result<&mut Ring, Error>;
}

#[inline(always)]
fn check_ring(r: &Ring) -> Result<(), Error> {
    if r.is_lost() {
        Err(Error::LostAtFork)
    } else {
        Ok(())
    }
}

impl Exporter for Ring {
    type Token = RingToken;
    fn release(&mut self, token: RingToken) {
        match token {
            RingToken::Read(e) => {
                Ring::release(self, e);
            }
            RingToken::Grant(g) => {
                self.release_grant(g);
            }
        }
    }
    #[inline(always)]
    fn check(&self) -> Result<(), Error> {
        check_ring(self)
    }
}

impl RingState for Ring {
    fn ring(&self) -> &Ring {
        self
    }
    fn ring_mut(&mut self) -> Result<&mut Ring, Error> {
        Ok(self)
    }
}

impl Exporter for Queue {
    type Token = RingToken;
    fn release(&mut self, token: RingToken) {
        match token {
            RingToken::Read(e) => {
                self.as_ring_mut().release(e);
            }
            RingToken::Grant(g) => {
                self.release_reservation(g);
            }
        }
    }
    #[inline(always)]
    fn check(&self) -> Result<(), Error> {
        check_ring(self.as_ring())
    }
}

impl RingState for Queue {
    fn ring(&self) -> &Ring {
        self.as_ring()
    }
    fn ring_mut(&mut self) -> Result<&mut Ring, Error> {
        Ok(self.as_ring_mut())
    }
}

impl Exporter for ByteStream {
    type Token = RingToken;
    fn release(&mut self, token: RingToken) {
        if let RingToken::Read(e) = token {
            ByteStream::release(self, e);
        }
    }
    #[inline(always)]
    fn check(&self) -> Result<(), Error> {
        check_ring(self.as_ring())
    }
}

impl RingState for ByteStream {
    fn ring(&self) -> &Ring {
        self.as_ring()
    }
    fn ring_mut(&mut self) -> Result<&mut Ring, Error> {
        self.ring_mut()
    }
}

/// A Python class wrapping a ring-based core type.
pub(crate) trait RingClass: Class<Export = ReadExport> {
    type State: RingState;
    /// The class name, for messages.
    const SHORT: &'static str;
    fn state(&self) -> &Locked<Self::State>;
    /// The capacity (fixed: read without the lock).
    fn capacity(&self) -> usize;
    /// Where the ring's memory is (fixed: read without the lock).
    fn memory(&self) -> &Memory;
}

/// The address range of a ring's memory, kept beside its lock.
pub(crate) struct Memory {
    base: usize,
    len: usize,
}

impl Memory {
    pub(crate) fn of(ring: &Ring) -> Memory {
        Memory {
            base: ring.memory_start() as usize,
            len: 2 * ring.memory_len(),
        }
    }

    /// The `len` bytes at `base`.
    pub(crate) fn at(base: *const u8, len: usize) -> Memory {
        Memory {
            base: base as usize,
            len,
        }
    }

    /// True if the `len` bytes at `p` touch the memory.
    #[inline(always)]
    pub(crate) fn overlaps(&self, p: *const u8, len: usize) -> bool {
        let (a, b) = (p as usize, (p as usize).saturating_add(len));
        len > 0 && a < self.base + self.len && b > self.base
    }
}

/// The argument `i` (present: required by the method's parameters).
#[inline]
pub(crate) fn arg<'a, 'py>(a: &Args<'a, 'py>, i: usize) -> &'a Bound<'py, PyAny> {
    a[i].expect("required parameters are checked by the trampoline")
}

pub(crate) fn push<'py, C: RingClass>(s: Slf<'_, 'py, C>, a: &Args<'_, 'py>) -> Ret<'py> {
    let b = args::byte(arg(a, 0), "item")?;
    let ok = s.state().lock(s.py())?.ring_mut().map_err(to_py)?.push(b);
    Ok(args::boolean(s.py(), ok))
}

pub(crate) fn pop<'py, C: RingClass>(s: Slf<'_, 'py, C>) -> Ret<'py> {
    let got = s.state().lock(s.py())?.ring_mut().map_err(to_py)?.pop();
    Ok(match got {
        Some(b) => args::u8_obj(s.py(), b),
        None => args::none(s.py()),
    })
}

/// `bytes`, or a copy of them if they lie in the ring's own memory (a
/// writable view kept after it was published): the ring never writes
/// where a slice it copies from points.
#[inline(always)]
pub(crate) fn not_in_ring<'a, C: RingClass>(
    s: &Slf<'_, '_, C>,
    bytes: &'a [u8],
) -> std::borrow::Cow<'a, [u8]> {
    if s.memory().overlaps(bytes.as_ptr(), bytes.len()) {
        std::borrow::Cow::Owned(bytes.to_vec())
    } else {
        std::borrow::Cow::Borrowed(bytes)
    }
}

/// All of `data` or nothing (`push_bytes`, `push_bulk`).
pub(crate) fn push_all<'py, C: RingClass>(s: Slf<'_, 'py, C>, a: &Args<'_, 'py>) -> Ret<'py> {
    let data = BytesArg::new(arg(a, 0), "data")?;
    let bytes = not_in_ring(&s, data.as_slice());
    let bytes = &bytes[..];
    let ok = if bytes.len() >= GIL_FREE_COPY {
        s.state()
            .with_gil_released(s.py(), |st| st.ring_mut().map(|r| r.push_slice(bytes)))?
    } else {
        s.state()
            .lock(s.py())?
            .ring_mut()
            .map(|r| r.push_slice(bytes))
    };
    Ok(args::boolean(s.py(), ok.map_err(to_py)?))
}

/// Up to `n` of the oldest bytes (all for `None`) as `bytes`, never
/// allocating more than what is there (`pop_bytes`, `pop_bulk`, `read`).
pub(crate) fn pop_bytes<'py, C: RingClass>(s: Slf<'_, 'py, C>, n: Option<usize>) -> Ret<'py> {
    let py = s.py();
    let want = n.unwrap_or(usize::MAX);
    if want < GIL_FREE_COPY {
        // One lock: sizing, allocating and copying. Allocating a `bytes`
        // runs no Python code, so the lock is never held while some does.
        let mut g = s.state().lock(py)?;
        let ring = g.ring_mut().map_err(to_py)?;
        let n = want.min(ring.len());
        return Ok(ffi::bytes_filled(py, n, |buf| Ok(ring.pop_into_uninit(buf)))?.into_any());
    }
    let n = want.min(s.state().lock(py)?.ring_mut().map_err(to_py)?.len());
    let out = ffi::bytes_filled(py, n, |buf| {
        if n < GIL_FREE_COPY {
            return Ok(s
                .state()
                .lock(py)?
                .ring_mut()
                .map_err(to_py)?
                .pop_into_uninit(buf));
        }
        s.state()
            .with_gil_released(py, |st| st.ring_mut().map(|r| r.pop_into_uninit(buf)))?
            .map_err(to_py)
    })?;
    Ok(out.into_any())
}

/// `pop_bytes(n=None)` and its aliases.
pub(crate) fn pop_bytes_n<'py, C: RingClass>(s: Slf<'_, 'py, C>, a: &Args<'_, 'py>) -> Ret<'py> {
    let n = args::opt_count(a[0], "n")?.map(|c| c.n);
    pop_bytes(s, n)
}

/// Moves up to `len(buffer)` bytes into `buffer`; returns how many.
pub(crate) fn readinto<'py, C: RingClass>(s: Slf<'_, 'py, C>, a: &Args<'_, 'py>) -> Ret<'py> {
    let mut buf = WritableArg::new(arg(a, 0), "buffer")?;
    if s.memory().overlaps(buf.as_ptr(), buf.len()) {
        // A view of the ring's own memory: pop into a copy first, so that
        // no slice of the caller's buffer overlaps one of the ring's.
        let mut tmp = vec![0; buf.len()];
        let n = s
            .state()
            .lock(s.py())?
            .ring_mut()
            .map_err(to_py)?
            .pop_into(&mut tmp);
        buf.as_mut_slice()[..n].copy_from_slice(&tmp[..n]);
        return Ok(args::usize_obj(s.py(), n));
    }
    let out = buf.as_mut_slice();
    let n = if out.len() >= GIL_FREE_COPY {
        s.state()
            .with_gil_released(s.py(), |st| st.ring_mut().map(|r| r.pop_into(out)))?
    } else {
        s.state().lock(s.py())?.ring_mut().map(|r| r.pop_into(out))
    };
    Ok(args::usize_obj(s.py(), n.map_err(to_py)?))
}

pub(crate) fn len<C: RingClass>(s: Slf<'_, '_, C>) -> PyResult<usize> {
    Ok(s.state().lock(s.py())?.ring().len())
}

pub(crate) fn len_obj<'py, C: RingClass>(s: Slf<'_, 'py, C>) -> Ret<'py> {
    Ok(args::usize_obj(s.py(), len(s)?))
}

pub(crate) fn is_nonempty<C: RingClass>(s: Slf<'_, '_, C>) -> PyResult<bool> {
    Ok(len(s)? > 0)
}

pub(crate) fn capacity<'py, C: RingClass>(s: Slf<'_, 'py, C>) -> Ret<'py> {
    Ok(args::usize_obj(s.py(), s.capacity()))
}

pub(crate) fn free<'py, C: RingClass>(s: Slf<'_, 'py, C>) -> Ret<'py> {
    let mut g = s.state().lock(s.py())?;
    let free = g.ring_mut().map_err(to_py)?.free();
    Ok(args::usize_obj(s.py(), free))
}

pub(crate) fn clear<'py, C: RingClass>(s: Slf<'_, 'py, C>) -> Ret<'py> {
    s.state().lock(s.py())?.ring_mut().map_err(to_py)?.clear();
    Ok(args::none(s.py()))
}

pub(crate) fn advance_tail<'py, C: RingClass>(s: Slf<'_, 'py, C>, a: &Args<'_, 'py>) -> Ret<'py> {
    let n = args::count(arg(a, 0), "n")?;
    let mut g = s.state().lock(s.py())?;
    g.ring_mut()
        .map_err(to_py)?
        .advance_tail(n.n)
        .map_err(|e| with_count(e, &n))?;
    Ok(args::none(s.py()))
}

/// Publishes `n` bytes of the open grant (`advance_head`, `commit`).
pub(crate) fn advance_head<'py, C: RingClass>(s: Slf<'_, 'py, C>, a: &Args<'_, 'py>) -> Ret<'py> {
    let n = args::count(arg(a, 0), "n")?;
    let mut g = s.state().lock(s.py())?;
    g.ring_mut()
        .map_err(to_py)?
        .advance_head(n.n)
        .map_err(|e| with_count(e, &n))?;
    Ok(args::none(s.py()))
}

/// `find(sub, start=None, end=None)`: the offset of `sub` in the readable
/// bytes, from the read position, as `bytes.find`; -1 when absent.
pub(crate) fn find<'py, C: RingClass>(s: Slf<'_, 'py, C>, a: &Args<'_, 'py>) -> Ret<'py> {
    let sub = arg(a, 0);
    let byte;
    let data;
    // As `bytes.find`: a buffer first, else an int in range(256).
    let needle: &[u8] = if ffi::supports_buffer(sub) {
        data = BytesArg::new(sub, "sub")?;
        data.as_slice()
    } else {
        if ffi::number_index(sub).is_err() {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "sub must be a bytes-like object or an int in range(0, 256), not {}",
                args::type_name(sub)
            )));
        }
        byte = [args::byte(sub, "sub")?];
        &byte
    };
    let start = args::slice_bound(a[1], "start")?;
    let end = args::slice_bound(a[2], "end")?;
    let mut g = s.state().lock(s.py())?;
    let ring = g.ring_mut().map_err(to_py)?; // a closed stream refuses
    let len = ring.len();
    let found = ring.find(
        needle,
        args::resolve_bound(start, len, 0),
        args::resolve_bound(end, len, len),
    );
    drop(g);
    Ok(match found {
        Some(i) => args::usize_obj(s.py(), i),
        None => (-1i64)
            .into_pyobject(s.py())
            .expect("infallible")
            .into_any(),
    })
}

/// A read-only memoryview of the readable bytes.
pub(crate) fn readable_view<'py, C: RingClass>(s: Slf<'_, 'py, C>) -> Ret<'py> {
    Ok(ffi::memoryview(s.obj())?.into_any())
}

/// Gives a grant back to the `C` it came from.
pub(crate) fn give_back<C: RingClass>(owner: &Bound<'_, PyAny>, g: GrantExport) {
    if let Some(c) = ffi::value::<C>(owner) {
        c.state().release(RingToken::Grant(g));
    }
}

/// `Some(true)` if `g` is still the open grant of the `C` it came from;
/// `None` if that is busy now (this never waits: the caller holds a lock).
pub(crate) fn is_open<C: RingClass>(owner: &Bound<'_, PyAny>, g: &GrantExport) -> Option<bool> {
    let c = ffi::value::<C>(owner)?;
    let st = c.state().try_now()?;
    Some(st.ring().is_open_grant(g))
}

/// A memoryview of a grant export just made.
pub(crate) fn grant_view<'py, C: RingClass>(
    s: Slf<'_, 'py, C>,
    g: GrantExport,
) -> PyResult<Bound<'py, PyMemoryView>> {
    crate::views::writable_view(s.obj(), C::SHORT, g, give_back::<C>, is_open::<C>, None)
}

/// `self[key]` over the readable bytes.
pub(crate) fn getitem<'a, 'py, C: RingClass>(
    s: Slf<'a, 'py, C>,
    key: &'a Bound<'py, PyAny>,
) -> Ret<'py> {
    subscript(key, C::SHORT, |f| {
        f(s.state().lock(s.py())?.ring().as_slice());
        Ok(())
    })
}

pub(crate) fn repr<C: RingClass>(s: Slf<'_, '_, C>) -> String {
    match s.state().lock(s.py()) {
        Ok(g) => {
            let r = g.ring();
            let grant = match r.grant_len() {
                Some(n) => format!(", writable view of {n} open"),
                None => String::new(),
            };
            format!(
                "{}(capacity={}, len={}, free={}{grant})",
                C::SHORT,
                r.capacity(),
                r.len(),
                r.free()
            )
        }
        Err(_) => format!("{}(capacity={}, <unusable>)", C::SHORT, s.capacity()),
    }
}

/// `bf_getbuffer`: a read-only export of the readable bytes.
pub(crate) fn export<C: RingClass>(
    s: Slf<'_, '_, C>,
    _flags: c_int,
) -> PyResult<Exported<ReadExport>> {
    let mut g = s.state().lock(s.py())?;
    let e = g.ring_mut().map_err(to_py)?.export_readable();
    Ok(Exported {
        ptr: e.as_ptr().cast_mut(),
        len: e.len(),
        readonly: true,
        token: e,
    })
}

/// `bf_releasebuffer`: never blocks, never loses the release.
pub(crate) fn release<C: RingClass>(s: Slf<'_, '_, C>, e: ReadExport) {
    s.state().release(RingToken::Read(e));
}
