"""Counts, indexes and capacities from untrusted input (a length field read
off the network, say) at the edges of every integer width: each call either
does the right thing or raises a clear exception that names the argument,
and a refused call changes nothing. No size computation may overflow."""

from __future__ import annotations

import os
from typing import Any, Callable

import pytest

import picoring
from conftest import SLOW
from picoring import PicoByteStreamPy, PicoListByte, PicoQueueByte, PicoRingByte

HOSTILE = [
    2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1,
    2**44, 2**44 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**100,
    -1, -(2**31), -(2**63), -(2**63) - 1, -(2**64), -(2**100),
]  # fmt: skip

REFUSALS = (ValueError, OverflowError, IndexError, MemoryError, TypeError)


def contents(obj: Any) -> bytes:
    return bytes(memoryview(obj))


def fresh() -> dict[str, Any]:
    ring = PicoRingByte(64)
    ring.push_bytes(b"ring data")
    queue = PicoQueueByte(64)
    queue.push_bulk(b"queue data")
    stream = PicoByteStreamPy(64)
    stream.write(b"stream data")
    lst = PicoListByte(b"list data")
    return {"ring": ring, "queue": queue, "stream": stream, "list": lst}


# (class, argument named in errors, call, behaves exactly as on bytes)
CALLS: list[tuple[str, str, Callable[[Any, int], object], bool]] = [
    ("ring", "n", lambda o, n: o.pop_bytes(n), False),
    ("ring", "n", lambda o, n: o.advance_tail(n), False),
    ("ring", "n", lambda o, n: o.advance_head(n), False),
    ("ring", "n", lambda o, n: o.get_writable_view(n), False),
    ("ring", "item", lambda o, n: o.push(n), False),
    ("ring", "index", lambda o, n: o[n], True),
    ("ring", "slice", lambda o, n: o[n : n + 3], True),
    ("ring", "slice", lambda o, n: o[::n], True),
    ("queue", "n", lambda o, n: o.pop_bulk(n), False),
    ("queue", "n", lambda o, n: o.reserve(n), False),
    ("queue", "n", lambda o, n: o.commit(n), False),
    ("queue", "item", lambda o, n: o.push(n), False),
    ("queue", "index", lambda o, n: o[n], True),
    ("stream", "n", lambda o, n: o.read(n), False),
    ("list", "index", lambda o, n: o[n], True),
    ("list", "index", lambda o, n: o.__setitem__(n, 1), False),
    ("list", "index", lambda o, n: o.get(n), False),
    ("list", "index", lambda o, n: o.set(n, 1), False),
    ("list", "item", lambda o, n: o.push(n), False),
    ("list", "value", lambda o, n: o.set(0, n), False),
    ("list", "slice", lambda o, n: o[n:], True),
    ("list", "slice", lambda o, n: o[-3:n], True),
]


@pytest.mark.parametrize("n", HOSTILE)
@pytest.mark.parametrize(("kind", "arg", "call", "like_bytes"), CALLS)
def test_hostile_numbers_are_refused_clearly_or_handled(
    kind: str, arg: str, call: Callable[[Any, int], object], like_bytes: bool, n: int
) -> None:
    obj = fresh()[kind]
    before = contents(obj)
    # Reads by index and slice must behave exactly as on `bytes`.
    expected: object = None
    if like_bytes:
        try:
            expected = call(before, n)
        except (IndexError, ValueError, OverflowError) as e:
            expected = type(e)
    try:
        result = call(obj, n)
    except REFUSALS as e:
        # Refused: with a message that names what was wrong, and no change.
        msg = str(e)
        assert msg, f"{type(e).__name__} without a message"
        if arg in ("n", "item", "value") and isinstance(e, (ValueError, OverflowError)):
            # The argument by name, and the value as passed (not a saturated
            # or truncated one), e.g. "n=1267650600228229401496703205376 is
            # more than the readable length (9)".
            assert f"{arg}=" in msg or f"{arg} must" in msg, msg
            assert str(n) in msg, msg
        if isinstance(e, IndexError) and not like_bytes:
            assert str(n) in msg, msg
        if isinstance(expected, type):
            assert isinstance(e, (IndexError, ValueError, OverflowError)), e
        else:
            assert expected is None, f"bytes gave {expected!r}, we raised {e!r}"
        assert contents(obj) == before
        return
    if expected is not None:
        assert result == expected
    # Accepted: only what a huge count can legitimately mean.
    if isinstance(result, bytes):
        assert len(result) <= len(before)
    if isinstance(result, memoryview):
        assert len(result) <= 64
        result.release()


@pytest.mark.parametrize("n", [c for c in HOSTILE if c > 0])
@pytest.mark.parametrize("cls", [PicoRingByte, PicoQueueByte, PicoByteStreamPy])
def test_hostile_capacities_are_refused_or_mapped_lazily(cls: type, n: int) -> None:
    # Capacities up to MAX_CAPACITY may be mapped (pages cost memory only
    # once written), beyond it never: MemoryError naming the limit.
    # Valgrind's address-space manager answers EINVAL (OSError), where
    # Linux answers ENOMEM, to a 32 TiB reservation.
    refusals = (MemoryError, OSError) if SLOW else MemoryError
    try:
        obj = cls(n)
    except refusals as e:
        assert str(n) in str(e) or str(picoring.MAX_CAPACITY) in str(e), str(e)
        return
    assert n <= picoring.MAX_CAPACITY and obj.capacity() == n


def test_the_memfd_is_close_on_exec_and_the_ring_holds_no_descriptor() -> None:
    before = set(os.listdir("/proc/self/fd"))
    ring = PicoRingByte(1 << 16)
    assert set(os.listdir("/proc/self/fd")) == before, "a live ring holds a descriptor"
    with open("/proc/self/maps") as f:
        ours = [line for line in f if "memfd:picoring" in line]
    # Two mappings of one nameless file (memfd: a label, not a path).
    assert len(ours) >= 2 and all("(deleted)" in line for line in ours), ours
    del ring
