"""PicoRingByte: the seed API, the Python protocols, and a stateful model."""

from __future__ import annotations

import array
import socket

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from picoring import PicoRingByte


def test_seed_methods_and_return_conventions() -> None:
    ring = PicoRingByte(1024)
    assert ring.capacity() == 1024 and ring.len() == 0
    assert ring.push(42) is True
    assert ring.pop() == 42
    assert ring.pop() is None
    assert ring.push_bytes(b"some data") is True
    assert ring.len() == 9
    assert bytes(ring.get_readable_view()) == b"some data"
    assert ring.pop_bytes(4) == b"some"
    assert ring.pop_bytes(100) == b" data"
    assert ring.pop_bytes(1) == b""


def test_capacity_is_exact_and_fully_usable() -> None:
    ring = PicoRingByte(1000)
    assert ring.capacity() == 1000
    assert ring.push_bytes(b"x" * 1000)
    assert ring.push(1) is False and ring.free() == 0


def test_python_protocols() -> None:
    ring = PicoRingByte(16)
    assert not ring and len(ring) == 0
    ring.push_bytes(b"abcdef")
    assert ring and len(ring) == 6
    assert ring[0] == ord("a") and ring[-1] == ord("f")
    assert ring[1:4] == b"bcd" and ring[::2] == b"ace"
    with pytest.raises(IndexError):
        ring[6]
    assert repr(ring) == "PicoRingByte(capacity=16, len=6, free=10)"
    assert bytes(ring) == b"abcdef"
    assert memoryview(ring).tobytes() == b"abcdef"


def test_any_contiguous_buffer_is_accepted() -> None:
    ring = PicoRingByte(100)
    ring.push_bytes(bytearray(b"ab"))
    ring.push_bytes(memoryview(b"xcdx")[1:3])
    ring.push_bytes(array.array("B", [101, 102]))
    ring.push_bytes(np.array([103, 104], dtype=np.uint8))
    ring.push_bytes(np.array([1], dtype=np.uint16))
    assert bytes(ring) == b"abcdefgh\x01\x00"


def test_push_overwrite_keeps_the_latest_bytes() -> None:
    ring = PicoRingByte(4)
    assert ring.push_overwrite(b"ab") == 0
    assert ring.push_overwrite(b"cde") == 1
    assert bytes(ring) == b"bcde"
    assert ring.push_overwrite(b"0123456789") == 10
    assert bytes(ring) == b"6789"


def test_clear_and_free() -> None:
    ring = PicoRingByte(10)
    ring.push_bytes(b"abc")
    assert ring.free() == 7
    ring.clear()
    assert len(ring) == 0 and ring.free() == 10


def test_recv_into_a_writable_view_fills_the_ring_without_copy() -> None:
    a, b = socket.socketpair()
    with a, b:
        ring = PicoRingByte(64)
        ring.push_bytes(b"x" * 60)
        ring.pop_bytes(60)  # the next bytes wrap past the end of memory
        a.sendall(b"hello, ring")
        n = b.recv_into(ring.get_writable_view())
        ring.advance_head(n)
        assert bytes(ring) == b"hello, ring"
        a.sendall(b"!")
        view = ring.get_writable_view(1)
        ring.advance_head(b.recv_into(view))
        view.release()
        assert ring.pop_bytes() == b"hello, ring!"


def test_writable_view_larger_than_free_space_is_refused() -> None:
    ring = PicoRingByte(8)
    ring.push_bytes(b"abc")
    with pytest.raises(ValueError, match=r"n=6 is more than the free space \(5\)"):
        ring.get_writable_view(6)


