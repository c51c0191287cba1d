//! What the four classes share: locking, error translation, argument
//! checking.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use picoring::Error;
use pyo3::exceptions::{
    PyBufferError, PyIndexError, PyMemoryError, PyOSError, PyRuntimeError, PyTypeError,
    PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PySlice};

/// Copies at least this large run with the GIL released, so other Python
/// threads keep running meanwhile.
pub(crate) const GIL_FREE_COPY: usize = 1 << 20;

/// Translates a core error to the Python exception a user expects.
pub(crate) fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    if e.is_out_of_memory() {
        return PyMemoryError::new_err(msg);
    }
    match e {
        Error::ZeroCapacity | Error::OutOfRange { .. } => PyValueError::new_err(msg),
        Error::Pinned { .. } => PyBufferError::new_err(msg),
        Error::Os { source, .. } => match source.raw_os_error() {
            Some(errno) => PyOSError::new_err((errno, msg)),
            None => PyOSError::new_err(msg),
        },
        Error::Unsupported { .. } | Error::LostAtFork => PyOSError::new_err(msg),
        _ => PyRuntimeError::new_err(msg),
    }
}

fn int_of<'a, 'py>(obj: &'a Bound<'py, PyAny>, arg: &str) -> PyResult<&'a Bound<'py, PyInt>> {
    obj.downcast::<PyInt>().map_err(|_| {
        let ty = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        PyTypeError::new_err(format!("{arg} must be an int, not {ty}"))
    })
}

/// A capacity argument: an int in `1 ..= MAX_CAPACITY`.
pub(crate) fn capacity_arg(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    let v = int_of(obj, "capacity")?;
    match v.extract::<i64>() {
        Ok(c) if c <= 0 => Err(PyValueError::new_err(format!(
            "capacity must be > 0, got {c}"
        ))),
        Ok(c) if c as u64 > picoring::MAX_CAPACITY as u64 => Err(to_py(Error::CapacityTooLarge {
            requested: c as usize,
            max: picoring::MAX_CAPACITY,
        })),
        Ok(c) => Ok(c as usize),
        Err(_) if v.lt(0)? => Err(PyValueError::new_err(format!(
            "capacity must be > 0, got {v}"
        ))),
        Err(_) => Err(PyMemoryError::new_err(format!(
            "capacity {v} bytes is larger than the maximum {} bytes",
            picoring::MAX_CAPACITY
        ))),
    }
}

