"""Parsing in place: `find` on the ring, queue and stream (as `bytes.find`
over the readable bytes), and the stream's `readline`, `read_until`,
`peek` and line iteration."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from picoring import PicoByteStreamPy, PicoQueueByte, PicoRingByte


def wrapped(cls: Callable[[int], Any], data: bytes, capacity: int = 4096) -> Any:
    """An object of `cls` holding `data`, wrapped around the end of its memory."""
    obj = cls(capacity)
    write = getattr(obj, "push_bytes", None) or getattr(obj, "push_bulk", None) or obj.write
    read = getattr(obj, "pop_bytes", None) or getattr(obj, "pop_bulk", None) or obj.read
    pad = capacity - len(data) // 2
    assert write(b"\0" * pad) in (True, pad)
    read(pad)
    assert write(data) in (True, len(data))
    return obj


CLASSES = [PicoRingByte, PicoQueueByte, PicoByteStreamPy]
bound = st.one_of(st.none(), st.integers(-5000, 5000), st.sampled_from([2**63, 2**80, -(2**80)]))


@pytest.mark.parametrize("cls", CLASSES)
@given(
    data=st.binary(max_size=600),
    sub=st.one_of(st.binary(max_size=4), st.integers(0, 255)),
    start=bound,
    end=bound,
)
def test_find_is_bytes_find_over_the_readable_bytes(
    cls: Callable[[int], Any], data: bytes, sub: bytes | int, start: int | None, end: int | None
) -> None:
    obj = wrapped(cls, data)
    assert bytes(obj) == data
    assert obj.find(sub, start, end) == data.find(sub, start, end)
    assert obj.find(sub) == data.find(sub)
    assert bytes(obj) == data  # nothing consumed


@pytest.mark.parametrize("cls", CLASSES)
def test_find_crosses_the_end_of_memory(cls: Callable[[int], Any]) -> None:
    data = b"x" * 100 + b"NEEDLE" + b"y" * 100
    obj = wrapped(cls, data, 4096)  # the needle sits where the memory wraps
    assert obj.find(b"NEEDLE") == 100
    assert obj.find(b"NEEDLE", 101) == -1
    assert obj.find(ord("N")) == 100
    assert obj.find(memoryview(b"EDL")) == 102
    assert obj.find(np.frombuffer(b"LE", dtype=np.uint8)) == 104


@pytest.mark.parametrize("cls", CLASSES)
def test_find_accepts_index_objects_and_refuses_the_rest(cls: Callable[[int], Any]) -> None:
    obj = wrapped(cls, b"abcabc")
    assert obj.find(b"c", np.int64(3)) == 5
    assert obj.find(b"a", None, np.int32(-3)) == 0
    assert obj.find(np.uint8(ord("b"))) == 1  # a 1-byte buffer, as bytes.find takes it
    with pytest.raises(TypeError, match=r"sub must be a bytes-like object or an int.*not str"):
        obj.find("a")
    with pytest.raises(ValueError, match=r"sub must be in range\(0, 256\), got 256"):
        obj.find(256)
    with pytest.raises(TypeError, match="start must be an int.*not float"):
        obj.find(b"a", 1.0)
    with pytest.raises(TypeError, match="end must be an int.*not str"):
        obj.find(b"a", 0, "2")
    assert bytes(obj) == b"abcabc"


def test_find_in_a_view_of_the_ring_itself() -> None:
    r = wrapped(PicoRingByte, b"key=value;key2=v2")
    view = r.get_readable_view()
    assert r.find(view[4:9]) == 4
    view.release()


def test_readline_returns_whole_lines_and_waits_for_the_rest() -> None:
    s = wrapped(PicoByteStreamPy, b"GET / HTTP/1.1\r\nHost: x\r\npartial")
    assert s.readline() == b"GET / HTTP/1.1\r\n"
    assert s.readline() == b"Host: x\r\n"
    assert s.readline() == b""  # no newline buffered: nothing consumed
    assert s.available_to_read() == 7
    s.write(b" line\n")
    assert s.readline() == b"partial line\n"
    assert s.readline() == b"" and s.available_to_read() == 0


def test_readline_limit_like_io() -> None:
    s = PicoByteStreamPy(64)
    s.write(b"abcdef\nxy")
    assert s.readline(3) == b"abc"  # 3 bytes buffered without a newline in them
    assert s.readline(4) == b"def\n"  # the newline ends within the limit
    assert s.readline(5) == b""  # fewer than 5 bytes, no newline: wait
    assert s.readline(2) == b"xy"
    assert s.readline(0) == b""
    s.write(b"q\n")
    assert s.readline(-1) == b"q\n"
    assert s.readline(None) == b""
    with pytest.raises(TypeError, match="limit must be an int"):
        s.readline("3")


def test_a_full_stream_without_a_newline_gives_its_bytes() -> None:
    s = PicoByteStreamPy(4096)
    assert s.write(b"x" * 4096) == 4096
    assert s.readline() == b"x" * 4096  # else nothing could ever be read or written again
    s.write(b"ab\n" + b"y" * 4093)
    assert s.read_until(b"\n") == b"ab\n"
    assert s.readline(10**9) == b""  # not full: wait for the newline
    s.write(b"zzz")
    assert s.readline(10**9) == b"y" * 4093 + b"zzz"


def test_read_until_any_delimiter() -> None:
    s = wrapped(PicoByteStreamPy, b"a||b||c|")
    assert s.read_until(b"||") == b"a||"
    assert s.read_until(bytearray(b"||")) == b"b||"
    assert s.read_until(b"||") == b""
    assert s.read_until(b"|") == b"c|"
    s.write(b"12345")
    assert s.read_until(b"|", 3) == b"123"
    assert s.read_until(b"|", limit=np.int64(9)) == b""
    assert s.read_until(b"5", limit=2) == b"45"
    with pytest.raises(ValueError, match="delim must not be empty"):
        s.read_until(b"")
    with pytest.raises(TypeError, match="delim must be a C-contiguous bytes-like object"):
        s.read_until("|")


def test_read_until_a_delimiter_that_lies_in_the_stream() -> None:
    s = PicoByteStreamPy(64)
    s.write(b"#abc#def")
    view = s.peek(1)  # b"#", a view of the stream's own memory
    assert s.read_until(view[0:1]) == b"#"
    assert s.read_until(view) == b"abc#"
    assert bytes(view) == b"#"  # the view pins what it shows
    view.release()


def test_long_records_are_read_whole() -> None:
    line = b"z" * (3 << 20) + b"\n"  # above the size copied without the GIL
    s = PicoByteStreamPy(4 << 20)
    assert s.write(line + b"tail") == len(line) + 4
    assert s.readline() == line
    assert s.read_until(b"l", 2 << 20) == b"tail"


def test_peek_is_a_view_that_consumes_nothing() -> None:
    s = wrapped(PicoByteStreamPy, b"0123456789")
    v = s.peek(4)
    assert isinstance(v, memoryview) and v.readonly and bytes(v) == b"0123"
    assert bytes(s.peek()) == b"0123456789"
    assert bytes(s.peek(100)) == b"0123456789"
    assert s.peek(0).nbytes == 0
    assert s.read(6) == b"012345"
    s.write(b"abcdefghij")  # would overwrite the bytes v shows, if it did not pin them
    assert bytes(v) == b"0123"
    v.release()
    with pytest.raises(ValueError, match="n must be >= 0, got -1"):
        s.peek(-1)


def test_iteration_yields_buffered_lines() -> None:
    s = PicoByteStreamPy(64)
    s.write(b"one\ntwo\nthr")
    assert list(s) == [b"one\n", b"two\n"]
    assert s.read() == b"thr"
    s.write(b"x\ny\n")
    assert [line for line in s] == [b"x\n", b"y\n"]


def test_closed_stream_refuses_line_reads() -> None:
    s = PicoByteStreamPy(64)
    s.write(b"a\n")
    s.close()
    for call in (s.readline, lambda: s.read_until(b"\n"), s.peek, lambda: s.find(b"a")):
        with pytest.raises(ValueError, match="closed"):
            call()
