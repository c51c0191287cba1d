//! What the four classes share: locking, error translation, argument
//! checking.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// `data[key]` for an int or a slice key: an int, or `bytes`.
pub(crate) fn get_item(
    py: Python<'_>,
    data: &[u8],
    key: &Bound<'_, PyAny>,
    what: &str,
) -> PyResult<PyObject> {
    if let Ok(slice) = key.downcast::<PySlice>() {
        let ind = slice.indices(data.len() as isize)?;
        if ind.step == 1 {
            let start = ind.start as usize;
            return Ok(PyBytes::new(py, &data[start..start + ind.slicelength])
                .into_any()
                .unbind());
        }
        let out: Vec<u8> = (0..ind.slicelength)
            .map(|k| data[(ind.start + k as isize * ind.step) as usize])
            .collect();
        return Ok(PyBytes::new(py, &out).into_any().unbind());
    }
    let index = int_of(key, "index")?;
    let i = index
        .extract::<isize>()
        .ok()
        .and_then(|i| resolve_index(i, data.len()));
    match i {
        Some(i) => Ok(data[i].into_pyobject(py)?.into_any().unbind()),
        None => Err(PyIndexError::new_err(format!(
            "{what} index {index} out of range for length {}",
            data.len()
        ))),
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
    static THREAD_ID: u64 = {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

/// A small number identifying the calling thread.
pub(crate) fn thread_key() -> u64 {
    THREAD_ID.with(|id| *id)
}

/// A mutex around an object's state, with the two things Python needs:
///
/// * a thread that finds it busy waits with the GIL released (the holder may
///   be copying without the GIL), and a re-entrant call from the same
///   thread (a `__del__` run by the garbage collector in the middle of a
///   method) raises `RuntimeError` instead of deadlocking;
/// * releases of views never wait and are never lost: if the state is busy,
///   they are queued and applied by the next holder.
pub(crate) struct Locked<T: Exporter> {
    state: Mutex<T>,
    /// Thread id of the holder, 0 when free.
    owner: AtomicU64,
    pending: Mutex<Vec<T::Token>>,
    has_pending: AtomicBool,
    /// Class name, for messages.
    name: &'static str,
}

pub(crate) struct Guard<'a, T: Exporter> {
    guard: MutexGuard<'a, T>,
    owner: &'a AtomicU64,
}

impl<T: Exporter> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: Exporter> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T: Exporter> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        self.owner.store(0, Ordering::Release);
    }
}

impl<T: Exporter> Locked<T> {
    pub(crate) fn new(state: T, name: &'static str) -> Self {
        Locked {
            state: Mutex::new(state),
            owner: AtomicU64::new(0),
            pending: Mutex::new(Vec::new()),
            has_pending: AtomicBool::new(false),
            name,
        }
    }

    fn admit<'a>(&'a self, mut guard: MutexGuard<'a, T>) -> Result<Guard<'a, T>, Error> {
        self.owner.store(thread_key(), Ordering::Release);
        if self.has_pending.swap(false, Ordering::Acquire) {
            let queued =
                std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
            for token in &queued {
                guard.release(token);
            }
        }
        let g = Guard {
            guard,
            owner: &self.owner,
        };
        g.check()?;
        Ok(g)
    }

    /// Locks with the GIL held (see the type's docs).
    pub(crate) fn lock(&self, py: Python<'_>) -> PyResult<Guard<'_, T>> {
        loop {
            match self.state.try_lock() {
                Ok(g) => return self.admit(g).map_err(to_py),
                Err(TryLockError::Poisoned(p)) => return self.admit(p.into_inner()).map_err(to_py),
                Err(TryLockError::WouldBlock) => {
                    if self.owner.load(Ordering::Acquire) == thread_key() {
                        return Err(PyRuntimeError::new_err(format!(
                            "{} is already in use by this thread (a re-entrant call, \
                             e.g. from __del__ during one of its methods)",
                            self.name
                        )));
                    }
                    py.allow_threads(|| drop(self.state.lock()));
                }
            }
        }
    }

    /// Runs `f` on the state with the GIL released; for large copies.
    pub(crate) fn with_gil_released<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut T) -> R + Send,
    ) -> PyResult<R> {
        py.allow_threads(|| {
            let g = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let mut g = self.admit(g)?;
            Ok(f(&mut g))
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
