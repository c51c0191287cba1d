//! Random operation sequences checked against simple models: `VecDeque`
//! for the ring, queue and stream, `Vec` for the list. Capacities sit around
//! the page size so that sequences cross the end of the memory many times.

use std::collections::VecDeque;
use std::io::{BufRead, Read, Write};

use picoring::{ByteStream, Error, Export, PicoList, Ring};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Push(u8),
    PushSlice(Vec<u8>),
    PushPartial(Vec<u8>),
    PushOverwrite(Vec<u8>),
    Pop,
    PopInto(usize),
    AdvanceTail(usize),
    WriteInPlace(Vec<u8>, usize),
    Clear,
    ExportRead,
    ExportWrite(usize, Vec<u8>),
    Publish(usize),
    Release(usize),
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn op(max: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u8>().prop_map(Op::Push),
        bytes(max).prop_map(Op::PushSlice),
        bytes(max).prop_map(Op::PushPartial),
        bytes(max * 2).prop_map(Op::PushOverwrite),
        Just(Op::Pop),
        (0..max).prop_map(Op::PopInto),
        (0..max).prop_map(Op::AdvanceTail),
        (bytes(max), 0..max).prop_map(|(d, n)| Op::WriteInPlace(d, n)),
        Just(Op::Clear),
        Just(Op::ExportRead),
        (0..max, bytes(max)).prop_map(|(n, d)| Op::ExportWrite(n, d)),
        (0..max).prop_map(Op::Publish),
        (0..8usize).prop_map(Op::Release),
    ]
}

/// A live export and the bytes it showed when made (for readable ones).
struct Live {
    export: Export,
    snapshot: Vec<u8>,
}

fn read_export(e: &Export) -> Vec<u8> {
    // SAFETY: the ring guarantees an export's pointer is valid for `len`
    // bytes while the ring lives and the export is not released.
    unsafe { std::slice::from_raw_parts(e.ptr, e.len) }.to_vec()
}

