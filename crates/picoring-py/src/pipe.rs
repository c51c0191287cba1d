//! `PipeWriter` and `PipeReader`: the two ends of a blocking byte pipe,
//! made by `picoring.pipe` (between threads: the core's `pipe`) or
//! `picoring.shared_pipe` (between processes too: the core's
//! `shared_pipe`, Linux). One pair of classes over both, through the
//! [`WriterEnd`] and [`ReaderEnd`] traits.
//!
//! Every wait happens with the GIL released (a condition-variable or futex
//! wait in the core), and wakes every `picoring::pipe::POLL` to take the
//! GIL and look for a signal, so that Ctrl-C interrupts it with
//! KeyboardInterrupt. Copies of at least `GIL_FREE_COPY` bytes run without
//! the GIL too.

use std::time::{Duration, Instant};

use picoring::pipe::{PipeError, PipeReader as CoreReader, PipeWriter as CoreWriter, Poll};
use picoring::ReadExport;
use pyo3::exceptions::{PyBrokenPipeError, PyOSError, PyTimeoutError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyFloat, PyTuple};

use crate::args::{self, type_name};
use crate::errors::to_py;
use crate::ffi::{self, noargs, with_args, Args, BytesArg, Class, Method, Ret, Slf, Slots};
use crate::ffi::{TypeCell, WritableArg};
/// Pipe copies at least this large run with the GIL released: the other
/// end's thread (Python code) runs meanwhile, and with a shared pipe its
/// copy too (measured: threads_64KiB in `make bench`).
const GIL_FREE_COPY: usize = 16 * 1024;
use crate::ringlike::{self as rl, Memory};
use crate::stream::ExitArgs;

type PipeResult<T> = Result<T, PipeError>;

/// What ends a readable export of either kind of pipe.
pub(crate) enum PipeToken {
    Local(ReadExport),
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Shared(u64),
}

/// The writing end of either kind of pipe.
pub(crate) trait WriterEnd: Send + Sync {
    fn write_now(&self, data: &[u8]) -> PipeResult<usize>;
    fn write(&self, data: &[u8], timeout: Option<Duration>, poll: Poll<'_>) -> PipeResult<usize>;
    fn close(&self);
    fn is_closed(&self) -> bool;
    fn is_broken(&self) -> bool;
    fn capacity(&self) -> usize;
    fn free(&self) -> usize;
    fn memory(&self) -> (*const u8, usize);
    /// The descriptor to pass to another process; `None`: not shareable.
    #[cfg(unix)]
    fn share(&self) -> Option<std::os::fd::BorrowedFd<'_>>;
}

/// The reading end of either kind of pipe.
pub(crate) trait ReaderEnd: Send + Sync {
    fn len(&self) -> usize;
    fn wait(&self, at_least: usize, timeout: Option<Duration>, poll: Poll<'_>)
        -> PipeResult<usize>;
    fn read_now(&self, out: &mut [u8]) -> PipeResult<usize>;
    fn read_now_uninit(&self, out: &mut [std::mem::MaybeUninit<u8>]) -> PipeResult<usize>;
    fn export_now(&self) -> PipeResult<(*const u8, usize, PipeToken)>;
    fn release(&self, token: PipeToken);
    fn advance_tail(&self, n: usize) -> picoring::Result<()>;
    fn close(&self);
    fn is_closed(&self) -> bool;
    fn is_writer_closed(&self) -> bool;
    fn capacity(&self) -> usize;
    #[cfg(unix)]
    fn share(&self) -> Option<std::os::fd::BorrowedFd<'_>>;
}

impl WriterEnd for CoreWriter {
    fn write_now(&self, data: &[u8]) -> PipeResult<usize> {
        CoreWriter::write_now(self, data)
    }
    fn write(&self, data: &[u8], timeout: Option<Duration>, poll: Poll<'_>) -> PipeResult<usize> {
        CoreWriter::write(self, data, timeout, poll)
    }
    fn close(&self) {
        CoreWriter::close(self)
    }
    fn is_closed(&self) -> bool {
        CoreWriter::is_closed(self)
    }
    fn is_broken(&self) -> bool {
        CoreWriter::is_broken(self)
    }
    fn capacity(&self) -> usize {
        CoreWriter::capacity(self)
    }
    fn free(&self) -> usize {
        CoreWriter::free(self)
    }
    fn memory(&self) -> (*const u8, usize) {
        CoreWriter::memory(self)
    }
    #[cfg(unix)]
    fn share(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }
}

impl ReaderEnd for CoreReader {
    fn len(&self) -> usize {
        CoreReader::len(self)
    }
    fn wait(
        &self,
        at_least: usize,
        timeout: Option<Duration>,
        poll: Poll<'_>,
    ) -> PipeResult<usize> {
        CoreReader::wait(self, at_least, timeout, poll)
    }
    fn read_now(&self, out: &mut [u8]) -> PipeResult<usize> {
        Ok(CoreReader::read_now(self, out))
    }
    fn read_now_uninit(&self, out: &mut [std::mem::MaybeUninit<u8>]) -> PipeResult<usize> {
        Ok(CoreReader::read_now_uninit(self, out))
    }
    fn export_now(&self) -> PipeResult<(*const u8, usize, PipeToken)> {
        let e = CoreReader::export_now(self);
        Ok((e.as_ptr(), e.len(), PipeToken::Local(e)))
    }
    fn release(&self, token: PipeToken) {
        if let PipeToken::Local(e) = token {
            CoreReader::release(self, e);
        }
    }
    fn advance_tail(&self, n: usize) -> picoring::Result<()> {
        CoreReader::advance_tail(self, n)
    }
    fn close(&self) {
        CoreReader::close(self)
    }
    fn is_closed(&self) -> bool {
        CoreReader::is_closed(self)
    }
    fn is_writer_closed(&self) -> bool {
        CoreReader::is_writer_closed(self)
    }
    fn capacity(&self) -> usize {
        CoreReader::capacity(self)
    }
    #[cfg(unix)]
    fn share(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }
}

#[cfg(target_os = "linux")]
mod shared {
    use super::*;
    use picoring::shared_pipe::{SharedReader, SharedWriter};

