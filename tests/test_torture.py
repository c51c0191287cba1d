"""Torture tests, each in a subprocess with a timeout: a crash or a hang is a
failure of the test, not a dead test run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import SLOW
from conftest import run_python as run

# G5's million create/drop cycles (fds, mappings and RSS sampled as they
# run) live in test_guarantees.py, in a subprocess too.


@pytest.mark.skipif(
    SLOW, reason="valgrind tracks at most VG_N_SEGMENTS mappings and exits long before the kernel's limit"
)
def test_many_live_rings_work_or_fail_clearly_naming_the_limit() -> None:
    # Each ring costs kernel mappings; Linux allows vm.max_map_count (65,530
    # by default) per process. Small rings share arenas laid out so that
    # the kernel merges their mappings: one per ring. Either 100,000 small
    # rings work, or the first failure is a MemoryError that names the
    # limit (picoring stops short of it, leaving room for the allocator),
    # and every ring already made keeps working, as do new lists once some
    # rings are gone.
    out = run(
        """
        import picoring
        rings = []
        error = None
        try:
            for i in range(100_000):
                rings.append(picoring.PicoRingByte(4096))
        except MemoryError as e:
            error = str(e)
        if error is not None:
            assert "vm.max_map_count" in error and "4096" in error, error
        for i, r in enumerate(rings):
            assert r.push_bytes(i.to_bytes(4, "little")), i
        assert all(bytes(r) == i.to_bytes(4, "little") for i, r in enumerate(rings))
        del rings[-100:]
        lst = picoring.PicoListByte(b"still fine")
        assert bytes(lst) == b"still fine"
        print(len(rings) + 100)
        """
    )
    live = int(out)
    with open("/proc/sys/vm/max_map_count") as f:
        limit = int(f.read())
    # At the default limit, at least 60,000 live rings.
    assert live >= min(60_000, limit * 60_000 // 65_530), f"only {live} live rings (limit {limit})"


def test_pickle_and_copy_raise_a_clear_type_error() -> None:
    out = run(
        """
        import copy, pickle, picoring
        objs = [picoring.PicoRingByte(8), picoring.PicoQueueByte(8),
                picoring.PicoByteStreamPy(8), picoring.PicoListByte(b"x")]
        for o in objs:
            for f in (pickle.dumps, copy.copy, copy.deepcopy):
                try:
                    f(o)
                except TypeError as e:
                    assert "pickle" in str(e), e
                else:
                    raise AssertionError(f"{f.__name__} accepted {o!r}")
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_interpreter_shutdown_with_live_views_rings_and_lists() -> None:
    # Objects and views that live until the interpreter tears down, some in
    # reference cycles, some held by other threads' frames: exit is clean.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import threading, picoring
                r = picoring.PicoRingByte(1 << 20); r.push_bytes(b"x" * 1000)
                v = r.get_readable_view(); w = r.get_writable_view(10)
                lst = picoring.PicoListByte(b"abc"); lv = memoryview(lst)
                cycle = [r, v]; cycle.append(cycle)
                ev = threading.Event()
                def hold():
                    q = picoring.PicoQueueByte(100); qv = q.get_view(); ev.wait()
                t = threading.Thread(target=hold, daemon=True); t.start()
                print("bye")
                """
            ),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and out.stdout.strip() == "bye", out.stderr
    assert out.stderr == ""


def test_keyboard_interrupt_during_large_copies_leaves_a_consistent_ring() -> None:
    out = run(
        """
        import os, signal, threading, time, picoring
        ring = picoring.PicoRingByte(64 << 20)
        chunk = bytes(range(256)) * (128 << 10)  # 32 MiB, copied without the GIL
        go = threading.Event()
        def interrupt():
            go.wait()
            for _ in range(5):
                time.sleep(0.05)
                os.kill(os.getpid(), signal.SIGINT)
        t = threading.Thread(target=interrupt)
        t.start()
        interrupted = 0
        deadline = time.time() + 10
        while True:
            try:
                go.set()
                if not t.is_alive() or time.time() > deadline:
                    break
                ring.push_bytes(chunk)
                assert ring.pop_bytes(len(chunk)) == chunk
            except KeyboardInterrupt:
                interrupted += 1
        for _ in range(3):  # a signal sent last may still be pending
            try:
                time.sleep(0.05)
            except KeyboardInterrupt:
                interrupted += 1
        t.join()
        # Whatever was interrupted, the ring is consistent and usable.
        assert len(ring) + ring.free() == ring.capacity()
        assert len(ring) % len(chunk) == 0
        while len(ring):
            assert ring.pop_bytes(len(chunk)) == chunk
        assert ring.push_bytes(b"after") and bytes(ring) == b"after"
        print(interrupted)
        """
    )
    assert int(out) >= 1


def test_repeated_forks_with_live_views_in_parent_and_child() -> None:
    out = run(
        """
        import os, picoring
        ring = picoring.PicoRingByte(1 << 16)
        lst = picoring.PicoListByte()
        for i in range(20):
            ring.push_bytes(bytes([i]) * 100)
            view = ring.get_readable_view()
            lst.extend(bytes([i]))
            pid = os.fork()
            if pid == 0:
                ok = bytes(view)[-100:] == bytes([i]) * 100
                ring.clear()
                ok = ok and ring.push_bytes(b"child") and bytes(view)[-1] == i
                lst.extend(b"child")
                os._exit(0 if ok and bytes(lst)[-6:] == bytes([i]) + b"child" else 1)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, i
            view.release()
            assert bytes(ring)[-100:] == bytes([i]) * 100, "the child wrote into the parent"
            assert bytes(lst) == bytes(range(i + 1))
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_address_space_limit_gives_memory_error_and_the_process_stays_healthy() -> None:
    # Under `ulimit -v` (RLIMIT_AS) with 512 MiB to spare: rings and lists
    # are made until the limit, the first one refused raises MemoryError
    # naming the size, refused calls change nothing, everything made keeps
    # working, and once memory is given back all works again.
    out = run(
        """
        import gc, json, resource, picoring

        def vm_size():
            with open("/proc/self/status") as f:
                line = next(l for l in f if l.startswith("VmSize:"))
            return int(line.split()[1]) * 1024

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (vm_size() + (512 << 20), hard))
        report = {}

        try:
            picoring.PicoRingByte(1 << 30)
        except MemoryError as e:
            assert "1073741824" in str(e), e
        else:
            raise AssertionError("a 1 GiB ring fitted in 512 MiB of address space")

        one_mib = b"x" * (1 << 20)  # made now: later, Python could not either
        rings = []
        try:
            while True:
                r = picoring.PicoRingByte(16 << 20)
                r.push_bytes(len(rings).to_bytes(4, "little"))
                rings.append(r)
        except MemoryError as e:
            assert "16777216" in str(e), e
        report["rings_of_16_mib"] = len(rings)
        assert 4 <= len(rings) <= 16, len(rings)
        for i, r in enumerate(rings):
            assert r.pop_bytes(4) == i.to_bytes(4, "little")
            assert r.push_bytes(one_mib) and len(r) == 1 << 20

        # Lists: the 1 GiB reservation does not fit, smaller ones do.
        del rings[len(rings) // 2 :]
        gc.collect()
        lst = picoring.PicoListByte(b"start")
        chunk = b"L" * (8 << 20)
        try:
            while True:
                lst.extend(chunk)
        except MemoryError:
            pass
        n = len(lst)
        report["list_mib"] = n >> 20
        assert n > 16 << 20 and (n - 5) % len(chunk) == 0, n
        try:
            lst.extend(chunk)
        except MemoryError:
            pass
        assert len(lst) == n and bytes(lst[:5]) == b"start" and lst[-1] == ord("L")

        # Giving memory back makes room again.
        del lst, rings
        gc.collect()
        big = picoring.PicoRingByte(64 << 20)
        assert big.push_bytes(b"y" * (64 << 20)) and big.pop_bytes(3) == b"yyy"
        print(json.dumps(report))
        """
    )
    report = json.loads(out)
    assert report["rings_of_16_mib"] >= 4 and report["list_mib"] >= 16


