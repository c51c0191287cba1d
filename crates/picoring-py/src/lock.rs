//! The lock around each object's state, made for Python: never held while
//! Python code runs, waited for without the GIL, re-entrancy detected,
//! releases of views never lost.

use parking_lot::{Mutex, MutexGuard};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use picoring::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::errors::to_py;

/// Copies at least this large run with the GIL released, so other Python
/// threads keep running meanwhile.
pub(crate) const GIL_FREE_COPY: usize = 1 << 20;

/// State that exports views and must take their releases at any moment.
pub(crate) trait Exporter: Send {
    /// What identifies an export at release; consumed by it.
    type Token: Send;
    /// Ends an export.
    fn release(&mut self, token: Self::Token);
    /// Refuses all use when the state is unusable (a ring lost at fork):
    /// `Err` with the reason.
    #[inline(always)]
    fn check(&self) -> Result<(), Error> {
        Ok(())
    }
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

    /// Applies the releases queued while the state was busy.
    #[cold]
    fn drain_pending(&self, guard: &mut Guard<'_, T>) {
        if self.has_pending.swap(false, Ordering::Acquire) {
            let queued = std::mem::take(&mut *self.pending.lock());
            for token in queued {
                guard.release(token);
            }
        }
    }

    #[inline(always)]
    fn admit<'a>(&'a self, mut guard: Guard<'a, T>) -> Result<Guard<'a, T>, Error> {
        if self.has_pending.load(Ordering::Relaxed) {
            self.drain_pending(&mut guard);
        }
        guard.check()?;
        Ok(guard)
    }

    /// Locks with the GIL held (see the type's docs).
    #[inline(always)]
    pub(crate) fn lock(&self, py: Python<'_>) -> PyResult<Guard<'_, T>> {
        match self.state.try_lock() {
            Some(g) => self.admit(g).map_err(to_py),
            None => self.lock_slow(py),
        }
    }

    /// Locks if the state is free now; never waits (so never gives the
    /// GIL up), for callers that hold another lock meanwhile.
    pub(crate) fn try_now(&self) -> Option<Guard<'_, T>> {
        self.state.try_lock().and_then(|g| self.admit(g).ok())
    }

    #[cold]
    #[inline(never)]
    fn lock_slow(&self, py: Python<'_>) -> PyResult<Guard<'_, T>> {
        // Every thread that holds or waits for the lock without the GIL is
        // counted in `gil_free` from before it releases the GIL until after
        // it unlocks. So a busy lock with `gil_free == 0` was either just
        // unlocked (one more try succeeds) or is held by this very thread.
        let mut just_released = false;
        loop {
            match self.state.try_lock() {
                Some(g) => return self.admit(g).map_err(to_py),
                None => {
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
                    py.detach(|| {
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
        py.detach(move || {
            let r = {
                let g = self.state.lock();
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
            Some(mut g) => g.release(token),
            None => {
                self.pending.lock().push(token);
                self.has_pending.store(true, Ordering::Release);
            }
        }
    }
}
