//! G6: after fork(), parent and child rings are independent, the child's
//! rings keep their contents and addresses, and only live bytes are copied.
//!
//! Each test writes, in one process, over the very bytes the other process
//! holds, and checks that the other does not see it.

// Miri runs no real fork and maps no memory: the tests need both; and
// fork() is a Unix call.
#![cfg(all(unix, not(miri)))]

use picoring::{page_size, Queue, Ring};

/// Runs `child` in a forked child process; true if it returned true.
fn in_child(child: impl FnOnce() -> bool) -> bool {
    // SAFETY: the child only runs `child` (which touches rings) and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(false);
        // SAFETY: _exit is always safe to call in the child.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

/// Lowers this process's descriptor limit to none (so that a fork handler
/// can make no file copy); returns the limit it had, `None` if refused.
fn without_descriptors() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reading and lowering a limit of our own process.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        let none = libc::rlimit {
            rlim_cur: 0,
            ..limit
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &none) != 0 {
            return None;
        }
    }
    Some(limit)
}

/// Bytes of a chunk's ring's memory (chunks of a drained ring cover it all).
fn ring_memory(chunk: &picoring::WriteChunk<'_>) -> usize {
    chunk.len().next_multiple_of(page_size())
}

/// A ring whose readable bytes `data` cross the end of its memory.
fn wrapped(data: &[u8]) -> Ring {
    let size = 3 * page_size();
    let mut ring = Ring::with_capacity(size).unwrap();
    ring.push_slice(&vec![0; size - data.len() / 2]);
    ring.advance_tail(size - data.len() / 2 - 1).unwrap();
    assert!(ring.push_slice(data));
    ring.advance_tail(1).unwrap();
    assert!(ring.is_wrapped());
    ring
}

#[test]
fn child_overwrites_the_parents_bytes_and_the_parent_does_not_see_it() {
    let mut ring = wrapped(b"shared before fork");
    let addr = ring.as_slice().as_ptr() as usize;
    let child_ok = in_child(|| {
        let same =
            ring.as_slice() == b"shared before fork" && ring.as_slice().as_ptr() as usize == addr;
        // Overwrite those very bytes: consumed, the whole capacity (all of
        // the memory) is free; grant all of it and fill it.
        ring.clear();
        let cap = ring.capacity();
        let mut chunk = ring.grant(None).unwrap();
        let all = chunk.len() == ring_memory(&chunk);
        chunk.fill(b'C');
        chunk.commit(cap).unwrap();
        same && all && ring.as_slice().iter().all(|&b| b == b'C')
    });
    assert!(child_ok, "the child saw wrong data");
    assert_eq!(
        ring.as_slice(),
        b"shared before fork",
        "the child's writes reached the parent"
    );
}

#[test]
fn parent_writes_after_the_fork_do_not_reach_the_child() {
    let mut ring = Ring::with_capacity(page_size()).unwrap();
    ring.push_slice(b"before");
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let [r, w] = fds;
    // SAFETY: the child only reads the pipe, reads the ring, and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let mut b = 0u8;
        // SAFETY: reading one byte from our pipe.
        unsafe { libc::read(r, (&mut b as *mut u8).cast(), 1) };
        let ok = ring.as_slice() == b"before";
        // SAFETY: _exit is always safe to call in the child.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    // The parent fills the whole ring: its bytes land on the memory of the
    // bytes the child still reads.
    ring.clear();
    assert!(ring.push_slice(&vec![b'P'; ring.capacity()]));
    let mut status = 0;
    // SAFETY: writing one byte to our pipe, waiting for our child, closing.
    unsafe {
        libc::write(w, b"x".as_ptr().cast(), 1);
        libc::waitpid(pid, &mut status, 0);
        libc::close(r);
        libc::close(w);
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child saw the parent's write"
    );
}

#[test]
fn free_space_is_not_copied_to_the_child() {
    // Fill the ring, consume it, keep 5 new bytes: the memory holds old
    // bytes almost everywhere, but only the 5 are live. The child's free
    // space reads as zeros: it was never copied.
    let size = 64 * page_size();
    let mut ring = Ring::with_capacity(size).unwrap();
    ring.push_slice(&vec![0xEE; size - 5]);
    ring.advance_tail(size - 5).unwrap();
    ring.push_slice(b"live!");
    let child_ok = in_child(|| {
        let live = ring.as_slice() == b"live!";
        let chunk = ring.grant(None).unwrap();
        live && chunk.len() == size - 5 && chunk.iter().all(|&b| b == 0)
    });
    assert!(
        child_ok,
        "the child got free space copied (or lost its live bytes)"
    );
    // The parent's free space still holds what it held.
    let chunk = ring.grant(None).unwrap();
    assert!(chunk.iter().filter(|&&b| b == 0xEE).count() > size / 2);
}