fn run_ring(capacity: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut ring = Ring::with_capacity(capacity).unwrap();
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
            Op::Push(b) => {
                let ok = ring.push(b);
                prop_assert_eq!(ok, free_before >= 1);
                if ok {
                    model.push_back(b);
                    staged.clear();
                }
            }
            Op::PushSlice(d) => {
                let ok = ring.push_slice(&d);
                prop_assert_eq!(ok, d.len() <= free_before);
                if ok {
                    model.extend(&d);
                    staged.clear();
                }
            }
            Op::PushPartial(d) => {
                let n = ring.push_partial(&d);
                prop_assert_eq!(n, d.len().min(free_before));
                model.extend(&d[..n]);
                staged.clear();
            }
            Op::PushOverwrite(d) => match ring.push_overwrite(&d) {
                Ok(dropped) => {
                    prop_assert!(!fenced);
                    let before = model.len() + d.len();
                    model.extend(&d);
                    while model.len() > capacity {
                        model.pop_front();
                    }
                    prop_assert_eq!(dropped, before - model.len());
                    staged.clear();
                }
                Err(Error::Pinned { .. }) => prop_assert!(!live.is_empty()),
                Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
            },
            Op::Pop => prop_assert_eq!(ring.pop(), model.pop_front()),
            Op::PopInto(n) => {
                let mut out = vec![0; n];
                let got = ring.pop_into(&mut out);
                prop_assert_eq!(got, n.min(model.len()));
                let expect: Vec<u8> = model.drain(..got).collect();
                prop_assert_eq!(&out[..got], &expect[..]);
            }
            Op::AdvanceTail(n) => {
                let r = ring.advance_tail(n);
                prop_assert_eq!(r.is_ok(), n <= model.len());
                if r.is_ok() {
                    model.drain(..n);
                }
            }
            Op::WriteInPlace(d, n) => {
                if fenced {
                    continue;
                }
                let space = ring.writable_slice();
                prop_assert_eq!(space.len(), free_before);
                let k = d.len().min(space.len());
                space[..k].copy_from_slice(&d[..k]);
                let n = n.min(k);
                ring.advance_head(n).unwrap();
                model.extend(&d[..n]);
                staged = d[n..k].to_vec();
            }
            Op::Clear => {
                ring.clear();
                model.clear();
            }
            Op::ExportRead => {
                let e = ring.export_readable();
                let snapshot = read_export(&e);
                prop_assert_eq!(&snapshot, &model.iter().copied().collect::<Vec<_>>());
                live.push(Live {
                    export: e,
                    snapshot,
                });
            }
            Op::ExportWrite(n, d) => {
                if fenced {
                    continue;
                }
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
                    Err(Error::OutOfRange { limit, .. }) => prop_assert!(n > limit),
                    Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
                }
            }
            Op::Publish(n) => {
                let n = n.min(staged.len());
                ring.advance_head(n).unwrap();
                model.extend(staged.drain(..n));
            }
            Op::Release(i) => {
                if !live.is_empty() {
                    let l = live.remove(i % live.len());
                    prop_assert!(ring.release(&l.export));
                }
            }
        }
        // The ring matches the model, and no live view ever changed.
        prop_assert_eq!(ring.len(), model.len());
        let (a, b) = model.as_slices();
        prop_assert_eq!(ring.as_slice(), &[a, b].concat()[..]);
        for l in &live {
            if !l.export.writable {
                prop_assert_eq!(&read_export(&l.export), &l.snapshot);
            }
        }
        prop_assert!(ring.len() + ring.free() <= capacity);
        if live.is_empty() {
            prop_assert_eq!(ring.free(), capacity - ring.len());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 8 } else { 256 }))]

    #[test]
    fn ring_matches_a_vecdeque(capacity in 1usize..9000, ops in prop::collection::vec(op(6000), 1..120)) {
        run_ring(capacity, ops)?;
    }

    #[test]
    fn small_rings_wrap_constantly(capacity in 1usize..64, ops in prop::collection::vec(op(80), 1..400)) {
        run_ring(capacity, ops)?;
    }

    #[test]
    fn stream_matches_a_vecdeque(
        capacity in 1usize..9000,
        ops in prop::collection::vec((any::<bool>(), bytes(5000), 0usize..5000), 1..100),
    ) {
        let mut s = ByteStream::with_capacity(capacity).unwrap();
        let mut model = VecDeque::new();
        for (write, data, n) in ops {
            if write {
                let free = capacity - model.len();
                let k = s.write(&data).unwrap();
                prop_assert_eq!(k, data.len().min(free));
                model.extend(&data[..k]);
            } else if n % 3 == 0 {
                let buf = s.fill_buf().unwrap().to_vec();
                prop_assert_eq!(&buf, &model.iter().copied().collect::<Vec<_>>());
                let k = n.min(buf.len());
                s.consume(k);
                model.drain(..k);
            } else {
                let mut out = vec![0; n];
                let k = s.read(&mut out).unwrap();
                let expect: Vec<u8> = model.drain(..k).collect();
                prop_assert_eq!(&out[..k], &expect[..]);
            }
            prop_assert_eq!(s.available_to_read(), model.len());
            prop_assert_eq!(s.available_to_write(), capacity - model.len());
        }
    }

    #[test]
    fn list_matches_a_vec(ops in prop::collection::vec((0u8..6, 0usize..70_000, any::<u8>(), any::<usize>()), 1..60)) {
        let mut list = PicoList::new();
        let mut model: Vec<u8> = Vec::new();
        let mut base: Option<*const u8> = None;
        for (kind, n, fill, i) in ops {
            let data: Vec<u8> = (0..n).map(|k| fill.wrapping_add(k as u8)).collect();
            match kind {
                0 => {
                    list.extend_from_slice(&data).unwrap();
                    model.extend(&data);
                }
                1 => {
                    let b = data.first().copied().unwrap_or(7);
                    list.push(b).unwrap();
                    model.push(b);
                }
                2 => prop_assert_eq!(list.pop().unwrap(), model.pop()),
                3 if !model.is_empty() => {
                    let i = i % model.len();
                    list.set(i, data.len() as u8).unwrap();
                    model[i] = data.len() as u8;
                }
                4 => {
                    let n = if model.is_empty() { 0 } else { i % (model.len() + 1) };
                    list.truncate(n).unwrap();
                    model.truncate(n);
                }
                _ => prop_assert_eq!(list.get(i % (model.len() + 1)), model.get(i % (model.len() + 1)).copied()),
            }
            prop_assert_eq!(list.as_slice(), &model[..]);
            // Growth never moves the items.
            if !model.is_empty() {
                let p = list.as_slice().as_ptr();
                prop_assert_eq!(*base.get_or_insert(p), p);
            }
        }
    }
}

#[test]
fn positions_cross_the_end_of_memory_many_times() {
    let mut ring = Ring::with_capacity(5000).unwrap();
    let chunk: Vec<u8> = (0..3001u32).map(|i| (i * 7) as u8).collect();
    // One byte always stays, so the ring never idles and rewinds: the data
    // walks through the memory and crosses its end again and again.
    assert!(ring.push(0));
    let mut wrapped = 0;
    for round in 0..1000u32 {
        assert!(ring.push_slice(&chunk), "round {round}");
        assert_eq!(&ring.as_slice()[1..], &chunk[..]);
        wrapped += usize::from(ring.is_wrapped());
        ring.advance_tail(chunk.len()).unwrap();
    }
    assert!(ring.head() > 300 * ring.memory_len() as u64);
    assert!(wrapped > 300, "only {wrapped} rounds wrapped");
}

#[test]
fn zero_capacity_is_refused() {
    assert!(matches!(Ring::with_capacity(0), Err(Error::ZeroCapacity)));
}

#[test]
fn huge_capacity_is_refused_with_the_numbers() {
    let err = Ring::with_capacity(usize::MAX).unwrap_err();
    assert!(err.is_out_of_memory());
    let msg = err.to_string();
    assert!(msg.contains(&usize::MAX.to_string()), "{msg}");
}