    impl WriterEnd for SharedWriter {
        fn write_now(&self, data: &[u8]) -> PipeResult<usize> {
            SharedWriter::write_now(self, data)
        }
        fn write(
            &self,
            data: &[u8],
            timeout: Option<Duration>,
            poll: Poll<'_>,
        ) -> PipeResult<usize> {
            SharedWriter::write(self, data, timeout, poll)
        }
        fn close(&self) {
            SharedWriter::close(self)
        }
        fn is_closed(&self) -> bool {
            SharedWriter::is_closed(self)
        }
        fn is_broken(&self) -> bool {
            SharedWriter::is_broken(self)
        }
        fn capacity(&self) -> usize {
            SharedWriter::capacity(self)
        }
        fn free(&self) -> usize {
            SharedWriter::free(self)
        }
        fn memory(&self) -> (*const u8, usize) {
            SharedWriter::memory(self)
        }
        fn share(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
            Some(SharedWriter::share(self))
        }
    }

    impl ReaderEnd for SharedReader {
        fn len(&self) -> usize {
            SharedReader::len(self)
        }
        fn wait(
            &self,
            at_least: usize,
            timeout: Option<Duration>,
            poll: Poll<'_>,
        ) -> PipeResult<usize> {
            SharedReader::wait(self, at_least, timeout, poll)
        }
        fn read_now(&self, out: &mut [u8]) -> PipeResult<usize> {
            SharedReader::read_now(self, out)
        }
        fn read_now_uninit(&self, out: &mut [std::mem::MaybeUninit<u8>]) -> PipeResult<usize> {
            SharedReader::read_now_uninit(self, out)
        }
        fn export_now(&self) -> PipeResult<(*const u8, usize, PipeToken)> {
            let e = SharedReader::export_now(self)?;
            Ok((e.as_ptr(), e.len(), PipeToken::Shared(e.into_raw())))
        }
        fn release(&self, token: PipeToken) {
            if let PipeToken::Shared(raw) = token {
                SharedReader::release(self, raw);
            }
        }
        fn advance_tail(&self, n: usize) -> picoring::Result<()> {
            SharedReader::advance_tail(self, n)
        }
        fn close(&self) {
            SharedReader::close(self)
        }
        fn is_closed(&self) -> bool {
            SharedReader::is_closed(self)
        }
        fn is_writer_closed(&self) -> bool {
            SharedReader::is_writer_closed(self)
        }
        fn capacity(&self) -> usize {
            SharedReader::capacity(self)
        }
        fn share(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
            Some(SharedReader::share(self))
        }
    }

    /// `picoring.shared_pipe(capacity)`.
    /// A new shared pipe; `shared`: for other processes too, so its ends
    /// never close when dropped (a copy in another process may be in use;
    /// `close()` or the exit of the process using it ends it).
    pub(super) fn make(
        capacity: usize,
        shared: bool,
    ) -> picoring::Result<(Box<dyn WriterEnd>, Box<dyn ReaderEnd>)> {
        let (w, r) = picoring::shared_pipe::shared_pipe(capacity)?;
        if shared {
            let _ = (w.share(), r.share());
        }
        Ok((Box::new(w), Box::new(r)))
    }