#[test]
fn packed_neighbours_stay_separate_and_private() {
    // Many small rings share arenas: one mapping each.
    // Each holds a whole page, so that a grant of all free space covers all
    // of its memory, wherever its bytes are.
    let page = page_size();
    let mut rings: Vec<Ring> = (0..50)
        .map(|_| Ring::with_capacity(page).unwrap())
        .collect();
    for (i, r) in rings.iter_mut().enumerate() {
        assert!(r.push_slice(format!("ring {i:02}").as_bytes()));
    }
    let child_ok = in_child(|| {
        let intact = rings
            .iter()
            .enumerate()
            .all(|(i, r)| r.as_slice() == format!("ring {i:02}").as_bytes());
        // Overwrite ring 7's bytes in place, and make a ring in the child
        // (it takes a free slot of an arena shared with the parent).
        rings[7].clear();
        let mut fresh = Ring::with_capacity(page).unwrap();
        let empty = fresh.is_empty() && fresh.grant(None).unwrap().iter().all(|&b| b == 0);
        fresh.push_slice(b"child's own");
        let mut c = rings[7].grant(None).unwrap();
        c.fill(b'X');
        c.commit(page).unwrap();
        intact && empty && rings[8].as_slice() == b"ring 08" && fresh.as_slice() == b"child's own"
    });
    assert!(child_ok);
    for (i, r) in rings.iter().enumerate() {
        assert_eq!(r.as_slice(), format!("ring {i:02}").as_bytes(), "ring {i}");
    }
    // A ring made now may take the slot the child used: it is ours, zeroed.
    let mut fresh = Ring::with_capacity(page).unwrap();
    assert!(fresh.grant(None).unwrap().iter().all(|&b| b == 0));
}

#[test]
fn views_and_grants_made_before_the_fork_stay_valid_and_private() {
    let mut ring = Ring::with_capacity(page_size()).unwrap();
    ring.push_slice(b"viewed");
    let view = ring.export_readable();
    ring.clear(); // consumed, but the view still shows the bytes
    let grant = ring.export_grant(Some(8)).unwrap();
    // SAFETY: the open grant's 8 bytes are ours to write; write 4 of them.
    unsafe { grant.as_mut_ptr().copy_from(b"half".as_ptr(), 4) };
    let (vp, vl, gp) = (view.as_ptr(), view.len(), grant.as_mut_ptr());
    let child_ok = in_child(|| {
        // SAFETY: the exports are live in the child too (same addresses).
        let shown = unsafe { std::slice::from_raw_parts(vp, vl) } == b"viewed";
        // SAFETY: as above; the grant is still ours to write.
        unsafe { gp.add(4).copy_from(b"+kid".as_ptr(), 4) };
        let published = ring.advance_head(8).is_ok() && ring.as_slice() == b"half+kid";
        shown && published
    });
    assert!(child_ok, "the child lost the view's bytes or the grant's");
    // SAFETY: the view is live: 6 bytes at `vp`.
    assert_eq!(unsafe { std::slice::from_raw_parts(vp, vl) }, b"viewed");
    assert_eq!(ring.grant_len(), Some(8), "the parent's grant is its own");
    // SAFETY: the parent's grant memory, 8 bytes at `gp`.
    let granted = unsafe { std::slice::from_raw_parts(gp, 8) };
    assert_eq!(&granted[..4], b"half");
    assert_ne!(
        &granted[4..],
        b"+kid",
        "the child's write reached the parent's grant"
    );
    // SAFETY: as above; the grant is ours to write.
    unsafe { gp.add(4).copy_from(b"+mum".as_ptr(), 4) };
    ring.advance_head(8).unwrap();
    assert_eq!(ring.as_slice(), b"half+mum");
    ring.release_grant(grant);
    ring.release(view);
}

#[test]
fn queues_are_private_too() {
    let page = page_size();
    let mut q = Queue::with_capacity(page).unwrap();
    q.push_slice(b"queued");
    let child_ok = in_child(|| {
        let ok = q.peek() == b"queued";
        q.release(6).unwrap();
        // All of the memory: over the parent's bytes too.
        ok && q.push_slice(&vec![b'k'; page])
    });
    assert!(child_ok);
    assert_eq!(q.peek(), b"queued");
}

