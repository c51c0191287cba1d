//! A blocking byte pipe between threads over one mirrored [`Ring`]: the
//! writer waits while the ring is full, the reader while it is empty; the
//! reader can also look at everything readable as one slice, in place
//! (its export pins those bytes against the writer, as on a ring).
//!
//! Waits are condition-variable waits (a futex on Linux), never sleeps or
//! spins. Given a `poll`, they wake at least every [`POLL`] to ask it
//! whether to go on, so that a binding can look for Ctrl-C.
//!
//! ```
//! use std::time::Duration;
//! let (w, r) = picoring::pipe::pipe(64 * 1024).unwrap();
//! let t = std::thread::spawn(move || {
//!     w.write(&vec![7u8; 1 << 20], None, None).unwrap();
//!     // dropping (or closing) the writer ends the stream
//! });
//! let mut got = 0;
//! let mut buf = vec![0u8; 100_000];
//! loop {
//!     let n = r.read(&mut buf, Some(Duration::from_secs(10)), None).unwrap();
//!     if n == 0 {
//!         break; // EOF: the writer is gone and everything was read
//!     }
//!     assert!(buf[..n].iter().all(|&b| b == 7));
//!     got += n;
//! }
//! t.join().unwrap();
//! assert_eq!(got, 1 << 20);
//! ```

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::ring::{ReadExport, Ring};

/// Longest wait between two calls of the caller's `poll`.
pub const POLL: Duration = Duration::from_millis(50);

/// Why a blocking call stopped before it was done. Each says how many bytes
/// it moved first: those stay moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeError {
    /// The timeout passed.
    TimedOut {
        /// Bytes written (or read) before it did.
        done: usize,
    },
    /// The other end is closed: the reader, for a write (nothing written
    /// will be read).
    Closed {
        /// Bytes written before the reader closed.
        done: usize,
    },
    /// The caller's `poll` said stop.
    Interrupted {
        /// Bytes moved before it did.
        done: usize,
    },
    /// The shared header of a [`crate::shared_pipe`] makes no sense (the
    /// other process wrote outside the protocol): nothing more moves.
    Corrupt {
        /// Bytes moved before.
        done: usize,
        /// The writer's position as seen.
        head: u64,
        /// The reader's position as seen.
        tail: u64,
    },
}

impl PipeError {
    /// Bytes moved before the call stopped.
    pub fn done(&self) -> usize {
        match *self {
            PipeError::TimedOut { done }
            | PipeError::Closed { done }
            | PipeError::Interrupted { done }
            | PipeError::Corrupt { done, .. } => done,
        }
    }

    /// The same error with `before` more bytes counted as moved.
    pub fn after(self, before: usize) -> PipeError {
        match self {
            PipeError::TimedOut { done } => PipeError::TimedOut {
                done: done + before,
            },
            PipeError::Closed { done } => PipeError::Closed {
                done: done + before,
            },
            PipeError::Interrupted { done } => PipeError::Interrupted {
                done: done + before,
            },
            PipeError::Corrupt { done, head, tail } => PipeError::Corrupt {
                done: done + before,
                head,
                tail,
            },
        }
    }
}

impl std::fmt::Display for PipeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PipeError::TimedOut { done } => write!(f, "timed out after moving {done} bytes"),
            PipeError::Closed { done } => {
                write!(f, "the reader is closed ({done} bytes were written before)")
            }
            PipeError::Interrupted { done } => write!(f, "interrupted after moving {done} bytes"),
            PipeError::Corrupt { done, head, tail } => write!(
                f,
                "the shared pipe's header makes no sense (writer at {head}, reader at {tail}): \
                 the other process wrote outside the protocol ({done} bytes moved before)"
            ),
        }
    }
}

impl std::error::Error for PipeError {}

struct State {
    ring: Ring,
    writer_closed: bool,
    reader_closed: bool,
}

struct Inner {
    state: Mutex<State>,
    /// Signalled when bytes arrive or the writer closes.
    readable: Condvar,
    /// Signalled when room is made or the reader closes.
    writable: Condvar,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn memory(&self) -> (*const u8, usize) {
        let g = self.lock();
        (g.ring.memory_start(), 2 * g.ring.memory_len())
    }