    /// An end opened from a descriptor passed to this process.
    pub(super) fn open_writer(fd: std::os::fd::OwnedFd) -> picoring::Result<Box<dyn WriterEnd>> {
        Ok(Box::new(SharedWriter::open(fd)?))
    }

    pub(super) fn open_reader(fd: std::os::fd::OwnedFd) -> picoring::Result<Box<dyn ReaderEnd>> {
        Ok(Box::new(SharedReader::open(fd)?))
    }
}

/// The writing end of a pipe.
pub(crate) struct PipeWriter {
    end: Box<dyn WriterEnd>,
    memory: Memory,
    /// Made by `shared_pipe` (or unpickled): pickles.
    #[cfg_attr(not(unix), allow(dead_code))]
    shared: bool,
}

/// The reading end of a pipe.
pub(crate) struct PipeReader {
    end: Box<dyn ReaderEnd>,
    #[cfg_attr(not(unix), allow(dead_code))]
    shared: bool,
}

fn pair<'py>(
    py: Python<'py>,
    w: Box<dyn WriterEnd>,
    r: Box<dyn ReaderEnd>,
    shared: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let writer = ffi::new_instance(py, PipeWriter::new(w, shared)).map_err(|(e, _)| e)?;
    let reader = ffi::new_instance(py, PipeReader { end: r, shared }).map_err(|(e, _)| e)?;
    PyTuple::new(py, [writer, reader])
}

impl PipeWriter {
    fn new(end: Box<dyn WriterEnd>, shared: bool) -> PipeWriter {
        let (base, len) = end.memory();
        PipeWriter {
            end,
            memory: Memory::at(base, len),
            shared,
        }
    }
}

/// `picoring.pipe(capacity)`: a new pipe between threads, as `(writer, reader)`.
#[pyfunction]
#[pyo3(signature = (capacity))]
pub(crate) fn pipe<'py>(
    py: Python<'py>,
    capacity: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyTuple>> {
    let capacity = args::capacity(capacity)?;
    // On Linux, the shared-memory pipe: its copies run outside any lock,
    // in parallel with the other end's (about twice the throughput of the
    // mutex-guarded one for 64 KiB chunks); its ends are simply never
    // shared. Elsewhere the core's `pipe`.
    #[cfg(target_os = "linux")]
    let (w, r) = shared::make(capacity, false).map_err(to_py)?;
    #[cfg(not(target_os = "linux"))]
    let (w, r): (Box<dyn WriterEnd>, Box<dyn ReaderEnd>) = {
        let (w, r) = picoring::pipe::pipe(capacity).map_err(to_py)?;
        (Box::new(w), Box::new(r))
    };
    pair(py, w, r, false)
}

/// `picoring.shared_pipe(capacity)`: a new pipe whose ends also work in
/// other processes, as `(writer, reader)`.
#[pyfunction]
#[pyo3(signature = (capacity))]
pub(crate) fn shared_pipe<'py>(
    py: Python<'py>,
    capacity: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyTuple>> {
    let capacity = args::capacity(capacity)?;
    #[cfg(target_os = "linux")]
    {
        let (w, r) = shared::make(capacity, true).map_err(to_py)?;
        pair(py, w, r, true)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (py, capacity);
        Err(to_py(picoring::Error::Unsupported {
            what: "shared_pipe (Linux only: memfd and futex)",
        }))
    }
}

/// `_open_pipe_end(role, fd)`: an end of a shared pipe from a descriptor
/// this process owns (unpickling; `fd` from `DupFd.detach()`).
#[pyfunction]
#[pyo3(signature = (role, fd))]
pub(crate) fn _open_pipe_end<'py>(
    py: Python<'py>,
    role: &str,
    fd: i32,
) -> PyResult<Bound<'py, PyAny>> {
    #[cfg(target_os = "linux")]
    {
        let fd = ffi::adopt_fd(fd)?;
        match role {
            "writer" => {
                let end = shared::open_writer(fd).map_err(to_py)?;
                ffi::new_instance(py, PipeWriter::new(end, true)).map_err(|(e, _)| e)
            }
            "reader" => {
                let end = shared::open_reader(fd).map_err(to_py)?;
                ffi::new_instance(py, PipeReader { end, shared: true }).map_err(|(e, _)| e)
            }
            _ => Err(PyValueError::new_err(format!(
                "role must be 'writer' or 'reader', got {role:?}"
            ))),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (py, role, fd);
        Err(to_py(picoring::Error::Unsupported {
            what: "shared_pipe (Linux only: memfd and futex)",
        }))
    }
}

