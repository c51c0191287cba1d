//! After fork(), parent and child rings are independent, and the child's
//! ring keeps its contents and its address.

// Miri runs no real fork and maps no memory: the test needs both.
#![cfg(not(miri))]

use picoring::Ring;

#[test]
fn child_gets_a_private_copy_at_the_same_address() {
    let size = 3 * picoring::page_size();
    let mut ring = Ring::with_capacity(size).unwrap();
    // Make the data wrap past the end of the memory first (one byte stays,
    // so that the ring does not rewind when drained).
    ring.push_slice(&vec![0; size - 8]);
    ring.advance_tail(size - 9).unwrap();
    assert!(ring.push_slice(b"shared before fork"));
    ring.advance_tail(1).unwrap();
    assert!(ring.is_wrapped());
    let addr = ring.as_slice().as_ptr() as usize;

    // SAFETY: the child only touches the ring and then calls _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = ring.as_slice() == b"shared before fork"
            && ring.as_slice().as_ptr() as usize == addr
            && {
                ring.clear();
                ring.push_slice(b"child only")
            }
            && ring.as_slice() == b"child only";
        // SAFETY: _exit is always safe to call in the child.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child saw wrong data"
    );
    assert_eq!(
        ring.as_slice(),
        b"shared before fork",
        "the child's writes leaked into the parent"
    );
}
