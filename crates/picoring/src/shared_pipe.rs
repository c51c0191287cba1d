//! A byte pipe whose ring lives in shared memory, usable across processes
//! (Linux): one memfd holds a header page (positions, flags, futex words,
//! the pid of each end) and the data, which each process maps twice, back
//! to back, so that readable bytes are one slice there too.
//!
//! The protocol is single-producer single-consumer: the writer publishes
//! `head` (bytes written), the reader `tail` (bytes it gave back). The
//! writer writes at the published `head` (so a writer end handed to
//! another process, or opened twice, carries on where the last one
//! stopped); the reader keeps its own read position and resumes from
//! `tail` only when another reader object moved it. Every value read from
//! the header is checked against what this side knows (`head - tail`
//! within the capacity, which each side reads once, when it maps the file;
//! `head` never behind the reader): a peer that scribbles on the header
//! can make the pipe fail ([`PipeError::Corrupt`]) or garble its own
//! stream, never make this side touch memory outside its mappings. The
//! file is sealed against shrinking and growing (checked before its size
//! is read), so a peer cannot truncate it under our mappings either (an
//! access past the end of a file is a SIGBUS). The bytes themselves are
//! shared: a peer that breaks the protocol can change bytes this side is
//! reading, or shows in a view; views are stable only against a peer that
//! follows it.
//!
//! Waits first check for up to [`SPIN`], spinning, then are futex waits
//! on a word of the header (`FUTEX_WAIT`, shared),
//! in slices of at most [`PEER_CHECK`]: after each slice the waiter checks
//! that the process holding the other end is alive (a pidfd, polled), so a
//! peer killed mid-stream gives EOF (reader) or [`PipeError::Closed`]
//! (writer) within that time, never a hang. An end belongs to the last
//! process that moved data through it, closed it, or opened it from a
//! descriptor: that is the pid the other side watches (with a pidfd opened
//! as soon as it sees the pid change). Both processes must share a pid
//! namespace (a peer whose pid cannot be found counts as gone); without
//! pidfds (Linux before 5.3) an ended peer not yet reaped by its parent
//! counts as alive.
//!
//! Dropping an end closes it in the process that made it, unless it was
//! shared (its descriptor handed out with [`SharedWriter::share`]): then
//! another process may hold the same end, and only
//! [`close`](SharedWriter::close) or the death of its process ends it. An
//! end opened from a descriptor never closes when dropped, nor does a copy
//! inherited by a forked child.
//!
//! ```
//! let (w, r) = picoring::shared_pipe::shared_pipe(1 << 16).unwrap();
//! // Another process would open `w.share()` (a descriptor) instead.
//! let t = std::thread::spawn(move || {
//!     w.write(&vec![1u8; 1 << 20], None, None).unwrap();
//!     w.close();
//! });
//! let mut buf = vec![0u8; 4096];
//! let mut got = 0;
//! loop {
//!     let n = r.read(&mut buf, None, None).unwrap();
//!     if n == 0 {
//!         break;
//!     }
//!     got += n;
//! }
//! t.join().unwrap();
//! assert_eq!(got, 1 << 20);
//! ```

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::pipe::{deadline, PipeError, Poll, POLL};

/// How long a wait checks its condition, spinning, before it sleeps on
/// the futex: a bounded spin, about what a wake-up costs on a busy
/// machine, so that a wait the peer ends at once costs no system call.
pub const SPIN: Duration = Duration::from_micros(20);

/// Longest futex wait between two checks that the peer is alive.
pub const PEER_CHECK: Duration = Duration::from_millis(100);

const MAGIC: u64 = u64::from_le_bytes(*b"picopip1");

/// What the writer changes.
#[repr(C, align(128))]
struct WriterLine {
    /// Bytes published (free-running).
    head: AtomicU64,
    /// Bumped after each publication and at close: the reader's futex.
    data_seq: AtomicU32,
    /// Writers waiting for space.
    waiting: AtomicU32,
}

/// What the reader changes.
#[repr(C, align(128))]
struct ReaderLine {
    /// Bytes given back to the writer (free-running).
    tail: AtomicU64,
    /// Bumped after each give-back and at close: the writer's futex.
    space_seq: AtomicU32,
    /// Readers waiting for bytes.
    waiting: AtomicU32,
}

/// The first page of the file.
#[repr(C)]
struct Header {
    magic: AtomicU64,
    capacity: AtomicU64,
    writer_pid: AtomicI32,
    reader_pid: AtomicI32,
    writer_closed: AtomicU32,
    reader_closed: AtomicU32,
    w: WriterLine,
    r: ReaderLine,
}

/// One process's mappings of the file: the header, and the data twice.
struct Mapping {
    fd: OwnedFd,
    header: *const Header,
    page: usize,
    data: *mut u8,
    /// Bytes of data memory (a whole number of pages, at least `capacity`).
    data_len: usize,
    capacity: usize,
}

// SAFETY: the mapped memory is shared with other processes anyway: the
// header is only used through atomics, the data only through raw copies
// under the protocol (one writer, one reader), so the pointers may move
// between and be used from threads.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: both ranges are mappings made by `Mapping::map` and
        // unmapped only here; nothing points into them any more (the ends
        // holding this mapping are gone).
        unsafe {
            libc::munmap(self.header as *mut libc::c_void, self.page);
            libc::munmap(self.data.cast(), 2 * self.data_len);
        }
    }
}

fn my_pid() -> i32 {
    std::process::id() as i32
}

impl Mapping {
    fn header(&self) -> &Header {
        // SAFETY: the header page stays mapped while `self` lives; it is
        // only used through atomics (other processes write it too).
        unsafe { &*self.header }
    }

