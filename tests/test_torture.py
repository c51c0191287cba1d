"""Torture tests, each in a subprocess with a timeout: a crash or a hang is a
failure of the test, not a dead test run."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(script: str, timeout: float = 120) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_many_live_rings_work_or_fail_clearly_naming_the_limit() -> None:
    # Each ring costs kernel mappings; Linux allows vm.max_map_count (65,530
    # by default) per process. Either 100,000 small rings work, or the first
    # failure is a MemoryError that names the limit, and every ring already
    # made keeps working, as do new lists once some rings are gone.
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
    assert live > 30_000, f"only {live} live rings"


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
