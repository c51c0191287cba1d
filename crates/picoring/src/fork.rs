//! Keeping rings private across `fork()`.
//!
//! Mirrored pages are `MAP_SHARED`: left alone, a parent and its child
//! would see each other's writes. A `pthread_atfork` handler makes the
//! child's copy private (the work itself is in `arena`):
//!
//! 1. *prepare* (parent, before the fork): waits until no [`ForkHold`] is
//!    live, locks the registry of arenas and copies the *live* bytes of
//!    every ring (from its oldest pin or tail to its head, or to the end of
//!    its open grant) into one new anonymous file; free space is not
//!    copied, so an idle 1 GiB ring costs a few pages, not a gigabyte;
//! 2. *child*: maps each arena's copy over its own addresses (`MAP_FIXED`),
//!    so every pointer and view stays valid and now shows private memory;
//!    unlocks;
//! 3. *parent*: closes the file, unlocks.
//!
//! Copying before the fork, in the parent, means nothing the parent does
//! after the fork can reach the child. If the copy cannot be made (no
//! memory), the child's arenas are replaced by zero pages and flagged
//! lost, so that rings refuse to work there rather than share memory.
//!
//! Work that runs without the caller's usual lock (Python's GIL, say) can
//! hold forks off with [`hold_off_fork`]: a fork waits in *prepare* until
//! every [`ForkHold`] is dropped, so that the child never inherits a lock
//! held by a thread it does not have, nor a ring copied halfway through a
//! write.

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
/// A ring changed by one thread while another forks is copied in whatever
/// state the fork finds it; hold forks off around such changes.
///
/// Holds nest: a thread may take another while it holds one (only the
/// outermost counts). Never fork while holding one: that deadlocks.
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
pub(crate) use imp::install;

/// Installs the fork handlers, which count forks (see [`generation`]).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn install_handlers() {
    #[cfg(all(unix, not(miri)))]
    imp::install();
}

/// How many forks this process has seen, as parent or child, since the
/// handlers were installed: a change tells an object shared with other
/// processes that it may now be used in a new one.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn generation() -> u64 {
    #[cfg(all(unix, not(miri)))]
    return imp::FORKS.load(std::sync::atomic::Ordering::SeqCst);
    #[cfg(not(all(unix, not(miri))))]
    0
}

#[cfg(all(unix, not(miri)))]
mod imp {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use crate::arena;

    /// `pid << 2 | phase`: phase 0 not installed, 1 being installed by the
    /// thread of process `pid`, 2 installed.
    pub(super) static INSTALL: AtomicU64 = AtomicU64::new(0);
    const INSTALLING: u64 = 1;
    const INSTALLED: u64 = 2;

    /// Live [`ForkHold`](super::ForkHold)s.
    static HOLDS: AtomicUsize = AtomicUsize::new(0);
    /// Forks between *prepare* and *parent*/*child*.
    static FORKING: AtomicUsize = AtomicUsize::new(0);
    /// Forks seen (see [`super::generation`]).
    pub(super) static FORKS: AtomicU64 = AtomicU64::new(0);

    /// Installs the fork handlers (once per process).
    ///
    /// Not a `Once`: a process forked while another thread was installing
    /// would inherit a `Once` that never completes, and hang on its first
    /// ring. Here a child that finds the installation in progress by a
    /// thread of another process (its parent) knows the handlers are not
    /// registered in it (had they been, the child handler would have marked
    /// them installed) and installs them itself.
    #[inline]
    pub(crate) fn install() {
        if INSTALL.load(Ordering::Acquire) & 3 != INSTALLED {
            install_slow();
        }
    }

    #[cold]
    fn install_slow() {
        let pid = u64::from(std::process::id());
        loop {
            let state = INSTALL.load(Ordering::Acquire);
            match state & 3 {
                INSTALLED => return,
                INSTALLING if state >> 2 == pid => std::thread::yield_now(),
                // Not installed, or left half-done by a thread of the
                // parent process: ours to do.
                _ => {
                    if INSTALL
                        .compare_exchange(
                            state,
                            pid << 2 | INSTALLING,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        )
                        .is_ok()
                    {
                        // SAFETY: the three handlers are `extern "C" fn()`
                        // that live for the whole program.
                        unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
                        INSTALL.store(INSTALLED, Ordering::Release);
                        return;
                    }
                }
            }
        }
    }

    // `hold` and `prepare` each announce themselves, then check for the
    // other (all SeqCst): at least one of the two sees the other and backs
    // off, so a fork never starts while a hold is live.
    std::thread_local! {
        /// Holds this thread has now; only the outermost one is counted in
        /// `HOLDS` (a nested one waiting for a fork that waits for the
        /// outer one would deadlock).
        static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    pub(crate) fn hold() {
        let depth = DEPTH.with(|d| {
            let n = d.get();
            d.set(n + 1);
            n
        });
        if depth > 0 {
            return;
        }
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
        let outer = DEPTH.with(|d| {
            let n = d.get() - 1;
            d.set(n);
            n == 0
        });
        if outer {
            HOLDS.fetch_sub(1, Ordering::SeqCst);
        }
    }

    extern "C" fn prepare() {
        FORKING.fetch_add(1, Ordering::SeqCst);
        while HOLDS.load(Ordering::SeqCst) > 0 {
            std::thread::yield_now();
        }
        arena::prepare_fork();
    }

    extern "C" fn parent() {
        FORKS.fetch_add(1, Ordering::SeqCst);
        arena::after_fork_parent();
        FORKING.fetch_sub(1, Ordering::SeqCst);
    }

    extern "C" fn child() {
        // The handlers run, so they are registered in this process.
        INSTALL.store(INSTALLED, Ordering::Release);
        FORKS.fetch_add(1, Ordering::SeqCst);
        arena::after_fork_child();
        // Only this thread exists in the child: no hold is live, and forks
        // that other threads of the parent had started are not ours.
        HOLDS.store(0, Ordering::SeqCst);
        FORKING.store(0, Ordering::SeqCst);
    }
}

#[cfg(all(test, unix, not(miri)))]
mod tests {
    #[test]
    fn nested_holds_do_not_deadlock_against_a_fork() {
        let outer = super::hold_off_fork();
        let forker = std::thread::spawn(|| {
            // SAFETY: the child only exits.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: _exit is async-signal-safe.
                unsafe { libc::_exit(0) };
            }
            let mut status = 0;
            // SAFETY: our child; a status of ours to fill.
            unsafe { libc::waitpid(pid, &mut status, 0) };
        });
        // Let the fork start waiting for the outer hold, then nest one:
        // with holds counted per call, the inner one would wait for the
        // fork, which waits for the outer one, for ever.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let inner = super::hold_off_fork();
        drop(inner);
        drop(outer);
        forker.join().unwrap();
    }

    use super::imp::{install, INSTALL};
    use std::sync::atomic::Ordering;

    #[test]
    fn a_child_left_with_a_half_done_installation_installs_itself() {
        install();
        // SAFETY: the child only stores an atomic, installs the handlers
        // (which must not wait for a thread it does not have) and exits;
        // alarm() ends it if it hangs.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: alarm and _exit are async-signal-safe.
            unsafe { libc::alarm(10) };
            // As if a thread of the parent was installing at the fork.
            // SAFETY: getppid has no preconditions.
            let parent = u64::from(unsafe { libc::getppid() } as u32);
            INSTALL.store(parent << 2 | 1, Ordering::Release);
            install();
            let done = INSTALL.load(Ordering::Acquire) & 3 == 2;
            // SAFETY: as above.
            unsafe { libc::_exit(if done { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the child hung or failed: status {status:#x}"
        );
    }
}
