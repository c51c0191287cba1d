"""PicoQueueByte: the seed API, reserve / commit, and a stateful model."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from picoring import PicoQueueByte
from ringmodel import RingModel


def test_seed_methods_and_return_conventions() -> None:
    q = PicoQueueByte(1024)
    assert q.push_bulk(b"queue_test") is True
    assert q.pop_bulk(5) == b"queue"
    assert q.len() == 5 and q.capacity() == 1024
    assert bytes(q.get_view()) == b"_test"
    assert q.push(7) is True
    assert q.pop() == ord("_")
    q.clear()
    assert q.pop() is None and q.pop_bulk(3) == b""


def test_reserve_is_exact_or_none() -> None:
    q = PicoQueueByte(10)
    q.push_bulk(b"abcdefgh")
    assert q.reserve(3) is None  # only 2 free now
    m = q.reserve(2)
    assert m is not None and len(m) == 2
    m[:] = b"ij"
    q.commit(2)
    m.release()
    assert q.pop_bulk() == b"abcdefghij"
    with pytest.raises(ValueError, match="n=11 is more than the capacity"):
        q.reserve(11)


def test_commit_more_than_reserved_is_refused_and_changes_nothing() -> None:
    q = PicoQueueByte(10)
    m = q.reserve(3)
    assert m is not None
    m[:] = b"abc"
    with pytest.raises(ValueError, match=r"n=4 is more than the open writable view \(3\)"):
        q.commit(4)
    assert len(q) == 0
    q.commit(3)  # still open after the refused commit
    assert q.pop_bulk() == b"abc"


def test_one_reservation_at_a_time() -> None:
    q = PicoQueueByte(16)
    a = q.reserve(4)
    assert a is not None
    with pytest.raises(BufferError, match=r"writable view of 4 bytes is open.*commit\(n\)"):
        q.reserve(4)
    assert q.push_bulk(b"") is True  # an empty push changes nothing...
    assert q.push_bulk(b"x") is False  # ...a real one would land in the reservation
    a[:] = b"abcd"
    q.commit(4)
    b = q.reserve(4)
    assert b is not None
    b[:2] = b"ef"
    q.commit(2)
    assert q.pop_bulk() == b"abcdef"


def test_releasing_the_reservation_uncommitted_abandons_it() -> None:
    q = PicoQueueByte(10)
    m = q.reserve(3)
    assert m is not None
    m[:] = b"abc"
    m.release()
    with pytest.raises(ValueError, match="no writable view is open"):
        q.commit(3)
    assert len(q) == 0 and q.free() == 10


def test_reserve_refuses_what_could_never_fit_naming_the_value() -> None:
    q = PicoQueueByte(10)
    for n in (11, 2**64, 2**100):
        with pytest.raises(ValueError, match=rf"n={n} is more than the capacity \(10\)"):
            q.reserve(n)
    assert q.free() == 10


def test_protocols() -> None:
    q = PicoQueueByte(8)
    assert not q
    q.push_bulk(b"xy")
    assert q and len(q) == 2 and q[1] == ord("y") and q[:] == b"xy"
    assert repr(q) == "PicoQueueByte(capacity=8, len=2, free=6)"


class QueueMachine(RuleBasedStateMachine):
    """Random sequences against the model of tests/ringmodel.py."""

    CAP = 3000

    def __init__(self) -> None:
        super().__init__()
        self.q = PicoQueueByte(self.CAP)
        self.m = RingModel(self.CAP)

    def _refused(self, call: Any) -> None:
        before = self.m.state(self.q)
        call()
        assert self.m.state(self.q) == before, "a refused call changed something"

    @rule(data=st.one_of(st.just(b""), st.binary(max_size=2000)))
    def push_bulk(self, data: bytes) -> None:
        ok = len(data) <= self.m.free()
        if ok and data:
            assert self.q.push_bulk(data) is True
            self.m.push(data)
        else:
            self._refused(lambda: self._eq(self.q.push_bulk(data), ok))

    def _eq(self, got: object, want: object) -> None:
        assert got == want, (got, want)

    @rule(b=st.integers(0, 255))
    def push(self, b: int) -> None:
        if self.m.free():
            assert self.q.push(b) is True
            self.m.push(bytes([b]))
        else:
            self._refused(lambda: self._eq(self.q.push(b), False))

    @rule(n=st.one_of(st.none(), st.integers(0, 2500)))
    def pop_bulk(self, n: int | None) -> None:
        k = len(self.m.data) if n is None else min(n, len(self.m.data))
        assert self.q.pop_bulk(n) == self.m.consume(k)

    @rule()
    def pop(self) -> None:
        want = self.m.consume(1) if self.m.data else b""
        assert self.q.pop() == (want[0] if want else None)

    @precondition(lambda self: len(self.m.reads) < 3)
    @rule()
    def take_view(self) -> None:
        self.m.take_read(self.q.get_view())

    @precondition(lambda self: self.m.reads)
    @rule(i=st.integers(0, 2))
    def drop_view(self, i: int) -> None:
        self.m.drop_read(i % len(self.m.reads))

    @precondition(lambda self: len(self.m.grants) < 3)
    @rule(n=st.integers(0, 3200), data=st.binary(max_size=2000))
    def reserve(self, n: int, data: bytes) -> None:
        m = self.m
        if n > self.CAP:
            self._refused(lambda: pytest.raises(ValueError, self.q.reserve, n))
        elif m.open is not None:
            self._refused(lambda: pytest.raises(BufferError, self.q.reserve, n))
        elif n > m.room():
            self._refused(lambda: self._eq(self.q.reserve(n), None))
        else:
            v = self.q.reserve(n)
            assert v is not None and len(v) == n
            g = m.take_grant(v)
            k = min(n, len(data))
            v[:k] = data[:k]
            g.written += data[:k]

    @rule(k=st.one_of(st.integers(0, 8), st.integers(0, 3000)))
    def commit(self, k: int) -> None:
        m = self.m
        if m.open is not None and k <= len(m.open.view):
            self.q.commit(k)
            m.publish(k)
        elif m.open is None and k == 0:
            self._refused(lambda: self.q.commit(0))
        else:
            self._refused(lambda: pytest.raises(ValueError, self.q.commit, k))

    @precondition(lambda self: self.m.grants)
    @rule(i=st.integers(0, 2))
    def drop_reservation(self, i: int) -> None:
        self.m.drop_grant(i % len(self.m.grants))

    @rule()
    def clear(self) -> None:
        self.q.clear()
        self.m.consume(len(self.m.data))

    @invariant()
    def matches(self) -> None:
        self.m.check(self.q)

    def teardown(self) -> None:
        self.m.release_all()


TestQueueMachine = QueueMachine.TestCase