/// `__reduce__` of an end: `(_open_pipe_end, (role, DupFd(fd)))`, rebuilt
/// by `picoring._rebuild_pipe_end` (which calls `detach()`), so that
/// multiprocessing passes the descriptor (fork, spawn, forkserver, or a
/// connection to a running process).
fn reduce<'py>(
    obj: &Bound<'py, PyAny>,
    role: &str,
    #[cfg(unix)] fd: Option<std::os::fd::BorrowedFd<'_>>,
) -> Ret<'py> {
    #[cfg(not(unix))]
    let _ = obj;
    #[cfg(unix)]
    let py = obj.py();
    #[cfg(unix)]
    if let Some(fd) = fd {
        use std::os::fd::AsRawFd;
        let dup = py
            .import("multiprocessing.reduction")?
            .getattr("DupFd")?
            .call1((fd.as_raw_fd(),))?;
        let rebuild = py.import("picoring")?.getattr("_rebuild_pipe_end")?;
        return Ok(PyTuple::new(
            py,
            [
                rebuild,
                PyTuple::new(py, [role.into_pyobject(py)?.into_any(), dup])?.into_any(),
            ],
        )?
        .into_any());
    }
    Err(PyTypeError::new_err(format!(
        "cannot pickle the {role} of a picoring.pipe() (threads only): \
         use picoring.shared_pipe() between processes"
    )))
}
static WRITER: TypeCell = TypeCell::new();
static READER: TypeCell = TypeCell::new();

args::params! {
    /// `(data, timeout=None)`.
    DataTimeout = [c"data", c"timeout"], required 1;
    /// `(n=-1, timeout=None)`.
    NTimeout = [c"n", c"timeout"], required 0;
    /// `(buffer, timeout=None)`.
    BufferTimeout = [c"buffer", c"timeout"], required 1;
    /// `(timeout=None, at_least=1)`.
    TimeoutAtLeast = [c"timeout", c"at_least"], required 0;
}

// --- timeouts and waits ---------------------------------------------------------