#[test]
fn a_child_whose_copy_cannot_be_made_refuses_its_rings() {
    let mut ring = Ring::with_capacity(page_size()).unwrap();
    ring.push_slice(b"kept");
    // In a helper child, so that the limit touches no other test: with no
    // descriptor left, the fork handler cannot make a file copy; the
    // grandchild's rings are flagged lost (private pages, not shared ones),
    // and keep showing their live bytes (copied through memory) to views.
    let ok = in_child(|| {
        let Some(saved) = without_descriptors() else {
            return false;
        };
        let lost = in_child(|| {
            // A ring made in the lost child (descriptors back) has memory of
            // its own, and is not lost.
            let mut back = saved;
            back.rlim_cur = back.rlim_max.min(1024);
            // SAFETY: raising our own soft limit up to the hard one.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &back) };
            let fresh = Ring::with_capacity(page_size() * 3).is_ok_and(|r| !r.is_lost());
            ring.is_lost() && ring.as_slice() == b"kept" && fresh
        });
        lost && !ring.is_lost() && ring.as_slice() == b"kept"
    });
    assert!(ok, "a child without a private copy was not flagged lost");
    assert!(!ring.is_lost());
}

#[test]
fn a_fork_waits_for_holds_and_holds_wait_for_nothing_else() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    // A hold taken and dropped leaves forks free (no fork hangs after).
    drop(picoring::hold_off_fork());
    assert!(in_child(|| true));
    // A fork started while another thread holds forks off waits for it:
    // when fork() returns, the hold has been dropped.
    let released = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let r = Arc::clone(&released);
    let holder = std::thread::spawn(move || {
        let hold = picoring::hold_off_fork();
        tx.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        r.store(true, Ordering::SeqCst);
        drop(hold);
    });
    rx.recv().unwrap();
    // SAFETY: the child only exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: _exit is always safe in the child.
        unsafe { libc::_exit(0) };
    }
    let waited = released.load(Ordering::SeqCst);
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    holder.join().unwrap();
    assert!(waited, "fork() went ahead while forks were held off");
}

#[test]
fn views_of_wrapped_consumed_bytes_survive_the_fork() {
    // The view's bytes start near the end of the memory and the tail has
    // wrapped to its start: the fork copy must start where the view does.
    let data: Vec<u8> = (0..200u8).collect();
    let mut ring = wrapped(&data);
    let view = ring.export_readable();
    ring.clear();
    ring.push_slice(b"after");
    let (p, n) = (view.as_ptr(), view.len());
    let ok = in_child(|| {
        // SAFETY: the view is live in the child too.
        let shown = unsafe { std::slice::from_raw_parts(p, n) };
        shown == &data[..] && ring.as_slice() == b"after"
    });
    assert!(ok, "the child lost bytes a view showed");
    ring.release(view);
}

#[test]
fn a_lost_arena_keeps_the_live_bytes_of_every_slot() {
    // As above, with rings in many slots of one arena, their bytes across
    // the end of their memory: every one keeps its bytes, on both sides of
    // the end, in the lost child.
    let size = 2 * page_size();
    let data = vec![0x5A; 100];
    let rings: Vec<Ring> = (0..40)
        .map(|_| {
            let mut r = Ring::with_capacity(size).unwrap();
            r.push_slice(&vec![0; size - 50]);
            r.advance_tail(size - 51).unwrap();
            r.push_slice(&data);
            r.advance_tail(1).unwrap();
            assert!(r.is_wrapped());
            r
        })
        .collect();
    let ok = in_child(|| {
        if without_descriptors().is_none() {
            return false;
        }
        in_child(|| {
            rings
                .iter()
                .all(|r| r.is_lost() && r.as_slice() == &data[..])
        })
    });
    assert!(ok, "a lost child's ring lost its bytes");
    assert!(rings
        .iter()
        .all(|r| !r.is_lost() && r.as_slice() == &data[..]));
}

