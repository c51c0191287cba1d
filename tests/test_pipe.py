"""picoring.pipe: a blocking byte pipe between threads.

Anything that could hang runs in a subprocess with a time bound
(conftest.run_python), so a broken wait fails its test instead of the run.
"""

from __future__ import annotations

import pickle
import sys
import threading
import time

import pytest

import picoring
from conftest import run_python


def test_the_pair_and_its_small_calls() -> None:
    w, r = picoring.pipe(1000)
    assert isinstance(w, picoring.PipeWriter) and isinstance(r, picoring.PipeReader)
    assert w.capacity() == r.capacity() == 1000
    assert w.write(b"hello") == 5
    assert len(r) == 5 and w.free() == 995
    assert r.read(2) == b"he"
    assert r.read() == b"llo"
    assert r.read(0) == b""
    assert w.write(bytearray(b"ab")) == 2 and w.write(memoryview(b"cd")) == 2
    buf = bytearray(10)
    assert r.readinto(buf) == 4 and buf[:4] == b"abcd"
    assert "PipeWriter capacity=1000" in repr(w) and "PipeReader capacity=1000" in repr(r)


def test_capacity_and_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="capacity"):
        picoring.pipe(0)
    with pytest.raises(TypeError, match="capacity"):
        picoring.pipe("10")  # type: ignore[arg-type]
    w, r = picoring.pipe(10)
    with pytest.raises(ValueError, match="timeout must be .* >= 0 or None, got -1"):
        w.write(b"x", timeout=-1)
    with pytest.raises(ValueError, match="got nan"):
        r.read(timeout=float("nan"))
    with pytest.raises(TypeError, match="timeout must be a number of seconds or None, not str"):
        r.read(timeout="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="data must be a C-contiguous bytes-like object"):
        w.write("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="buffer must be a writable"):
        r.readinto(b"read-only")
    # Refused calls changed nothing.
    assert len(r) == 0 and w.free() == 10
    with pytest.raises(TypeError):
        picoring.PipeWriter()  # made only by pipe()


def test_a_full_pipe_times_out_and_keeps_what_it_wrote() -> None:
    w, r = picoring.pipe(100)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match="60 of 160 bytes written") as e:
        w.write(b"a" * 40, timeout=1)
        w.write(b"b" * 160, timeout=0.2)
    assert time.monotonic() - t0 >= 0.2
    assert e.value.written == 60  # type: ignore[attr-defined]
    assert r.read() == b"a" * 40 + b"b" * 60, "the bytes written stay written, in order"
    with pytest.raises(TimeoutError, match="nothing to read within 0.1 s"):
        r.read(timeout=0.1)
    with pytest.raises(TimeoutError):
        r.readinto(bytearray(5), timeout=0)
    with pytest.raises(TimeoutError):
        r.get_readable_view(timeout=0.05)


def test_eof_once_the_writer_closes_and_everything_is_read() -> None:
    w, r = picoring.pipe(100)
    with w:
        w.write(b"last words")
    assert w.closed
    with pytest.raises(ValueError, match="closed PipeWriter"):
        w.write(b"more")
    assert r.read(4) == b"last"
    assert r.read() == b" words"
    assert r.read() == b"" and r.read(timeout=0) == b"", "EOF at once, no timeout"
    assert r.readinto(bytearray(3)) == 0
    assert len(r.get_readable_view()) == 0


def test_dropping_the_writer_ends_the_stream() -> None:
    w, r = picoring.pipe(100)
    w.write(b"x")
    del w
    assert list(r) == [b"x"]


def test_closing_the_reader_breaks_the_pipe() -> None:
    w, r = picoring.pipe(100)
    w.write(b"unread")
    with r:
        pass
    assert r.closed
    with pytest.raises(BrokenPipeError, match="reader is closed: 0 of 3 bytes") as e:
        w.write(b"abc")
    assert e.value.errno == 32 and e.value.written == 0  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="closed PipeReader"):
        r.read()


