//! Keeping rings private across `fork()`.
//!
//! Mirrored pages are `MAP_SHARED`: left alone, a parent and its child
//! would see each other's writes. Every live region is listed in a registry;
//! a `pthread_atfork` handler makes the child's copy private:
//!
//! 1. *prepare* (parent, before the fork): waits until no [`ForkHold`] is
//!    live, takes the registry lock and copies every region into one new
//!    anonymous file;
//! 2. *child*: maps each region's copy twice over the region's own
//!    addresses (`MAP_FIXED`), so every pointer and view stays valid and
//!    now shows private memory; closes the file, unlocks;
//! 3. *parent*: closes the file, unlocks.
//!
//! Copying before the fork, in the parent, means nothing the parent does
//! after the fork can reach the child. If the copy cannot be made (no
//! memory), the child's regions are replaced by zero pages and flagged
//! lost, so that rings refuse to work there rather than share memory.
//!
//! Work that runs without the caller's usual lock (Python's GIL, say) can
//! hold forks off with [`hold_off_fork`]: a fork waits in *prepare* until
//! every [`ForkHold`] is dropped, so that the child never inherits a lock
//! held by a thread it does not have, nor a region copied halfway through
//! a write.

#[cfg(all(unix, not(miri)))]
pub(crate) use imp::{register, unregister};

// Without fork (or under Miri, whose memory is not shared mappings) there
// is nothing to keep private.
#[cfg(any(not(unix), miri))]
pub(crate) fn register(_base: usize, _size: usize, _lost: &std::sync::atomic::AtomicBool) {}
#[cfg(any(not(unix), miri))]
pub(crate) fn unregister(_base: usize) {}

/// Keeps `fork()` from starting in any thread of this process while it is
/// alive; see [`hold_off_fork`].
#[must_use = "forks are held off only while the value lives"]
#[derive(Debug)]
pub struct ForkHold {
    _private: (),
}

/// Holds off `fork()` until the returned value is dropped: a fork started
/// meanwhile by another thread waits for it (and a hold asked for while a
/// fork is starting waits for that fork).
///
/// For work done outside the lock that normally excludes forks: the
/// Python bindings hold one while they copy with the GIL released, so that
/// a child process never inherits an object lock owned by a thread that
/// does not exist in it (which would deadlock the child), nor a ring
/// copied halfway through a write. Holding costs two atomic operations.
///
/// Never fork while holding one, and never hold two at once in one thread:
/// either deadlocks against a fork.
///
/// ```
/// let hold = picoring::hold_off_fork();
/// // ... work that a fork must not cut in two ...
/// drop(hold);
/// ```
pub fn hold_off_fork() -> ForkHold {
    #[cfg(all(unix, not(miri)))]
    imp::hold();
    ForkHold { _private: () }
}

impl Drop for ForkHold {
    fn drop(&mut self) {
        #[cfg(all(unix, not(miri)))]
        imp::unhold();
    }
}

#[cfg(all(unix, not(miri)))]
mod imp {
    use std::cell::UnsafeCell;
    use std::collections::HashMap;
    use std::os::fd::OwnedFd;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Once;

    use crate::sys;

    struct Entry {
        size: usize,
        /// Where this region's copy starts in the fork file.
        offset: usize,
        /// The owner's flag; valid while the entry is registered.
        lost: *const AtomicBool,
    }

    struct Registry {
        locked: AtomicBool,
        /// Guarded by `locked`.
        inner: UnsafeCell<Inner>,
    }

    struct Inner {
        regions: Option<HashMap<usize, Entry>>,
        /// The copy made by `prepare`, consumed by `parent` / `child`.
        fork_file: Option<OwnedFd>,
    }

    // SAFETY: `inner` is only touched between `lock()` and `unlock()`, which
    // give exclusive access across threads.
    unsafe impl Sync for Registry {}

    static REGISTRY: Registry = Registry {
        locked: AtomicBool::new(false),
        inner: UnsafeCell::new(Inner {
            regions: None,
            fork_file: None,
        }),
    };
    static INSTALL: Once = Once::new();

    /// Live [`ForkHold`](super::ForkHold)s.
    static HOLDS: AtomicUsize = AtomicUsize::new(0);
    /// Forks between *prepare* and *parent*/*child*.
    static FORKING: AtomicUsize = AtomicUsize::new(0);

