//! Operation sequences on every type of the crate, each checked step by
//! step against a simple model: `VecDeque` for `Ring`, `Queue` and
//! `ByteStream`, `Vec` for `PicoList`. Shared by the proptest suite
//! (`tests/model.rs`) and the fuzz targets (`fuzz/`), which only generate
//! the operations: a failed check is an `Err` naming what differed.
//!
//! Counts are `u16` so that generated sequences stay small whatever the
//! generator; capacities around the page size make sequences cross the
//! end of the memory many times.

use std::collections::VecDeque;
use std::io::{BufRead, Read, Write};

use picoring::{ByteStream, Error, Export, PicoList, Queue, Ring};

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
    AdvanceTail(u16),
    /// Writes the bytes through `writable_slice`, publishes the first `n`.
    WriteInPlace(Vec<u8>, u16),
    Clear,
    ExportRead,
    /// Exports `n` bytes for writing and writes the bytes into them.
    ExportWrite(u16, Vec<u8>),
    /// Publishes up to `n` bytes written through a writable export.
    Publish(u16),
    /// Releases the live export with this index (modulo their number).
    Release(u8),
    /// `advance_head` past what was handed out: must fail, change nothing.
    PublishTooMuch(u16),
}

/// A live export and the bytes it showed when made (readable ones).
struct Live {
    export: Export,
    snapshot: Vec<u8>,
}

fn read_export(e: &Export) -> Vec<u8> {
    // SAFETY: the ring guarantees an export's pointer is valid for `len`
    // bytes while the ring lives and the export is not released.
    unsafe { std::slice::from_raw_parts(e.ptr, e.len) }.to_vec()
}

fn contents(model: &VecDeque<u8>) -> Vec<u8> {
    model.iter().copied().collect()
}