/// A count argument: an int >= 0; huge values saturate (the callers clamp
/// them to what is there).
pub(crate) fn count_arg(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<usize> {
    let v = int_of(obj, arg)?;
    match v.extract::<i64>() {
        Ok(n) if n < 0 => Err(PyValueError::new_err(format!(
            "{arg} must be >= 0, got {n}"
        ))),
        Ok(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        Err(_) if v.lt(0)? => Err(PyValueError::new_err(format!(
            "{arg} must be >= 0, got {v}"
        ))),
        Err(_) => Ok(usize::MAX),
    }
}

/// An optional count: `None` (or a missing argument) means "all".
pub(crate) fn opt_count_arg(obj: Option<&Bound<'_, PyAny>>, arg: &str) -> PyResult<Option<usize>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => count_arg(o, arg).map(Some),
    }
}

/// A byte value: an int in `range(0, 256)`.
pub(crate) fn byte_arg(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<u8> {
    let v = int_of(obj, arg)?;
    match v.extract::<i64>() {
        Ok(b) if (0..=255).contains(&b) => Ok(b as u8),
        _ => Err(PyValueError::new_err(format!(
            "{arg} must be in range(0, 256), got {v}"
        ))),
    }
}

/// Resolves a possibly negative index against `len`.
pub(crate) fn resolve_index(index: isize, len: usize) -> Option<usize> {
    let i = if index < 0 {
        index.checked_add(len as isize)?
    } else {
        index
    };
    (i >= 0 && (i as usize) < len).then_some(i as usize)
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

/// `obj[key]` for an int or slice `key`, over bytes that `read` hands to
/// its callback with the object locked. The lock is never held while Python
/// code runs (resolving a slice may call `__index__`; building the result
/// allocates), so a slice takes two short locks: one for the length, one to
/// copy the bytes out. A plain int takes one.
pub(crate) fn subscript(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    what: &str,
    read: impl Fn(&mut dyn FnMut(&[u8])) -> PyResult<()>,
) -> PyResult<PyObject> {
    let plain = key
        .downcast_exact::<PyInt>()
        .ok()
        .and_then(|i| i.extract::<isize>().ok());
    if let Some(i) = plain {
        let mut got = Err(0);
        read(&mut |data| {
            got = resolve_index(i, data.len())
                .map(|i| data[i])
                .ok_or(data.len())
        })?;
        return match got {
            Ok(b) => Ok(b.into_pyobject(py)?.into_any().unbind()),
            Err(len) => Err(PyIndexError::new_err(format!(
                "{what} index {i} out of range for length {len}"
            ))),
        };
    }
    let mut len = 0;
    read(&mut |data| len = data.len())?;
    let sel = select(key, len, what)?;
    let mut picked = None;
    read(&mut |data| picked = Some(sel.pick(data, what)))?;
    picked.expect("read calls back once")?.into_py(py)
}

/// Resolves an int or slice `key` against `len` (may run Python code:
/// `__index__`), before the state is locked.
fn select(key: &Bound<'_, PyAny>, len: usize, what: &str) -> PyResult<Selection> {
    if let Ok(slice) = key.downcast::<PySlice>() {
        let ind = slice.indices(len as isize)?;
        return Ok(Selection::Slice {
            start: ind.start,
            step: ind.step,
            len: ind.slicelength,
        });
    }
    let index = int_of(key, "index")?;
    let i = index
        .extract::<isize>()
        .ok()
        .and_then(|i| resolve_index(i, len));
    i.map(Selection::Index).ok_or_else(|| {
        PyIndexError::new_err(format!(
            "{what} index {index} out of range for length {len}"
        ))
    })
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

impl Picked {
    fn into_py(self, py: Python<'_>) -> PyResult<PyObject> {
        Ok(match self {
            Picked::Byte(b) => b.into_pyobject(py)?.into_any().unbind(),
            Picked::Bytes(v) => PyBytes::new(py, &v).into_any().unbind(),
        })
    }
}

/// State that exports views and must take their releases at any moment.
pub(crate) trait Exporter: Send {
    /// What identifies an export at release.
    type Token: Send;
    /// Ends an export.
    fn release(&mut self, token: &Self::Token);
    /// Refuses all use when the state is unusable (a ring lost at fork).
    fn check(&self) -> Result<(), Error> {
        Ok(())
    }
}

impl Exporter for picoring::PicoList {
    type Token = usize;
    fn release(&mut self, token: &usize) {
        picoring::PicoList::release(self, *token);
    }
}

thread_local! {
    /// Only its address matters: distinct for every live thread, never 0.
    static THREAD_MARK: u8 = const { 0 };
}

/// A number identifying the calling thread (never 0).
#[inline]
pub(crate) fn thread_key() -> u64 {
    THREAD_MARK.with(|m| m as *const u8 as usize as u64)
}

/// A mutex around an object's state, with what Python needs:
///
/// * No Python code ever runs while it is held (methods read what they need,
///   unlock, then make Python objects), so under the GIL it is contended
///   only by a thread copying with the GIL released: such threads announce
///   themselves in `gil_free`, and others wait for them with the GIL
///   released too.
/// * Contention with no such thread can only be a re-entrant call from the
///   thread holding it: that raises `RuntimeError` instead of deadlocking.
/// * Releases of views never wait and are never lost: if the state is busy,
///   they are queued and applied by the next holder.
pub(crate) struct Locked<T: Exporter> {
    state: Mutex<T>,
    /// Threads holding or waiting for `state` with the GIL released.
    gil_free: AtomicUsize,
    pending: Mutex<Vec<T::Token>>,
    has_pending: AtomicBool,
    /// Class name, for messages.
    name: &'static str,
}

pub(crate) type Guard<'a, T> = MutexGuard<'a, T>;

impl<T: Exporter> Locked<T> {
    pub(crate) fn new(state: T, name: &'static str) -> Self {
        Locked {
            state: Mutex::new(state),
            gil_free: AtomicUsize::new(0),
            pending: Mutex::new(Vec::new()),
            has_pending: AtomicBool::new(false),
            name,
        }
    }

    #[inline]
    fn admit<'a>(&'a self, mut guard: Guard<'a, T>) -> Result<Guard<'a, T>, Error> {
        if self.has_pending.load(Ordering::Relaxed)
            && self.has_pending.swap(false, Ordering::Acquire)
        {
            let queued =
                std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
            for token in &queued {
                guard.release(token);
            }
        }
        guard.check()?;
        Ok(guard)
    }

    /// Locks with the GIL held (see the type's docs).
    #[inline]
    pub(crate) fn lock(&self, py: Python<'_>) -> PyResult<Guard<'_, T>> {
        // Every thread that holds or waits for the lock without the GIL is
        // counted in `gil_free` from before it releases the GIL until after
        // it unlocks. So a busy lock with `gil_free == 0` was either just
        // unlocked (one more try succeeds) or is held by this very thread.
        let mut just_released = false;
        loop {
            match self.state.try_lock() {
                Ok(g) => return self.admit(g).map_err(to_py),
                Err(TryLockError::Poisoned(p)) => return self.admit(p.into_inner()).map_err(to_py),
                Err(TryLockError::WouldBlock) => {
                    if self.gil_free.load(Ordering::Acquire) == 0 {
                        if !just_released {
                            just_released = true;
                            continue;
                        }
                        return Err(PyRuntimeError::new_err(format!(
                            "{} is already in use by this thread (a re-entrant call, \
                             e.g. from __del__ during one of its methods)",
                            self.name
                        )));
                    }
                    just_released = false;
                    // The holder copies with the GIL released: wait for it
                    // without the GIL, counted like it, forks held off
                    // (see `with_gil_released`).
                    self.gil_free.fetch_add(1, Ordering::AcqRel);
                    py.allow_threads(|| {
                        let _hold = picoring::hold_off_fork();
                        drop(self.state.lock());
                        self.gil_free.fetch_sub(1, Ordering::AcqRel);
                    });
                }
            }
        }
    }

    /// Runs `f` on the state with the GIL released; for large copies.
    ///
    /// Forks are held off from before `gil_free` goes up until after the
    /// lock is released and `gil_free` is back down: a child process never
    /// inherits the lock held (by a thread that does not exist in it) or a
    /// stale `gil_free` (which would turn a re-entrant call into a wait),
    /// and never a ring copied halfway through a write. `os.fork()` holds
    /// the GIL, so it only waits for copies already running.
    pub(crate) fn with_gil_released<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut T) -> R + Send,
    ) -> PyResult<R> {
        let hold = picoring::hold_off_fork();
        self.gil_free.fetch_add(1, Ordering::AcqRel);
        py.allow_threads(move || {
            let r = {
                let g = self.state.lock().unwrap_or_else(|p| p.into_inner());
                self.admit(g).map(|mut g| f(&mut g))
            };
            self.gil_free.fetch_sub(1, Ordering::AcqRel);
            drop(hold);
            r
        })
        .map_err(to_py)
    }

    /// Ends an export; never blocks, never loses it.
    pub(crate) fn release(&self, token: T::Token) {
        match self.state.try_lock() {
            Ok(mut g) => g.release(&token),
            Err(TryLockError::Poisoned(p)) => p.into_inner().release(&token),
            Err(TryLockError::WouldBlock) => {
                self.pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(token);
                self.has_pending.store(true, Ordering::Release);
            }
        }
    }
}
