"""PicoQueueByte: the seed API, reserve / commit, and a stateful model."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from picoring import PicoQueueByte


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


def test_commit_more_than_reserved_is_refused() -> None:
    q = PicoQueueByte(10)
    m = q.reserve(3)
    assert m is not None
    m.release()
    with pytest.raises(ValueError):
        q.commit(4)
    assert len(q) == 0
    q.commit(3)
    assert len(q) == 3


def test_protocols() -> None:
    q = PicoQueueByte(8)
    assert not q
    q.push_bulk(b"xy")
    assert q and len(q) == 2 and q[1] == ord("y") and q[:] == b"xy"
    assert repr(q) == "PicoQueueByte(capacity=8, len=2, free=6)"


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.q = PicoQueueByte(3000)
        self.model = bytearray()

    @rule(data=st.binary(max_size=2000))
    def push_bulk(self, data: bytes) -> None:
        ok = self.q.push_bulk(data)
        assert ok == (len(self.model) + len(data) <= 3000)
        if ok:
            self.model += data

    @rule(n=st.integers(0, 2500))
    def pop_bulk(self, n: int) -> None:
        assert self.q.pop_bulk(n) == self.model[:n]
        del self.model[:n]

    @rule(data=st.binary(max_size=2000))
    def reserve_commit(self, data: bytes) -> None:
        m = self.q.reserve(len(data))
        if m is None:
            assert len(self.model) + len(data) > 3000
            return
        m[:] = data
        self.q.commit(len(data))
        m.release()
        self.model += data

    @precondition(lambda self: len(self.model) > 0)
    @rule()
    def pop(self) -> None:
        assert self.q.pop() == self.model.pop(0)

    @invariant()
    def matches(self) -> None:
        assert bytes(self.q.get_view()) == self.model
        assert self.q.free() == 3000 - len(self.model)


TestQueueMachine = QueueMachine.TestCase