/// Runs `ops` on a ring of `capacity` bytes and on a `VecDeque`; after
/// every step the two hold the same bytes, no live readable export has
/// changed, and refused calls changed nothing.
pub fn check_ring(capacity: usize, ops: &[RingOp]) -> Outcome {
    let mut ring = Ring::with_capacity(capacity).map_err(|e| e.to_string())?;
    ensure_eq!(ring.capacity(), capacity);
    let mut model: VecDeque<u8> = VecDeque::new();
    let mut live: Vec<Live> = Vec::new();
    // Bytes written into the ring's memory through a writable export and
    // not yet published: what `Publish` may show.
    let mut staged: Vec<u8> = Vec::new();
    for op in ops {
        let free_before = ring.free();
        let fenced = live
            .iter()
            .any(|l| l.export.writable && l.export.start + l.export.len as u64 > ring.head());
        match op {
            RingOp::Push(b) => {
                let ok = ring.push(*b);
                ensure_eq!(ok, free_before >= 1);
                if ok {
                    model.push_back(*b);
                    staged.clear();
                }
            }
            RingOp::PushSlice(d) => {
                let ok = ring.push_slice(d);
                ensure_eq!(ok, d.len() <= free_before);
                if ok {
                    model.extend(d);
                    staged.clear();
                }
            }
            RingOp::PushPartial(d) => {
                let n = ring.push_partial(d);
                ensure_eq!(n, d.len().min(free_before));
                model.extend(&d[..n]);
                staged.clear();
            }
            RingOp::PushOverwrite(d) => match ring.push_overwrite(d) {
                Ok(dropped) => {
                    ensure!(!fenced);
                    let before = model.len() + d.len();
                    model.extend(d);
                    while model.len() > capacity {
                        model.pop_front();
                    }
                    ensure_eq!(dropped, before - model.len());
                    staged.clear();
                }
                Err(Error::Pinned { .. }) => ensure!(!live.is_empty()),
                Err(e) => return Err(e.to_string()),
            },
            RingOp::Pop => ensure_eq!(ring.pop(), model.pop_front()),
            RingOp::PopInto(n) => {
                let n = usize::from(*n);
                let mut out = vec![0; n];
                let got = ring.pop_into(&mut out);
                ensure_eq!(got, n.min(model.len()));
                let expect: Vec<u8> = model.drain(..got).collect();
                ensure_eq!(&out[..got], &expect[..]);
            }
            RingOp::AdvanceTail(n) => {
                let n = usize::from(*n);
                let r = ring.advance_tail(n);
                ensure_eq!(r.is_ok(), n <= model.len());
                if r.is_ok() {
                    model.drain(..n);
                }
            }
            RingOp::WriteInPlace(d, n) => {
                if fenced {
                    continue;
                }
                let space = ring.writable_slice();
                ensure_eq!(space.len(), free_before);
                let k = d.len().min(space.len());
                space[..k].copy_from_slice(&d[..k]);
                let n = usize::from(*n).min(k);
                ring.advance_head(n).map_err(|e| e.to_string())?;
                model.extend(&d[..n]);
                staged = d[n..k].to_vec();
            }
            RingOp::Clear => {
                ring.clear();
                model.clear();
            }
            RingOp::ExportRead => {
                let e = ring.export_readable();
                let snapshot = read_export(&e);
                ensure_eq!(&snapshot, &contents(&model));
                live.push(Live {
                    export: e,
                    snapshot,
                });
            }
            RingOp::ExportWrite(n, d) => {
                if fenced {
                    continue;
                }
                let n = usize::from(*n);
                match ring.export_writable(Some(n)) {
                    Ok(e) => {
                        let k = d.len().min(e.len);
                        // SAFETY: a writable export is ours to write, `k <= len`.
                        unsafe { std::ptr::copy_nonoverlapping(d.as_ptr(), e.ptr, k) };
                        staged = d[..k].to_vec();
                        live.push(Live {
                            export: e,
                            snapshot: Vec::new(),
                        });
                    }
                    Err(Error::OutOfRange { limit, .. }) => ensure!(n > limit),
                    Err(e) => return Err(e.to_string()),
                }
            }
            RingOp::Publish(n) => {
                let n = usize::from(*n).min(staged.len());
                ring.advance_head(n).map_err(|e| e.to_string())?;
                model.extend(staged.drain(..n));
            }
            RingOp::Release(i) => {
                if !live.is_empty() {
                    let l = live.remove(usize::from(*i) % live.len());
                    ensure!(ring.release(&l.export));
                    // Releasing again is refused, unless another live
                    // export started at the same position (then it is that
                    // one's release, and the model would lose track).
                    if !live.iter().any(|o| o.export.start == l.export.start) {
                        ensure!(!ring.release(&l.export));
                    }
                }
            }
            RingOp::PublishTooMuch(extra) => {
                let head = ring.head();
                let too_much = capacity + 1 + usize::from(*extra);
                ensure!(ring.advance_head(too_much).is_err());
                ensure_eq!(ring.head(), head);
            }
        }
        // The ring matches the model, and no live view ever changed.
        ensure_eq!(ring.len(), model.len());
        ensure_eq!(ring.as_slice(), &contents(&model)[..]);
        for l in &live {
            if !l.export.writable {
                ensure_eq!(&read_export(&l.export), &l.snapshot);
            }
        }
        ensure_eq!(ring.live_exports(), live.len());
        ensure!(ring.len() + ring.free() <= capacity);
        if live.is_empty() {
            ensure_eq!(ring.free(), capacity - ring.len());
        }
    }
    Ok(())
}

/// One step on a [`Queue`].
#[derive(Debug, Clone)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum QueueOp {
    /// Reserves `n` bytes and writes the bytes into them.
    Reserve(u16, Vec<u8>),
    /// Commits up to `n` of the bytes written by the last reservation.
    Commit(u16),
    /// Commits more than was reserved: must fail and change nothing.
    CommitTooMuch(u16),
    Release(u16),
    Push(u8),
    Pop,
    PushSlice(Vec<u8>),
    PopInto(u16),
}

