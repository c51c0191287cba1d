//! Two threads, one producer and one consumer, moving `ITEMS` u64 values
//! through a bounded queue of `CAP` slots: picoring's `spsc` channel beside
//! rtrb, ringbuf, crossbeam's `ArrayQueue` and `std::sync::mpsc`, item by
//! item and in batches of 64 (chunk APIs where the crate has one). The
//! consumer checks every value arrives once and in order. Both sides spin
//! (`spin_loop`) on full and empty, except std's channel, which blocks.

use std::hint::spin_loop;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringbuf::traits::{Consumer as _, Producer as _, Split};

const ITEMS: u64 = 1 << 20;
const CAP: usize = 4096;
const BATCH: usize = 64;

/// Runs `produce` and `consume` on two threads `iters` times; the time of
/// the transfers only.
fn two_threads<P, C>(
    iters: u64,
    make: impl Fn() -> (P, C),
    produce: fn(P),
    consume: fn(C),
) -> Duration
where
    P: Send + 'static,
    C: Send + 'static,
{
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (p, c) = make();
        let start = Instant::now();
        let t = thread::spawn(move || produce(p));
        consume(c);
        t.join().unwrap();
        total += start.elapsed();
    }
    total
}

/// Sends 0, 1, 2 ... one at a time, spinning while `push` refuses.
fn send_each(mut push: impl FnMut(u64) -> bool) {
    for i in 0..ITEMS {
        while !push(i) {
            spin_loop();
        }
    }
}

/// Receives `ITEMS` values one at a time, spinning while there is none,
/// and checks each is the next.
fn receive_each(mut pop: impl FnMut() -> Option<u64>) {
    for i in 0..ITEMS {
        loop {
            if let Some(v) = pop() {
                assert_eq!(v, i);
                break;
            }
            spin_loop();
        }
    }
}

fn single(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc_single");
    g.throughput(Throughput::Elements(ITEMS));
    g.sample_size(20);
    g.bench_function("picoring", |b| {
        b.iter_custom(|iters| {
            two_threads(
                iters,
                || picoring::spsc::channel::<u64>(CAP).unwrap(),
                |mut p| send_each(|i| p.push(i).is_ok()),
                |mut c| receive_each(|| c.pop()),
            )
        })
    });
    g.bench_function("rtrb", |b| {
        b.iter_custom(|iters| {
            two_threads(
                iters,
                || rtrb::RingBuffer::<u64>::new(CAP),
                |mut p| send_each(|i| p.push(i).is_ok()),
                |mut c| receive_each(|| c.pop().ok()),
            )
        })
    });
    g.bench_function("ringbuf", |b| {
        b.iter_custom(|iters| {
            two_threads(
                iters,
                || ringbuf::HeapRb::<u64>::new(CAP).split(),
                |mut p| send_each(|i| p.try_push(i).is_ok()),
                |mut c| receive_each(|| c.try_pop()),
            )
        })
    });
    g.bench_function("crossbeam ArrayQueue", |b| {
        b.iter_custom(|iters| {
            two_threads(
                iters,
                || {
                    let q = Arc::new(crossbeam_queue::ArrayQueue::<u64>::new(CAP));
                    (Arc::clone(&q), q)
                },
                |p| send_each(|i| p.push(i).is_ok()),
                |c| receive_each(|| c.pop()),
            )
        })
    });
    g.bench_function("std sync_channel", |b| {
        b.iter_custom(|iters| {
            two_threads(
                iters,
                || std::sync::mpsc::sync_channel::<u64>(CAP),
                |p| {
                    for i in 0..ITEMS {
                        p.send(i).unwrap();
                    }
                },
                |c| {
                    for i in 0..ITEMS {
                        assert_eq!(c.recv().unwrap(), i);
                    }
                },
            )
        })
    });
    g.finish();
}

fn batched(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc_batch64");
    g.throughput(Throughput::Elements(ITEMS));
    g.sample_size(20);
    g.bench_function("picoring", |b| {
        b.iter_custom(|iters| {
            two_threads(
                iters,
                || picoring::spsc::channel::<u64>(CAP).unwrap(),
                |mut p| {
                    let mut i = 0;
                    while i < ITEMS {
                        match p.write_chunk(BATCH) {
                            Ok(mut w) => {
                                for (k, s) in w.as_mut_slice().iter_mut().enumerate() {
                                    s.write(i + k as u64);
                                }
                                w.commit(BATCH);
                                i += BATCH as u64;
                            }
                            Err(_) => spin_loop(),
                        }
                    }
                },
                |mut c| {
                    let mut i = 0;
                    while i < ITEMS {
                        match c.read_chunk(BATCH) {
                            Ok(r) => {
                                for &v in r.as_slice() {
                                    assert_eq!(v, i);
                                    i += 1;
                                }
                                r.release(BATCH);
                            }
                            Err(_) => spin_loop(),
                        }
                    }
                },
            )
        })
    });
    g.bench_function("rtrb chunks", |b| {
        b.iter_custom(|iters| {
            two_threads(
                iters,
                || rtrb::RingBuffer::<u64>::new(CAP),
                |mut p| {
                    let mut i = 0;
                    while i < ITEMS {
                        match p.write_chunk_uninit(BATCH) {
                            Ok(mut w) => {
                                let (a, b) = w.as_mut_slices();
                                for (k, s) in a.iter_mut().chain(b.iter_mut()).enumerate() {
                                    s.write(i + k as u64);
                                }
                                // SAFETY: every slot of the chunk was written above.
                                unsafe { w.commit_all() };
                                i += BATCH as u64;
                            }
                            Err(_) => spin_loop(),
                        }
                    }
                },
                |mut c| {
                    let mut i = 0;
                    while i < ITEMS {
                        match c.read_chunk(BATCH) {
                            Ok(r) => {
                                let (a, b) = r.as_slices();
                                for &v in a.iter().chain(b) {
                                    assert_eq!(v, i);
                                    i += 1;
                                }
                                r.commit_all();
                            }
                            Err(_) => spin_loop(),
                        }
                    }
                },
            )
        })
    });
    g.bench_function("ringbuf slices", |b| {
        b.iter_custom(|iters| {
            two_threads(
                iters,
                || ringbuf::HeapRb::<u64>::new(CAP).split(),
                |mut p| {
                    let mut i = 0;
                    let mut batch = [0u64; BATCH];
                    while i < ITEMS {
                        for (k, s) in batch.iter_mut().enumerate() {
                            *s = i + k as u64;
                        }
                        let mut done = 0;
                        while done < BATCH {
                            let n = p.push_slice(&batch[done..]);
                            if n == 0 {
                                spin_loop();
                            }
                            done += n;
                        }
                        i += BATCH as u64;
                    }
                },
                |mut c| {
                    let mut i = 0;
                    let mut out = [0u64; BATCH];
                    while i < ITEMS {
                        let n = c.pop_slice(&mut out);
                        if n == 0 {
                            spin_loop();
                        }
                        for &v in &out[..n] {
                            assert_eq!(v, i);
                            i += 1;
                        }
                    }
                },
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = single, batched
}
criterion_main!(benches);
