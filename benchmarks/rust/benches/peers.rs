//! The picoring core beside `VecDeque`, `ringbuf` and `rtrb`, single thread:
//! push a slice and pop it back (the copy each ring must make), and getting
//! wrapped data as one contiguous slice (O(1) for picoring, a copy-join for
//! the others). Every iteration checks what it read.

use std::collections::VecDeque;
use std::hint::black_box;
use std::io::{Read, Write};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use picoring::Ring;
use ringbuf::traits::{Consumer, Producer, Split};

const SIZES: [(&str, usize); 3] = [("64B", 64), ("4KiB", 4 << 10), ("1MiB", 1 << 20)];

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

fn pico_op(ring: &mut Ring, src: &[u8], out: &mut [u8]) {
    assert!(ring.push_slice(src));
    assert_eq!(ring.pop_into(out), src.len());
}

fn vecdeque_op(dq: &mut VecDeque<u8>, src: &[u8], out: &mut [u8]) {
    dq.write_all(src).unwrap();
    dq.read_exact(out).unwrap();
}

fn ringbuf_op(
    prod: &mut impl Producer<Item = u8>,
    cons: &mut impl Consumer<Item = u8>,
    src: &[u8],
    out: &mut [u8],
) {
    assert_eq!(prod.push_slice(src), src.len());
    assert_eq!(cons.pop_slice(out), src.len());
}

fn rtrb_op(p: &mut rtrb::Producer<u8>, c: &mut rtrb::Consumer<u8>, src: &[u8], out: &mut [u8]) {
    let n = src.len();
    let mut w = p.write_chunk(n).unwrap();
    let (a, rest) = w.as_mut_slices();
    let k = a.len();
    a.copy_from_slice(&src[..k]);
    rest.copy_from_slice(&src[k..]);
    w.commit_all();
    let r = c.read_chunk(n).unwrap();
    let (a, rest) = r.as_slices();
    out[..a.len()].copy_from_slice(a);
    out[a.len()..].copy_from_slice(rest);
    r.commit_all();
}

fn push_pop(c: &mut Criterion) {
    let mut g = c.benchmark_group("push_pop");
    for (label, n) in SIZES {
        let src = data(n);
        let mut out = vec![0u8; n];
        let cap = (4 * n).max(64 << 10);
        g.throughput(Throughput::Bytes(n as u64));

        let mut ring = Ring::with_capacity(cap).unwrap();
        for _ in 0..(2 * cap / n + 1) {
            out.fill(0);
            pico_op(&mut ring, &src, &mut out);
            assert_eq!(out, src, "picoring read back wrong data");
        }
        g.bench_function(BenchmarkId::new("picoring", label), |b| {
            b.iter(|| pico_op(&mut ring, black_box(&src), black_box(&mut out)))
        });

        let mut dq: VecDeque<u8> = VecDeque::with_capacity(cap);
        out.fill(0);
        vecdeque_op(&mut dq, &src, &mut out);
        assert_eq!(out, src, "VecDeque read back wrong data");
        g.bench_function(BenchmarkId::new("VecDeque", label), |b| {
            b.iter(|| vecdeque_op(&mut dq, black_box(&src), black_box(&mut out)))
        });

        let (mut prod, mut cons) = ringbuf::HeapRb::<u8>::new(cap).split();
        out.fill(0);
        ringbuf_op(&mut prod, &mut cons, &src, &mut out);
        assert_eq!(out, src, "ringbuf read back wrong data");
        g.bench_function(BenchmarkId::new("ringbuf", label), |b| {
            b.iter(|| ringbuf_op(&mut prod, &mut cons, black_box(&src), black_box(&mut out)))
        });

        let (mut p, mut cns) = rtrb::RingBuffer::<u8>::new(cap);
        out.fill(0);
        rtrb_op(&mut p, &mut cns, &src, &mut out);
        assert_eq!(out, src, "rtrb read back wrong data");
        g.bench_function(BenchmarkId::new("rtrb", label), |b| {
            b.iter(|| rtrb_op(&mut p, &mut cns, black_box(&src), black_box(&mut out)))
        });

        let mut mid = vec![0u8; n];
        g.bench_function(BenchmarkId::new("memcpy x2", label), |b| {
            b.iter(|| {
                mid.copy_from_slice(black_box(&src));
                out.copy_from_slice(&mid);
                black_box(&out);
            })
        });
    }
    g.finish();
}

fn wrapped_view(c: &mut Criterion) {
    let mut g = c.benchmark_group("view");
    for (label, n) in [
        ("4KiB", 4usize << 10),
        ("1MiB", 1 << 20),
        ("128MiB", 128 << 20),
    ] {
        let src = data(n);
        let mut ring = Ring::with_capacity(n + 4096).unwrap();
        let skip = ring.memory_len() - n / 2;
        ring.push_slice(&vec![0; skip]);
        // One byte stays while setting up: a drained ring would rewind.
        ring.advance_tail(skip - 1).unwrap();
        assert!(ring.push_slice(&src));
        ring.advance_tail(1).unwrap();
        assert!(ring.is_wrapped(), "the picoring data should wrap");
        assert_eq!(ring.as_slice(), &src[..]);
        // 64 views per iteration, so that nanosecond noise does not hide
        // whether the cost depends on the size.
        g.bench_function(BenchmarkId::new("picoring x64", label), |b| {
            b.iter(|| {
                let mut total = 0;
                for _ in 0..64 {
                    total += black_box(black_box(&ring).as_slice()).len();
                }
                total
            })
        });

        let mut dq: VecDeque<u8> = VecDeque::with_capacity(n + 4096);
        let skip_dq = dq.capacity() - n / 2;
        // Keep one byte back so that draining never empties the deque (an
        // empty VecDeque starts again at the front of its buffer).
        dq.extend(std::iter::repeat_n(0u8, skip_dq + 1));
        dq.drain(..skip_dq);
        dq.extend(src.iter().copied());
        dq.pop_front();
        let (a, b2) = dq.as_slices();
        assert!(!b2.is_empty(), "the VecDeque data should wrap");
        assert_eq!([a, b2].concat(), src);
        g.bench_function(BenchmarkId::new("VecDeque copy-join", label), |b| {
            b.iter(|| {
                let (a, rest) = black_box(&dq).as_slices();
                let mut v = Vec::with_capacity(a.len() + rest.len());
                v.extend_from_slice(a);
                v.extend_from_slice(rest);
                black_box(v.len())
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = push_pop, wrapped_view
}
criterion_main!(benches);
