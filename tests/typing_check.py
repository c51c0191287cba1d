"""Checked by `mypy --strict` in `make lint`: the stubs type real usage."""

from __future__ import annotations

import array

import numpy as np

import picoring


def use() -> None:
    ring = picoring.PicoRingByte(4096)
    ok: bool = ring.push_bytes(b"abc") and ring.push(1)
    dropped: int = ring.push_overwrite(bytearray(b"x"))
    first: int | None = ring.pop()
    data: bytes = ring.pop_bytes(2) + ring.pop_bytes()
    view: memoryview = ring.get_readable_view()
    w: memoryview = ring.get_writable_view(10)
    ring.advance_head(0)
    ring.advance_tail(0)
    n: int = len(ring) + ring.len() + ring.capacity() + ring.free() + ring[0]
    part: bytes = ring[1:2]
    arr = np.frombuffer(ring.get_readable_view(), dtype=np.uint8)
    mv = memoryview(ring)

    q = picoring.PicoQueueByte(100)
    q.push_bulk(array.array("B", [1, 2, 3]))
    m: memoryview | None = q.reserve(2)
    q.commit(0)
    got: bytes = q.pop_bulk(1)

    with picoring.PicoByteStreamPy(100) as s:
        k: int = s.write(b"x") + s.readinto(bytearray(1))
        rest: bytes = s.read()
    closed: bool = s.closed
    s2 = picoring.PicoByteStreamPy(100)
    s2.write(b"a\nb|c")
    line: bytes = s2.readline() + s2.read_until(b"|", limit=8)
    at: int = s2.find(b"c", 0, None) + q.find(0)
    peeked: memoryview = s2.peek(1)
    lines: list[bytes] = list(s2)

    lst = picoring.PicoListByte(b"ab")
    lst.push(1)
    lst.extend(b"cd")
    item: int | None = lst.get(0)
    changed: bool = lst.set(0, 2)
    lst[0] = 3
    total: int = sum(lst)
    print(ok, dropped, first, data, view, w, n, part, arr, mv, m, got, k, rest, closed, item, changed, total, line, at, peeked, lines)
