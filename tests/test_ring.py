"""PicoRingByte: the seed API, the Python protocols, and a stateful model."""

from __future__ import annotations

import array
import socket
from typing import Any

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from picoring import PicoRingByte
from ringmodel import RingModel


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
        ring.pop_bytes(59)  # one byte stays: the next bytes wrap past the end
        a.sendall(b"hello, ring")
        # The loop of the design: publish, then ask for the next grant while
        # the old view is still referenced.
        w = ring.get_writable_view()
        n = b.recv_into(w)
        ring.advance_head(n)
        a.sendall(b"!")
        w = ring.get_writable_view()
        ring.advance_head(b.recv_into(w))
        del w
        assert ring.pop_bytes() == b"xhello, ring!"


def test_writable_view_larger_than_free_space_is_refused() -> None:
    ring = PicoRingByte(8)
    ring.push_bytes(b"abc")
    with pytest.raises(ValueError, match=r"n=6 is more than the free space \(5\)"):
        ring.get_writable_view(6)
    with pytest.raises(ValueError, match=r"n=1267650600228229401496703205376 is more than the free space \(5\)"):
        ring.get_writable_view(2**100)


# --- the grant rules (DESIGN.md G2, G3), one test per finding of issue 8 ------


def test_a_second_writable_view_is_refused_naming_the_open_one() -> None:
    ring = PicoRingByte(16)
    a = ring.get_writable_view(4)
    with pytest.raises(BufferError, match=r"writable view of 4 bytes is open.*advance_head"):
        ring.get_writable_view(4)
    with pytest.raises(BufferError):
        ring.get_writable_view()
    a[:] = b"abcd"
    ring.advance_head(4)
    b = ring.get_writable_view(4)  # publishing ended the first grant
    assert len(b) == 4
    b[:] = b"efgh"
    ring.advance_head(4)
    assert bytes(ring) == b"abcdefgh"


def test_an_empty_push_leaves_the_open_grant_alone() -> None:
    ring = PicoRingByte(16)
    w = ring.get_writable_view(4)
    w[:] = b"abcd"
    assert ring.push_bytes(b"") is True  # nothing to push: fine, no change
    assert ring.push_bytes(bytearray()) is True
    assert ring.push_overwrite(b"") == 0
    assert ring.push(1) is False and ring.push_bytes(b"x") is False  # would land in the grant
    ring.advance_head(4)
    assert bytes(ring) == b"abcd"


def test_publishing_less_than_granted_ends_the_grant() -> None:
    ring = PicoRingByte(16)
    w = ring.get_writable_view(8)
    w[:3] = b"abc"
    ring.advance_head(3)
    with pytest.raises(ValueError, match=r"n=1 is more than .*no writable view is open.*\(0\)"):
        ring.advance_head(1)  # the other 5 bytes were never published
    assert bytes(ring) == b"abc" and ring.free() == 13


def test_releasing_a_writable_view_unpublished_abandons_it() -> None:
    ring = PicoRingByte(16)
    w = ring.get_writable_view(4)
    w[:] = b"lost"
    w.release()
    with pytest.raises(ValueError):
        ring.advance_head(4)
    assert len(ring) == 0 and ring.free() == 16
    assert ring.get_writable_view(2) is not None  # a new grant is fine


def test_a_temporary_writable_view_is_gone_before_advance_head() -> None:
    # The trap the README warns about: a view passed inline to recv_into is
    # released when recv_into returns, which abandons the grant.
    a, b = socket.socketpair()
    with a, b:
        ring = PicoRingByte(64)
        a.sendall(b"hi")
        n = b.recv_into(ring.get_writable_view())
        with pytest.raises(ValueError, match="released before it was published is abandoned"):
            ring.advance_head(n)
        assert len(ring) == 0 and ring.free() == 64


def test_a_refused_publish_changes_nothing() -> None:
    ring = PicoRingByte(16)
    w = ring.get_writable_view(4)
    w[:] = b"abcd"
    with pytest.raises(ValueError, match=r"n=5 is more than the open writable view \(4\)"):
        ring.advance_head(5)
    with pytest.raises(ValueError, match=r"n=1180591620717411303424 is more than"):
        ring.advance_head(2**70)
    ring.advance_head(4)  # still open, still publishable
    assert bytes(ring) == b"abcd"


