"""PicoListByte: the seed API, sequence protocols, and a stateful model."""

from __future__ import annotations

import array

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from picoring import PicoListByte


def test_seed_methods_and_return_conventions() -> None:
    lst = PicoListByte()
    lst.extend(b"list_test")
    assert lst.len() == 9
    assert lst.get(0) == ord("l")
    assert lst.get(9) is None
    assert lst.set(0, ord("L")) is True
    assert lst.set(9, 1) is False
    lst.push(33)
    assert bytes(lst) == b"List_test!"


def test_sequence_protocols() -> None:
    lst = PicoListByte(b"abcdef")
    assert len(lst) == 6 and lst
    assert lst[0] == 97 and lst[-1] == 102
    assert lst[1:3] == b"bc" and lst[::-1] == b"fedcba"
    lst[-1] = ord("F")
    assert list(lst) == list(b"abcdeF")
    assert lst.get(-1) == ord("F") and lst.get(-7) is None
    with pytest.raises(IndexError):
        lst[6]
    with pytest.raises(IndexError):
        lst[-7] = 1
    with pytest.raises(TypeError, match="slice assignment"):
        lst[0:2] = b"xy"  # type: ignore[index]
    assert lst.pop() == ord("F")
    assert repr(lst) == "PicoListByte(b'abcde')"
    lst.clear()
    assert not lst and len(lst) == 0
    with pytest.raises(IndexError, match="pop from empty"):
        lst.pop()


def test_extend_accepts_buffers_and_iterables() -> None:
    lst = PicoListByte()
    lst.extend(bytearray(b"a"))
    lst.extend(array.array("B", b"b"))
    lst.extend(np.frombuffer(b"c", dtype=np.uint8))
    lst.extend([100, 101])
    lst.extend(range(102, 104))
    assert bytes(lst) == b"abcdefg"
    with pytest.raises(ValueError, match="range"):
        lst.extend([1, 2, 300])
    with pytest.raises(TypeError):
        lst.extend("text")  # type: ignore[arg-type]
    assert bytes(lst) == b"abcdefg", "a refused extend changed nothing"


def test_argument_errors_name_the_method_called() -> None:
    lst = PicoListByte()
    with pytest.raises(TypeError, match=r"^push\(\) missing required argument 'item'"):
        lst.push()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"^append\(\) missing required argument 'item'"):
        lst.append()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"^set\(\) takes at most 2 arguments \(3 given\)"):
        lst.set(0, 1, 2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"^extend\(\) got an unexpected keyword argument 'dat'"):
        lst.extend(dat=b"")  # type: ignore[call-arg]
    lst.push(item=1)
    lst.set(index=0, value=2)
    assert bytes(lst) == b"\x02"


def test_bad_values() -> None:
    lst = PicoListByte()
    with pytest.raises(ValueError, match=r"item must be in range\(0, 256\), got -1"):
        lst.push(-1)
    with pytest.raises(TypeError, match="item must be an int"):
        lst.push(b"a")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"value must be in range\(0, 256\), got 300"):
        lst.set(0, 300)
    assert len(lst) == 0


class ListMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.lst = PicoListByte()
        self.model = bytearray()
        self.views: list[tuple[memoryview, bytes]] = []

    @rule(data=st.binary(max_size=70_000))
    def extend(self, data: bytes) -> None:
        self.lst.extend(data)
        self.model += data

    @rule(b=st.integers(0, 255))
    def push(self, b: int) -> None:
        self.lst.push(b)
        self.model.append(b)

    @precondition(lambda self: len(self.model) > 0)
    @rule(i=st.integers(), b=st.integers(0, 255))
    def set(self, i: int, b: int) -> None:
        i %= len(self.model)
        shown = max((len(s) for _, s in self.views), default=0)
        if i < shown:
            with pytest.raises(BufferError):
                self.lst[i] = b
        else:
            self.lst[i] = b
            self.model[i] = b

    @precondition(lambda self: len(self.model) > 0)
    @rule()
    def pop(self) -> None:
        shown = max((len(s) for _, s in self.views), default=0)
        if shown >= len(self.model):
            with pytest.raises(BufferError):
                self.lst.pop()
        else:
            assert self.lst.pop() == self.model.pop()

    @precondition(lambda self: len(self.views) < 3)
    @rule()
    def take_view(self) -> None:
        v = memoryview(self.lst)
        self.views.append((v, bytes(v)))

    @precondition(lambda self: self.views)
    @rule()
    def drop_view(self) -> None:
        self.views.pop(0)[0].release()

    @invariant()
    def matches(self) -> None:
        assert len(self.lst) == len(self.model)
        assert bytes(self.lst) == self.model
        for v, snap in self.views:
            assert bytes(v) == snap

    def teardown(self) -> None:
        for v, _ in self.views:
            v.release()


TestListMachine = ListMachine.TestCase