#[test]
fn rings_stop_short_of_the_mapping_limit_and_malloc_keeps_working() {
    // In a child: 4 KiB rings until refused. The refusal names the limit,
    // comes after tens of thousands of rings (one mapping each), and
    // leaves room: allocation still works, and so do the rings made.
    // Midway, the process gets 12,000 more mappings of its own: the count
    // picoring keeps of the other mappings must catch up before the limit.
    // One mapping per ring (65 per 64; two with the POSIX backend, which
    // does not pack).
    let per_64 = if picoring::backend().starts_with("posix") {
        128
    } else {
        65
    };
    let max: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The others arrive when the rings hold 60% of the limit: past the
    // point where picoring starts counting.
    let others_at = max * 6 / 10 * 64 / per_64;
    let ok = in_child(|| {
        let mut rings = Vec::with_capacity(100_000);
        let mut others_added = false;
        let err = loop {
            match Ring::with_capacity(4096) {
                Ok(r) => rings.push(r),
                Err(e) => break e,
            }
            if rings.len() == others_at && !others_added {
                others_added = true;
                let page = page_size();
                // SAFETY: a new private reservation of ours; every other
                // page made readable: 12,000 separate mappings.
                unsafe {
                    let p = libc::mmap(
                        std::ptr::null_mut(),
                        12_000 * page,
                        libc::PROT_NONE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                        -1,
                        0,
                    );
                    if p == libc::MAP_FAILED {
                        return false;
                    }
                    for i in (0..12_000).step_by(2) {
                        libc::mprotect(p.cast::<u8>().add(i * page).cast(), page, libc::PROT_READ);
                    }
                }
            }
            if rings.len() == 100_000 {
                return true; // a raised vm.max_map_count: nothing to check
            }
        };
        let named = matches!(err, picoring::Error::MappingLimit { max: m, .. } if m == max);
        // The rings took all that the 12,000 others and the headroom (a few
        // thousand) left.
        let many = rings.len() * per_64 / 64 + 12_000 + 4096 >= max;
        if !(named && many && others_added) {
            eprintln!("{} rings, refused with: {err}", rings.len());
        }
        let big = vec![1u8; 64 << 20];
        let usable = rings.iter_mut().take(1000).all(|r| r.push_slice(b"ok"));
        named && many && others_added && big[big.len() - 1] == 1 && usable
    });
    assert!(ok);
}

#[test]
fn under_a_file_size_limit_the_copy_is_split_and_nothing_is_lost() {
    // `ulimit -f` lets each 8 MiB ring's file be made, not one file for all
    // of them: the copy is split into files within the limit.
    let rings: Vec<Ring> = (0..10)
        .map(|i| {
            let mut r = Ring::with_capacity(8 << 20).unwrap();
            r.push_slice(format!("ring {i}").as_bytes());
            r
        })
        .collect();
    let ok = in_child(|| {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: reading and lowering a limit of our own process (SIGXFSZ
        // ignored, as Python does, so that a refused size is an error).
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            if libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit) != 0 {
                return false;
            }
            limit.rlim_cur = 50 << 20;
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return false;
            }
        }
        in_child(|| {
            rings
                .iter()
                .enumerate()
                .all(|(i, r)| !r.is_lost() && r.as_slice() == format!("ring {i}").as_bytes())
        })
    });
    assert!(ok, "a file size limit lost the rings of the child");
}

#[test]
fn a_one_byte_grant_reaches_the_child() {
    // The smallest grant: its one written byte is in the child's copy,
    // through a file and through memory, and the child can publish it.
    let mut ring = Ring::with_capacity(page_size()).unwrap();
    ring.push_slice(b"data");
    let g = ring.export_grant(Some(1)).unwrap();
    let p = g.as_mut_ptr();
    // SAFETY: the grant's one byte, ours to write.
    unsafe { p.write(b'G') };
    let mut child = || {
        // SAFETY: the grant is live in the child too.
        let written = unsafe { p.read() } == b'G';
        written && ring.advance_head(1).is_ok() && ring.as_slice() == b"dataG"
    };
    assert!(in_child(&mut child), "the child lost the grant's byte");
    let lost = in_child(|| without_descriptors().is_some() && in_child(&mut child));
    assert!(lost, "a lost child lost the grant's byte");
    ring.release_grant(g);
}