    /// Installs the fork handlers (once per process).
    fn install() {
        INSTALL.call_once(|| {
            // SAFETY: the three handlers are `extern "C" fn()` that live for
            // the whole program.
            unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        });
    }

    // `hold` and `prepare` each announce themselves, then check for the
    // other (all SeqCst): at least one of the two sees the other and backs
    // off, so a fork never starts while a hold is live.
    pub(crate) fn hold() {
        install();
        loop {
            while FORKING.load(Ordering::SeqCst) > 0 {
                std::thread::yield_now();
            }
            HOLDS.fetch_add(1, Ordering::SeqCst);
            if FORKING.load(Ordering::SeqCst) == 0 {
                return;
            }
            HOLDS.fetch_sub(1, Ordering::SeqCst);
        }
    }

    pub(crate) fn unhold() {
        HOLDS.fetch_sub(1, Ordering::SeqCst);
    }

    fn lock() {
        while REGISTRY
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::thread::yield_now();
        }
    }

    fn unlock() {
        REGISTRY.locked.store(false, Ordering::Release);
    }

    /// Runs `f` with the registry, which the caller must have locked.
    fn with_inner<R>(f: impl FnOnce(&mut Inner) -> R) -> R {
        // SAFETY: callers hold the lock, so this is the only reference.
        f(unsafe { &mut *REGISTRY.inner.get() })
    }

    pub(crate) fn register(base: usize, size: usize, lost: &AtomicBool) {
        install();
        lock();
        with_inner(|r| {
            r.regions.get_or_insert_with(HashMap::new).insert(
                base,
                Entry {
                    size,
                    offset: 0,
                    lost,
                },
            )
        });
        unlock();
    }

    pub(crate) fn unregister(base: usize) {
        lock();
        with_inner(|r| r.regions.as_mut().and_then(|m| m.remove(&base)));
        unlock();
    }

    extern "C" fn prepare() {
        FORKING.fetch_add(1, Ordering::SeqCst);
        while HOLDS.load(Ordering::SeqCst) > 0 {
            std::thread::yield_now();
        }
        lock();
        with_inner(|r| {
            r.fork_file = None;
            let Some(regions) = r.regions.as_mut().filter(|m| !m.is_empty()) else {
                return;
            };
            let mut total = 0usize;
            for e in regions.values_mut() {
                e.offset = total;
                total += e.size;
            }
            let Ok(fd) = sys::anon_file(total) else {
                return;
            };
            let Ok(copy) = sys::map_file(total, &fd) else {
                return;
            };
            for (&base, e) in regions.iter() {
                // SAFETY: `base` maps `e.size` readable bytes (the region is
                // registered, so alive); `copy + offset` has `e.size`
                // writable bytes of the new file; the two never overlap.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        base as *const u8,
                        copy.as_ptr().add(e.offset),
                        e.size,
                    )
                };
            }
            // SAFETY: the temporary mapping is ours and no longer used.
            unsafe { sys::unmap(copy.as_ptr(), total) };
            r.fork_file = Some(fd);
        });
    }

    extern "C" fn parent() {
        with_inner(|r| r.fork_file = None);
        unlock();
        FORKING.fetch_sub(1, Ordering::SeqCst);
    }

    extern "C" fn child() {
        with_inner(|r| {
            let file = r.fork_file.take();
            let Some(regions) = r.regions.as_ref() else {
                return;
            };
            for (&base, e) in regions {
                let p = base as *mut u8;
                let ok = file.as_ref().is_some_and(|fd| {
                    // SAFETY: the region's two halves are our mappings; the
                    // new ones replace them at the same addresses with the
                    // same length, so every pointer into them stays valid.
                    unsafe {
                        sys::map_file_fixed(p, e.size, fd, e.offset).is_ok()
                            && sys::map_file_fixed(p.add(e.size), e.size, fd, e.offset).is_ok()
                    }
                });
                if !ok {
                    // SAFETY: as above; zero pages replace the shared ones.
                    unsafe { sys::map_zero_fixed(p, e.size * 2) };
                    // SAFETY: the owner is alive while registered.
                    unsafe { (*e.lost).store(true, Ordering::Relaxed) };
                }
            }
            drop(file);
        });
        unlock();
        // Only this thread exists in the child: no hold is live, and forks
        // that other threads of the parent had started are not ours.
        HOLDS.store(0, Ordering::SeqCst);
        FORKING.store(0, Ordering::SeqCst);
    }
}