    /// Waits on `cv` until `done(state)`, the deadline, or `poll` says
    /// stop; returns the guard and whether `done` holds.
    fn wait_until<'a>(
        &'a self,
        mut g: MutexGuard<'a, State>,
        cv: &Condvar,
        deadline: Option<Instant>,
        poll: &mut Poll<'_>,
        done: impl Fn(&State) -> bool,
    ) -> (MutexGuard<'a, State>, Wait) {
        loop {
            if done(&g) {
                return (g, Wait::Ready);
            }
            let left = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return (g, Wait::TimedOut);
                    }
                    Some(d - now)
                }
                None => None,
            };
            let slice = match (&*poll, left) {
                (Some(_), Some(l)) => Some(l.min(POLL)),
                (Some(_), None) => Some(POLL),
                (None, l) => l,
            };
            g = match slice {
                Some(t) => cv.wait_timeout(g, t).unwrap_or_else(|e| e.into_inner()).0,
                None => cv.wait(g).unwrap_or_else(|e| e.into_inner()),
            };
            if let Some(poll) = poll.as_mut() {
                if !done(&g) {
                    drop(g);
                    let go_on = poll();
                    g = self.lock();
                    if !go_on {
                        return (g, Wait::Interrupted);
                    }
                }
            }
        }
    }
}

/// What a blocking call asks, at least every [`POLL`] while it waits,
/// before waiting on (false: stop with [`PipeError::Interrupted`]); `None`
/// waits without waking.
pub type Poll<'a> = Option<&'a mut dyn FnMut() -> bool>;

enum Wait {
    Ready,
    TimedOut,
    Interrupted,
}

/// When a call with `timeout` must stop (`None`: never).
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// Makes a pipe of `capacity` bytes: the writing and the reading end.
///
/// # Errors
/// As [`Ring::with_capacity`].
pub fn pipe(capacity: usize) -> Result<(PipeWriter, PipeReader)> {
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            ring: Ring::with_capacity(capacity)?,
            writer_closed: false,
            reader_closed: false,
        }),
        readable: Condvar::new(),
        writable: Condvar::new(),
    });
    Ok((
        PipeWriter {
            inner: Arc::clone(&inner),
        },
        PipeReader { inner },
    ))
}

/// The writing end of a [`pipe`]. Closed when dropped.
pub struct PipeWriter {
    inner: Arc<Inner>,
}

impl PipeWriter {
    /// Writes all of `data`, waiting while the pipe is full.
    ///
    /// # Errors
    /// [`PipeError::Closed`] once the reader is closed,
    /// [`PipeError::TimedOut`] when `timeout` passes, and
    /// [`PipeError::Interrupted`] when `poll` (called at least every
    /// [`POLL`] while waiting) returns false; each with the bytes written
    /// first, which stay written. Writing after [`PipeWriter::close`] is
    /// `Closed { done: 0 }`.
    pub fn write(
        &self,
        mut data: &[u8],
        timeout: Option<Duration>,
        mut poll: Poll<'_>,
    ) -> std::result::Result<usize, PipeError> {
        let deadline = deadline(timeout);
        let total = data.len();
        let mut g = self.inner.lock();
        loop {
            if g.reader_closed || g.writer_closed {
                return Err(PipeError::Closed {
                    done: total - data.len(),
                });
            }
            let n = g.ring.push_partial(data);
            if n > 0 {
                data = &data[n..];
                self.inner.readable.notify_one();
            }
            if data.is_empty() {
                return Ok(total);
            }
            let wait;
            (g, wait) = self
                .inner
                .wait_until(g, &self.inner.writable, deadline, &mut poll, |s| {
                    s.reader_closed || s.writer_closed || s.ring.free() > 0
                });
            let done = total - data.len();
            match wait {
                Wait::Ready => {}
                Wait::TimedOut => return Err(PipeError::TimedOut { done }),
                Wait::Interrupted => return Err(PipeError::Interrupted { done }),
            }
        }
    }