#[test]
fn an_open_grant_written_here_and_there_reaches_the_child_as_written() {
    // A grant of many pages, some written (across page boundaries, across
    // the end of the memory), some never touched: the child's grant holds
    // exactly what the parent's did, byte for byte.
    let page = page_size();
    let mut ring = Ring::with_capacity(16 * page).unwrap();
    // One page and a half of data, consumed but one byte: the grant starts
    // mid-memory and wraps past its end.
    ring.push_slice(&vec![0x11; page + page / 2]);
    ring.advance_tail(page + page / 2 - 1).unwrap();
    let g = ring.export_grant(None).unwrap();
    let len = g.len();
    let p = g.as_mut_ptr();
    let spots = [
        (0, 100),
        (page - 50, 100),
        (5 * page + 7, 3 * page),
        (len - page / 2 - 30, 60), // where the memory wraps (offset 0)
        (len - 40, 40),
    ];
    for (i, &(at, n)) in spots.iter().enumerate() {
        // SAFETY: inside the grant's `len` bytes, ours to write.
        unsafe { p.add(at).write_bytes(0xA0 + i as u8, n) };
    }
    // What the grant must hold: the memory as a model (the pushed bytes,
    // then the spots), not read back (reading shared memory in the parent
    // would give its never-written pages memory).
    let size = 16 * page;
    let first = page + page / 2;
    let mut memory = vec![0u8; size];
    memory[..first].fill(0x11);
    for (i, &(at, n)) in spots.iter().enumerate() {
        for k in at..at + n {
            memory[(first + k) % size] = 0xA0 + i as u8;
        }
    }
    let before: Vec<u8> = (0..len).map(|k| memory[(first + k) % size]).collect();
    // SAFETY: the grant is live in the child too.
    let as_written = || unsafe { std::slice::from_raw_parts(p, len) } == &before[..];
    let ok = in_child(as_written);
    assert!(ok, "the child's grant differs from what the parent wrote");
    // The same through the copy in memory (no descriptor for a file): the
    // lost child's two halves are separate pages, each written back.
    let lost = in_child(|| without_descriptors().is_some() && in_child(as_written));
    assert!(lost, "a lost child's grant differs from what was written");
    // And the fork read no page that was never written (reading shared
    // memory gives it pages): those are still without memory.
    let written = |pg: usize| -> bool {
        pg <= 1
            || spots.iter().any(|&(at, n)| {
                let (a, b) = (first + at, first + at + n);
                (a..b).any(|o| (o % (16 * page)) / page == pg)
            })
    };
    let base = ring.memory_start() as usize;
    for pg in (0..16).filter(|&pg| !written(pg)) {
        let mut v = 0u8;
        // SAFETY: one page of the ring's mapping, one byte for it.
        let rc = unsafe {
            libc::mincore(
                (base + pg * page) as *mut libc::c_void,
                page,
                (&raw mut v).cast(),
            )
        };
        assert!(
            rc == 0 && v & 1 == 0,
            "page {pg}, never written, was read by the fork"
        );
    }
    ring.release_grant(g);
}

#[test]
fn a_lost_child_shares_no_memory_with_its_parent() {
    // Without a file copy, the child's arenas become private pages: its
    // parent's writes after the fork never show in them. (Parent and lost
    // child here are a helper child and its child: the test process's own
    // copies are made normally.)
    let page = page_size();
    let mut rings: Vec<Ring> = (0..40)
        .map(|i| {
            let mut r = Ring::with_capacity(page).unwrap();
            r.push_slice(format!("ring {i:02}").as_bytes());
            r
        })
        .collect();
    let ok = in_child(|| {
        let (mut go, mut ready) = ([0; 2], [0; 2]);
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: two pipes, then no descriptor left: the next fork copies
        // through memory.
        unsafe {
            if libc::pipe(go.as_mut_ptr()) != 0
                || libc::pipe(ready.as_mut_ptr()) != 0
                || libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0
            {
                return false;
            }
            limit.rlim_cur = 0;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
        let mut b = 0u8;
        // SAFETY: the grandchild says it runs (its fork handler is done),
        // waits for the parent's writes, checks rings, exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: one byte each way on our pipes.
            unsafe {
                libc::write(ready[1], b"r".as_ptr().cast(), 1);
                libc::read(go[0], (&mut b as *mut u8).cast(), 1);
            }
            let ok = rings
                .iter()
                .enumerate()
                .all(|(i, r)| r.is_lost() && r.as_slice() == format!("ring {i:02}").as_bytes());
            // SAFETY: _exit is always safe in the child.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        // SAFETY: one byte from our pipe.
        unsafe { libc::read(ready[0], (&mut b as *mut u8).cast(), 1) };
        for r in rings.iter_mut() {
            r.clear();
            let cap = r.capacity();
            let mut c = r.grant(None).unwrap();
            c.fill(b'P');
            c.commit(cap).unwrap();
        }
        let mut status = 0;
        // SAFETY: signal the grandchild, wait for it.
        unsafe {
            libc::write(go[1], b"x".as_ptr().cast(), 1);
            libc::waitpid(pid, &mut status, 0);
        }
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    });
    assert!(ok, "a lost child saw its parent's writes");
}