def test_file_descriptor_exhaustion_gives_os_error_and_the_process_stays_healthy() -> None:
    # With every descriptor in use (RLIMIT_NOFILE), a ring that needs a new
    # arena (a size not in use yet, or a large ring) cannot get its memfd:
    # OSError with EMFILE. A ring that fits a free slot of an arena needs no
    # descriptor at all. Live rings hold no descriptor and keep working;
    # lists need none; a fork cannot copy the rings for the child, whose
    # rings then refuse to work rather than share memory.
    out = run(
        """
        import errno, os, resource, picoring

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        kept = picoring.PicoRingByte(4096)
        kept.push_bytes(b"kept")
        files = []
        try:
            while True:
                files.append(os.open("/dev/null", os.O_RDONLY))
        except OSError as e:
            assert e.errno == errno.EMFILE
        for cls in (picoring.PicoRingByte, picoring.PicoQueueByte, picoring.PicoByteStreamPy):
            for size in (3 * 4096, 1 << 20):
                try:
                    cls(size)
                except OSError as e:
                    assert e.errno == errno.EMFILE and "memfd_create" in str(e), e
                    assert str(size) in str(e), e
                    assert not isinstance(e, MemoryError)
                else:
                    raise AssertionError(f"{cls.__name__}({size}) made without a descriptor")
            # A free slot of the 4096-byte arena: no descriptor needed.
            slotted = cls(4096)
            assert len(slotted) == 0 and slotted.capacity() == 4096
        assert kept.push_bytes(b"!") and bytes(kept) == b"kept!"
        lst = picoring.PicoListByte(b"no fd needed")
        lst.extend(b"x" * (1 << 20))
        assert bytes(lst[:12]) == b"no fd needed"

        # fork: the parent is fine, the child's ring is flagged lost.
        pid = os.fork()
        if pid == 0:
            try:
                kept.push_bytes(b"child")
                code = 3  # used memory that could not be made private
            except OSError as e:
                code = 0 if "fork" in str(e) else 4
            except BaseException:
                code = 5
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, os.waitstatus_to_exitcode(status)
        assert bytes(kept) == b"kept!"

        os.close(files.pop())
        before = len(os.listdir("/proc/self/fd"))
        fresh = picoring.PicoRingByte(4096)
        assert fresh.push_bytes(b"fresh") and bytes(fresh) == b"fresh"
        assert len(os.listdir("/proc/self/fd")) == before, "a live ring holds a descriptor"
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_forks_from_threads_while_others_copy_without_the_gil() -> None:
    # Regression: a fork while another thread held an object's lock for a
    # GIL-free copy left the child with a lock nobody could release, and
    # its first call on that object hung. Forks now wait for such copies.
    out = run(
        """
        import os, threading, picoring
        ring = picoring.PicoRingByte(32 << 20)
        lst = picoring.PicoListByte()
        chunk = bytes(range(256)) * (16 << 12)  # 16 MiB: copied without the GIL
        stop = threading.Event()
        errors = []

        def ring_copier():
            try:
                while not stop.is_set():
                    assert ring.push_bytes(chunk)
                    view = ring.get_readable_view()
                    assert ring.pop_bytes(len(chunk)) == chunk
                    view.release()
            except BaseException as e:
                errors.append(e)

        def list_copier():
            try:
                while not stop.is_set():
                    lst.extend(chunk)
                    lst.clear()
            except BaseException as e:
                errors.append(e)

        def forker(k):
            try:
                for i in range(15):
                    pid = os.fork()
                    if pid == 0:
                        ok = ring.push_bytes(b"child") and bytes(ring)[-5:] == b"child"
                        lst.push(k)
                        ok = ok and lst[-1] == k and len(lst) % len(chunk) == 1
                        os._exit(0 if ok else 1)
                    _, status = os.waitpid(pid, 0)
                    assert os.waitstatus_to_exitcode(status) == 0, (k, i)
            except BaseException as e:
                errors.append(e)

        copiers = [threading.Thread(target=ring_copier), threading.Thread(target=list_copier)]
        forkers = [threading.Thread(target=forker, args=(k,)) for k in range(2)]
        for t in copiers + forkers:
            t.start()
        for t in forkers:
            t.join()
        stop.set()
        for t in copiers:
            t.join()
        assert errors == [], errors
        assert len(ring) == 0 and ring.free() == ring.capacity()
        print("ok")
        """,
        timeout=120,
    )
    assert out.strip() == "ok"


def test_eight_threads_share_every_class_holding_views_while_others_push_and_pop() -> None:
    # Four producers and four consumers on one ring, queue, stream and list
    # for two seconds, with no lock of their own. Consumers hold a view of
    # each object while they pop from it (so producers keep meeting pinned
    # bytes). Every record pushed is popped exactly once, whole, and each
    # consumer sees each producer's records in order.
    out = run(
        """
        import json, struct, threading, time, picoring

        ring = picoring.PicoRingByte(1 << 16)
        queue = picoring.PicoQueueByte(1 << 16)
        stream = picoring.PicoByteStreamPy(1 << 16)
        lst = picoring.PicoListByte()
        objs = {"ring": ring, "queue": queue, "stream": stream}
        REC = struct.Struct("<II")  # producer, sequence number
        stop = threading.Event()  # producers stop
        done = threading.Event()  # producers stopped: consumers drain and stop
        errors = []
        pushed = {name: [] for name in objs}

        def push(name, rec):
            if name == "ring":
                return ring.push_bytes(rec)
            if name == "queue":
                return queue.push_bulk(rec)
            # Streams write what fits: only producer 0 writes there, and it
            # finishes every record it starts, so records stay whole.
            done = stream.write(rec)
            while done < len(rec):
                done += stream.write(rec[done:])
            return True

        def pop(name, n):
            if name == "ring":
                return ring.pop_bytes(n)
            if name == "queue":
                return queue.pop_bulk(n)
            return stream.read(n)

        def producer(k):
            name = ("stream", "queue", "ring", "ring")[k]
            try:
                seq = appended = 0
                while not stop.is_set():
                    rec = REC.pack(k, seq)
                    if push(name, rec):
                        pushed[name].append((k, seq))
                        seq += 1
                    lst.extend(REC.pack(k, appended))
                    appended += 1
                    memoryview(lst).release()
            except BaseException as e:
                errors.append(e)

        got = [{name: [] for name in objs} for _ in range(4)]

        def consumer(c):
            try:
                while not done.is_set() or any(len(o) for o in objs.values()):
                    for name, obj in objs.items():
                        with memoryview(obj) as view:  # held while others push
                            data = pop(name, (len(obj) // REC.size) * REC.size)
                            assert len(data) % REC.size == 0
                            got[c][name].extend(REC.iter_unpack(data))
                            assert len(view) % REC.size == 0
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=producer, args=(k,)) for k in range(4)]
        threads += [threading.Thread(target=consumer, args=(c,)) for c in range(4)]
        for t in threads:
            t.start()
        time.sleep(2)
        stop.set()
        for t in threads[:4]:
            t.join(timeout=60)
        done.set()
        for t in threads:
            t.join(timeout=60)
            assert not t.is_alive(), "a thread hung"
        assert errors == [], errors
        for name in objs:
            popped = [r for g in got for r in g[name]]
            assert sorted(popped) == sorted(pushed[name]), f"{name}: records lost or duplicated"
            for g in got:
                for k in range(4):
                    mine = [s for p, s in g[name] if p == k]
                    assert mine == sorted(mine), f"{name}: out of order"
        records = list(REC.iter_unpack(bytes(lst)))
        for k in range(4):
            mine = [s for p, s in records if p == k]
            assert mine == list(range(len(mine))), "the list lost or reordered a record"
        print(json.dumps({"records": sum(len(v) for v in pushed.values()), "list": len(records)}))
        """,
        timeout=120,
    )
    report = json.loads(out)
    assert report["records"] > 1000 and report["list"] > 1000, report


def test_small_calls_never_mistake_contention_for_reentrancy() -> None:
    # Regression: a thread that had waited for a GIL-free copy briefly took
    # the lock without the GIL and without being counted, and a small call
    # meeting it then raised "already in use by this thread" (seen in CI,
    # 5 errors in 8 s with this load before the fix).
    out = run(
        """
        import threading, time, picoring
        ring = picoring.PicoRingByte(8 << 20)
        big = b"\\x01" * (2 << 20)  # copied without the GIL
        stop = threading.Event()
        errors = []

        def big_worker():
            try:
                while not stop.is_set():
                    if ring.push_bytes(big):
                        assert len(ring.pop_bytes(len(big))) <= len(big)
            except BaseException as e:
                errors.append(e)

        def small_worker():
            try:
                while not stop.is_set():
                    ring.push_bytes(b"x" * 64)  # the others' bytes may be popped
                    assert len(ring.pop_bytes(64)) <= 64
                    assert 0 <= len(ring) <= ring.capacity()
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=big_worker) for _ in range(3)]
        threads += [threading.Thread(target=small_worker) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(6)
        stop.set()
        for t in threads:
            t.join()
        assert errors == [], errors[:3]
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_repr_of_a_writable_view_never_deadlocks_with_its_release() -> None:
    # repr(view.obj) looks at the ring; with another thread copying 32 MiB
    # without the GIL, it must not wait for the ring while holding what the
    # view's release needs (a release found it held, with the GIL: a
    # deadlock of the whole interpreter). Found by review; hung before.
    out = run(
        """
        import os, threading, time, picoring
        r = picoring.PicoRingByte(256 << 20)
        big = b"z" * (32 << 20)
        stop = False
        cur = [None]
        reprs = []

        def copier():
            while not stop:
                if r.push_bytes(big):
                    r.pop_bytes(32 << 20)

        def reprer():
            while not stop:
                w = cur[0]
                if w is not None:
                    reprs.append(repr(w))

        def releaser():
            while not stop:
                try:
                    mv = r.get_writable_view(16)
                except BufferError:
                    continue
                r.advance_head(0)
                cur[0] = mv.obj
                time.sleep(0.002)
                del mv
                cur[0] = None

        ts = [threading.Thread(target=f, daemon=True) for f in (copier, reprer, releaser)]
        for t in ts:
            t.start()
        time.sleep(3)
        stop = True
        for t in ts:
            t.join(10)
            assert not t.is_alive(), "deadlock"
        assert reprs and all("WritableView of PicoRingByte: 16 bytes" in x for x in reprs)
        print("ok")
        """,
        timeout=60,
    )
    assert out.strip() == "ok"