class RingMachine(RuleBasedStateMachine):
    """Random sequences against a bytearray model, views included."""

    def __init__(self) -> None:
        super().__init__()
        self.cap = 0
        self.ring: PicoRingByte | None = None
        self.model = bytearray()
        self.views: list[tuple[memoryview, bytes]] = []

    @precondition(lambda self: self.ring is None)
    @rule(cap=st.integers(1, 9000))
    def create(self, cap: int) -> None:
        self.cap = cap
        self.ring = PicoRingByte(cap)

    def _free(self) -> int:
        assert self.ring is not None
        return self.ring.free()

    @precondition(lambda self: self.ring is not None)
    @rule(data=st.binary(max_size=5000))
    def push_bytes(self, data: bytes) -> None:
        assert self.ring is not None
        free = self._free()
        ok = self.ring.push_bytes(data)
        assert ok == (len(data) <= free)
        if ok:
            self.model += data

    @precondition(lambda self: self.ring is not None)
    @rule(b=st.integers(0, 255))
    def push(self, b: int) -> None:
        assert self.ring is not None
        free = self._free()
        assert self.ring.push(b) == (free > 0)
        if free:
            self.model.append(b)

    @precondition(lambda self: self.ring is not None)
    @rule(data=st.binary(max_size=12000))
    def push_overwrite(self, data: bytes) -> None:
        assert self.ring is not None
        try:
            dropped = self.ring.push_overwrite(data)
        except BufferError:
            assert self.views
            return
        before = len(self.model) + len(data)
        self.model += data
        del self.model[: max(0, len(self.model) - self.cap)]
        assert dropped == before - len(self.model)

    @precondition(lambda self: self.ring is not None)
    @rule(n=st.integers(0, 6000))
    def pop_bytes(self, n: int) -> None:
        assert self.ring is not None
        out = self.ring.pop_bytes(n)
        assert out == self.model[:n]
        del self.model[:n]

    @precondition(lambda self: self.ring is not None)
    @rule()
    def pop(self) -> None:
        assert self.ring is not None
        b = self.ring.pop()
        if self.model:
            assert b == self.model.pop(0)
        else:
            assert b is None

    @precondition(lambda self: self.ring is not None)
    @rule(n=st.integers(0, 6000))
    def advance_tail(self, n: int) -> None:
        assert self.ring is not None
        if n > len(self.model):
            with pytest.raises(ValueError):
                self.ring.advance_tail(n)
        else:
            self.ring.advance_tail(n)
            del self.model[:n]

    @precondition(lambda self: self.ring is not None)
    @rule(data=st.binary(max_size=5000), keep=st.integers(0, 5000))
    def write_in_place(self, data: bytes, keep: int) -> None:
        assert self.ring is not None
        w = self.ring.get_writable_view()
        k = min(len(w), len(data))
        w[:k] = data[:k]
        w.release()
        n = min(keep, k)
        self.ring.advance_head(n)
        self.model += data[:n]

    @precondition(lambda self: self.ring is not None and len(self.views) < 4)
    @rule()
    def take_view(self) -> None:
        assert self.ring is not None
        v = self.ring.get_readable_view()
        assert bytes(v) == self.model
        self.views.append((v, bytes(v)))

    @precondition(lambda self: self.views)
    @rule(i=st.integers(0, 3))
    def drop_view(self, i: int) -> None:
        v, _ = self.views.pop(i % len(self.views))
        v.release()

    @precondition(lambda self: self.ring is not None)
    @rule()
    def clear(self) -> None:
        assert self.ring is not None
        self.ring.clear()
        self.model.clear()

    @invariant()
    def matches_model(self) -> None:
        if self.ring is None:
            return
        assert len(self.ring) == len(self.model)
        assert bytes(self.ring.get_readable_view()) == self.model
        for v, snap in self.views:
            assert bytes(v) == snap, "a live view changed"
        assert len(self.ring) + self.ring.free() <= self.cap
        if not self.views:
            assert self.ring.free() == self.cap - len(self.model)

    def teardown(self) -> None:
        for v, _ in self.views:
            v.release()


TestRingMachine = RingMachine.TestCase


def test_a_live_ring_holds_no_descriptor_and_leaves_no_name() -> None:
    import os

    from conftest import open_fds

    before = open_fds()
    rings = [PicoRingByte(4096) for _ in range(50)]
    assert open_fds() == before, "a ring must not keep its memfd open"
    with open("/proc/self/maps") as f:
        assert "/memfd:picoring (deleted)" in f.read()
    if os.path.isdir("/dev/shm"):
        assert not [n for n in os.listdir("/dev/shm") if "picoring" in n]
    assert all(r.push(1) for r in rings)