def test_a_published_view_keeps_what_it_showed() -> None:
    # A grant's view published and still referenced pins its bytes: they
    # are readable now, and no push lands on them while the view lives.
    ring = PicoRingByte(8)
    w = ring.get_writable_view(8)
    w[:] = b"12345678"
    ring.advance_head(8)
    assert ring.pop_bytes(8) == b"12345678"
    assert ring.free() == 0 and ring.push(1) is False
    assert bytes(w) == b"12345678"
    del w
    assert ring.free() == 8


def test_readable_views_can_be_taken_while_a_grant_is_open() -> None:
    ring = PicoRingByte(16)
    ring.push_bytes(b"ab")
    w = ring.get_writable_view(4)
    v = ring.get_readable_view()
    w[:] = b"cdef"
    ring.advance_head(4)
    assert bytes(v) == b"ab" and bytes(ring) == b"abcdef"


def test_buffers_inside_the_ring_itself_are_copied_first() -> None:
    # A writable view kept after publishing points into the ring: pushing
    # from it, or reading into it, behaves as if its bytes were copied
    # first (the ring never writes where a slice it copies from points).
    ring = PicoRingByte(64)
    w = ring.get_writable_view(64)
    w[:] = bytes(range(64))
    ring.advance_head(0)  # nothing published: the 64 bytes are free space
    src = bytes(w[1:])
    assert ring.push_bytes(w[1:])  # lands one byte before its source
    assert bytes(ring) == src
    del w

    ring = PicoRingByte(64)
    ring.push_bytes(b"abcdefgh")
    w = ring.get_writable_view(8)  # the free space right after the bytes
    ring.advance_head(0)
    assert ring.readinto(w) == 8 and bytes(w) == b"abcdefgh"
    # The ring is empty; the next push lands exactly where `w` is.
    assert ring.push_overwrite(w[:4]) == 0 and bytes(ring) == b"abcd"
    # (What the copy prevents is undefined behaviour in Rust, a slice the
    # ring reads from while writing under it; this test pins the result.)


def test_the_writable_view_object_says_what_it_is() -> None:
    ring = PicoRingByte(16)
    w = ring.get_writable_view(4)
    assert "4 bytes, open" in repr(w.obj)
    with pytest.raises(BufferError, match="already handed out"):
        memoryview(w.obj)  # one memoryview per grant
    ring.advance_head(0)
    assert "published or abandoned" in repr(w.obj)
    with pytest.raises(TypeError):
        type(w.obj)()