def test_a_blocked_writer_gets_broken_pipe_when_the_reader_closes() -> None:
    w, r = picoring.pipe(100)
    threading.Timer(0.1, r.close).start()
    with pytest.raises(BrokenPipeError, match="100 of 250 bytes were written") as e:
        w.write(b"z" * 250, timeout=10)
    assert e.value.written == 100  # type: ignore[attr-defined]


def test_a_view_pins_its_bytes_against_the_writer() -> None:
    w, r = picoring.pipe(100)
    w.write(bytes(range(60)))
    with r.get_readable_view() as view:
        assert view.readonly and view.tobytes() == bytes(range(60))
        r.advance_tail(60)
        # The view still shows the 60 bytes: only 40 more fit meanwhile.
        with pytest.raises(TimeoutError, match="40 of 100"):
            w.write(b"\xff" * 100, timeout=0.05)
        assert view.tobytes() == bytes(range(60)), "unchanged while alive"
    assert w.write(b"\xee" * 60, timeout=1) == 60
    assert r.read() == b"\xff" * 40 + b"\xee" * 60
    with pytest.raises(ValueError, match="n"):
        r.advance_tail(1)


def test_writing_the_readers_own_view_copies_it_first() -> None:
    w, r = picoring.pipe(4096)
    w.write(b"abc" * 100)
    view = r.get_readable_view()
    r.advance_tail(300)
    assert w.write(view) == 300
    view.release()
    assert r.read() == b"abc" * 100


def test_the_ends_do_not_pickle() -> None:
    w, r = picoring.pipe(10)
    for end in (w, r):
        with pytest.raises(TypeError, match="cannot pickle"):
            pickle.dumps(end)


def test_every_byte_once_and_in_order_over_200_mb_across_threads() -> None:
    out = run_python(
        """
        import threading, zlib, picoring
        w, r = picoring.pipe(256 * 1024)
        TOTAL = 200 * 1024 * 1024
        pattern = bytes(range(256)) * 4096 * 2          # 2 MiB
        sent = []
        def produce():
            done, k = 0, 1
            while done < TOTAL:
                n = min(k, TOTAL - done)
                off = done % 256
                assert w.write(pattern[off:off + n]) == n
                done += n
                k = k * 7 % 1_500_007 + 1               # 1 byte .. 1.5 MB, varied
            w.close()
        t = threading.Thread(target=produce)
        t.start()
        got = 0
        for chunk in r:
            off = got % 256
            assert chunk == pattern[off:off + len(chunk)], f"wrong bytes at {got}"
            got += len(chunk)
        t.join()
        print(got)
        """,
        timeout=120,
    )
    assert int(out) == 200 * 1024 * 1024


def test_views_and_readinto_across_threads_in_order() -> None:
    out = run_python(
        """
        import threading, picoring
        w, r = picoring.pipe(65536)
        TOTAL = 20 * 1024 * 1024
        def produce():
            i = 0
            while i < TOTAL:
                n = min(40000, TOTAL - i)
                w.write(bytes((i + j) % 251 for j in range(n)) if n < 40000 else block(i))
                i += n
            w.close()
        blocks = {o: bytes((o + j) % 251 for j in range(40000)) for o in range(251)}
        def block(i):
            return blocks[i % 251]
        t = threading.Thread(target=produce)
        t.start()
        got, flip, buf = 0, 0, bytearray(30000)
        while True:
            flip ^= 1
            if flip:
                v = r.get_readable_view(timeout=30)
                if len(v) == 0:
                    break
                n = len(v)
                assert v[0] == got % 251 and v[n - 1] == (got + n - 1) % 251
                v.release()
                r.advance_tail(n)
            else:
                n = r.readinto(buf, timeout=30)
                if n == 0:
                    break
                assert buf[0] == got % 251 and buf[n - 1] == (got + n - 1) % 251
            got += n
        t.join()
        print(got)
        """,
        timeout=120,
    )
    assert int(out) == 20 * 1024 * 1024


