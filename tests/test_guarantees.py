"""The guarantees G1-G8 of DESIGN.md, each tested as a user meets it."""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
import tracemalloc

import numpy as np
import pytest

import picoring
from picoring import PicoByteStreamPy, PicoListByte, PicoQueueByte, PicoRingByte

from conftest import SLOW, rss, run_python

PAGE = picoring.PAGE_SIZE


def address(view: memoryview) -> int:
    """The address of a view's first byte."""
    return int(np.frombuffer(view, dtype=np.uint8).ctypes.data)


def wrapped_ring(capacity: int, fill: bytes) -> PicoRingByte:
    """A ring of `capacity` (a whole number of pages) whose readable bytes
    `fill` start at offset `capacity - len(fill) // 2` of its memory, so they
    cross its end. One byte stays in the ring while it is set up: a drained
    ring would restart at the start of its memory."""
    assert capacity % PAGE == 0 and 2 <= len(fill) < capacity
    ring = PicoRingByte(capacity)
    skip = capacity - len(fill) // 2
    assert ring.push_bytes(bytes(skip))
    ring.advance_tail(skip - 1)
    assert ring.push_bytes(fill)
    ring.advance_tail(1)
    return ring


# --- G1 zero-copy -----------------------------------------------------------


def test_g1_view_is_contiguous_across_the_wrap_and_points_into_the_ring() -> None:
    data = bytes(range(256)) * 64  # 16 KiB
    ring = wrapped_ring(8 * PAGE, data)
    view = ring.get_readable_view()
    assert view.contiguous and view.c_contiguous and view.readonly
    assert view.nbytes == len(data)
    assert bytes(view) == data
    # The first byte sits near the end of the first mapping and the view runs
    # on into the second: one run of addresses, no copy.
    base = address(view) - (8 * PAGE - len(data) // 2)
    assert address(view) + len(view) > base + 8 * PAGE
    # A second view is the same memory.
    again = ring.get_readable_view()
    assert address(again) == address(view)
    # A byte written through a writable view shows in readable views at once.
    del view, again
    w = ring.get_writable_view(1)
    w[0] = 0xAB
    ring.advance_head(1)
    del w
    assert ring.get_readable_view()[-1] == 0xAB


@pytest.mark.parametrize("size", [4096, 1 << 20, 64 << 20])
def test_g1_view_costs_no_allocation_whatever_the_size(size: int) -> None:
    ring = wrapped_ring(size + PAGE, b"\x01" * size)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        views = [ring.get_readable_view() for _ in range(10)]
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert all(len(v) == size for v in views)
    # Ten memoryview objects and a list: a few hundred bytes, never the data.
    assert grown < 4096, grown


def test_g1_numpy_sees_the_ring_without_copy() -> None:
    samples = np.arange(1000, dtype=np.float32)
    ring = wrapped_ring(2 * PAGE, samples.tobytes())
    arr = np.frombuffer(ring, dtype=np.float32)
    assert np.array_equal(arr, samples)
    assert not arr.flags.writeable and not arr.flags.owndata
    assert arr.ctypes.data == address(ring.get_readable_view())


def test_g1_a_drained_ring_reuses_the_start_of_its_memory() -> None:
    ring = PicoRingByte(4 * PAGE)
    ring.push_bytes(b"zeroth")
    ring.pop_bytes(6)
    ring.push_bytes(b"first")
    start = address(ring.get_readable_view())
    ring.pop_bytes(5)
    ring.push_bytes(b"second")
    assert address(ring.get_readable_view()) == start  # cache-warm pages
    view = ring.get_readable_view()
    ring.clear()
    ring.push_bytes(b"third")
    assert bytes(view) == b"second"  # a live view still keeps its bytes
    assert bytes(ring) == b"third"


def test_g1_queue_and_stream_views_are_zero_copy_too() -> None:
    q = PicoQueueByte(PAGE)
    q.push_bulk(b"x" * (PAGE - 10))
    q.pop_bulk(PAGE - 20)
    q.push_bulk(b"y" * 30)
    v = q.get_view()
    assert bytes(v) == b"x" * 10 + b"y" * 30
    assert address(memoryview(q)) == address(v)
    s = PicoByteStreamPy(100)
    s.write(b"abc")
    assert bytes(memoryview(s)) == b"abc"


# --- G2 stable views ----------------------------------------------------------


def test_g2_pushes_never_land_on_a_live_view() -> None:
    ring = PicoRingByte(16)
    ring.push_bytes(b"0123456789abcdef")
    view = ring.get_readable_view()
    ring.pop_bytes(16)  # consuming is allowed while the view is alive
    assert len(ring) == 0
    assert ring.free() == 0
    assert ring.push(1) is False
    assert ring.push_bytes(b"x") is False
    with pytest.raises(BufferError):
        ring.push_overwrite(b"x")
    assert bytes(view) == b"0123456789abcdef"
    view.release()
    assert ring.free() == 16
    assert ring.push_bytes(b"z" * 16)


def test_g2_stream_write_is_short_while_a_view_is_alive() -> None:
    s = PicoByteStreamPy(8)
    s.write(b"abcdefgh")
    view = memoryview(s)
    assert s.read(4) == b"abcd"
    assert s.write(b"1234") == 0
    del view
    assert s.write(b"1234") == 4
    assert s.read() == b"efgh1234"


def test_g2_push_overwrite_is_refused_only_when_it_would_reach_the_view() -> None:
    ring = PicoRingByte(8)
    ring.push_bytes(b"abcd")
    view = ring.get_readable_view()
    assert ring.push_overwrite(b"efgh") == 0  # room enough: nothing dropped
    with pytest.raises(BufferError, match="live view"):
        ring.push_overwrite(b"i")
    assert bytes(ring) == b"abcdefgh"  # the refused call changed nothing
    del view
    assert ring.push_overwrite(b"i") == 1
    assert bytes(ring) == b"bcdefghi"


def test_g2_writable_view_reserves_its_range() -> None:
    ring = PicoRingByte(16)
    w = ring.get_writable_view(8)
    assert len(w) == 8 and not w.readonly
    assert ring.push(1) is False  # would write where the view's owner writes
    w[:5] = b"hello"
    ring.advance_head(5)
    assert bytes(ring) == b"hello"
    w.release()
    assert ring.push_bytes(b"!")
    assert bytes(ring) == b"hello!"


def test_g2_queue_reserve_and_commit() -> None:
    q = PicoQueueByte(64)
    m = q.reserve(4)
    assert m is not None
    m[:] = b"abcd"
    q.commit(4)
    del m
    assert q.pop_bulk(10) == b"abcd"
    assert q.reserve(65 - 1) is not None
    with pytest.raises(ValueError, match="capacity"):
        q.reserve(65)


def test_g2_list_view_freezes_its_bytes_but_not_growth() -> None:
    lst = PicoListByte(b"abc")
    view = memoryview(lst)
    lst.extend(b"def")
    with pytest.raises(BufferError):
        lst[0] = 1
    with pytest.raises(BufferError):
        lst.clear()
    lst[4] = ord("E")  # beyond the view: allowed
    assert bytes(view) == b"abc"
    del view
    lst[0] = ord("A")
    assert bytes(lst) == b"AbcdEf"


# --- G3 checked state ---------------------------------------------------------


def test_g3_advance_tail_beyond_len_raises_and_changes_nothing() -> None:
    ring = PicoRingByte(10)
    ring.push_bytes(b"abc")
    with pytest.raises(ValueError, match=r"n=4 .*\(3\)"):
        ring.advance_tail(4)
    assert bytes(ring) == b"abc" and len(ring) == 3


def test_g3_advance_head_beyond_free_space_raises_and_changes_nothing() -> None:
    ring = PicoRingByte(10)
    ring.push_bytes(b"abc")
    w = ring.get_writable_view()
    assert len(w) == 7
    with pytest.raises(ValueError, match=r"n=8"):
        ring.advance_head(8)
    assert bytes(ring) == b"abc"


def test_g3_advance_head_never_shows_consumed_bytes_as_new() -> None:
    ring = PicoRingByte(8)
    ring.push_bytes(b"secret!!")
    ring.pop_bytes(8)
    # Nothing was handed out for writing: publishing would show old bytes.
    with pytest.raises(ValueError):
        ring.advance_head(8)
    assert len(ring) == 0


# --- G4 clear errors ----------------------------------------------------------


@pytest.mark.parametrize("cls", [PicoRingByte, PicoQueueByte, PicoByteStreamPy])
def test_g4_bad_capacities(cls: type) -> None:
    with pytest.raises(ValueError, match=r"capacity must be > 0, got 0"):
        cls(0)
    with pytest.raises(ValueError, match=r"capacity must be > 0, got -5"):
        cls(-5)
    with pytest.raises(TypeError, match=r"capacity must be an int \(or an object with __index__\), not str"):
        cls("1024")
    with pytest.raises(TypeError, match=r"capacity must be an int .*, not float"):
        cls(10.0)
    with pytest.raises(MemoryError, match=r"capacity .* larger than the maximum"):
        cls(2**80)
    with pytest.raises(MemoryError, match=str(picoring.MAX_CAPACITY)):
        cls(picoring.MAX_CAPACITY + 1)


def test_g4_capacity_the_os_cannot_give_is_memory_error() -> None:
    # Under a 2 GiB address-space limit a 4 GiB ring cannot be mapped; the
    # process must get MemoryError naming the size, and stay healthy.
    out = run_python(
        """
        import resource, picoring
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        try:
            picoring.PicoRingByte(4 << 30)
        except MemoryError as e:
            assert str(4 << 30) in str(e), e
            r = picoring.PicoRingByte(4096)
            assert r.push_bytes(b"still fine") and bytes(r) == b"still fine"
            print("ok")
        """,
        timeout=60,
    )
    assert out.strip() == "ok"


def test_g4_negative_counts_and_wrong_types() -> None:
    ring = PicoRingByte(10)
    ring.push_bytes(b"abc")
    for call in (ring.pop_bytes, ring.advance_tail, ring.advance_head, ring.get_writable_view):
        with pytest.raises(ValueError, match=r"n must be >= 0, got -1"):
            call(-1)
        with pytest.raises(TypeError, match=r"n must be an int"):
            call("2")
    with pytest.raises(ValueError, match=r"range\(0, 256\), got 256"):
        ring.push(256)
    with pytest.raises(TypeError, match=r"data must be a C-contiguous bytes-like"):
        ring.push_bytes("text")
    with pytest.raises(TypeError, match=r"data must be"):
        ring.push_bytes(np.arange(10)[::2])  # not contiguous
    assert bytes(ring) == b"abc"


def test_g4_refused_calls_lose_nothing() -> None:
    ring = PicoRingByte(4)
    ring.push_bytes(b"abc")
    assert ring.push_bytes(b"de") is False
    assert bytes(ring) == b"abc"
    q = PicoQueueByte(4)
    q.push_bulk(b"abcd")
    assert q.push(1) is False and q.push_bulk(b"x") is False
    assert q.pop_bulk(4) == b"abcd"


def test_g4_huge_reads_allocate_only_what_is_there() -> None:
    ring = PicoRingByte(1 << 20)
    ring.push_bytes(b"x" * 100)
    s = PicoByteStreamPy(1 << 20)
    s.write(b"y" * 100)
    tracemalloc.start()
    try:
        a = ring.pop_bytes(10**18)
        b = s.read(2**62)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert a == b"x" * 100 and b == b"y" * 100
    assert peak < 64 * 1024


def test_g4_every_integer_argument_takes_index_objects_like_numpy_scalars() -> None:
    # As bytearray does: any object with __index__ (NumPy scalars included).
    ring = PicoRingByte(np.int64(4096))
    assert ring.capacity() == 4096
    assert ring.push(np.uint8(1)) and ring.push(item=np.int16(2))
    ring.push_bytes(b"abcdef")
    assert ring.pop_bytes(np.int64(2)) == b"\x01\x02"
    assert ring.pop_bytes(n=np.uint32(1)) == b"a"
    ring.advance_tail(np.int8(1))
    w = ring.get_writable_view(np.int32(3))
    w[:] = b"xyz"
    ring.advance_head(np.uint64(3))
    assert bytes(ring) == b"cdefxyz" and ring[np.int64(-1)] == ord("z")
    q = PicoQueueByte(np.uint16(64))
    m = q.reserve(np.int64(2))
    assert m is not None
    m[:] = b"qq"
    q.commit(np.int64(2))
    assert q.pop_bulk(np.int64(5)) == b"qq"
    st = PicoByteStreamPy(np.int32(64))
    st.write(b"stream")
    assert st.read(np.int64(3)) == b"str"
    lst = PicoListByte([np.uint8(7), 8, np.int64(9)])
    lst.push(np.int32(10))
    assert lst.get(np.int64(0)) == 7 and lst[np.int64(1)] == 8
    assert lst.set(np.int64(2), np.uint8(90)) and bytes(lst) == b"\x07\x08Z\x0a"
    lst[np.int16(-1)] = np.uint8(11)
    assert lst[-1] == 11


@pytest.mark.parametrize("bad", [1.0, "1", b"1", None, [1], np.float64(2.0)])
def test_g4_floats_and_strings_raise_type_error_naming_the_argument(bad: object) -> None:
    ring = PicoRingByte(64)
    ring.push_bytes(b"abc")
    calls = [
        ("item", lambda: ring.push(bad)),  # type: ignore[arg-type]
        ("n", lambda: ring.advance_tail(bad)),  # type: ignore[arg-type]
        ("n", lambda: ring.advance_head(bad)),  # type: ignore[arg-type]
        ("capacity", lambda: PicoRingByte(bad)),  # type: ignore[arg-type]
        ("index", lambda: PicoListByte(b"x").get(bad)),  # type: ignore[arg-type]
    ]
    if bad is not None:  # None means "all" for the optional counts
        calls += [
            ("n", lambda: ring.pop_bytes(bad)),  # type: ignore[arg-type]
            ("n", lambda: ring.get_writable_view(bad)),  # type: ignore[arg-type]
        ]
    for arg, call in calls:
        with pytest.raises(TypeError, match=rf"^{arg} must be an int .*, not {type(bad).__name__}$"):
            call()
    assert bytes(ring) == b"abc" and ring.free() == 61


def test_g4_refusals_and_type_errors_leak_nothing() -> None:
    # Errors raised and swallowed inside the extension (a failed __index__,
    # a non-buffer `data`, an int beyond 64 bits) must not pile up. Each
    # kind of call is measured on its own, in a fresh interpreter: one that
    # empties some pool of deferred references would hide the others.
    out = run_python(
        """
        import gc, json, sys, picoring
        r = picoring.PicoRingByte(64); r.push_bytes(b"abc")
        l = picoring.PicoListByte(b"xyz")

        class Odd:
            def __index__(self):
                raise ValueError("no")

        calls = {
            "push(float)": lambda: r.push(1.5),
            "pop_bytes(str)": lambda: r.pop_bytes("x"),
            "advance_tail(2**70)": lambda: r.advance_tail(2**70),
            "push(2**80)": lambda: r.push(2**80),
            "extend(float)": lambda: l.extend(3.0),
            "get(bad __index__)": lambda: l.get(Odd()),
            "push_bytes(str)": lambda: r.push_bytes("text"),
            "l[2**100]": lambda: l[2**100],
            "pop_bytes(1, 2)": lambda: r.pop_bytes(1, 2),
            "pop_bytes(m=1)": lambda: r.pop_bytes(m=1),
            "PicoRingByte(-1)": lambda: picoring.PicoRingByte(-1),
        }
        grown = {}
        for name, call in calls.items():
            def churn(n):
                for _ in range(n):
                    try:
                        call()
                    except (TypeError, ValueError, IndexError):
                        pass
            churn(1000)
            gc.collect()
            before = sys.getallocatedblocks()
            churn(20_000)
            gc.collect()
            grown[name] = sys.getallocatedblocks() - before
        print(json.dumps(grown))
        """,
        timeout=240,
    )
    grown = json.loads(out)
    assert all(n < 200 for n in grown.values()), grown


def test_g4_successful_calls_of_every_kind_leak_nothing() -> None:
    # The same on the paths that succeed, where nothing is raised: NumPy
    # scalars (__index__), bools, buffers that are not bytes, iterables,
    # slices, views of every kind.
    out = run_python(
        """
        import array, gc, json, sys, numpy as np, picoring
        r = picoring.PicoRingByte(1 << 16); q = picoring.PicoQueueByte(1 << 16)
        s = picoring.PicoByteStreamPy(1 << 16); l = picoring.PicoListByte(b"xyz" * 100)
        arr = np.arange(64, dtype=np.uint8); mv = memoryview(bytearray(64)); aa = array.array("B", b"a" * 64)

        def ring():
            r.push(np.uint8(1)); r.push(True); r.push_bytes(arr); r.push_bytes(mv); r.push_bytes(aa)
            r.pop_bytes(np.int64(200)); r.pop()
        def grant():
            w = r.get_writable_view(np.int32(8)); w[:] = b"12345678"; r.advance_head(np.int64(8))
            del w; r.advance_tail(8)
        def queue():
            m = q.reserve(4); m[:] = b"abcd"; q.commit(4); del m; q.pop_bulk(n=4)
            q.push_bulk(bytearray(b"xy")); q[0]; q[0:1]; q.pop_bulk()
        def stream():
            s.write(memoryview(b"hello")); s.read(-1); s.write(b"x"); s.readinto(bytearray(1))
        def lst():
            l[np.int64(5)]; l.get(True); l.set(np.int16(1), np.uint8(2)); l[10:20]; l.extend([1, 2, 3])
            l.pop(); l.pop(); l.pop(); memoryview(l).release()
        def views():
            bytes(r); memoryview(q).release(); np.frombuffer(s, dtype=np.uint8); repr(r); len(q)

        grown = {}
        for f in (ring, grant, queue, stream, lst, views):
            for _ in range(500):
                f()
            gc.collect()
            before = sys.getallocatedblocks()
            for _ in range(10_000):
                f()
            gc.collect()
            grown[f.__name__] = sys.getallocatedblocks() - before
        print(json.dumps(grown))
        """,
        timeout=240,
    )
    grown = json.loads(out)
    assert all(n < 200 for n in grown.values()), grown


# --- G5 no leaks --------------------------------------------------------------


def test_g5_a_million_objects_leak_no_fds_mappings_or_memory() -> None:
    # In a fresh interpreter (nothing else of pytest's allocates meanwhile),
    # sampled every 50,000 cycles: descriptors, mappings and RSS stay flat.
    out = run_python(
        """
        import gc, json, os, picoring
        from picoring import PicoByteStreamPy, PicoListByte, PicoQueueByte, PicoRingByte

        def fds():
            return len(os.listdir("/proc/self/fd"))

        def maps():
            with open("/proc/self/maps") as f:
                return sum(1 for _ in f)

        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

        def churn(n):
            for i in range(n):
                r = PicoRingByte(4096)
                r.push_bytes(b"abc")
                v = r.get_readable_view()
                del v, r
                q = PicoQueueByte(100)
                q.push_bulk(b"q")
                s = PicoByteStreamPy(100)
                s.write(b"s")
                lst = PicoListByte()
                lst.push(i & 0xFF)
                del q, s, lst

        churn(2000)  # warm up allocator pools
        gc.collect()
        samples = [(fds(), maps(), rss())]
        for _ in range(5):
            churn(CYCLES)  # four objects each: a million in all
            gc.collect()
            samples.append((fds(), maps(), rss()))
        print(json.dumps(samples))
        """.replace("CYCLES", "2_000" if SLOW else "50_000"),  # valgrind: 40,000 objects
        timeout=240,
    )
    samples = json.loads(out)
    (fds, maps, mem), rest = samples[0], samples[1:]
    assert all(f == fds for f, _, _ in rest), samples
    assert all(m <= maps + 2 for _, m, _ in rest), samples
    # Under valgrind, memcheck's own quarantine of freed blocks and shadow
    # memory grow the RSS; its leak check stands in for this assertion there.
    assert SLOW or all(r - mem < 16 << 20 for _, _, r in rest), samples


def test_g5_freed_ring_slots_give_their_memory_back() -> None:
    # Small rings share arenas; a ring's memory is given back to the OS when
    # it is dropped (its slot's pages are freed), and slots are reused: the
    # process's shared memory and mapping count return to where they were.
    out = run_python(
        """
        import json, picoring

        def shmem_kib():
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) for l in f if l.startswith("RssShmem:"))

        def maps():
            with open("/proc/self/maps") as f:
                return sum(1 for _ in f)

        page = picoring.PAGE_SIZE
        warm = [picoring.PicoRingByte(page) for _ in range(64)]
        del warm
        before = (shmem_kib(), maps())
        rings = [picoring.PicoRingByte(page) for _ in range(3000)]
        for r in rings:
            assert r.push_bytes(b"\\xab" * page)
        full = (shmem_kib(), maps())
        del rings
        after = (shmem_kib(), maps())
        again = [picoring.PicoRingByte(page) for _ in range(3000)]
        zeros = all(bytes(r.get_writable_view()) == bytes(page) for r in again)
        print(json.dumps({"before": before, "full": full, "after": after, "zeros": zeros}))
        """,
        timeout=120,
    )
    r = json.loads(out)
    (shm0, maps0), (shm1, maps1), (shm2, maps2) = r["before"], r["full"], r["after"]
    data_kib = 3000 * PAGE // 1024
    assert shm1 - shm0 >= data_kib * 0.9, r  # the data was resident...
    assert shm2 - shm0 < data_kib * 0.05, r  # ...and went back to the OS
    # One mapping per ring (packed), and at most one spare arena kept.
    assert maps1 - maps0 <= 3000 * 1.05 + 70, r
    assert maps2 - maps0 <= 70, r
    assert r["zeros"], "a reused slot showed the bytes of the ring before"


# --- G6 fork ------------------------------------------------------------------
#
# Each test writes, in one process, over the very bytes that the other
# process holds, and checks that the other does not see it. A ring whose
# readable bytes were consumed, with no view alive, restarts at the same
# offset and a grant of all its free space covers all of its memory: that
# is how the writer reaches every byte.


def _in_child(fn, after_fork=None) -> int:  # type: ignore[no-untyped-def]
    """Runs `fn` in a forked child; `after_fork` runs in the parent while
    the child waits, before `fn` runs. Returns the child's exit code (0 when
    `fn` returned true)."""
    r_fd, w_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(w_fd)
            os.read(r_fd, 1)
            code = 0 if fn() else 1
        finally:
            os._exit(code)
    os.close(r_fd)
    try:
        if after_fork is not None:
            after_fork()
    finally:
        os.write(w_fd, b"x")
        os.close(w_fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _overwrite_all(obj, publish, grant) -> bool:  # type: ignore[no-untyped-def]
    """Consumes everything, then writes b"W" over all of the memory through
    one grant of all the free space; true if it could."""
    obj.clear()
    w = grant()
    if w is None or len(w) != obj.capacity():
        return False
    w[:] = b"W" * len(w)
    publish(len(w))
    del w
    return bytes(obj) == b"W" * obj.capacity()


def test_g6_the_child_overwrites_the_parents_bytes_and_the_parent_keeps_them() -> None:
    data = b"before fork" * 300
    ring = wrapped_ring(2 * PAGE, data)
    view = ring.get_readable_view()

    def child() -> bool:
        ok = bytes(ring) == data and bytes(view) == data
        view.release()  # the child's copy of the view: its bytes are free now
        return ok and _overwrite_all(ring, ring.advance_head, ring.get_writable_view)

    assert _in_child(child) == 0, "the child saw wrong data"
    assert bytes(ring) == data and bytes(view) == data, "the child's writes reached the parent"


def test_g6_the_parent_overwrites_after_the_fork_and_the_child_keeps_its_bytes() -> None:
    data = bytes(range(256)) * 16
    ring = PicoRingByte(4 * PAGE)
    ring.push_bytes(data)

    def parent() -> None:
        assert _overwrite_all(ring, ring.advance_head, ring.get_writable_view)

    assert _in_child(lambda: bytes(ring) == data, after_fork=parent) == 0, "the child saw the parent's writes"


@pytest.mark.parametrize("kind", ["queue", "stream"])
def test_g6_queues_and_streams_are_private_too(kind: str) -> None:
    if kind == "queue":
        q = PicoQueueByte(PAGE)
        q.push_bulk(b"queued")
        obj, publish, grant = q, q.commit, lambda: q.reserve(PAGE)
    else:
        st = PicoByteStreamPy(PAGE)
        st.write(b"queued")
        obj = st

        def publish(n: int) -> None:
            pass

        def grant() -> memoryview:
            st.write(b"W" * PAGE)
            return memoryview(bytearray(PAGE))

    def child() -> bool:
        ok = bytes(obj) == b"queued"
        if kind == "queue":
            return ok and _overwrite_all(obj, publish, grant)
        obj.clear()
        return ok and obj.write(b"W" * PAGE) == PAGE and bytes(obj) == b"W" * PAGE

    assert _in_child(child) == 0
    assert bytes(obj) == b"queued"


def test_g6_a_writable_view_opened_before_the_fork_is_private_in_both() -> None:
    ring = PicoRingByte(PAGE)
    w = ring.get_writable_view(8)
    w[:4] = b"half"

    def child() -> bool:
        w[4:] = b"+kid"
        ring.advance_head(8)
        return bytes(ring) == b"half+kid"

    assert _in_child(child) == 0, "the child lost the bytes written before the fork"
    assert bytes(w[:4]) == b"half" and bytes(w[4:]) != b"+kid", "the child's write reached the parent's grant"
    w[4:] = b"+mum"
    ring.advance_head(8)
    assert bytes(ring) == b"half+mum"


def test_g6_views_of_consumed_bytes_survive_the_fork() -> None:
    ring = PicoRingByte(PAGE)
    ring.push_bytes(b"viewed")
    view = ring.get_readable_view()
    ring.clear()  # consumed: only the view keeps the bytes

    def child() -> bool:
        return bytes(view) == b"viewed" and len(ring) == 0

    assert _in_child(child) == 0


def test_g6_packed_rings_stay_separate_and_private() -> None:
    # Small rings share arenas (one mapping each): a child that overwrites
    # one ring's memory, and makes new rings in the arenas' free slots,
    # changes nothing in the parent, and the parent's new rings read zeros.
    rings = [PicoRingByte(PAGE) for _ in range(80)]
    for i, r in enumerate(rings):
        r.push_bytes(b"ring %02d" % i)

    def child() -> bool:
        intact = all(bytes(r) == b"ring %02d" % i for i, r in enumerate(rings))
        fresh = [PicoRingByte(PAGE) for _ in range(40)]
        zeros = all(bytes(f.get_writable_view()) == bytes(PAGE) for f in fresh)
        for f in fresh:
            _overwrite_all(f, f.advance_head, f.get_writable_view)
        for r in rings[::3]:
            _overwrite_all(r, r.advance_head, r.get_writable_view)
        neighbours = all(bytes(r) == b"ring %02d" % i for i, r in enumerate(rings) if i % 3)
        return intact and zeros and neighbours

    assert _in_child(child) == 0
    assert all(bytes(r) == b"ring %02d" % i for i, r in enumerate(rings)), "a packed ring changed"
    fresh = [PicoRingByte(PAGE) for _ in range(40)]
    assert all(bytes(f.get_writable_view()) == bytes(PAGE) for f in fresh), "a new ring showed old bytes"


def test_g6_lists_are_private_too() -> None:
    lst = PicoListByte(b"list data")
    view = memoryview(lst)

    def child() -> bool:
        view.release()
        lst[0] = ord("L")
        lst.extend(b"-child")
        return bytes(lst) == b"List data-child"

    assert _in_child(child) == 0
    assert bytes(lst) == b"list data" and bytes(view) == b"list data"


def test_g6_free_space_is_not_copied_for_the_child() -> None:
    # The fork copies only what a child can see: an idle ring's old bytes
    # (consumed, no view) are not copied, so the child's free space reads
    # zeros while the parent's still holds them.
    ring = PicoRingByte(64 * PAGE)
    ring.push_bytes(b"\xee" * (64 * PAGE - 5))
    ring.pop_bytes(64 * PAGE - 5)
    ring.push_bytes(b"live!")
    old = bytes(ring.get_writable_view())
    ring.advance_head(0)
    assert old.count(0xEE) > 32 * PAGE

    def child() -> bool:
        free = bytes(ring.get_writable_view())
        return bytes(ring) == b"live!" and free == bytes(len(free))

    assert _in_child(child) == 0, "the child got free space copied (or lost its live bytes)"


def test_g6_an_open_grant_costs_a_fork_only_what_was_written() -> None:
    # The recv_into / get_buffer idiom: a grant of all the free space of a
    # large ring is open when the process forks. Only its pages that hold
    # memory are copied: the fork makes no memory resident in the parent,
    # and the child keeps what was written into the grant.
    out = run_python(
        """
        import json, os, picoring

        def shmem_kib():
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) for l in f if l.startswith("RssShmem:"))

        r = picoring.PicoRingByte(1 << 30)
        w = r.get_writable_view()
        w[: 1 << 20] = b"\\x42" * (1 << 20)  # 1 MiB written, 1023 MiB never
        before = shmem_kib()
        rd, wr = os.pipe()
        pid = os.fork()
        if pid == 0:
            kept = bytes(w[: 1 << 20]) == b"\\x42" * (1 << 20)
            r.advance_head(1 << 20)
            os.write(wr, json.dumps([kept, len(r)]).encode())
            os._exit(0)
        os.waitpid(pid, 0)
        child = json.loads(os.read(rd, 100))
        print(json.dumps({"grew_kib": shmem_kib() - before, "child": child}))
        """,
        timeout=120,
    )
    r = json.loads(out)
    assert r["child"] == [True, 1 << 20], r
    assert r["grew_kib"] < 64 * 1024, f"the fork made {r['grew_kib']} KiB resident"


def test_g6_repeated_forks_from_a_thread() -> None:
    ring = PicoRingByte(PAGE)
    results: list[int] = []

    def worker() -> None:
        for i in range(5):
            ring.push_bytes(bytes([i]))
            results.append(_in_child(lambda: bytes(ring)[-1] == ring[-1] and ring.push_bytes(b"c")))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert results == [0] * 5
    assert bytes(ring) == bytes(range(5))


# --- G7 threads ---------------------------------------------------------------


def test_g7_threads_sharing_a_ring_never_lose_or_corrupt_bytes() -> None:
    ring = PicoRingByte(4 << 20)
    stop = threading.Event()
    pushed = [0] * 4
    popped = [0] * 4
    errors: list[BaseException] = []
    chunk_small = b"\x5a" * 64
    chunk_big = b"\x5a" * (2 << 20)  # large enough to copy without the GIL

    def producer(k: int) -> None:
        try:
            while not stop.is_set():
                c = chunk_big if k == 0 else chunk_small
                if ring.push_bytes(c):
                    pushed[k] += len(c)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def consumer(k: int) -> None:
        try:
            while not stop.is_set():
                if k == 0:
                    data = ring.pop_bytes(3 << 20)
                else:
                    v = ring.get_readable_view()  # hold a view while others push
                    data = ring.pop_bytes(1000)
                    assert set(bytes(v[: len(data)])) <= {0x5A}
                    v.release()
                assert set(data) <= {0x5A}
                popped[k] += len(data)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=producer, args=(k,)) for k in range(4)]
    threads += [threading.Thread(target=consumer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    threading.Event().wait(1.5)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(pushed) == sum(popped) + len(ring)
    assert sum(pushed) > 0 and sum(popped) > 0
    assert ring.free() == ring.capacity() - len(ring), "a view release was lost"


@pytest.mark.skipif(
    SLOW, reason="valgrind runs one thread at a time: progress during a copy depends on its scheduler"
)
def test_g7_large_copies_release_the_gil() -> None:
    # With a long switch interval, the other thread only runs when this one
    # gives the GIL up. Its counter moving *during* one push_bytes/pop_bytes
    # call therefore proves that the copy ran without the GIL.
    ring = PicoRingByte(256 << 20)
    big = b"\x01" * (128 << 20)
    count = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal count
        while not stop.is_set():
            count += 1
            time.sleep(0)  # hands the GIL back as soon as it is wanted

    old = sys.getswitchinterval()
    sys.setswitchinterval(10.0)
    t = threading.Thread(target=spin)
    try:
        t.start()
        while count == 0:
            time.sleep(0.001)
        before = count
        assert ring.push_bytes(big)
        during_push = count - before
        before = count
        out = ring.pop_bytes(len(big))
        during_pop = count - before
    finally:
        stop.set()
        sys.setswitchinterval(old)
        t.join()
    assert out == big
    assert during_push > 0, "push_bytes held the GIL through a 128 MiB copy"
    assert during_pop > 0, "pop_bytes held the GIL through a 128 MiB copy"


def test_g7_list_shared_between_threads() -> None:
    lst = PicoListByte()

    def worker(k: int) -> None:
        for _ in range(200):
            lst.extend(bytes([k]) * 1000)
            lst.push(k)
            memoryview(lst).release()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(lst) == 8 * 200 * 1001
    counts = np.bincount(np.frombuffer(lst, dtype=np.uint8), minlength=8)
    assert list(counts[:8]) == [200 * 1001] * 8


# --- G8 lists grow in place ---------------------------------------------------


def test_g8_list_grows_without_moving_and_views_stay_valid() -> None:
    lst = PicoListByte(b"head")
    view = memoryview(lst)
    start = address(view)
    for _ in range(100):
        lst.extend(b"\x07" * (1 << 20))  # 100 MiB in all
    assert bytes(view) == b"head"
    after = memoryview(lst)
    assert address(after) == start, "the items moved"
    assert len(after) == 4 + (100 << 20)
    assert lst[0] == ord("h") and lst[-1] == 7


def test_g8_growth_that_would_move_the_list_is_refused_while_a_view_is_alive() -> None:
    # Past its 1 GiB reservation a list extends in place if the address
    # space after it is free; here a page is mapped right there first, so
    # growing means moving: refused with BufferError while a view shows the
    # items (nothing changes), done once the view is released.
    out = run_python(
        """
        import ctypes, mmap, numpy as np, picoring
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                              ctypes.c_int, ctypes.c_int, ctypes.c_long]
        MAP_FIXED_NOREPLACE = 0x100000

        lst = picoring.PicoListByte(b"head")
        view = memoryview(lst)
        base = np.frombuffer(view, dtype=np.uint8).ctypes.data
        end = base + (1 << 30)
        p = libc.mmap(end, mmap.PAGESIZE, mmap.PROT_READ,
                      mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
        assert p == end, "could not take the address space after the list"
        chunk = b"\x07" * (64 << 20)
        while len(lst) + len(chunk) <= 1 << 30:
            lst.extend(chunk)
        n = len(lst)
        try:
            lst.extend(chunk)
        except BufferError as e:
            assert "mov" in str(e), e
        else:
            raise AssertionError("the list moved under a live view")
        assert len(lst) == n and bytes(view) == b"head"
        view.release()
        lst.extend(chunk)
        assert len(lst) == n + len(chunk) and lst[:4] == b"head" and lst[-1] == 7
        moved = np.frombuffer(memoryview(lst), dtype=np.uint8).ctypes.data != base
        print("moved" if moved else "in place")
        """,
        timeout=120,
    )
    assert out.strip() == "moved"


def test_g8_resident_memory_follows_the_data() -> None:
    gc.collect()
    before = rss()
    lst = PicoListByte()
    chunk = b"\x01" * (1 << 20)
    for _ in range(200):
        lst.extend(chunk)
    grown = rss() - before
    data = 200 << 20
    # Under valgrind, memcheck's shadow memory adds to the RSS (and stays).
    assert SLOW or grown < data * 1.05 + (8 << 20), (grown, data)
    lst.clear()
    assert SLOW or rss() - before < 16 << 20, "clear() should give the memory back"


def test_g8_push_by_push_growth_matches_bytearray() -> None:
    lst = PicoListByte()
    model = bytearray()
    for i in range(300_000):
        lst.push(i % 251)
        model.append(i % 251)
    assert bytes(lst) == bytes(model)