class RingMachine(RuleBasedStateMachine):
    """Random sequences against the model of tests/ringmodel.py."""

    def __init__(self) -> None:
        super().__init__()
        self.ring: PicoRingByte | None = None
        self.m = RingModel(1)

    @precondition(lambda self: self.ring is None)
    @rule(cap=st.sampled_from([1, 7, 64, 1000, 4096, 9000]))
    def create(self, cap: int) -> None:
        self.ring = PicoRingByte(cap)
        self.m = RingModel(cap)

    def _refused(self, call: Any) -> None:
        assert self.ring is not None
        before = self.m.state(self.ring)
        call()
        assert self.m.state(self.ring) == before, "a refused call changed something"

    @precondition(lambda self: self.ring is not None)
    @rule(data=st.one_of(st.just(b""), st.binary(max_size=5000)))
    def push_bytes(self, data: bytes) -> None:
        assert self.ring is not None
        ok = len(data) <= self.m.free()
        if not ok or not data:
            self._refused(lambda: self._check(self.ring.push_bytes(data), ok))
        else:
            assert self.ring.push_bytes(data) is True
            self.m.push(data)

    def _check(self, got: object, want: object) -> None:
        assert got == want, (got, want)

    @precondition(lambda self: self.ring is not None)
    @rule(b=st.integers(0, 255))
    def push(self, b: int) -> None:
        assert self.ring is not None
        if self.m.free() == 0:
            self._refused(lambda: self._check(self.ring.push(b), False))
        else:
            assert self.ring.push(b) is True
            self.m.push(bytes([b]))

    @precondition(lambda self: self.ring is not None)
    @rule(data=st.binary(max_size=12000))
    def push_overwrite(self, data: bytes) -> None:
        assert self.ring is not None
        m = self.m
        keep = data[max(0, len(data) - m.capacity) :]
        needed_tail = max(0, m.head + len(keep) - m.capacity)
        if data and (m.open is not None or any(p < needed_tail for p in m.pins)):
            self._refused(lambda: pytest.raises(BufferError, self.ring.push_overwrite, data))
            return
        dropped = self.ring.push_overwrite(data)
        d = max(0, needed_tail - m.tail) if data else 0
        assert dropped == len(data) - len(keep) + d
        m.consume(d)
        m.push(keep)

    @precondition(lambda self: self.ring is not None)
    @rule(n=st.one_of(st.none(), st.integers(0, 6000)))
    def pop_bytes(self, n: int | None) -> None:
        assert self.ring is not None
        k = len(self.m.data) if n is None else min(n, len(self.m.data))
        assert self.ring.pop_bytes(n) == self.m.consume(k)

    @precondition(lambda self: self.ring is not None)
    @rule()
    def pop(self) -> None:
        assert self.ring is not None
        want = self.m.consume(1) if self.m.data else b""
        assert self.ring.pop() == (want[0] if want else None)

    @precondition(lambda self: self.ring is not None)
    @rule(n=st.integers(0, 6000))
    def advance_tail(self, n: int) -> None:
        assert self.ring is not None
        if n > len(self.m.data):
            self._refused(lambda: pytest.raises(ValueError, self.ring.advance_tail, n))
        else:
            self.ring.advance_tail(n)
            self.m.consume(n)

    @precondition(lambda self: self.ring is not None)
    @rule(size=st.integers(0, 3000))
    def readinto(self, size: int) -> None:
        assert self.ring is not None
        buf = bytearray(size)
        k = self.ring.readinto(buf)
        assert k == min(size, len(self.m.data)) and buf[:k] == self.m.consume(k)

    @precondition(lambda self: self.ring is not None)
    @rule()
    def clear(self) -> None:
        assert self.ring is not None
        self.ring.clear()
        self.m.consume(len(self.m.data))

    @precondition(lambda self: self.ring is not None and len(self.m.reads) < 4)
    @rule()
    def take_view(self) -> None:
        assert self.ring is not None
        self.m.take_read(self.ring.get_readable_view())

    @precondition(lambda self: self.m.reads)
    @rule(i=st.integers(0, 3))
    def drop_view(self, i: int) -> None:
        self.m.drop_read(i % len(self.m.reads))

    @precondition(lambda self: self.ring is not None and len(self.m.grants) < 3)
    @rule(n=st.one_of(st.none(), st.integers(0, 5000)), data=st.binary(max_size=3000))
    def open_grant(self, n: int | None, data: bytes) -> None:
        assert self.ring is not None
        m = self.m
        if m.open is not None:
            self._refused(lambda: pytest.raises(BufferError, self.ring.get_writable_view, n))
            return
        if n is not None and n > m.room():
            self._refused(lambda: pytest.raises(ValueError, self.ring.get_writable_view, n))
            return
        w = self.ring.get_writable_view(n)
        assert len(w) == (m.room() if n is None else n)
        g = m.take_grant(w)
        k = min(len(w), len(data))
        w[:k] = data[:k]
        g.written += data[:k]

    @precondition(lambda self: self.m.open is not None)
    @rule(data=st.binary(min_size=1, max_size=500))
    def write_more(self, data: bytes) -> None:
        g = self.m.open
        assert g is not None
        at = len(g.written)
        k = min(len(g.view) - at, len(data))
        g.view[at : at + k] = data[:k]
        g.written += data[:k]

    @precondition(lambda self: self.ring is not None)
    @rule(k=st.one_of(st.integers(0, 8), st.integers(0, 5000)))
    def publish(self, k: int) -> None:
        assert self.ring is not None
        m = self.m
        if m.open is not None and k <= len(m.open.view):
            self.ring.advance_head(k)
            m.publish(k)
        elif m.open is None and k == 0:
            self._refused(lambda: self.ring.advance_head(0))
        else:
            self._refused(lambda: pytest.raises(ValueError, self.ring.advance_head, k))

    @precondition(lambda self: self.m.grants)
    @rule(i=st.integers(0, 2))
    def drop_grant(self, i: int) -> None:
        self.m.drop_grant(i % len(self.m.grants))

    @invariant()
    def matches_model(self) -> None:
        if self.ring is not None:
            self.m.check(self.ring)

    def teardown(self) -> None:
        self.m.release_all()


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
