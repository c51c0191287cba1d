//! G6: after fork(), parent and child rings are independent, the child's
//! rings keep their contents and addresses, and only live bytes are copied.
//!
//! Each test writes, in one process, over the very bytes the other process
//! holds, and checks that the other does not see it.

// Miri runs no real fork and maps no memory: the tests need both.
#![cfg(not(miri))]

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
    // descriptor left, the fork handler cannot make the copy, and the
    // grandchild's rings are flagged lost (zero pages, not shared ones).
    let ok = in_child(|| {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: reading and lowering a limit of our own process.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return false;
            }
            limit.rlim_cur = 0;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return false;
            }
        }
        let lost = in_child(|| ring.is_lost() && ring.as_slice().iter().all(|&b| b == 0));
        lost && !ring.is_lost() && ring.as_slice() == b"kept"
    });
    assert!(ok, "a child without a private copy was not flagged lost");
    assert!(!ring.is_lost());
}