    /// Writes what fits of `data` now, without waiting; returns how many
    /// bytes that was (0 when the pipe is full).
    ///
    /// # Errors
    /// [`PipeError::Closed`] (`done: 0`) once either end is closed.
    pub fn write_now(&self, data: &[u8]) -> std::result::Result<usize, PipeError> {
        let mut g = self.inner.lock();
        if g.reader_closed || g.writer_closed {
            return Err(PipeError::Closed { done: 0 });
        }
        let n = g.ring.push_partial(data);
        drop(g);
        if n > 0 {
            self.inner.readable.notify_one();
        }
        Ok(n)
    }

    /// True once this end is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.lock().writer_closed
    }

    /// Bytes a write could take now without waiting.
    pub fn free(&self) -> usize {
        self.inner.lock().ring.free()
    }

    /// Where the ring's memory starts and how many bytes its two mappings
    /// span (fixed for the pipe's life), for overlap checks.
    pub fn memory(&self) -> (*const u8, usize) {
        self.inner.memory()
    }

    /// Ends the stream: the reader gets what was written, then EOF.
    pub fn close(&self) {
        self.inner.lock().writer_closed = true;
        self.inner.readable.notify_all();
        self.inner.writable.notify_all();
    }

    /// True once the reader is closed.
    pub fn is_broken(&self) -> bool {
        self.inner.lock().reader_closed
    }

    /// Bytes the pipe holds at most.
    pub fn capacity(&self) -> usize {
        self.inner.lock().ring.capacity()
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// The reading end of a [`pipe`]. Closed when dropped.
pub struct PipeReader {
    inner: Arc<Inner>,
}

impl PipeReader {
    /// Waits until at least `at_least` bytes are readable (at least one
    /// for 0) or the stream has ended; returns how many are readable (0:
    /// EOF, the writer closed and everything read, or this end closed;
    /// fewer than `at_least` once the writer closed). An `at_least` above
    /// the capacity could never be met: callers check it.
    ///
    /// # Errors
    /// As [`PipeReader::read`].
    pub fn wait(
        &self,
        at_least: usize,
        timeout: Option<Duration>,
        poll: Poll<'_>,
    ) -> std::result::Result<usize, PipeError> {
        let g = self.wait_readable(at_least, timeout, poll)?;
        Ok(if g.reader_closed { 0 } else { g.ring.len() })
    }

    /// Moves up to `out.len()` readable bytes into `out` now, without
    /// waiting; returns how many (0 when none are readable or this end is
    /// closed).
    pub fn read_now(&self, out: &mut [u8]) -> usize {
        self.take_now(|ring| ring.pop_into(out))
    }

    /// As [`PipeReader::read_now`], into memory not yet initialised: the
    /// first bytes of `out`, as many as returned, are initialised after.
    pub fn read_now_uninit(&self, out: &mut [std::mem::MaybeUninit<u8>]) -> usize {
        self.take_now(|ring| ring.pop_into_uninit(out))
    }

    fn take_now(&self, pop: impl FnOnce(&mut Ring) -> usize) -> usize {
        let mut g = self.inner.lock();
        if g.reader_closed {
            return 0;
        }
        let n = pop(&mut g.ring);
        drop(g);
        if n > 0 {
            self.inner.writable.notify_one();
        }
        n
    }

    /// Exports everything readable now (perhaps nothing), as
    /// [`PipeReader::export_readable`] does after its wait.
    pub fn export_now(&self) -> ReadExport {
        self.inner.lock().ring.export_readable()
    }

    /// True once the writer is closed (its bytes may still be readable).
    pub fn is_writer_closed(&self) -> bool {
        self.inner.lock().writer_closed
    }

    /// True once this end is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.lock().reader_closed
    }

    /// Bytes the pipe holds at most.
    pub fn capacity(&self) -> usize {
        self.inner.lock().ring.capacity()
    }

    /// Where the ring's memory starts and how many bytes its two mappings
    /// span (fixed for the pipe's life), for overlap checks.
    pub fn memory(&self) -> (*const u8, usize) {
        self.inner.memory()
    }

    /// Waits until `at_least` bytes (at least one) are there, or EOF.
    fn wait_readable(
        &self,
        at_least: usize,
        timeout: Option<Duration>,
        mut poll: Poll<'_>,
    ) -> std::result::Result<MutexGuard<'_, State>, PipeError> {
        let want = at_least.max(1);
        let g = self.inner.lock();
        let (g, wait) =
            self.inner
                .wait_until(g, &self.inner.readable, deadline(timeout), &mut poll, |s| {
                    s.ring.len() >= want || s.writer_closed || s.reader_closed
                });
        match wait {
            Wait::Ready => Ok(g),
            Wait::TimedOut => Err(PipeError::TimedOut { done: 0 }),
            Wait::Interrupted => Err(PipeError::Interrupted { done: 0 }),
        }
    }

    /// Moves up to `out.len()` bytes into `out`, waiting while the pipe is
    /// empty; 0 at EOF (the writer closed and everything read, or this end
    /// closed).
    ///
    /// # Errors
    /// [`PipeError::TimedOut`] or [`PipeError::Interrupted`] (nothing
    /// read).
    pub fn read(
        &self,
        out: &mut [u8],
        timeout: Option<Duration>,
        poll: Poll<'_>,
    ) -> std::result::Result<usize, PipeError> {
        if out.is_empty() {
            return Ok(0);
        }
        let mut g = self.wait_readable(1, timeout, poll)?;
        if g.reader_closed {
            return Ok(0);
        }
        let n = g.ring.pop_into(out);
        drop(g);
        if n > 0 {
            self.inner.writable.notify_one();
        }
        Ok(n)
    }

    /// Waits until bytes are there (or EOF), then exports everything
    /// readable as one slice, in place: the writer cannot overwrite those
    /// bytes until the export is given back with [`PipeReader::release`].
    /// An empty export means EOF.
    ///
    /// # Errors
    /// As [`PipeReader::read`].
    pub fn export_readable(
        &self,
        timeout: Option<Duration>,
        poll: Poll<'_>,
    ) -> std::result::Result<ReadExport, PipeError> {
        let mut g = self.wait_readable(1, timeout, poll)?;
        Ok(g.ring.export_readable())
    }

    /// Gives an export back; false if it was not one of this pipe's.
    pub fn release(&self, export: ReadExport) -> bool {
        let ok = self.inner.lock().ring.release(export);
        self.inner.writable.notify_one();
        ok
    }

    /// Consumes `n` bytes (after reading them in place).
    ///
    /// # Errors
    /// As [`Ring::advance_tail`]: more than are readable.
    pub fn advance_tail(&self, n: usize) -> Result<()> {
        self.inner.lock().ring.advance_tail(n)?;
        self.inner.writable.notify_one();
        Ok(())
    }

    /// Bytes readable now.
    pub fn len(&self) -> usize {
        self.inner.lock().ring.len()
    }

    /// True when nothing is readable now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops reading: the writer's next write fails with
    /// [`PipeError::Closed`], and reads return EOF.
    pub fn close(&self) {
        self.inner.lock().reader_closed = true;
        self.inner.readable.notify_all();
        self.inner.writable.notify_all();
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_byte_once_in_order_across_threads() {
        let (w, r) = pipe(10_000).unwrap();
        let total: usize = if cfg!(miri) { 50_000 } else { 20_000_000 };
        let t = std::thread::spawn(move || {
            let mut sent = 0usize;
            let mut k = 1usize;
            while sent < total {
                let n = k.min(total - sent);
                let chunk: Vec<u8> = (sent..sent + n).map(|i| (i % 251) as u8).collect();
                assert_eq!(w.write(&chunk, None, None), Ok(n));
                sent += n;
                k = k * 7 % 30_011 + 1;
            }
        });
        let mut got = 0usize;
        let mut buf = vec![0u8; 7777];
        loop {
            let n = r
                .read(&mut buf, Some(Duration::from_secs(60)), None)
                .unwrap();
            if n == 0 {
                break;
            }
            for (j, &b) in buf[..n].iter().enumerate() {
                assert_eq!(b, ((got + j) % 251) as u8, "byte {}", got + j);
            }
            got += n;
        }
        t.join().unwrap();
        assert_eq!(got, total);
    }

    #[test]
    fn a_full_pipe_times_out_and_keeps_what_it_wrote() {
        let (w, r) = pipe(100).unwrap();
        let t0 = Instant::now();
        let e = w
            .write(&[1; 250], Some(Duration::from_millis(120)), None)
            .unwrap_err();
        assert_eq!(e, PipeError::TimedOut { done: 100 });
        assert!(t0.elapsed() >= Duration::from_millis(120));
        assert_eq!(r.len(), 100, "the bytes written stay written");
        let mut out = [0; 300];
        let e = {
            let mut buf = [0u8; 100];
            assert_eq!(r.read(&mut buf, None, None), Ok(100));
            r.read(&mut out, Some(Duration::from_millis(60)), None)
                .unwrap_err()
        };
        assert_eq!(e, PipeError::TimedOut { done: 0 });
    }

    #[test]
    fn eof_after_the_writer_closes_and_broken_pipe_after_the_reader() {
        let (w, r) = pipe(100).unwrap();
        assert_eq!(w.write(b"last", None, None), Ok(4));
        drop(w);
        let mut out = [0; 10];
        assert_eq!(r.read(&mut out, None, None), Ok(4));
        assert_eq!(r.read(&mut out, None, None), Ok(0), "EOF, at once");
        let (w, r) = pipe(100).unwrap();
        let t = std::thread::spawn(move || w.write(&[0; 1000], None, None));
        std::thread::sleep(Duration::from_millis(50));
        r.close();
        assert_eq!(t.join().unwrap(), Err(PipeError::Closed { done: 100 }));
    }

    #[test]
    fn a_view_pins_its_bytes_against_the_writer() {
        let (w, r) = pipe(100).unwrap();
        assert_eq!(w.write(&[5; 60], None, None), Ok(60));
        let view = r.export_readable(None, None).unwrap();
        assert_eq!(view.len(), 60);
        r.advance_tail(60).unwrap();
        // The view still shows those 60 bytes: only 40 more fit.
        assert_eq!(
            w.write(&[6; 100], Some(Duration::from_millis(50)), None),
            Err(PipeError::TimedOut { done: 40 })
        );
        // SAFETY: the export is live, so its bytes are readable and fixed.
        let shown = unsafe { std::slice::from_raw_parts(view.as_ptr(), view.len()) };
        assert!(shown.iter().all(|&b| b == 5));
        assert!(r.release(view));
        assert_eq!(w.write(&[6; 60], None, None), Ok(60));
    }

    #[test]
    fn poll_is_asked_while_waiting_and_can_stop_the_wait() {
        let (w, _r) = pipe(10).unwrap();
        assert_eq!(w.write(&[0; 10], None, None), Ok(10));
        let asked = AtomicUsize::new(0);
        let mut poll = || asked.fetch_add(1, Ordering::Relaxed) < 2;
        assert_eq!(
            w.write(&[0; 5], None, Some(&mut poll)),
            Err(PipeError::Interrupted { done: 0 })
        );
        assert_eq!(asked.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_reader_can_wait_for_at_least_n_bytes() {
        let (w, r) = pipe(100).unwrap();
        w.write(b"abc", None, None).unwrap();
        assert_eq!(
            r.wait(10, Some(Duration::from_millis(30)), None),
            Err(PipeError::TimedOut { done: 0 })
        );
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            w.write(b"defghij", None, None).unwrap();
            w
        });
        assert_eq!(r.wait(10, Some(Duration::from_secs(10)), None), Ok(10));
        let w = t.join().unwrap();
        drop(w);
        assert_eq!(
            r.wait(50, None, None),
            Ok(10),
            "the writer is gone: what is left"
        );
    }

    #[test]
    fn a_blocked_reader_wakes_when_bytes_arrive() {
        let (w, r) = pipe(1000).unwrap();
        let t = std::thread::spawn(move || {
            let mut out = [0; 10];
            let n = r
                .read(&mut out, Some(Duration::from_secs(10)), None)
                .unwrap();
            (n, out)
        });
        std::thread::sleep(Duration::from_millis(30));
        w.write(b"hi", None, None).unwrap();
        let (n, out) = t.join().unwrap();
        assert_eq!(&out[..n], b"hi");
    }
}
