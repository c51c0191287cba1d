//! Operation sequences on every type of the crate, each checked step by
//! step against a model that predicts the result of every call: a
//! `VecDeque` plus the pins and the grant for `Ring`, `Queue` and
//! `ByteStream`, a `Vec` plus its exports for `PicoList`. Shared by the
//! proptest suite (`tests/model.rs`) and the fuzz targets (`fuzz/`), which
//! only generate the operations: a failed check is an `Err` naming what
//! differed.
//!
//! Nothing is skipped: views are exported while a grant is open, grants
//! are published in part, pushed to while open (empty pushes included),
//! released before and after publishing, and every refused call is checked
//! to have changed nothing.
//!
//! Counts are `u16` so that generated sequences stay small whatever the
//! generator; capacities around the page size make sequences cross the
//! end of the memory many times.

use std::collections::VecDeque;
use std::io::{BufRead, Read, Write};

use picoring::{ByteStream, Error, GrantExport, ListExport, PicoList, Queue, ReadExport, Ring};

/// `Err` with the failed check and where it is.
pub type Outcome = Result<(), String>;

macro_rules! ensure {
    ($cond:expr) => {
        if !$cond {
            return Err(format!(
                "check failed: {} (line {})",
                stringify!($cond),
                line!()
            ));
        }
    };
}

macro_rules! ensure_eq {
    ($left:expr, $right:expr) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err(format!(
                "{} != {} (line {}): {:?} vs {:?}",
                stringify!($left),
                stringify!($right),
                line!(),
                l,
                r
            ));
        }
    }};
}

fn read_raw(ptr: *const u8, len: usize) -> Vec<u8> {
    // SAFETY: callers pass the pointer and length of a live export, which
    // the ring keeps valid while it lives.
    unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec()
}

// --- the model of a ring: contents, pins, grant ------------------------------

/// What the model knows of the open grant.
#[derive(Debug, Clone)]
struct GrantModel {
    len: usize,
    /// Which grant export it is (index into `RingModel::grants`), or `None`
    /// for a borrowed `WriteChunk`.
    export: Option<usize>,
}

/// A grant export that is still live, and what the model expects of it.
struct LiveGrant {
    export: GrantExport,
    /// The head when it was made: where it pins.
    start: u64,
    /// The bytes written into it so far (its first `written.len()` bytes).
    written: Vec<u8>,
    /// Set once published: the bytes published, which its pin protects.
    published: Option<Vec<u8>>,
}

/// A readable export and the bytes it showed when made.
struct LiveRead {
    export: ReadExport,
    start: u64,
    snapshot: Vec<u8>,
}

/// The model of a ring's state machine, and the live exports of the ring
/// under test.
#[derive(Default)]
struct RingModel {
    capacity: usize,
    data: VecDeque<u8>,
    head: u64,
    tail: u64,
    /// Start positions of live exports, readable and grant.
    pins: Vec<u64>,
    grant: Option<GrantModel>,
    reads: Vec<LiveRead>,
    /// Live grant exports, by index; `None` once released.
    grants: Vec<Option<LiveGrant>>,
}

/// What must not change across a refused call.
#[derive(Debug, PartialEq)]
struct Snapshot {
    len: usize,
    head: u64,
    free: usize,
    grant: Option<usize>,
    exports: usize,
    data: Vec<u8>,
}

fn snapshot(ring: &Ring) -> Snapshot {
    Snapshot {
        len: ring.len(),
        head: ring.head(),
        free: ring.free(),
        grant: ring.grant_len(),
        exports: ring.live_exports(),
        data: ring.as_slice().to_vec(),
    }
}

impl RingModel {
    fn new(capacity: usize) -> Self {
        RingModel {
            capacity,
            ..RingModel::default()
        }
    }

    fn floor(&self) -> u64 {
        self.pins
            .iter()
            .copied()
            .min()
            .map_or(self.tail, |p| p.min(self.tail))
    }

    fn room(&self) -> usize {
        self.capacity - (self.head - self.floor()) as usize
    }