def test_the_gil_is_released_while_blocked() -> None:
    out = run_python(
        """
        import threading, time, picoring
        w, r = picoring.pipe(100)
        count = 0
        stop = False
        def spin():
            global count
            while not stop:
                count += 1
        t = threading.Thread(target=spin)
        t.start()
        time.sleep(0.05)
        before = count
        try:
            r.read(timeout=0.5)          # blocks 0.5 s
        except TimeoutError:
            pass
        during_read = count - before
        w.write(b"x" * 100)
        before = count
        try:
            w.write(b"y", timeout=0.5)   # blocks 0.5 s, full
        except TimeoutError:
            pass
        during_write = count - before
        stop = True
        t.join()
        print(during_read, during_write)
        """,
        timeout=60,
    )
    # A blocked call that kept the GIL would leave the other thread at 0
    # (or a few hundred, around the switch); a free one counts millions.
    during_read, during_write = map(int, out.split())
    assert during_read > 100_000 and during_write > 100_000, out


def test_ctrl_c_interrupts_a_blocked_read_and_write() -> None:
    out = run_python(
        """
        import os, signal, threading, time, picoring
        w, r = picoring.pipe(100)
        def interrupt_soon():
            threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        interrupt_soon()
        t0 = time.monotonic()
        try:
            r.read()
        except KeyboardInterrupt:
            print("read", round(time.monotonic() - t0, 1))
        w.write(b"x" * 100)
        interrupt_soon()
        t0 = time.monotonic()
        r.read(30)                       # room for 30 of the 100 bytes
        try:
            w.write(b"m" * 100)
        except KeyboardInterrupt as e:
            print("write", round(time.monotonic() - t0, 1))
            print(e.written)
        print(len(r))
        """,
        timeout=60,
    )
    lines = out.split("\n")
    assert lines[0].startswith("read ") and float(lines[0].split()[1]) < 1.5, out
    assert lines[1].startswith("write ") and float(lines[1].split()[1]) < 1.5, out
    assert lines[2] == "30", "KeyboardInterrupt carries the bytes written before it"
    assert lines[3] == "100", "and those bytes stay written"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="elsewhere pipe() runs on a private ring, copied at fork (G6)")
def test_a_forked_child_shares_the_pipe_and_dropping_its_copies_closes_nothing() -> None:
    out = run_python(
        """
        import os, picoring
        w, r = picoring.pipe(1000)
        pid = os.fork()
        if pid == 0:
            w.write(b"from the child")
            del w, r                      # the child's copies: closing nothing
            os._exit(0)
        os.waitpid(pid, 0)
        print(r.read(timeout=5))
        w.write(b"parent")
        print(r.read(timeout=5), w.closed, r.closed)
        """,
        timeout=60,
    )
    assert out.split("\n")[:2] == ["b'from the child'", "b'parent' False False"]


def test_a_view_can_wait_for_at_least_n_bytes() -> None:
    w, r = picoring.pipe(100)
    w.write(b"abc")
    with pytest.raises(TimeoutError, match="fewer than 10 bytes to read within 0.05 s \\(3 readable\\)"):
        r.get_readable_view(timeout=0.05, at_least=10)
    threading.Timer(0.05, w.write, (b"defghij",)).start()
    with r.get_readable_view(timeout=5, at_least=10) as v:
        assert v.tobytes() == b"abcdefghij"
    with pytest.raises(ValueError, match="at_least must be at most the capacity, 100, got 101"):
        r.get_readable_view(at_least=101)
    with pytest.raises(ValueError, match="at_least"):
        r.get_readable_view(at_least=-1)
    w.write(b"k")
    w.close()
    with r.get_readable_view(at_least=50) as v:  # the writer is gone: what is left
        assert v.tobytes() == b"abcdefghijk"
    assert len(r) == 11, "views consume nothing"