/// A `timeout` argument: `None` (wait for ever) or seconds, at least 0.
fn timeout(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Duration>> {
    let Some(o) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let secs: f64 = match o.cast::<PyFloat>() {
        Ok(f) => f.value(),
        Err(_) => o.extract::<f64>().map_err(|_| {
            PyTypeError::new_err(format!(
                "timeout must be a number of seconds or None, not {}",
                type_name(o)
            ))
        })?,
    };
    if secs.is_nan() || secs < 0.0 {
        let given = o
            .repr()
            .map_or_else(|_| secs.to_string(), |r| r.to_string());
        return Err(PyValueError::new_err(format!(
            "timeout must be a number of seconds >= 0 or None, got {given}"
        )));
    }
    // Longer than a Duration holds: for ever.
    Ok(Duration::try_from_secs_f64(secs).ok())
}

/// When a call with this timeout must be done by (`None`: never).
struct Deadline {
    at: Option<Instant>,
    timeout: Option<Duration>,
}

impl Deadline {
    fn new(timeout: Option<Duration>) -> Deadline {
        Deadline {
            at: timeout.and_then(|t| Instant::now().checked_add(t)),
            timeout,
        }
    }

    /// The time left (zero once past), `None` for no deadline.
    fn left(&self) -> Option<Duration> {
        self.at.map(|d| d.saturating_duration_since(Instant::now()))
    }

    fn secs(&self) -> f64 {
        self.timeout.map_or(f64::INFINITY, |t| t.as_secs_f64())
    }
}

/// Runs the blocking `f` with the GIL released, handing it a poll that
/// takes the GIL and runs the signal handlers: an exception from one
/// (KeyboardInterrupt) stops the wait and comes back as `Err(Ok(..))`
/// with the bytes moved before; `f`'s own errors as `Err(Err(..))`.
fn blocking<R: Send>(
    py: Python<'_>,
    f: impl FnOnce(picoring::pipe::Poll<'_>) -> Result<R, PipeError> + Send,
) -> Result<R, Result<(PyErr, usize), PipeError>> {
    let mut raised: Option<PyErr> = None;
    let r = py.detach(|| {
        let mut poll = || {
            Python::attach(|py| match py.check_signals() {
                Ok(()) => true,
                Err(e) => {
                    raised = Some(e);
                    false
                }
            })
        };
        f(Some(&mut poll))
    });
    match (raised, r) {
        (Some(e), r) => Err(Ok((e, r.err().map_or(0, |e| e.done())))),
        (None, r) => r.map_err(Err),
    }
}

/// `err` (an OSError, or KeyboardInterrupt) with `written` set to the bytes
/// written first.
fn with_written(py: Python<'_>, err: PyErr, written: usize) -> PyErr {
    // The attribute is a convenience: the message says it too.
    let _ = err.value(py).setattr("written", written);
    err
}

fn closed_error(class: &str) -> PyErr {
    PyValueError::new_err(format!("I/O operation on a closed {class}"))
}

// --- the writer -------------------------------------------------------------------

impl Class for PipeWriter {
    const NAME: &'static std::ffi::CStr = c"picoring._picoring.PipeWriter";
    const DOC: &'static std::ffi::CStr = c"The writing end of a pipe made by picoring.pipe(): \
        write() blocks while the pipe is full until all of its data is written.";
    type New = args::NoParams;
    type Export = ();
    const NEW: Option<fn(Python<'_>, &Args<'_, '_>) -> PyResult<Self>> = None;
    const SLOTS: Slots<Self> = Slots {
        repr: Some(writer_repr),
        getters: &[(c"closed", writer_closed, c"True after close().")],
        ..Slots::NONE
    };
    fn cell() -> &'static TypeCell {
        &WRITER
    }
    fn methods() -> Vec<Method> {
        type T = PipeWriter;
        vec![
            with_args::<T, DataTimeout, _>(
                c"write",
                c"write($self, data, timeout=None)\n--\n\n\
                Write all of `data` (any C-contiguous buffer), waiting while the pipe is full; \
                return len(data) in bytes. Raises TimeoutError when `timeout` seconds pass first \
                and BrokenPipeError once the reader is closed; the bytes written before stay \
                written (the error's `written` says how many).",
                write,
            ),
            noargs::<T, _>(
                c"close",
                c"close($self, /)\n--\n\n\
                End the stream: the reader reads what was written, then EOF (b'').",
                writer_close,
            ),
            noargs::<T, _>(
                c"capacity",
                c"capacity($self, /)\n--\n\nThe most bytes the pipe holds.",
                writer_capacity,
            ),
            noargs::<T, _>(
                c"free",
                c"free($self, /)\n--\n\nBytes a write could take now without waiting.",
                writer_free,
            ),
            noargs::<T, _>(c"__enter__", c"__enter__($self, /)\n--\n\n", writer_enter),
            noargs::<T, _>(
                c"__reduce__",
                c"__reduce__($self, /)\n--\n\n\
                Pickling, for multiprocessing: only ends of a shared_pipe() pickle (their \
                descriptor is passed along).",
                writer_reduce,
            ),
            with_args::<T, ExitArgs, _>(
                c"__exit__",
                c"__exit__($self, exc_type=None, exc_value=None, traceback=None)\n--\n\n",
                writer_exit,
            ),
        ]
    }
}

fn write<'py>(s: Slf<'_, 'py, PipeWriter>, a: &Args<'_, 'py>) -> Ret<'py> {
    let py = s.py();
    let data = BytesArg::new(rl::arg(a, 0), "data")?;
    let deadline = Deadline::new(timeout(a[1])?);
    if s.end.is_closed() {
        return Err(closed_error("PipeWriter"));
    }
    // A view of this pipe's own bytes is copied first: the core never
    // copies from memory it writes.
    let bytes = data.as_slice();
    let owned;
    let bytes = if s.memory.overlaps(bytes.as_ptr(), bytes.len()) {
        owned = bytes.to_vec();
        &owned[..]
    } else {
        bytes
    };
    let total = bytes.len();
    // What fits now, with the GIL held: most small writes end here.
    let mut done = 0;
    if total < GIL_FREE_COPY {
        done = match s.end.write_now(bytes) {
            Ok(n) => n,
            Err(e) => return Err(write_error(s, e, 0, total, &deadline)),
        };
        if done == total {
            return Ok(args::usize_obj(py, total));
        }
    }
    let rest = &bytes[done..];
    let end = &s.end;
    match blocking(py, |poll| end.write(rest, deadline.left(), poll)) {
        Ok(_) => Ok(args::usize_obj(py, total)),
        // Ctrl-C: KeyboardInterrupt, with what was written all the same.
        Err(Ok((raised, moved))) => Err(with_written(py, raised, done + moved)),
        Err(Err(e)) => Err(write_error(s, e, done, total, &deadline)),
    }
}

fn write_error(
    s: Slf<'_, '_, PipeWriter>,
    e: PipeError,
    before: usize,
    total: usize,
    deadline: &Deadline,
) -> PyErr {
    let written = before + e.done();
    match e {
        PipeError::Closed { .. } if s.end.is_closed() => closed_error("PipeWriter"),
        PipeError::Closed { .. } => with_written(
            s.py(),
            PyBrokenPipeError::new_err((
                32,
                format!(
                    "the pipe's reader is closed: {written} of {total} bytes were written before"
                ),
            )),
            written,
        ),
        PipeError::TimedOut { .. } | PipeError::Interrupted { .. } => with_written(
            s.py(),
            PyTimeoutError::new_err(format!(
                "timed out after {} s with {written} of {total} bytes written (they stay written)",
                deadline.secs()
            )),
            written,
        ),
        PipeError::Corrupt { .. } => with_written(s.py(), corrupt_error(e), written),
    }
}

/// The other process broke the shared header: `OSError(EPROTO)`.
fn corrupt_error(e: PipeError) -> PyErr {
    PyOSError::new_err((71, e.to_string()))
}

fn reader_error(e: PipeError) -> PyErr {
    match e {
        PipeError::Corrupt { .. } => corrupt_error(e),
        other => PyOSError::new_err(other.to_string()),
    }
}

fn writer_close<'py>(s: Slf<'_, 'py, PipeWriter>) -> Ret<'py> {
    s.end.close();
    Ok(args::none(s.py()))
}

fn writer_closed<'py>(s: Slf<'_, 'py, PipeWriter>) -> Ret<'py> {
    Ok(args::boolean(s.py(), s.end.is_closed()))
}

fn writer_capacity<'py>(s: Slf<'_, 'py, PipeWriter>) -> Ret<'py> {
    Ok(args::usize_obj(s.py(), s.end.capacity()))
}

fn writer_free<'py>(s: Slf<'_, 'py, PipeWriter>) -> Ret<'py> {
    Ok(args::usize_obj(s.py(), s.end.free()))
}

fn writer_enter<'py>(s: Slf<'_, 'py, PipeWriter>) -> Ret<'py> {
    if s.end.is_closed() {
        return Err(closed_error("PipeWriter"));
    }
    Ok(s.obj().clone())
}

fn writer_exit<'py>(s: Slf<'_, 'py, PipeWriter>, _a: &Args<'_, 'py>) -> Ret<'py> {
    s.end.close();
    Ok(args::boolean(s.py(), false))
}

fn writer_repr(s: Slf<'_, '_, PipeWriter>) -> String {
    let state = if s.end.is_closed() {
        "closed".to_string()
    } else if s.end.is_broken() {
        "reader closed".to_string()
    } else {
        format!("free={}", s.end.free())
    };
    format!("<PipeWriter capacity={}, {state}>", s.end.capacity())
}

// --- the reader -------------------------------------------------------------------

impl Class for PipeReader {
    const NAME: &'static std::ffi::CStr = c"picoring._picoring.PipeReader";
    const DOC: &'static std::ffi::CStr = c"The reading end of a pipe made by picoring.pipe(): \
        reads block while the pipe is empty; b'' is EOF (the writer closed and everything read). \
        Iterating yields chunks until EOF.";
    type New = args::NoParams;
    type Export = Box<PipeToken>;
    const NEW: Option<fn(Python<'_>, &Args<'_, '_>) -> PyResult<Self>> = None;
    const SLOTS: Slots<Self> = Slots {
        len: Some(reader_len),
        repr: Some(reader_repr),
        iter: Some(reader_iter),
        buffer: Some(ffi::Buffer {
            export: reader_export,
            release: reader_release,
        }),
        getters: &[(c"closed", reader_closed, c"True after close().")],
        ..Slots::NONE
    };
    fn cell() -> &'static TypeCell {
        &READER
    }
    fn methods() -> Vec<Method> {
        type T = PipeReader;
        vec![
            with_args::<T, NTimeout, _>(
                c"read",
                c"read($self, n=-1, timeout=None)\n--\n\n\
                Up to `n` bytes (everything readable for a negative n or None), waiting while the \
                pipe is empty; b'' at EOF. Raises TimeoutError when `timeout` seconds pass with \
                nothing readable.",
                read,
            ),
            with_args::<T, BufferTimeout, _>(
                c"readinto",
                c"readinto($self, buffer, timeout=None)\n--\n\n\
                Move up to len(buffer) bytes into the writable `buffer`, waiting while the pipe is \
                empty; return how many (0 at EOF).",
                readinto,
            ),
            with_args::<T, TimeoutAtLeast, _>(
                c"get_readable_view",
                c"get_readable_view($self, timeout=None, at_least=1)\n--\n\n\
                Wait until at least `at_least` bytes (at most the capacity) are readable, then a \
                read-only memoryview of all readable bytes, in place (no copy); shorter only once \
                the writer is gone, empty at EOF. The writer cannot overwrite them while the view is \
                alive; consume them with advance_tail(n).",
                get_readable_view,
            ),
            with_args::<T, args::N, _>(
                c"advance_tail",
                c"advance_tail($self, n)\n--\n\n\
                Consume `n` readable bytes (after reading them through a view).",
                advance_tail,
            ),
            noargs::<T, _>(
                c"close",
                c"close($self, /)\n--\n\n\
                Stop reading: the writer's next write raises BrokenPipeError.",
                reader_close,
            ),
            noargs::<T, _>(
                c"capacity",
                c"capacity($self, /)\n--\n\nThe most bytes the pipe holds.",
                reader_capacity,
            ),
            noargs::<T, _>(c"__enter__", c"__enter__($self, /)\n--\n\n", reader_enter),
            noargs::<T, _>(
                c"__reduce__",
                c"__reduce__($self, /)\n--\n\n\
                Pickling, for multiprocessing: only ends of a shared_pipe() pickle (their \
                descriptor is passed along).",
                reader_reduce,
            ),
            with_args::<T, ExitArgs, _>(
                c"__exit__",
                c"__exit__($self, exc_type=None, exc_value=None, traceback=None)\n--\n\n",
                reader_exit,
            ),
        ]
    }
}

/// Waits, with the GIL released, until `at_least` bytes (at least one)
/// are readable or EOF; false for EOF.
fn wait_readable(
    s: Slf<'_, '_, PipeReader>,
    at_least: usize,
    deadline: &Deadline,
) -> PyResult<bool> {
    let end = &s.end;
    match blocking(s.py(), |poll| end.wait(at_least, deadline.left(), poll)) {
        Ok(n) => Ok(n > 0),
        Err(Ok((raised, _))) => Err(raised),
        Err(Err(e @ PipeError::Corrupt { .. })) => Err(corrupt_error(e)),
        Err(Err(_)) if at_least > 1 => Err(PyTimeoutError::new_err(format!(
            "fewer than {at_least} bytes to read within {} s ({} readable)",
            deadline.secs(),
            s.end.len()
        ))),
        Err(Err(_)) => Err(PyTimeoutError::new_err(format!(
            "nothing to read within {} s",
            deadline.secs()
        ))),
    }
}

fn read<'py>(s: Slf<'_, 'py, PipeReader>, a: &Args<'_, 'py>) -> Ret<'py> {
    let py = s.py();
    let want = args::io_count(a[0], "n")?.unwrap_or(usize::MAX);
    let deadline = Deadline::new(timeout(a[1])?);
    if s.end.is_closed() {
        return Err(closed_error("PipeReader"));
    }
    if want == 0 {
        return Ok(PyBytes::new(py, b"").into_any());
    }
    loop {
        let k = want.min(s.end.len());
        if k > 0 {
            let end = &s.end;
            let out = ffi::bytes_filled(py, k, |buf| {
                if k >= GIL_FREE_COPY {
                    py.detach(|| end.read_now_uninit(buf))
                } else {
                    end.read_now_uninit(buf)
                }
                .map_err(reader_error)
            })?;
            // Empty only if another thread read them first: wait again.
            if !out.as_bytes().is_empty() {
                return Ok(out.into_any());
            }
        }
        if !wait_readable(s, 1, &deadline)? {
            return Ok(PyBytes::new(py, b"").into_any());
        }
    }
}

fn readinto<'py>(s: Slf<'_, 'py, PipeReader>, a: &Args<'_, 'py>) -> Ret<'py> {
    let py = s.py();
    let mut buf = WritableArg::new(rl::arg(a, 0), "buffer")?;
    let deadline = Deadline::new(timeout(a[1])?);
    if s.end.is_closed() {
        return Err(closed_error("PipeReader"));
    }
    let out = buf.as_mut_slice();
    if out.is_empty() {
        return Ok(args::usize_obj(py, 0));
    }
    loop {
        let n = if out.len().min(s.end.len()) >= GIL_FREE_COPY {
            let end = &s.end;
            let out = &mut *out;
            py.detach(|| end.read_now(out))
        } else {
            s.end.read_now(out)
        }
        .map_err(reader_error)?;
        if n > 0 {
            return Ok(args::usize_obj(py, n));
        }
        if !wait_readable(s, 1, &deadline)? {
            return Ok(args::usize_obj(py, 0));
        }
    }
}

fn get_readable_view<'py>(s: Slf<'_, 'py, PipeReader>, a: &Args<'_, 'py>) -> Ret<'py> {
    let deadline = Deadline::new(timeout(a[0])?);
    let at_least = match a[1] {
        None => 1,
        Some(o) => {
            let n = args::count(o, "at_least")?;
            let capacity = s.end.capacity();
            if n.n > capacity {
                return Err(PyValueError::new_err(format!(
                    "at_least must be at most the capacity, {capacity}, got {}",
                    n.given()
                )));
            }
            n.n
        }
    };
    if s.end.is_closed() {
        return Err(closed_error("PipeReader"));
    }
    if s.end.len() < at_least.max(1) {
        wait_readable(s, at_least, &deadline)?;
    }
    Ok(ffi::memoryview(s.obj())?.into_any())
}

fn advance_tail<'py>(s: Slf<'_, 'py, PipeReader>, a: &Args<'_, 'py>) -> Ret<'py> {
    let n = args::count(rl::arg(a, 0), "n")?;
    if s.end.is_closed() {
        return Err(closed_error("PipeReader"));
    }
    s.end
        .advance_tail(n.n)
        .map_err(|e| args::with_count(e, &n))?;
    Ok(args::none(s.py()))
}

fn reader_export(
    s: Slf<'_, '_, PipeReader>,
    _flags: std::ffi::c_int,
) -> PyResult<ffi::Exported<Box<PipeToken>>> {
    if s.end.is_closed() {
        return Err(closed_error("PipeReader"));
    }
    let (ptr, len, token) = s.end.export_now().map_err(reader_error)?;
    Ok(ffi::Exported {
        ptr: ptr.cast_mut(),
        len,
        readonly: true,
        token: Box::new(token),
    })
}

// The token arrives boxed: that is how it fits in `Py_buffer.internal`.
#[allow(clippy::boxed_local)]
fn reader_release(s: Slf<'_, '_, PipeReader>, token: Box<PipeToken>) {
    s.end.release(*token);
}

fn reader_len(s: Slf<'_, '_, PipeReader>) -> PyResult<usize> {
    Ok(s.end.len())
}

fn reader_close<'py>(s: Slf<'_, 'py, PipeReader>) -> Ret<'py> {
    s.end.close();
    Ok(args::none(s.py()))
}

fn reader_closed<'py>(s: Slf<'_, 'py, PipeReader>) -> Ret<'py> {
    Ok(args::boolean(s.py(), s.end.is_closed()))
}

fn reader_capacity<'py>(s: Slf<'_, 'py, PipeReader>) -> Ret<'py> {
    Ok(args::usize_obj(s.py(), s.end.capacity()))
}

fn reader_enter<'py>(s: Slf<'_, 'py, PipeReader>) -> Ret<'py> {
    if s.end.is_closed() {
        return Err(closed_error("PipeReader"));
    }
    Ok(s.obj().clone())
}

fn reader_exit<'py>(s: Slf<'_, 'py, PipeReader>, _a: &Args<'_, 'py>) -> Ret<'py> {
    s.end.close();
    Ok(args::boolean(s.py(), false))
}

/// `iter(reader)`: chunks until EOF (`iter(reader.read, b"")`).
fn reader_iter<'py>(s: Slf<'_, 'py, PipeReader>) -> Ret<'py> {
    let py = s.py();
    let read = s.obj().getattr("read")?;
    py.import("builtins")?
        .getattr("iter")?
        .call1((read, PyBytes::new(py, b"")))
}

fn reader_repr(s: Slf<'_, '_, PipeReader>) -> String {
    let state = if s.end.is_closed() {
        "closed".to_string()
    } else if s.end.is_writer_closed() {
        format!("len={}, writer closed", s.end.len())
    } else {
        format!("len={}", s.end.len())
    };
    format!("<PipeReader capacity={}, {state}>", s.end.capacity())
}

fn writer_reduce<'py>(s: Slf<'_, 'py, PipeWriter>) -> Ret<'py> {
    reduce(
        s.obj(),
        "writer",
        #[cfg(unix)]
        s.shared.then(|| s.end.share()).flatten(),
    )
}

fn reader_reduce<'py>(s: Slf<'_, 'py, PipeReader>) -> Ret<'py> {
    reduce(
        s.obj(),
        "reader",
        #[cfg(unix)]
        s.shared.then(|| s.end.share()).flatten(),
    )
}