    fn free(&self) -> usize {
        if self.grant.is_some() {
            0
        } else {
            self.room()
        }
    }

    fn push(&mut self, d: &[u8]) {
        self.data.extend(d);
        self.head += d.len() as u64;
    }

    fn consume(&mut self, n: usize) -> Vec<u8> {
        self.tail += n as u64;
        self.data.drain(..n).collect()
    }

    fn unpin(&mut self, start: u64) {
        let i = self.pins.iter().position(|&p| p == start).expect("pinned");
        self.pins.swap_remove(i);
    }

    /// Publishes `k` bytes of the open grant whose bytes are `bytes`.
    fn publish(&mut self, k: usize, bytes: &[u8]) {
        let g = self.grant.take().expect("a grant is open");
        self.push(&bytes[..k]);
        if let Some(i) = g.export {
            let live = self.grants[i].as_mut().expect("live");
            live.published = Some(bytes[..k].to_vec());
        }
    }

    /// Checks the ring against the model, and every live export against
    /// what it must still show.
    fn check(&self, ring: &Ring) -> Outcome {
        ensure_eq!(ring.len(), self.data.len());
        ensure_eq!(ring.is_empty(), self.data.is_empty());
        ensure_eq!(ring.is_full(), self.data.len() == self.capacity);
        ensure!(!ring.is_lost());
        ensure_eq!(ring.head(), self.head);
        ensure_eq!(ring.tail(), self.tail);
        let want: Vec<u8> = self.data.iter().copied().collect();
        ensure_eq!(ring.as_slice(), &want[..]);
        ensure_eq!(ring.free(), self.free());
        ensure_eq!(ring.grant_len(), self.grant.as_ref().map(|g| g.len));
        ensure_eq!(ring.live_exports(), self.pins.len());
        // G2: no live readable view ever changes.
        for r in &self.reads {
            ensure_eq!(read_raw(r.export.as_ptr(), r.export.len()), r.snapshot);
        }
        for g in self.grants.iter().flatten() {
            let now = read_raw(g.export.as_mut_ptr(), g.export.len());
            match &g.published {
                // What a published grant's view showed stays, pinned.
                Some(p) => ensure_eq!(&now[..p.len()], &p[..]),
                // The ring never writes into an open grant.
                None => ensure_eq!(&now[..g.written.len()], &g.written[..]),
            }
        }
        ensure!(ring.len() + ring.free() <= self.capacity);
        Ok(())
    }
}

// --- Ring ------------------------------------------------------------------

/// One step on a [`Ring`].
#[derive(Debug, Clone)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum RingOp {
    Push(u8),
    PushSlice(Vec<u8>),
    PushPartial(Vec<u8>),
    PushOverwrite(Vec<u8>),
    Pop,
    PopInto(u16),
    /// `pop_into_uninit` into a buffer of this size.
    PopIntoUninit(u16),
    AdvanceTail(u16),
    Clear,
    /// A borrowed grant of `n` bytes (all free space for `None`): writes
    /// the bytes, then commits `k` (or drops the chunk for `None`).
    Chunk(Option<u16>, Vec<u8>, Option<u16>),
    ExportRead,
    /// Opens and exports the grant (`None`: all free space), writing the
    /// bytes into it.
    ExportGrant(Option<u16>, Vec<u8>),
    /// Writes more bytes into the open exported grant, after what is there.
    WriteGrant(Vec<u8>),
    /// `advance_head(k)`: within the open grant, past it, or with none.
    Publish(u16),
    /// `advance_head` by the grant's length plus 1 + extra: always refused.
    PublishTooMuch(u16),
    /// Releases the live export with this index (modulo their number).
    Release(u8),
}

