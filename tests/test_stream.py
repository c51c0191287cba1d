"""PicoByteStreamPy: the seed API, io-style methods, and a stateful model."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from picoring import PicoByteStreamPy


def test_seed_methods_and_return_conventions() -> None:
    s = PicoByteStreamPy(1024)
    assert s.write(b"stream_test") == 11
    assert s.read(6) == b"stream"
    assert s.available_to_read() == 5
    assert s.available_to_write() == 1024 - 5


def test_write_is_partial_when_full() -> None:
    s = PicoByteStreamPy(4)
    assert s.write(b"abcdef") == 4
    assert s.write(b"x") == 0
    assert s.read() == b"abcd"


def test_io_style_methods() -> None:
    s = PicoByteStreamPy(64)
    assert s.readable() and s.writable() and not s.seekable()
    s.write(b"hello world")
    buf = bytearray(5)
    assert s.readinto(buf) == 5 and buf == b"hello"
    arr = np.zeros(3, dtype=np.uint8)
    assert s.readinto(arr) == 3 and bytes(arr) == b" wo"
    assert s.read(-1) == b"rld"
    assert s.read() == b""
    s.flush()
    s.write(b"more")
    assert s.read(-2) == b"more"  # as io streams: any negative n reads all
    s.write(b"x")
    assert s.read(-(2**100)) == b"x" and s.read(None) == b""
    with pytest.raises(TypeError, match="writable"):
        s.readinto(b"immutable")


def test_context_manager_closes() -> None:
    with PicoByteStreamPy(16) as s:
        s.write(b"x")
        assert not s.closed
    assert s.closed
    for call in (lambda: s.write(b"y"), s.read, lambda: s.readinto(bytearray(1)), s.readable):
        with pytest.raises(ValueError, match="closed"):
            call()
    assert "closed" in repr(s)


def test_copies_to_an_io_object() -> None:
    s = PicoByteStreamPy(1 << 16)
    out = io.BytesIO()
    payload = bytes(range(256)) * 1000
    view = memoryview(payload)
    while view or s:
        view = view[s.write(view) :]
        out.write(s.read(4096))
    assert out.getvalue() == payload


class StreamMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.s = PicoByteStreamPy(5000)
        self.model = bytearray()

    @rule(data=st.binary(max_size=4000))
    def write(self, data: bytes) -> None:
        n = self.s.write(data)
        assert n == min(len(data), 5000 - len(self.model))
        self.model += data[:n]

    @rule(n=st.integers(0, 4000))
    def read(self, n: int) -> None:
        assert self.s.read(n) == self.model[:n]
        del self.model[:n]

    @rule(n=st.integers(0, 4000))
    def readinto(self, n: int) -> None:
        buf = bytearray(n)
        k = self.s.readinto(buf)
        assert buf[:k] == self.model[:k]
        del self.model[:k]

    @invariant()
    def matches(self) -> None:
        assert self.s.available_to_read() == len(self.model)
        assert bytes(self.s) == self.model


TestStreamMachine = StreamMachine.TestCase