/// Runs `ops` on a queue of `capacity` bytes and on a `VecDeque`.
pub fn check_queue(capacity: usize, ops: &[QueueOp]) -> Outcome {
    let mut q = Queue::with_capacity(capacity).map_err(|e| e.to_string())?;
    let mut model: VecDeque<u8> = VecDeque::new();
    // Written into the last reservation and not yet committed.
    let mut staged: Vec<u8> = Vec::new();
    for op in ops {
        let free = capacity - model.len();
        match op {
            QueueOp::Reserve(n, d) => {
                let n = usize::from(*n);
                match q.reserve(n) {
                    Some(space) => {
                        ensure!(n <= free);
                        ensure_eq!(space.len(), n);
                        let k = d.len().min(n);
                        space[..k].copy_from_slice(&d[..k]);
                        staged = d[..k].to_vec();
                    }
                    None => {
                        ensure!(n > free);
                        staged.clear();
                    }
                }
            }
            QueueOp::Commit(n) => {
                let n = usize::from(*n).min(staged.len());
                q.commit(n).map_err(|e| e.to_string())?;
                model.extend(staged.drain(..n));
            }
            QueueOp::CommitTooMuch(extra) => {
                ensure!(q.commit(free + 1 + usize::from(*extra)).is_err());
            }
            QueueOp::Release(n) => {
                let n = usize::from(*n);
                ensure_eq!(q.release(n).is_ok(), n <= model.len());
                if n <= model.len() {
                    model.drain(..n);
                }
            }
            QueueOp::Push(b) => {
                ensure_eq!(q.push(*b), free >= 1);
                if free >= 1 {
                    model.push_back(*b);
                    staged.clear();
                }
            }
            QueueOp::Pop => ensure_eq!(q.pop(), model.pop_front()),
            QueueOp::PushSlice(d) => {
                ensure_eq!(q.push_slice(d), d.len() <= free);
                if d.len() <= free {
                    model.extend(d);
                    staged.clear();
                }
            }
            QueueOp::PopInto(n) => {
                let mut out = vec![0; usize::from(*n)];
                let k = q.pop_into(&mut out);
                let expect: Vec<u8> = model.drain(..k.min(model.len())).collect();
                ensure_eq!(&out[..k], &expect[..]);
            }
        }
        ensure_eq!(q.len(), model.len());
        ensure_eq!(q.peek(), &contents(&model)[..]);
    }
    Ok(())
}

/// One step on a [`ByteStream`].
#[derive(Debug, Clone)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum StreamOp {
    Write(Vec<u8>),
    Read(u16),
    /// `fill_buf`, then `consume(n)` of what it showed.
    FillConsume(u16),
    Flush,
}

/// Runs `ops` on a stream of `capacity` bytes and on a `VecDeque`.
pub fn check_stream(capacity: usize, ops: &[StreamOp]) -> Outcome {
    let mut s = ByteStream::with_capacity(capacity).map_err(|e| e.to_string())?;
    let mut model: VecDeque<u8> = VecDeque::new();
    for op in ops {
        match op {
            StreamOp::Write(d) => {
                let free = capacity - model.len();
                let k = s.write(d).map_err(|e| e.to_string())?;
                ensure_eq!(k, d.len().min(free));
                model.extend(&d[..k]);
            }
            StreamOp::Read(n) => {
                let mut out = vec![0; usize::from(*n)];
                let k = s.read(&mut out).map_err(|e| e.to_string())?;
                ensure_eq!(k, out.len().min(model.len()));
                let expect: Vec<u8> = model.drain(..k).collect();
                ensure_eq!(&out[..k], &expect[..]);
            }
            StreamOp::FillConsume(n) => {
                let buf = s.fill_buf().map_err(|e| e.to_string())?.to_vec();
                ensure_eq!(&buf, &contents(&model));
                let k = usize::from(*n).min(buf.len());
                s.consume(k);
                model.drain(..k);
            }
            StreamOp::Flush => s.flush().map_err(|e| e.to_string())?,
        }
        ensure_eq!(s.available_to_read(), model.len());
        ensure_eq!(s.available_to_write(), capacity - model.len());
    }
    Ok(())
}

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
    // Live exports: pointer and the bytes they showed.
    let mut live: Vec<(*const u8, Vec<u8>)> = Vec::new();
    for op in ops {
        let shown = live.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
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
                Err(Error::Pinned { .. }) => ensure!(shown >= model.len() && !model.is_empty()),
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
                let (p, n) = list.export();
                ensure_eq!(n, model.len());
                live.push((p, model.clone()));
            }
            ListOp::Release(i) => {
                if !live.is_empty() {
                    let (_, shown) = live.remove(usize::from(*i) % live.len());
                    ensure!(list.release(shown.len()));
                }
            }
        }
        ensure_eq!(list.as_slice(), &model[..]);
        ensure_eq!(list.live_exports(), live.len());
        for (p, snapshot) in &live {
            // SAFETY: a live export's bytes stay valid and unchanged until
            // it is released.
            let now = unsafe { std::slice::from_raw_parts(*p, snapshot.len()) };
            ensure_eq!(now, &snapshot[..]);
            if !snapshot.is_empty() {
                ensure_eq!(*p, list.as_slice().as_ptr());
            }
        }
    }
    Ok(())
}