/// Runs `ops` on a ring of `capacity` bytes and on the model; after every
/// step the two agree on every observable, no live view changed, and
/// refused calls changed nothing.
pub fn check_ring(capacity: usize, ops: &[RingOp]) -> Outcome {
    let mut ring = Ring::with_capacity(capacity).map_err(|e| e.to_string())?;
    ensure_eq!(ring.capacity(), capacity);
    let mut m = RingModel::new(capacity);
    for op in ops {
        let before = snapshot(&ring);
        let mut refused = false;
        match op {
            RingOp::Push(b) => {
                let ok = ring.push(*b);
                ensure_eq!(ok, m.free() >= 1);
                if ok {
                    m.push(&[*b]);
                }
                refused = !ok;
            }
            RingOp::PushSlice(d) => {
                let ok = ring.push_slice(d);
                ensure_eq!(ok, d.len() <= m.free());
                if ok {
                    m.push(d);
                }
                refused = !ok || d.is_empty();
            }
            RingOp::PushPartial(d) => {
                let n = ring.push_partial(d);
                ensure_eq!(n, d.len().min(m.free()));
                m.push(&d[..n]);
                refused = n == 0;
            }
            RingOp::PushOverwrite(d) => {
                let r = ring.push_overwrite(d);
                if d.is_empty() {
                    ensure!(matches!(r, Ok(0)));
                    refused = true;
                } else if let Some(g) = &m.grant {
                    ensure!(matches!(r, Err(Error::GrantOpen { len, .. }) if len == g.len));
                    refused = true;
                } else {
                    let keep = &d[d.len().saturating_sub(capacity)..];
                    let new_head = m.head + keep.len() as u64;
                    let needed_tail = new_head.saturating_sub(capacity as u64);
                    if m.pins.iter().any(|&p| p < needed_tail) {
                        ensure!(matches!(r, Err(Error::Pinned { .. })));
                        refused = true;
                    } else {
                        let dropped = needed_tail.saturating_sub(m.tail) as usize;
                        ensure_eq!(
                            r.map_err(|e| e.to_string())?,
                            d.len() - keep.len() + dropped
                        );
                        m.consume(dropped);
                        m.push(keep);
                    }
                }
            }
            RingOp::Pop => {
                let got = ring.pop();
                ensure_eq!(got, m.data.front().copied());
                if got.is_some() {
                    m.consume(1);
                }
            }
            RingOp::PopInto(n) => {
                let mut out = vec![0; usize::from(*n)];
                let got = ring.pop_into(&mut out);
                ensure_eq!(got, out.len().min(m.data.len()));
                let expect = m.consume(got);
                ensure_eq!(&out[..got], &expect[..]);
            }
            RingOp::PopIntoUninit(n) => {
                let mut out = vec![std::mem::MaybeUninit::<u8>::uninit(); usize::from(*n)];
                let got = ring.pop_into_uninit(&mut out);
                ensure_eq!(got, out.len().min(m.data.len()));
                let out: Vec<u8> = out[..got]
                    .iter()
                    .map(|b| {
                        // SAFETY: the call initialised the first `got` elements.
                        unsafe { b.assume_init() }
                    })
                    .collect();
                let expect = m.consume(got);
                ensure_eq!(out, expect);
            }
            RingOp::AdvanceTail(n) => {
                let n = usize::from(*n);
                let r = ring.advance_tail(n);
                ensure_eq!(r.is_ok(), n <= m.data.len());
                if r.is_ok() {
                    m.consume(n);
                } else {
                    refused = true;
                }
            }
            RingOp::Clear => {
                ring.clear();
                let n = m.data.len();
                m.consume(n);
            }
            RingOp::Chunk(n, d, commit) => {
                let n = n.map(usize::from);
                let room = m.room();
                let open = m.grant.as_ref().map(|g| g.len);
                match ring.grant(n) {
                    Ok(mut chunk) => {
                        ensure!(open.is_none());
                        ensure_eq!(chunk.len(), n.unwrap_or(room));
                        let k = d.len().min(chunk.len());
                        chunk[..k].copy_from_slice(&d[..k]);
                        let bytes = chunk.to_vec();
                        match commit.map(usize::from) {
                            Some(c) if c <= bytes.len() => {
                                chunk.commit(c).map_err(|e| e.to_string())?;
                                m.grant = Some(GrantModel {
                                    len: bytes.len(),
                                    export: None,
                                });
                                m.publish(c, &bytes);
                            }
                            Some(c) => ensure!(chunk.commit(c).is_err()),
                            None => drop(chunk),
                        }
                        // Whatever happened, the chunk is gone and no grant
                        // is open; abandoned bytes were not published.
                    }
                    Err(Error::GrantOpen { len, .. }) => {
                        ensure_eq!(Some(len), open);
                        refused = true;
                    }
                    Err(Error::OutOfRange { limit, .. }) => {
                        ensure!(open.is_none() && limit == room && n.unwrap_or(0) > room);
                        refused = true;
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            RingOp::ExportRead => {
                let e = ring.export_readable();
                let snap = read_raw(e.as_ptr(), e.len());
                let want: Vec<u8> = m.data.iter().copied().collect();
                ensure_eq!(snap, want);
                m.pins.push(m.tail);
                m.reads.push(LiveRead {
                    export: e,
                    start: m.tail,
                    snapshot: snap,
                });
            }
            RingOp::ExportGrant(n, d) => {
                let n = n.map(usize::from);
                let room = m.room();
                let open = m.grant.as_ref().map(|g| g.len);
                match ring.export_grant(n) {
                    Ok(e) => {
                        ensure!(open.is_none());
                        ensure_eq!(e.len(), n.unwrap_or(room));
                        let k = d.len().min(e.len());
                        // SAFETY: the open grant's bytes are ours to write.
                        unsafe { std::ptr::copy_nonoverlapping(d.as_ptr(), e.as_mut_ptr(), k) };
                        m.pins.push(m.head);
                        m.grant = Some(GrantModel {
                            len: e.len(),
                            export: Some(m.grants.len()),
                        });
                        m.grants.push(Some(LiveGrant {
                            export: e,
                            start: m.head,
                            written: d[..k].to_vec(),
                            published: None,
                        }));
                    }
                    Err(Error::GrantOpen { len, .. }) => {
                        ensure_eq!(Some(len), open);
                        refused = true;
                    }
                    Err(Error::OutOfRange { limit, .. }) => {
                        ensure!(open.is_none() && limit == room && n.unwrap_or(0) > room);
                        refused = true;
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            RingOp::WriteGrant(d) => {
                if let Some(GrantModel {
                    export: Some(i), ..
                }) = m.grant
                {
                    let g = m.grants[i]
                        .as_mut()
                        .expect("an open grant's export is live");
                    let at = g.written.len();
                    let k = d.len().min(g.export.len() - at);
                    // SAFETY: `at + k <= len` bytes of the open grant.
                    unsafe {
                        std::ptr::copy_nonoverlapping(d.as_ptr(), g.export.as_mut_ptr().add(at), k)
                    };
                    g.written.extend(&d[..k]);
                }
            }
            RingOp::Publish(k) => {
                let k = usize::from(*k);
                let r = ring.advance_head(k);
                match m.grant.clone() {
                    Some(g) if k <= g.len => {
                        r.map_err(|e| e.to_string())?;
                        // The bytes published are the grant's bytes now:
                        // what was written, then whatever the memory held.
                        let bytes = match g.export {
                            Some(i) => {
                                let e = &m.grants[i].as_ref().expect("live").export;
                                let bytes = read_raw(e.as_mut_ptr(), e.len());
                                let written = &m.grants[i].as_ref().expect("live").written;
                                ensure_eq!(&bytes[..written.len()], &written[..]);
                                bytes
                            }
                            None => unreachable!("chunks are committed in their step"),
                        };
                        m.publish(k, &bytes);
                    }
                    Some(_) => {
                        ensure!(matches!(r, Err(Error::OutOfRange { .. })));
                        refused = true;
                    }
                    None => {
                        ensure_eq!(r.is_ok(), k == 0);
                        refused = true;
                    }
                }
            }
            RingOp::PublishTooMuch(extra) => {
                let len = m.grant.as_ref().map_or(0, |g| g.len);
                let r = ring.advance_head(len + 1 + usize::from(*extra));
                ensure!(matches!(r, Err(Error::OutOfRange { limit, .. }) if limit == len));
                refused = true;
            }
            RingOp::Release(i) => {
                let live = m.reads.len() + m.grants.iter().flatten().count();
                if live > 0 {
                    let mut i = usize::from(*i) % live;
                    if i < m.reads.len() {
                        let r = m.reads.remove(i);
                        ensure!(ring.release(r.export));
                        m.unpin(r.start);
                    } else {
                        i -= m.reads.len();
                        let slot = m
                            .grants
                            .iter()
                            .enumerate()
                            .filter(|(_, g)| g.is_some())
                            .nth(i)
                            .map(|(k, _)| k)
                            .expect("counted above");
                        let g = m.grants[slot].take().expect("live");
                        let was_open = m.grant.as_ref().is_some_and(|o| o.export == Some(slot));
                        let start = g.start;
                        ensure_eq!(ring.release_grant(g.export), was_open);
                        if was_open {
                            m.grant = None;
                        }
                        m.unpin(start);
                    }
                }
            }
        }
        if refused {
            ensure_eq!(snapshot(&ring), before);
        }
        m.check(&ring)?;
    }
    Ok(())
}

// --- Queue -------------------------------------------------------------------

/// One step on a [`Queue`].
#[derive(Debug, Clone)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum QueueOp {
    /// Reserves exactly `n` bytes, exported, and writes the bytes into them.
    Reserve(u16, Vec<u8>),
    /// Reserves `n` bytes as a borrowed chunk, writes, commits `k` (or
    /// drops the chunk for `None`).
    ReserveChunk(u16, Vec<u8>, Option<u16>),
    /// Commits `k` bytes of the open reservation (or with none open).
    Commit(u16),
    /// Commits more than reserved: must fail and change nothing.
    CommitTooMuch(u16),
    /// Drops the `n` oldest bytes.
    Consume(u16),
    Push(u8),
    Pop,
    PushSlice(Vec<u8>),
    PopInto(u16),
    ExportRead,
    /// Releases the live export with this index (modulo their number).
    ReleaseView(u8),
}

/// Runs `ops` on a queue of `capacity` bytes and on the model.
pub fn check_queue(capacity: usize, ops: &[QueueOp]) -> Outcome {
    let mut q = Queue::with_capacity(capacity).map_err(|e| e.to_string())?;
    let mut m = RingModel::new(capacity);
    for op in ops {
        let before = snapshot(q.as_ring());
        let mut refused = false;
        match op {
            QueueOp::Reserve(n, d) => {
                let n = usize::from(*n);
                let open = m.grant.as_ref().map(|g| g.len);
                match q.export_reserve(n) {
                    Ok(Some(e)) => {
                        ensure!(open.is_none() && n <= m.room() && n <= capacity);
                        ensure_eq!(e.len(), n);
                        let k = d.len().min(n);
                        // SAFETY: the reservation's bytes are ours to write.
                        unsafe { std::ptr::copy_nonoverlapping(d.as_ptr(), e.as_mut_ptr(), k) };
                        m.pins.push(m.head);
                        m.grant = Some(GrantModel {
                            len: n,
                            export: Some(m.grants.len()),
                        });
                        m.grants.push(Some(LiveGrant {
                            export: e,
                            start: m.head,
                            written: d[..k].to_vec(),
                            published: None,
                        }));
                    }
                    Ok(None) => {
                        ensure!(open.is_none() && n > m.room() && n <= capacity);
                        refused = true;
                    }
                    Err(Error::OutOfRange { limit, .. }) => {
                        ensure!(n > capacity && limit == capacity);
                        refused = true;
                    }
                    Err(e @ Error::GrantOpen { .. }) => {
                        ensure!(n <= capacity && open.is_some());
                        ensure!(e.to_string().contains("commit(n)"));
                        refused = true;
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            QueueOp::ReserveChunk(n, d, commit) => {
                let n = usize::from(*n);
                let open = m.grant.as_ref().map(|g| g.len);
                let room = m.room();
                match q.reserve(n) {
                    Ok(Some(mut chunk)) => {
                        ensure!(open.is_none() && n <= room);
                        ensure_eq!(chunk.len(), n);
                        let k = d.len().min(n);
                        chunk[..k].copy_from_slice(&d[..k]);
                        let bytes = chunk.to_vec();
                        match commit.map(usize::from) {
                            Some(c) if c <= n => {
                                chunk.commit(c).map_err(|e| e.to_string())?;
                                m.grant = Some(GrantModel {
                                    len: n,
                                    export: None,
                                });
                                m.publish(c, &bytes);
                            }
                            Some(c) => ensure!(chunk.commit(c).is_err()),
                            None => drop(chunk),
                        }
                    }
                    Ok(None) => {
                        ensure!(open.is_none() && n > room && n <= capacity);
                        refused = true;
                    }
                    Err(Error::OutOfRange { .. }) => {
                        ensure!(n > capacity);
                        refused = true;
                    }
                    Err(Error::GrantOpen { len, .. }) => {
                        ensure_eq!(Some(len), open);
                        refused = true;
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            QueueOp::Commit(k) => {
                let k = usize::from(*k);
                let r = q.commit(k);
                match m.grant.clone() {
                    Some(GrantModel {
                        len,
                        export: Some(i),
                    }) if k <= len => {
                        r.map_err(|e| e.to_string())?;
                        let e = &m.grants[i].as_ref().expect("live").export;
                        let bytes = read_raw(e.as_mut_ptr(), e.len());
                        m.publish(k, &bytes);
                    }
                    Some(_) => {
                        ensure!(r.is_err());
                        refused = true;
                    }
                    None => {
                        ensure_eq!(r.is_ok(), k == 0);
                        refused = true;
                    }
                }
            }
            QueueOp::CommitTooMuch(extra) => {
                let len = m.grant.as_ref().map_or(0, |g| g.len);
                ensure!(q.commit(len + 1 + usize::from(*extra)).is_err());
                refused = true;
            }
            QueueOp::Consume(n) => {
                let n = usize::from(*n);
                ensure_eq!(q.release(n).is_ok(), n <= m.data.len());
                if n <= m.data.len() {
                    m.consume(n);
                } else {
                    refused = true;
                }
            }
            QueueOp::Push(b) => {
                let ok = q.push(*b);
                ensure_eq!(ok, m.free() >= 1);
                if ok {
                    m.push(&[*b]);
                }
                refused = !ok;
            }
            QueueOp::Pop => {
                let got = q.pop();
                ensure_eq!(got, m.data.front().copied());
                if got.is_some() {
                    m.consume(1);
                }
            }
            QueueOp::PushSlice(d) => {
                let ok = q.push_slice(d);
                ensure_eq!(ok, d.len() <= m.free());
                if ok {
                    m.push(d);
                }
                refused = !ok || d.is_empty();
            }
            QueueOp::PopInto(n) => {
                let mut out = vec![0; usize::from(*n)];
                let k = q.pop_into(&mut out);
                ensure_eq!(k, out.len().min(m.data.len()));
                let expect = m.consume(k);
                ensure_eq!(&out[..k], &expect[..]);
            }
            QueueOp::ExportRead => {
                let e = q.as_ring_mut().export_readable();
                let snap = read_raw(e.as_ptr(), e.len());
                m.pins.push(m.tail);
                m.reads.push(LiveRead {
                    export: e,
                    start: m.tail,
                    snapshot: snap,
                });
            }
            QueueOp::ReleaseView(i) => {
                let live = m.reads.len() + m.grants.iter().flatten().count();
                if live > 0 {
                    let i = usize::from(*i) % live;
                    if i < m.reads.len() {
                        let r = m.reads.remove(i);
                        ensure!(q.as_ring_mut().release(r.export));
                        m.unpin(r.start);
                    } else {
                        let slot = m
                            .grants
                            .iter()
                            .enumerate()
                            .filter(|(_, g)| g.is_some())
                            .nth(i - m.reads.len())
                            .map(|(k, _)| k)
                            .expect("counted above");
                        let g = m.grants[slot].take().expect("live");
                        let was_open = m.grant.as_ref().is_some_and(|o| o.export == Some(slot));
                        ensure_eq!(q.release_reservation(g.export), was_open);
                        if was_open {
                            m.grant = None;
                        }
                        m.unpin(g.start);
                    }
                }
            }
        }
        if refused {
            ensure_eq!(snapshot(q.as_ring()), before);
        }
        ensure_eq!(q.len(), m.data.len());
        ensure_eq!(q.is_empty(), m.data.is_empty());
        ensure_eq!(q.capacity(), capacity);
        m.check(q.as_ring())?;
    }
    Ok(())
}

// --- ByteStream ----------------------------------------------------------------

/// One step on a [`ByteStream`].
#[derive(Debug, Clone)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum StreamOp {
    Write(Vec<u8>),
    Read(u16),
    /// `fill_buf`, then `consume(n)` of what it showed.
    FillConsume(u16),
    Flush,
    Clear,
    ExportRead,
    /// Releases the live export with this index (modulo their number).
    Release(u8),
    Close,
}

/// Runs `ops` on a stream of `capacity` bytes and on the model.
pub fn check_stream(capacity: usize, ops: &[StreamOp]) -> Outcome {
    let mut s = ByteStream::with_capacity(capacity).map_err(|e| e.to_string())?;
    let mut m = RingModel::new(capacity);
    let mut closed = false;
    for op in ops {
        let before = snapshot(s.as_ring());
        match op {
            StreamOp::Write(d) => match s.write_partial(d) {
                Ok(k) => {
                    ensure!(!closed);
                    ensure_eq!(k, d.len().min(m.free()));
                    m.push(&d[..k]);
                }
                Err(Error::Closed) => ensure!(closed),
                Err(e) => return Err(e.to_string()),
            },
            StreamOp::Read(n) => {
                let mut out = vec![0; usize::from(*n)];
                match s.read(&mut out) {
                    Ok(k) => {
                        ensure!(!closed);
                        ensure_eq!(k, out.len().min(m.data.len()));
                        let expect = m.consume(k);
                        ensure_eq!(&out[..k], &expect[..]);
                    }
                    Err(_) => ensure!(closed),
                }
            }
            StreamOp::FillConsume(n) => match s.fill_buf() {
                Ok(buf) => {
                    let buf = buf.to_vec();
                    let want: Vec<u8> = m.data.iter().copied().collect();
                    ensure_eq!(buf, want);
                    let k = usize::from(*n).min(buf.len());
                    s.consume(k);
                    m.consume(k);
                }
                Err(_) => ensure!(closed),
            },
            StreamOp::Flush => ensure_eq!(s.flush().is_ok(), !closed),
            StreamOp::Clear => match s.clear() {
                Ok(()) => {
                    let n = m.data.len();
                    m.consume(n);
                }
                Err(Error::Closed) => ensure!(closed),
                Err(e) => return Err(e.to_string()),
            },
            StreamOp::ExportRead => match s.export_readable() {
                Ok(e) => {
                    let snap = read_raw(e.as_ptr(), e.len());
                    m.pins.push(m.tail);
                    m.reads.push(LiveRead {
                        export: e,
                        start: m.tail,
                        snapshot: snap,
                    });
                }
                Err(Error::Closed) => ensure!(closed),
                Err(e) => return Err(e.to_string()),
            },
            StreamOp::Release(i) => {
                if !m.reads.is_empty() {
                    let r = m.reads.remove(usize::from(*i) % m.reads.len());
                    ensure!(s.release(r.export));
                    m.unpin(r.start);
                }
            }
            StreamOp::Close => {
                s.close();
                closed = true;
            }
        }
        if closed {
            ensure!(s.available_to_read().is_err() && s.available_to_write().is_err());
        } else {
            ensure_eq!(s.available_to_read().ok(), Some(m.data.len()));
            ensure_eq!(s.available_to_write().ok(), Some(m.free()));
        }
        if closed && !matches!(op, StreamOp::Release(_)) {
            ensure_eq!(snapshot(s.as_ring()), before);
        }
        m.check(s.as_ring())?;
    }
    Ok(())
}

// --- PicoList ------------------------------------------------------------------

/// One step on a [`PicoList`].
#[derive(Debug, Clone)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum ListOp {
    Extend(Vec<u8>),
    /// Appends `n` bytes counting up from the given one.
    ExtendFill(u16, u8),
    Push(u8),
    Pop,
    Set(u16, u8),
    Truncate(u16),
    Get(u16),
    Reserve(u16),
    Clear,
    Export,
    /// Releases the live export with this index (modulo their number).
    Release(u8),
}

/// Runs `ops` on a list and on a `Vec`; after every step they hold the same
/// bytes, live exports show what they showed, refused calls change nothing,
/// and the items never move while an export is live.
pub fn check_list(ops: &[ListOp]) -> Outcome {
    let mut list = PicoList::new();
    let mut model: Vec<u8> = Vec::new();
    // Live exports and the bytes they showed.
    let mut live: Vec<(ListExport, Vec<u8>)> = Vec::new();
    for op in ops {
        let shown = live.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
        let before = list.as_slice().to_vec();
        match op {
            ListOp::Extend(d) => {
                list.extend_from_slice(d).map_err(|e| e.to_string())?;
                model.extend(d);
            }
            ListOp::ExtendFill(n, fill) => {
                let d: Vec<u8> = (0..*n).map(|k| fill.wrapping_add(k as u8)).collect();
                list.extend_from_slice(&d).map_err(|e| e.to_string())?;
                model.extend(&d);
            }
            ListOp::Push(b) => {
                list.push(*b).map_err(|e| e.to_string())?;
                model.push(*b);
            }
            ListOp::Pop => match list.pop() {
                Ok(b) => {
                    ensure!(model.is_empty() || shown < model.len());
                    ensure_eq!(b, model.pop());
                }
                Err(Error::Pinned { .. }) => {
                    ensure!(shown >= model.len() && !model.is_empty());
                    ensure_eq!(list.as_slice(), &before[..]);
                }
                Err(e) => return Err(e.to_string()),
            },
            ListOp::Set(i, v) => {
                let i = usize::from(*i);
                match list.set(i, *v) {
                    Ok(()) => {
                        ensure!(i < model.len() && i >= shown);
                        model[i] = *v;
                    }
                    Err(Error::OutOfRange { .. }) => ensure!(i >= model.len()),
                    Err(Error::Pinned { .. }) => ensure!(i < shown),
                    Err(e) => return Err(e.to_string()),
                }
            }
            ListOp::Truncate(n) => {
                let n = usize::from(*n);
                match list.truncate(n) {
                    Ok(()) => {
                        ensure!(n >= model.len() || n >= shown);
                        model.truncate(n);
                    }
                    Err(Error::Pinned { .. }) => ensure!(n < model.len() && n < shown),
                    Err(e) => return Err(e.to_string()),
                }
            }
            ListOp::Get(i) => {
                let i = usize::from(*i);
                ensure_eq!(list.get(i), model.get(i).copied());
            }
            ListOp::Reserve(n) => {
                list.reserve(usize::from(*n)).map_err(|e| e.to_string())?;
                ensure!(list.capacity() >= model.len() + usize::from(*n));
            }
            ListOp::Clear => match list.clear() {
                Ok(()) => {
                    ensure!(shown == 0);
                    model.clear();
                }
                Err(Error::Pinned { .. }) => ensure!(shown > 0),
                Err(e) => return Err(e.to_string()),
            },
            ListOp::Export => {
                let e = list.export();
                ensure_eq!(e.len(), model.len());
                live.push((e, model.clone()));
            }
            ListOp::Release(i) => {
                if !live.is_empty() {
                    let (e, _) = live.remove(usize::from(*i) % live.len());
                    ensure!(list.release(e));
                }
            }
        }
        ensure_eq!(list.as_slice(), &model[..]);
        ensure_eq!(list.live_exports(), live.len());
        for (e, snapshot) in &live {
            ensure_eq!(read_raw(e.as_ptr(), e.len()), *snapshot);
            if !snapshot.is_empty() {
                ensure_eq!(e.as_ptr(), list.as_slice().as_ptr());
            }
        }
    }
    Ok(())
}
