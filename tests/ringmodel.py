"""A model of the rules of views and grants (DESIGN.md G2, G3), shared by
the state machines of test_ring.py and test_queue.py. It predicts every
call: contents, free space, the open grant, and what live views show.

Nothing is skipped: views are taken while a grant is open, grants are
published in part or abandoned, pushes (empty ones too) are tried while a
grant is open, and every refused call is checked to have changed nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Grant:
    """A writable view handed out, and what the model expects of it."""

    view: memoryview
    start: int  # the head when it was handed out: where it pins
    written: bytearray = field(default_factory=bytearray)
    published: bytes | None = None  # set once published


@dataclass
class RingModel:
    capacity: int
    data: bytearray = field(default_factory=bytearray)
    head: int = 0
    tail: int = 0
    pins: list[int] = field(default_factory=list)  # starts of live views
    reads: list[tuple[memoryview, int, bytes]] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)  # live writable views
    open: Grant | None = None  # the open grant (one of `grants`)

    # --- predictions ----------------------------------------------------------

    def floor(self) -> int:
        return min([self.tail, *self.pins])

    def room(self) -> int:
        return self.capacity - (self.head - self.floor())

    def free(self) -> int:
        return 0 if self.open is not None else self.room()

    # --- changes ------------------------------------------------------------------

    def push(self, data: bytes) -> None:
        self.data += data
        self.head += len(data)

    def consume(self, n: int) -> bytes:
        out = bytes(self.data[:n])
        del self.data[:n]
        self.tail += n
        return out

    def take_read(self, view: memoryview) -> None:
        self.pins.append(self.tail)
        self.reads.append((view, self.tail, bytes(view)))

    def drop_read(self, i: int) -> None:
        view, start, _ = self.reads.pop(i)
        view.release()
        self.pins.remove(start)

    def take_grant(self, view: memoryview) -> Grant:
        g = Grant(view, self.head)
        self.pins.append(self.head)
        self.grants.append(g)
        self.open = g
        return g

    def publish(self, k: int) -> None:
        g = self.open
        assert g is not None
        published = bytes(g.view[:k])
        assert published[: len(g.written)] == g.written[:k], "the ring wrote into the open grant"
        g.published = published
        self.push(published)
        self.open = None

    def drop_grant(self, i: int) -> None:
        g = self.grants.pop(i)
        if self.open is g:
            self.open = None  # released unpublished: abandoned
        g.view.release()
        self.pins.remove(g.start)

    # --- checks -------------------------------------------------------------------

    def state(self, obj: Any) -> tuple[int, int, bytes, str]:
        """What must not change across a refused call."""
        return len(obj), obj.free(), bytes(obj), repr(obj)

    def check(self, obj: Any) -> None:
        assert len(obj) == len(self.data)
        assert bytes(obj) == self.data
        assert obj.free() == self.free(), (obj.free(), self.free())
        assert len(obj) + obj.free() <= self.capacity
        for view, _, snapshot in self.reads:
            assert bytes(view) == snapshot, "a live view changed"
        for g in self.grants:
            if g.published is not None:
                # What a published grant's view showed stays, pinned.
                assert bytes(g.view[: len(g.published)]) == g.published
            else:
                assert bytes(g.view[: len(g.written)]) == g.written, "the ring wrote into the grant"
        if self.open is None:
            assert "writable view" not in repr(obj)
        else:
            assert f"writable view of {len(self.open.view)} open" in repr(obj)

    def release_all(self) -> None:
        for view, _, _ in self.reads:
            view.release()
        for g in self.grants:
            g.view.release()