    fn create(capacity: usize) -> Result<Mapping> {
        if capacity == 0 {
            return Err(Error::ZeroCapacity);
        }
        let page = crate::page_size();
        let data_len = crate::mirror::round_to_pages(capacity).ok_or(Error::CapacityTooLarge {
            requested: capacity,
            max: crate::MAX_CAPACITY,
        })?;
        // SAFETY: a valid NUL-terminated name and valid flags.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_memfd_create,
                c"picoring-pipe".as_ptr(),
                (libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) as libc::c_uint,
            )
        } as libc::c_int;
        if fd < 0 {
            return Err(Error::os("memfd_create", capacity));
        }
        // SAFETY: a new descriptor, owned by no one else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let size = (page + data_len) as libc::off_t;
        // SAFETY: a valid descriptor of ours.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
            return Err(Error::os("ftruncate", capacity));
        }
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(Error::os("fcntl(F_ADD_SEALS)", capacity));
        }
        let m = Mapping::map(fd, page, data_len, capacity)?;
        let h = m.header();
        h.capacity.store(capacity as u64, SeqCst);
        h.writer_pid.store(my_pid(), SeqCst);
        h.reader_pid.store(my_pid(), SeqCst);
        h.magic.store(MAGIC, SeqCst);
        Ok(m)
    }

    /// Maps a file made by [`Mapping::create`], in this or another process.
    fn open(fd: OwnedFd) -> Result<Mapping> {
        let bad = |reason: String| Error::NotASharedPipe { reason };
        let page = crate::page_size();
        // SAFETY: a valid descriptor; F_GET_SEALS takes no argument.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        let needed = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;
        if seals < 0 || seals & needed != needed {
            return Err(bad(format!(
                "its size is not sealed (seals {seals:#x}): it was not made by shared_pipe()"
            )));
        }
        // The size, read only once it can no longer change.
        // SAFETY: an all-zero `stat` is a valid value to be overwritten.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid descriptor and a `stat` of ours to fill.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(Error::os("fstat", 0));
        }
        let size = usize::try_from(st.st_size).unwrap_or(0);
        if size <= page || size % page != 0 || size - page > crate::MAX_CAPACITY {
            return Err(bad(format!("a file of {size} bytes")));
        }
        let data_len = size - page;
        let m = Mapping::map(fd, page, data_len, 1)?;
        let h = m.header();
        if h.magic.load(SeqCst) != MAGIC {
            return Err(bad("no shared pipe header".to_string()));
        }
        let capacity = h.capacity.load(SeqCst);
        if capacity == 0 || capacity > data_len as u64 {
            return Err(bad(format!(
                "capacity {capacity} in a file of {data_len} data bytes"
            )));
        }
        let mut m = m;
        m.capacity = capacity as usize;
        Ok(m)
    }

    fn map(fd: OwnedFd, page: usize, data_len: usize, capacity: usize) -> Result<Mapping> {
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        // SAFETY: a new shared mapping of the file's first page, which
        // exists (the file is at least a page longer, and sealed).
        let header = unsafe {
            libc::mmap(
                ptr::null_mut(),
                page,
                rw,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if header == libc::MAP_FAILED {
            return Err(Error::os("mmap", page));
        }
        let anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        // SAFETY: a new reservation of address space, nothing in it yet.
        let base =
            unsafe { libc::mmap(ptr::null_mut(), 2 * data_len, libc::PROT_NONE, anon, -1, 0) };
        if base == libc::MAP_FAILED {
            let e = Error::os("mmap", 2 * data_len);
            // SAFETY: the header mapping made above.
            unsafe { libc::munmap(header, page) };
            return Err(e);
        }
        for half in 0..2 {
            // SAFETY: MAP_FIXED over our own reservation (half of it), with
            // the file's data pages, which exist: the file is sealed at
            // `page + data_len` bytes.
            let p = unsafe {
                libc::mmap(
                    base.cast::<u8>().add(half * data_len).cast(),
                    data_len,
                    rw,
                    libc::MAP_SHARED | libc::MAP_FIXED,
                    fd.as_raw_fd(),
                    page as libc::off_t,
                )
            };
            if p == libc::MAP_FAILED {
                let e = Error::os("mmap", data_len);
                // SAFETY: our two mappings, unmapped once.
                unsafe {
                    libc::munmap(base, 2 * data_len);
                    libc::munmap(header, page);
                }
                return Err(e);
            }
        }
        Ok(Mapping {
            fd,
            header: header.cast(),
            page,
            data: base.cast(),
            data_len,
            capacity,
        })
    }

    /// Where position `pos` is in the data memory.
    fn at(&self, pos: u64) -> *mut u8 {
        // SAFETY: the remainder is below `data_len`, inside the first of
        // the two mappings.
        unsafe { self.data.add((pos % self.data_len as u64) as usize) }
    }

    /// `head - tail`, if it is a possible fill level.
    fn fill(&self, head: u64, tail: u64) -> Option<usize> {
        let n = head.checked_sub(tail)?;
        (n <= self.capacity as u64).then_some(n as usize)
    }
}

fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` is a live, aligned u32 (in shared memory, hence no
    // FUTEX_PRIVATE_FLAG); the call only reads it and sleeps.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
            ptr::null::<u32>(),
            0u32,
        )
    };
}

fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: as in `futex_wait`; waking has no other effect.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            ptr::null::<libc::timespec>(),
            ptr::null::<u32>(),
            0u32,
        )
    };
}

/// Bumps a futex word and wakes its waiters if there are any.
fn notify(seq: &AtomicU32, waiting: &AtomicU32) {
    seq.fetch_add(1, SeqCst);
    if waiting.load(SeqCst) != 0 {
        futex_wake_all(seq);
    }
}

/// Watches the process holding the other end.
struct PeerWatch {
    pid: i32,
    pidfd: Option<OwnedFd>,
    dead: bool,
}

impl PeerWatch {
    fn new() -> Mutex<PeerWatch> {
        Mutex::new(PeerWatch {
            pid: 0,
            pidfd: None,
            dead: false,
        })
    }

    /// False once the process `pid` has ended (or cannot exist). A pid of
    /// 0 (none) or of this process counts as alive: the end's state says
    /// the rest.
    fn alive(&mut self, pid: i32) -> bool {
        if pid == 0 || pid == my_pid() {
            return true;
        }
        if pid != self.pid {
            self.pid = pid;
            self.pidfd = None;
            self.dead = false;
            if pid < 0 {
                self.dead = true;
                return false;
            }
            // SAFETY: pidfd_open takes a pid and flags, returns a new fd.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int;
            if fd >= 0 {
                // SAFETY: a new descriptor, owned by no one else.
                self.pidfd = Some(unsafe { OwnedFd::from_raw_fd(fd) });
            } else if std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
                self.dead = true;
            }
        }
        if self.dead {
            return false;
        }
        match &self.pidfd {
            Some(fd) => {
                let mut p = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one pollfd of ours, no wait. A pidfd is readable
                // once its process has ended.
                let n = unsafe { libc::poll(&mut p, 1, 0) };
                self.dead = n > 0;
            }
            None => {
                // No pidfd (kernels before 5.3): signal 0 (a zombie counts
                // as alive until it is reaped).
                // SAFETY: kill with signal 0 only checks that `pid` exists.
                let r = unsafe { libc::kill(self.pid, 0) };
                self.dead =
                    r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
            }
        }
        !self.dead
    }
}

/// What each end keeps to itself.
struct Local {
    /// Own position: `head` for the writer, `tail` (consumed) for the reader.
    pos: u64,
    /// For the reader: the position given back (at most `pos`, held back
    /// by pins).
    released: u64,
    /// For the reader: the start of every live export, with its count.
    pins: BTreeMap<u64, usize>,
    closed: bool,
    /// The fork generation this end last claimed its role in.
    generation: u64,
    /// The process that may close the end by dropping it; `None` once
    /// shared, or for an end opened from a descriptor.
    closes_on_drop: Option<i32>,
    /// The process this state was last used in.
    pid: i32,
}

struct End {
    map: Arc<Mapping>,
    local: Mutex<Local>,
    watch: Mutex<PeerWatch>,
    /// The pid `watch` last looked at.
    watched: AtomicI32,
    is_writer: bool,
}

/// An end's own state, locked, with forks held off meanwhile (the guard
/// is dropped first).
struct Held<'a> {
    guard: MutexGuard<'a, Local>,
    _hold: crate::ForkHold,
}

impl std::ops::Deref for Held<'_> {
    type Target = Local;
    fn deref(&self) -> &Local {
        &self.guard
    }
}

impl std::ops::DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut Local {
        &mut self.guard
    }
}

enum Wait {
    Ready,
    TimedOut,
    Interrupted,
    PeerGone,
}

impl End {
    fn new(map: Arc<Mapping>, is_writer: bool, pos: u64, opened: bool) -> End {
        let generation = crate::fork::generation();
        let end = End {
            local: Mutex::new(Local {
                pos,
                released: pos,
                pins: BTreeMap::new(),
                closed: false,
                generation,
                closes_on_drop: (!opened).then(my_pid),
                pid: my_pid(),
            }),
            map,
            watch: PeerWatch::new(),
            watched: AtomicI32::new(0),
            is_writer,
        };
        if opened {
            end.claim_now();
        }
        end
    }

    fn h(&self) -> &Header {
        self.map.header()
    }

    fn own_pid(&self) -> &AtomicI32 {
        if self.is_writer {
            &self.h().writer_pid
        } else {
            &self.h().reader_pid
        }
    }

    fn peer_pid(&self) -> &AtomicI32 {
        if self.is_writer {
            &self.h().reader_pid
        } else {
            &self.h().writer_pid
        }
    }

    fn claim_now(&self) {
        self.own_pid().store(my_pid(), SeqCst);
    }

    /// Locks this end's own state, claiming the role for this process
    /// first if it forked since it last did.
    ///
    /// An end takes its position from the header when another end object
    /// (in this process or another) moved it since: the writer always
    /// writes at the published `head`, the reader, when it pins nothing,
    /// reads from the `tail` given back. So ends handed from process to
    /// process (or opened twice) carry on where the last one stopped, as
    /// long as one at a time is used.
    /// It also notices a close of this same end by another end object
    /// (the header's flag), and holds forks off while it is held: a child
    /// never inherits it locked by a thread it does not have (copies run
    /// under it).
    fn lock(&self) -> Held<'_> {
        let hold = crate::hold_off_fork();
        let mut l = self.local.lock().unwrap_or_else(|e| e.into_inner());
        let h = self.h();
        let own_closed = if self.is_writer {
            &h.writer_closed
        } else {
            &h.reader_closed
        };
        if own_closed.load(SeqCst) != 0 {
            l.closed = true;
        }
        if self.is_writer {
            l.pos = h.w.head.load(SeqCst);
        } else {
            let t = h.r.tail.load(SeqCst);
            if t != l.released && (l.pins.is_empty() || t > l.released) {
                // Another reader object moved on (past this one's pins,
                // if it has any: the bytes they show may be reused).
                l.pins.clear();
                (l.pos, l.released) = (t, t);
            }
        }
        Held {
            guard: l,
            _hold: hold,
        }
    }

    /// [`End::lock`] for a call that moves data or closes: it takes the
    /// role for this process if the process forked since this end last
    /// did (queries and drops never do, so a parent that only looks at
    /// its copy leaves the role with the child that uses it).
    ///
    /// In a forked child, the views the parent had open are not the
    /// child's to release: their pins are dropped there, so that they
    /// cannot hold the writer back for ever (those views are not stable in
    /// the child). And when the other end changed hands, its new process
    /// is watched from now on (a pidfd opened at once, not at the next
    /// wait, when the pid could already be another process's).
    fn lock_to_use(&self) -> Held<'_> {
        let mut l = self.lock();
        let generation = crate::fork::generation();
        if l.generation != generation {
            l.generation = generation;
            self.claim_now();
            if l.pid != my_pid() {
                l.pid = my_pid();
                // Given back from where the parent had read to (not from
                // its oldest pin: those bytes were consumed).
                if !l.pins.is_empty() {
                    l.pins.clear();
                    l.released = l.pos;
                    let h = self.h();
                    h.r.tail.fetch_max(l.pos, SeqCst);
                    notify(&h.r.space_seq, &h.w.waiting);
                }
            }
        }
        if self.peer_pid().load(SeqCst) != self.watched.load(SeqCst) {
            self.peer_alive();
        }
        l
    }

    fn peer_alive(&self) -> bool {
        let pid = self.peer_pid().load(SeqCst);
        let _hold = crate::hold_off_fork();
        let alive = self
            .watch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .alive(pid);
        self.watched.store(pid, SeqCst);
        alive
    }

    /// Waits on `seq` until `ready()` (checked after announcing the wait),
    /// the deadline, `poll` says stop, or the peer's process is gone.
    fn wait(
        &self,
        seq: &AtomicU32,
        waiting: &AtomicU32,
        deadline: Option<Instant>,
        poll: &mut Poll<'_>,
        mut ready: impl FnMut() -> bool,
    ) -> Wait {
        // A peer that is running mostly makes `ready()` true within
        // microseconds: check for up to `SPIN` (never past the deadline)
        // before sleeping, which spares both sides a system call (the
        // notifier sees no waiter) and this side a wake-up's latency.
        let spin_end = Instant::now() + SPIN;
        let spin_end = deadline.map_or(spin_end, |d| d.min(spin_end));
        loop {
            if ready() {
                return Wait::Ready;
            }
            if Instant::now() >= spin_end {
                break;
            }
            for _ in 0..64 {
                std::hint::spin_loop();
            }
        }
        loop {
            waiting.fetch_add(1, SeqCst);
            let seen = seq.load(SeqCst);
            if ready() {
                waiting.fetch_sub(1, SeqCst);
                return Wait::Ready;
            }
            let mut slice = PEER_CHECK;
            if poll.is_some() {
                slice = slice.min(POLL);
            }
            if let Some(d) = deadline {
                let now = Instant::now();
                if now >= d {
                    waiting.fetch_sub(1, SeqCst);
                    return Wait::TimedOut;
                }
                slice = slice.min(d - now);
            }
            futex_wait(seq, seen, slice);
            waiting.fetch_sub(1, SeqCst);
            if ready() {
                return Wait::Ready;
            }
            if !self.peer_alive() {
                return Wait::PeerGone;
            }
            if let Some(p) = poll.as_mut() {
                if !p() {
                    return Wait::Interrupted;
                }
            }
        }
    }

    fn close(&self) {
        let mut l = self.lock_to_use();
        l.closed = true;
        drop(l);
        let h = self.h();
        if self.is_writer {
            h.writer_closed.store(1, SeqCst);
        } else {
            h.reader_closed.store(1, SeqCst);
        }
        // Both words: the other end waits on one, a thread blocked on this
        // end (closed under it) on the other.
        notify(&h.w.data_seq, &h.r.waiting);
        notify(&h.r.space_seq, &h.w.waiting);
    }

    /// Marks the end as shared: dropping it no longer closes it.
    fn share(&self) -> BorrowedFd<'_> {
        self.lock().closes_on_drop = None;
        use std::os::fd::AsFd;
        self.map.fd.as_fd()
    }

    fn drop_end(&self) {
        let l = self.lock();
        let unshared = l.closes_on_drop == Some(my_pid());
        let ours = self.own_pid().load(SeqCst) == my_pid();
        let closed = l.closed;
        drop(l);
        if unshared && ours && !closed {
            self.close();
        }
    }
}

/// Makes a shared pipe of `capacity` bytes: the writing and the reading
/// end, both in this process until one is opened elsewhere from its
/// descriptor ([`SharedWriter::share`], [`SharedWriter::open`]).
///
/// # Errors
/// [`Error::ZeroCapacity`], [`Error::CapacityTooLarge`], or the system's
/// refusal of the file or its mappings.
pub fn shared_pipe(capacity: usize) -> Result<(SharedWriter, SharedReader)> {
    crate::fork::install_handlers();
    let map = Arc::new(Mapping::create(capacity)?);
    Ok((
        SharedWriter {
            end: End::new(Arc::clone(&map), true, 0, false),
        },
        SharedReader {
            end: End::new(map, false, 0, false),
        },
    ))
}

/// The writing end of a [`shared_pipe`].
pub struct SharedWriter {
    end: End,
}

/// The reading end of a [`shared_pipe`].
pub struct SharedReader {
    end: End,
}

/// A view of readable bytes in place, from [`SharedReader::export_now`]:
/// its bytes are pinned (the writer cannot reuse them) until it is given
/// back with [`SharedReader::release`].
#[derive(Debug)]
pub struct SharedExport {
    start: u64,
    ptr: *const u8,
    len: usize,
}

// SAFETY: a position and an address in a mapping that the reader keeps;
// the export is only a token (read through `as_ptr` under its contract).
unsafe impl Send for SharedExport {}

impl SharedExport {
    /// Where the bytes start (valid while the export is live and its
    /// reader alive).
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr
    }
    /// How many bytes it shows.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True if it shows none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The token as one number (the position it starts at).
    pub fn into_raw(self) -> u64 {
        self.start
    }
}

fn corrupt(done: usize, head: u64, tail: u64) -> PipeError {
    PipeError::Corrupt { done, head, tail }
}

impl SharedWriter {
    /// Opens the writing end of a shared pipe from a descriptor of its
    /// file (from [`SharedWriter::share`], passed to this process).
    ///
    /// # Errors
    /// [`Error::NotASharedPipe`] if the file is not one; the system's
    /// refusal of a mapping.
    pub fn open(fd: OwnedFd) -> Result<SharedWriter> {
        crate::fork::install_handlers();
        let map = Arc::new(Mapping::open(fd)?);
        let head = map.header().w.head.load(SeqCst);
        Ok(SharedWriter {
            end: End::new(map, true, head, true),
        })
    }

    /// The file's descriptor, to pass to another process; from now on,
    /// dropping this end does not close it.
    pub fn share(&self) -> BorrowedFd<'_> {
        self.end.share()
    }

    /// Writes what fits of `data` now, without waiting; returns how many
    /// bytes that was.
    ///
    /// # Errors
    /// [`PipeError::Closed`] once either end is closed (`done: 0`), and
    /// [`PipeError::Corrupt`] if the header makes no sense.
    pub fn write_now(&self, data: &[u8]) -> std::result::Result<usize, PipeError> {
        let m = &*self.end.map;
        let h = m.header();
        let mut l = self.end.lock_to_use();
        if l.closed || h.reader_closed.load(SeqCst) != 0 {
            return Err(PipeError::Closed { done: 0 });
        }
        let head = l.pos;
        let tail = h.r.tail.load(SeqCst);
        let fill = m.fill(head, tail).ok_or(corrupt(0, head, tail))?;
        let n = data.len().min(m.capacity - fill);
        if n == 0 {
            return Ok(0);
        }
        // Free space (the reader gave it back), which only this writer
        // writes; `data` is the caller's memory (the bindings copy a slice
        // of this pipe's own memory first).
        // SAFETY: `n <= capacity <= data_len` bytes from an offset below
        // `data_len`: inside the two mappings; see above.
        unsafe { ptr::copy_nonoverlapping(data.as_ptr(), m.at(head), n) };
        l.pos = head + n as u64;
        h.w.head.store(l.pos, SeqCst);
        drop(l);
        notify(&h.w.data_seq, &h.r.waiting);
        Ok(n)
    }

    /// Writes all of `data`, waiting while the pipe is full.
    ///
    /// # Errors
    /// As [`crate::pipe::PipeWriter::write`], each with the bytes written
    /// first; [`PipeError::Closed`] also when the reader's process has
    /// ended; [`PipeError::Corrupt`] if the header makes no sense.
    pub fn write(
        &self,
        data: &[u8],
        timeout: Option<Duration>,
        mut poll: Poll<'_>,
    ) -> std::result::Result<usize, PipeError> {
        let deadline = deadline(timeout);
        let mut done = 0;
        let m = &*self.end.map;
        let h = m.header();
        loop {
            done += self.write_now(&data[done..]).map_err(|e| e.after(done))?;
            if done == data.len() {
                return Ok(done);
            }
            let head = self.end.lock().pos;
            let room = || {
                h.reader_closed.load(SeqCst) != 0
                    || h.writer_closed.load(SeqCst) != 0
                    || m.fill(head, h.r.tail.load(SeqCst)) != Some(m.capacity)
            };
            match self
                .end
                .wait(&h.r.space_seq, &h.w.waiting, deadline, &mut poll, room)
            {
                Wait::Ready => {}
                Wait::TimedOut => return Err(PipeError::TimedOut { done }),
                Wait::Interrupted => return Err(PipeError::Interrupted { done }),
                Wait::PeerGone => return Err(PipeError::Closed { done }),
            }
        }
    }

    /// Ends the stream: the reader gets what was written, then EOF.
    pub fn close(&self) {
        self.end.close();
    }

    /// True once this end is closed.
    pub fn is_closed(&self) -> bool {
        self.end.lock().closed
    }

    /// True once the reader is closed.
    pub fn is_broken(&self) -> bool {
        self.end.h().reader_closed.load(SeqCst) != 0
    }

    /// Bytes a write could take now without waiting (0 if the header makes
    /// no sense).
    pub fn free(&self) -> usize {
        let m = &*self.end.map;
        let head = self.end.lock().pos;
        m.fill(head, m.header().r.tail.load(SeqCst))
            .map_or(0, |f| m.capacity - f)
    }

    /// Bytes the pipe holds at most.
    pub fn capacity(&self) -> usize {
        self.end.map.capacity
    }

    /// Where the data memory starts and how many bytes its two mappings
    /// span, in this process.
    pub fn memory(&self) -> (*const u8, usize) {
        (self.end.map.data, 2 * self.end.map.data_len)
    }
}

impl Drop for SharedWriter {
    fn drop(&mut self) {
        self.end.drop_end();
    }
}

impl SharedReader {
    /// Opens the reading end from a descriptor of the pipe's file.
    ///
    /// # Errors
    /// As [`SharedWriter::open`].
    pub fn open(fd: OwnedFd) -> Result<SharedReader> {
        crate::fork::install_handlers();
        let map = Arc::new(Mapping::open(fd)?);
        let tail = map.header().r.tail.load(SeqCst);
        Ok(SharedReader {
            end: End::new(map, false, tail, true),
        })
    }

    /// The file's descriptor, to pass to another process; from now on,
    /// dropping this end does not close it.
    pub fn share(&self) -> BorrowedFd<'_> {
        self.end.share()
    }

    /// Readable bytes now, checked: `Err` if the header makes no sense.
    fn readable(&self, l: &Local) -> std::result::Result<usize, PipeError> {
        let m = &*self.end.map;
        let head = m.header().w.head.load(SeqCst);
        // The writer may not overwrite what was not given back, so `head`
        // is at most `released + capacity`, and never behind `pos`.
        if head < l.pos || m.fill(head, l.released).is_none() {
            return Err(corrupt(0, head, l.pos));
        }
        Ok((head - l.pos) as usize)
    }

    /// Gives back to the writer what is consumed and not pinned.
    fn give_back(&self, l: &mut Local) {
        let to = l.pins.keys().next().map_or(l.pos, |&p| p.min(l.pos));
        if to > l.released {
            l.released = to;
            let h = self.end.h();
            // Never backwards, whatever another reader object did.
            h.r.tail.fetch_max(to, SeqCst);
            notify(&h.r.space_seq, &h.w.waiting);
        }
    }

    /// Bytes readable now (0 if the header makes no sense).
    pub fn len(&self) -> usize {
        let l = self.end.lock();
        if l.closed {
            return 0;
        }
        self.readable(&l).unwrap_or(0)
    }

    /// True when nothing is readable now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves up to `out.len()` readable bytes into `out` now, without
    /// waiting; returns how many.
    ///
    /// # Errors
    /// [`PipeError::Corrupt`] if the header makes no sense.
    pub fn read_now(&self, out: &mut [u8]) -> std::result::Result<usize, PipeError> {
        // SAFETY: `u8` and `MaybeUninit<u8>` have one layout; `take` only
        // writes initialised bytes into it.
        let out = unsafe {
            std::slice::from_raw_parts_mut(
                out.as_mut_ptr().cast::<std::mem::MaybeUninit<u8>>(),
                out.len(),
            )
        };
        self.read_now_uninit(out)
    }

    /// As [`SharedReader::read_now`], into memory not yet initialised.
    ///
    /// # Errors
    /// As [`SharedReader::read_now`].
    pub fn read_now_uninit(
        &self,
        out: &mut [std::mem::MaybeUninit<u8>],
    ) -> std::result::Result<usize, PipeError> {
        let mut l = self.end.lock_to_use();
        if l.closed {
            return Ok(0);
        }
        let n = self.readable(&l)?.min(out.len());
        if n > 0 {
            // SAFETY: `n <= capacity <= data_len` bytes from an offset
            // below `data_len`: inside the mappings; published by the writer
            // (its release store of `head`, read above) and not given back,
            // so the writer does not write them; `out` is the caller's.
            unsafe {
                ptr::copy_nonoverlapping(self.end.map.at(l.pos), out.as_mut_ptr().cast::<u8>(), n)
            };
            l.pos += n as u64;
            self.give_back(&mut l);
        }
        Ok(n)
    }

    /// Waits until at least `at_least` bytes are readable (at least one
    /// for 0) or the stream has ended; returns how many are readable (0:
    /// EOF: the writer closed or its process ended, and everything was
    /// read; or this end is closed; fewer than `at_least` once the writer
    /// is gone). An `at_least` above the capacity could never be met:
    /// callers check it.
    ///
    /// # Errors
    /// [`PipeError::TimedOut`], [`PipeError::Interrupted`],
    /// [`PipeError::Corrupt`].
    pub fn wait(
        &self,
        at_least: usize,
        timeout: Option<Duration>,
        mut poll: Poll<'_>,
    ) -> std::result::Result<usize, PipeError> {
        let want = at_least.max(1);
        let deadline = deadline(timeout);
        let h = self.end.h();
        let mut bad = None;
        let ready = || {
            let l = self.end.lock();
            match self.readable(&l) {
                Ok(n) => n >= want || l.closed || h.writer_closed.load(SeqCst) != 0,
                Err(e) => {
                    bad = Some(e);
                    true
                }
            }
        };
        let w = self
            .end
            .wait(&h.w.data_seq, &h.r.waiting, deadline, &mut poll, ready);
        if let Some(e) = bad {
            return Err(e);
        }
        let l = self.end.lock();
        let n = if l.closed { 0 } else { self.readable(&l)? };
        match w {
            Wait::Ready | Wait::PeerGone => Ok(n),
            Wait::TimedOut => Err(PipeError::TimedOut { done: 0 }),
            Wait::Interrupted => Err(PipeError::Interrupted { done: 0 }),
        }
    }

    /// Moves up to `out.len()` bytes into `out`, waiting while the pipe is
    /// empty; 0 at EOF.
    ///
    /// # Errors
    /// As [`SharedReader::wait`].
    pub fn read(
        &self,
        out: &mut [u8],
        timeout: Option<Duration>,
        mut poll: Poll<'_>,
    ) -> std::result::Result<usize, PipeError> {
        let deadline = deadline(timeout);
        loop {
            let n = self.read_now(out)?;
            if n > 0 || out.is_empty() {
                return Ok(n);
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if self.wait(
                1,
                left,
                poll.as_deref_mut().map(|p| p as &mut dyn FnMut() -> bool),
            )? == 0
            {
                return Ok(0);
            }
        }
    }

    /// Exports everything readable now, in place: those bytes are pinned
    /// until the export is given back with [`SharedReader::release`].
    ///
    /// # Errors
    /// [`PipeError::Corrupt`] if the header makes no sense.
    pub fn export_now(&self) -> std::result::Result<SharedExport, PipeError> {
        let mut l = self.end.lock_to_use();
        let len = if l.closed { 0 } else { self.readable(&l)? };
        let start = l.pos;
        *l.pins.entry(start).or_insert(0) += 1;
        Ok(SharedExport {
            start,
            ptr: self.end.map.at(start),
            len,
        })
    }

    /// Gives an export back (from [`SharedExport::into_raw`]); false if no
    /// live export starts there.
    pub fn release(&self, raw: u64) -> bool {
        let mut l = self.end.lock_to_use();
        let Some(count) = l.pins.get_mut(&raw) else {
            return false;
        };
        *count -= 1;
        if *count == 0 {
            l.pins.remove(&raw);
        }
        self.give_back(&mut l);
        true
    }

    /// Consumes `n` readable bytes (after reading them in place).
    ///
    /// # Errors
    /// [`Error::OutOfRange`] for more than are readable.
    pub fn advance_tail(&self, n: usize) -> Result<()> {
        let mut l = self.end.lock_to_use();
        let readable = if l.closed {
            0
        } else {
            self.readable(&l).unwrap_or(0)
        };
        if n > readable {
            return Err(Error::OutOfRange {
                arg: "n",
                requested: n,
                limit: readable,
                what: "the readable bytes",
            });
        }
        l.pos += n as u64;
        self.give_back(&mut l);
        Ok(())
    }

    /// Stops reading: the writer's next write fails with
    /// [`PipeError::Closed`].
    pub fn close(&self) {
        self.end.close();
    }

    /// True once this end is closed.
    pub fn is_closed(&self) -> bool {
        self.end.lock().closed
    }

    /// True once the writer closed (its bytes may still be readable).
    pub fn is_writer_closed(&self) -> bool {
        self.end.h().writer_closed.load(SeqCst) != 0
    }

    /// Bytes the pipe holds at most.
    pub fn capacity(&self) -> usize {
        self.end.map.capacity
    }

    /// Where the data memory starts and how many bytes its two mappings
    /// span, in this process.
    pub fn memory(&self) -> (*const u8, usize) {
        (self.end.map.data, 2 * self.end.map.data_len)
    }
}

impl Drop for SharedReader {
    fn drop(&mut self) {
        self.end.drop_end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn dup(fd: BorrowedFd<'_>) -> OwnedFd {
        fd.try_clone_to_owned().unwrap()
    }

    /// Forks a child that runs `f` and exits with its code (an alarm ends
    /// it after 20 s).
    fn fork_child(f: impl FnOnce() -> i32) -> libc::pid_t {
        // SAFETY: the child runs only `f` (no locks held by other threads
        // are needed: tests here use no shared locks in the child) and
        // exits with `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: alarm and _exit are async-signal-safe.
            unsafe { libc::alarm(20) };
            let code = f();
            // SAFETY: as above.
            unsafe { libc::_exit(code) };
        }
        pid
    }

    fn reap(pid: libc::pid_t) -> i32 {
        let mut status = 0;
        // SAFETY: our child, a status of ours to fill.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        status
    }

    fn byte(i: u64) -> u8 {
        (i % 251) as u8
    }

    #[test]
    fn every_byte_once_in_order_across_threads() {
        let (w, r) = shared_pipe(10_000).unwrap();
        let total = 20_000_000u64;
        let t = std::thread::spawn(move || {
            let (mut sent, mut k) = (0u64, 1u64);
            while sent < total {
                let n = k.min(total - sent);
                let chunk: Vec<u8> = (sent..sent + n).map(byte).collect();
                assert_eq!(w.write(&chunk, None, None), Ok(n as usize));
                sent += n;
                k = k * 7 % 30_011 + 1;
            }
            w.close();
        });
        let (mut got, mut buf) = (0u64, vec![0u8; 7777]);
        loop {
            let n = r
                .read(&mut buf, Some(Duration::from_secs(60)), None)
                .unwrap();
            if n == 0 {
                break;
            }
            for (j, &b) in buf[..n].iter().enumerate() {
                assert_eq!(b, byte(got + j as u64), "byte {}", got + j as u64);
            }
            got += n as u64;
        }
        t.join().unwrap();
        assert_eq!(got, total);
    }

    #[test]
    fn a_writer_process_that_exits_gives_eof_after_its_bytes() {
        let (w, r) = shared_pipe(4096).unwrap();
        let total = 5_000_000u64;
        let child = fork_child(|| {
            let data: Vec<u8> = (0..total).map(byte).collect();
            match w.write(&data, Some(Duration::from_secs(15)), None) {
                Ok(_) => 0, // exits without closing: its death ends the stream
                Err(_) => 1,
            }
        });
        let (mut got, mut buf) = (0u64, vec![0u8; 5000]);
        let t0 = Instant::now();
        loop {
            let n = r
                .read(&mut buf, Some(Duration::from_secs(15)), None)
                .unwrap();
            if n == 0 {
                break;
            }
            assert!(buf[..n]
                .iter()
                .enumerate()
                .all(|(j, &b)| b == byte(got + j as u64)));
            got += n as u64;
        }
        assert_eq!(got, total);
        assert!(t0.elapsed() < Duration::from_secs(10));
        assert_eq!(reap(child), 0);
    }

    #[test]
    fn a_killed_writer_gives_eof_within_a_second() {
        let (w, r) = shared_pipe(4096).unwrap();
        let child = fork_child(|| {
            w.write(b"before", None, None).unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        let mut buf = [0u8; 100];
        let n = r
            .read(&mut buf, Some(Duration::from_secs(10)), None)
            .unwrap();
        assert_eq!(&buf[..n], b"before");
        // SAFETY: our child.
        unsafe { libc::kill(child, libc::SIGKILL) };
        let t0 = Instant::now();
        assert_eq!(r.read(&mut buf, Some(Duration::from_secs(10)), None), Ok(0));
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
        reap(child);
    }

    #[test]
    fn a_killed_reader_breaks_a_blocked_writer_within_a_second() {
        let (w, r) = shared_pipe(4096).unwrap();
        let child = fork_child(|| {
            let mut buf = [0u8; 10];
            r.read(&mut buf, None, None).unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        w.write(b"x", None, None).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: our child.
        unsafe { libc::kill(child, libc::SIGKILL) };
        let t0 = Instant::now();
        let e = w
            .write(&[0; 10_000], Some(Duration::from_secs(10)), None)
            .unwrap_err();
        assert!(matches!(e, PipeError::Closed { done: 4096 }), "{e:?}");
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
        reap(child);
    }

    #[test]
    fn closing_a_blocked_end_from_another_thread_wakes_it_at_once() {
        let (w, r) = shared_pipe(100).unwrap();
        let w = Arc::new(w);
        let w2 = Arc::clone(&w);
        let t = std::thread::spawn(move || {
            let t0 = Instant::now();
            (
                w2.write(&[1; 300], Some(Duration::from_secs(10)), None),
                t0.elapsed(),
            )
        });
        std::thread::sleep(Duration::from_millis(50));
        w.close();
        let (res, took) = t.join().unwrap();
        assert_eq!(res, Err(PipeError::Closed { done: 100 }));
        assert!(
            took < Duration::from_millis(90),
            "woken by the close, not a slice: {took:?}"
        );
        drop(r);
    }

    #[test]
    fn a_close_by_another_object_of_the_same_end_is_seen() {
        let (w, r) = shared_pipe(100).unwrap();
        let w2 = SharedWriter::open(dup(w.share())).unwrap();
        w2.close();
        assert!(w.is_closed());
        assert_eq!(w.write_now(b"late"), Err(PipeError::Closed { done: 0 }));
        let r2 = SharedReader::open(dup(r.share())).unwrap();
        r2.close();
        assert!(r.is_closed());
        assert_eq!(r.read_now(&mut [0; 4]), Ok(0));
    }

    #[test]
    fn a_forked_reader_does_not_keep_the_parents_pins() {
        let (w, r) = shared_pipe(100).unwrap();
        let bytes: Vec<u8> = (0..100).collect();
        w.write(&bytes, None, None).unwrap();
        let view = r.export_now().unwrap(); // pinned in the parent
        r.advance_tail(60).unwrap(); // consumed, still pinned
        let child = fork_child(|| {
            let mut buf = [0u8; 100];
            match r.read(&mut buf, Some(Duration::from_secs(5)), None) {
                // The 40 bytes the parent had not consumed, once.
                Ok(40) if buf[0] == 60 && buf[39] == 99 => 0,
                _ => 1,
            }
        });
        assert_eq!(reap(child), 0);
        // The child read and gave everything back, the parent's view
        // notwithstanding: the writer has room again.
        assert_eq!(
            w.write(&[2; 100], Some(Duration::from_secs(5)), None),
            Ok(100)
        );
        // The child's reads moved the published tail past the parent's pin:
        // the parent's copy of the reader follows, and the pin is void
        // (the writer may already have reused those bytes).
        assert!(!r.release(view.into_raw()));
        assert_eq!(
            r.len(),
            100,
            "the parent's copy reads on from the child's position"
        );
    }

    #[test]
    fn a_fork_during_copies_never_leaves_an_end_locked_in_the_child() {
        let (w, r) = shared_pipe(4 << 20).unwrap();
        let (w, r) = (Arc::new(w), Arc::new(r));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let copier = {
            let (w, r, stop) = (Arc::clone(&w), Arc::clone(&r), Arc::clone(&stop));
            std::thread::spawn(move || {
                let (data, mut out) = (vec![3u8; 1 << 20], vec![0u8; 1 << 20]);
                while !stop.load(SeqCst) {
                    w.write_now(&data).unwrap();
                    r.read_now(&mut out).unwrap();
                }
            })
        };
        for _ in 0..20 {
            // The child only locks both ends (and exits): it hangs, and
            // its alarm kills it, if it inherited a lock held mid-copy.
            let child = fork_child(|| {
                let _ = (w.free(), r.len());
                0
            });
            let status = reap(child);
            assert!(libc::WIFEXITED(status), "the child hung: status {status}");
        }
        stop.store(true, SeqCst);
        copier.join().unwrap();
    }

    #[test]
    fn ends_opened_from_a_descriptor_talk_to_the_others() {
        let (w, r) = shared_pipe(1000).unwrap();
        let r2 = SharedReader::open(dup(r.share())).unwrap();
        assert_eq!(r2.capacity(), 1000);
        w.write(b"hello", None, None).unwrap();
        let mut buf = [0u8; 10];
        assert_eq!(r2.read(&mut buf, None, None), Ok(5));
        assert_eq!(&buf[..5], b"hello");
        let w2 = SharedWriter::open(dup(w.share())).unwrap();
        w2.write(b"!", None, None).unwrap();
        drop(w2); // opened: dropping does not close
        w.write(b"?", None, None).unwrap();
        assert_eq!(r2.read(&mut buf, None, None), Ok(2));
        assert_eq!(&buf[..2], b"!?");
    }

    #[test]
    fn dropping_an_unshared_writer_closes_it() {
        let (w, r) = shared_pipe(100).unwrap();
        w.write(b"ab", None, None).unwrap();
        drop(w);
        let mut buf = [0u8; 10];
        assert_eq!(r.read(&mut buf, None, None), Ok(2));
        assert_eq!(r.read(&mut buf, Some(Duration::from_secs(5)), None), Ok(0));
        let (w, r) = shared_pipe(100).unwrap();
        let _ = r.share();
        drop(r);
        assert_eq!(
            w.write(b"x", Some(Duration::from_millis(10)), None),
            Ok(1),
            "a shared reader stays open when dropped"
        );
    }

    #[test]
    fn a_view_pins_its_bytes_and_timeouts_keep_what_was_written() {
        let (w, r) = shared_pipe(100).unwrap();
        w.write(&[5; 60], None, None).unwrap();
        let e = r.export_now().unwrap();
        assert_eq!(e.len(), 60);
        r.advance_tail(60).unwrap();
        assert_eq!(
            w.write(&[6; 100], Some(Duration::from_millis(50)), None),
            Err(PipeError::TimedOut { done: 40 })
        );
        let mut shown = [0u8; 60];
        // SAFETY: a live export: 60 readable bytes in our mapping.
        unsafe { ptr::copy_nonoverlapping(e.as_ptr(), shown.as_mut_ptr(), 60) };
        assert_eq!(shown, [5; 60]);
        assert!(r.release(e.into_raw()));
        assert!(!r.release(0), "released once");
        assert_eq!(
            w.write(&[7; 60], Some(Duration::from_secs(1)), None),
            Ok(60)
        );
        assert!(r.advance_tail(101).is_err());
        let mut buf = [0u8; 100];
        assert_eq!(r.read(&mut buf, None, None), Ok(100));
        assert_eq!(&buf[..40], &[6; 40]);
        assert_eq!(
            r.read(&mut buf, Some(Duration::from_millis(30)), None),
            Err(PipeError::TimedOut { done: 0 })
        );
        r.close();
        assert_eq!(
            w.write(b"z", None, None),
            Err(PipeError::Closed { done: 0 })
        );
    }

    #[test]
    fn a_scribbled_header_fails_the_pipe_and_never_reads_outside() {
        let (w, r) = shared_pipe(4096).unwrap();
        w.write(b"abc", None, None).unwrap();
        let h = w.end.h();
        let mut buf = vec![0u8; 1 << 16];
        for bad_head in [3 + 4097, u64::MAX, 1 << 40] {
            h.w.head.store(bad_head, SeqCst);
            assert!(matches!(
                r.read(&mut buf, None, None),
                Err(PipeError::Corrupt { .. })
            ));
            assert!(matches!(r.export_now(), Err(PipeError::Corrupt { .. })));
            assert_eq!(r.len(), 0);
        }
        h.w.head.store(3, SeqCst);
        assert_eq!(r.read(&mut buf, None, None), Ok(3));
        for bad_tail in [4, u64::MAX] {
            h.r.tail.store(bad_tail, SeqCst);
            assert!(matches!(
                w.write(b"x", None, None),
                Err(PipeError::Corrupt { .. })
            ));
            assert_eq!(w.free(), 0);
        }
        // A capacity larger than the file: refused when opened.
        h.capacity.store(1 << 40, SeqCst);
        let e = SharedReader::open(dup(r.share())).err().unwrap();
        assert!(
            e.to_string()
                .contains("capacity 1099511627776 in a file of"),
            "{e}"
        );
        h.magic.store(0, SeqCst);
        assert!(SharedWriter::open(dup(w.share())).is_err());
    }

    #[test]
    fn a_file_that_is_not_a_shared_pipe_is_refused() {
        let f = crate::sys::anon_file(8 * crate::page_size()).unwrap();
        let e = SharedReader::open(f).err().unwrap();
        assert!(e.to_string().contains("not sealed"), "{e}");
        assert!(matches!(shared_pipe(0), Err(Error::ZeroCapacity)));
        let _ = dup(std::io::stdin().as_fd());
    }
}
