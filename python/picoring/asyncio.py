"""asyncio streams whose reader is a picoring ring.

`open_connection` and `start_server` mirror asyncio's functions of the same
names (every keyword passes through: `ssl`, `family`, `reuse_port`, ...),
with one more keyword: `capacity`, the bytes the reader's ring holds. The
transport writes what arrives straight into the ring's free space (an
`asyncio.BufferedProtocol` whose `get_buffer` is the ring's writable view),
so received bytes are copied once, by the kernel, and `peek_view(n)` shows
them without a copy.

The reader has `asyncio.StreamReader`'s methods and exceptions (`read`,
`readexactly`, `readuntil`, `readline`, `at_eof`, `async for line in
reader`, `IncompleteReadError`, `LimitOverrunError`), plus `peek_view(n)`
and `consume(n)`. When the ring is full, the transport is paused until the
reader consumes. The writer is an `asyncio.StreamWriter`.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Awaitable, Callable
from typing import Any

from ._picoring import PicoRingByte

__all__ = [
    "DEFAULT_CAPACITY",
    "PicoStreamReader",
    "PicoStreamWriter",
    "PicoStreamProtocol",
    "open_connection",
    "start_server",
]

DEFAULT_CAPACITY = 256 * 1024
"""Bytes a reader's ring holds unless `capacity` says otherwise."""


def _count(n: object) -> int:
    """A count argument: an int >= 0, through __index__."""
    try:
        v = operator.index(n)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"n must be an int (or an object with __index__), not {type(n).__name__}") from None
    if v < 0:
        raise ValueError(f"n must be >= 0, got {v}")
    return v


class PicoStreamReader:
    """Reads what a connection received, from a ring the transport fills."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, *, limit: int | None = None) -> None:
        self._ring = PicoRingByte(capacity)
        self._capacity = self._ring.capacity()
        # The longest line or record readuntil looks for: the ring, unless
        # told less (a record must fit the ring to be found in it).
        self._limit = self._capacity if limit is None else min(int(limit), self._capacity)
        if self._limit <= 0:
            raise ValueError(f"limit must be > 0, got {limit}")
        self._eof = False
        self._exception: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        # Bytes the waiting coroutine needs buffered before it can go on:
        # arrivals short of that do not wake it (one switch per frame, not
        # one per received chunk).
        self._wanted = 1
        self._protocol: PicoStreamProtocol | None = None

    def __repr__(self) -> str:
        state = ["eof"] if self._eof else []
        if self._exception is not None:
            state.append(f"exception={self._exception!r}")
        return f"<PicoStreamReader {len(self._ring)} of {self._capacity} bytes buffered{' ' if state else ''}{' '.join(state)}>"

    # --- what the protocol calls -------------------------------------------------

    def _wakeup(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def feed_eof(self) -> None:
        self._eof = True
        self._wakeup()

    def set_exception(self, exc: BaseException) -> None:
        self._exception = exc
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_exception(exc)

    def exception(self) -> BaseException | None:
        return self._exception

    def at_eof(self) -> bool:
        """True when the peer closed and every byte was read."""
        return self._eof and len(self._ring) == 0

    # --- waiting ---------------------------------------------------------------

    def _arrived(self) -> None:
        """Bytes arrived: wake the waiter if it has what it needs (or the
        ring is full, or views hold the rest of its space)."""
        ring = self._ring
        if len(ring) >= self._wanted or ring.free() == 0:
            self._wakeup()

    async def _wait(self, what: str, wanted: int = 0) -> None:
        """Waits until more bytes arrive (at least `wanted` buffered, when
        given), or the end."""
        if self._waiter is not None:
            raise RuntimeError(f"{what}() called while another coroutine is already waiting for incoming data")
        if self._exception is not None:
            raise self._exception
        assert not self._eof, "_wait at eof"
        self._resume()
        self._wanted = min(max(wanted, len(self._ring) + 1), self._capacity)
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
            self._wanted = 1

    def _resume(self) -> None:
        if self._protocol is not None:
            self._protocol._resume_if_room()

    def _consumed(self) -> None:
        self._resume()

    # --- zero-copy reads --------------------------------------------------------

    async def peek_view(self, n: int) -> memoryview:
        """Waits until `n` bytes are buffered and returns a read-only view of
        them (no copy; nothing consumed). Fewer only at the end of the stream.
        The view pins its bytes: release it before the ring must reuse them."""
        n = _count(n)
        if n > self._capacity:
            raise ValueError(f"n={n} is more than the reader's capacity ({self._capacity} bytes)")
        while len(self._ring) < n and not self._eof:
            await self._wait("peek_view", n)
        if self._exception is not None and len(self._ring) < n:
            raise self._exception
        view = self._ring.get_readable_view()
        if len(view) <= n:
            return view
        part = view[:n]
        view.release()
        return part

    def consume(self, n: int) -> None:
        """Drops the first `n` buffered bytes (after reading them in place)."""
        self._ring.advance_tail(_count(n))
        self._consumed()

    # --- StreamReader's methods -------------------------------------------------

    async def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes (at least one, unless at the end); all until the end
        for a negative `n`."""
        if self._exception is not None:
            raise self._exception
        if n == 0:
            return b""
        if n < 0:
            parts = []
            while True:
                if len(self._ring):
                    parts.append(self._ring.pop_bytes())
                    self._consumed()
                elif self._eof:
                    return b"".join(parts)
                else:
                    await self._wait("read")
        while not len(self._ring) and not self._eof:
            await self._wait("read")
        data = self._ring.pop_bytes(n)
        self._consumed()
        return data

    async def readexactly(self, n: int) -> bytes:
        """Exactly `n` bytes, however many that is (more than the ring holds
        too); `IncompleteReadError` if the stream ends first."""
        if n < 0:
            raise ValueError("readexactly size can not be less than zero")
        if self._exception is not None:
            raise self._exception
        if n == 0:
            return b""
        if n <= self._capacity:
            while len(self._ring) < n:
                if self._eof:
                    partial = self._ring.pop_bytes()
                    self._consumed()
                    raise asyncio.IncompleteReadError(partial, n)
                await self._wait("readexactly", n)
            data = self._ring.pop_bytes(n)
            self._consumed()
            return data
        out = bytearray()
        while len(out) < n:
            if len(self._ring):
                out += self._ring.pop_bytes(n - len(out))
                self._consumed()
            elif self._eof:
                raise asyncio.IncompleteReadError(bytes(out), n)
            else:
                await self._wait("readexactly")
        return bytes(out)

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        """The bytes up to and including `separator`. At the end without it:
        `IncompleteReadError` (with what is left, consumed); not found within
        the limit: `LimitOverrunError` (nothing consumed)."""
        seplen = len(separator)
        if seplen == 0:
            raise ValueError("Separator should be at least one-byte string")
        if self._exception is not None:
            raise self._exception
        offset = 0
        while True:
            at = self._ring.find(separator, offset)
            if at >= 0:
                if at > self._limit:  # as StreamReader: the separator may end past it
                    raise asyncio.LimitOverrunError("Separator is found, but chunk is longer than limit", at)
                data = self._ring.pop_bytes(at + seplen)
                self._consumed()
                return data
            buffered = len(self._ring)
            if buffered >= self._limit:
                raise asyncio.LimitOverrunError("Separator is not found, and chunk exceed the limit", buffered)
            if self._eof:
                chunk = self._ring.pop_bytes()
                self._consumed()
                raise asyncio.IncompleteReadError(chunk, None)
            offset = max(0, buffered + 1 - seplen)
            await self._wait("readuntil")

    async def readline(self) -> bytes:
        """A line, with its b"\\n"; at the end, what is left (maybe b"")."""
        try:
            return await self.readuntil(b"\n")
        except asyncio.IncompleteReadError as e:
            return e.partial
        except asyncio.LimitOverrunError as e:
            # As StreamReader: drop the overlong line, then report it.
            if self._ring.find(b"\n", e.consumed) >= 0:
                self._ring.advance_tail(self._ring.find(b"\n", e.consumed) + 1)
            else:
                self._ring.clear()
            self._consumed()
            raise ValueError(e.args[0]) from None

    def __aiter__(self) -> PicoStreamReader:
        return self

    async def __anext__(self) -> bytes:
        line = await self.readline()
        if line == b"":
            raise StopAsyncIteration
        return line


class PicoStreamProtocol(asyncio.BufferedProtocol, asyncio.streams.FlowControlMixin):
    """Hands the transport the ring's free space to receive into, and pauses
    the transport while the ring is full."""

    def __init__(
        self,
        reader: PicoStreamReader,
        client_connected_cb: Callable[[PicoStreamReader, PicoStreamWriter], Awaitable[None] | None] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._loop: asyncio.AbstractEventLoop = loop or asyncio.get_running_loop()
        asyncio.streams.FlowControlMixin.__init__(self, loop=self._loop)
        self._reader = reader
        reader._protocol = self
        self._client_connected_cb = client_connected_cb
        self._transport: asyncio.BaseTransport | None = None
        self._writer: PicoStreamWriter | None = None
        self._grant: memoryview | None = None
        self._reading_paused = False
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._task: asyncio.Task[Any] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        if self._client_connected_cb is not None:
            assert isinstance(transport, asyncio.Transport)
            self._writer = PicoStreamWriter(transport, self, self._reader, self._loop)
            res = self._client_connected_cb(self._reader, self._writer)
            if asyncio.iscoroutine(res):
                self._task = self._loop.create_task(res)
                self._task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Task[Any]) -> None:
        # As asyncio 3.12+ does: a handler that fails is reported, and its
        # connection closed rather than left open.
        if task.cancelled() or task.exception() is None:
            return
        self._loop.call_exception_handler(
            {"message": "Unhandled exception in client_connected_cb", "exception": task.exception(), "protocol": self}
        )
        if self._transport is not None:
            self._transport.close()

    def get_buffer(self, sizehint: int) -> memoryview:
        ring = self._reader._ring
        if self._grant is not None:  # the last one was never filled
            self._grant.release()
            self._grant = None
        # Never full here: buffer_updated pauses the transport when the ring
        # fills, and it resumes only once there is room again.
        self._grant = ring.get_writable_view()
        return self._grant

    def buffer_updated(self, nbytes: int) -> None:
        ring = self._reader._ring
        ring.advance_head(nbytes)
        if self._grant is not None:
            self._grant.release()
            self._grant = None
        self._reader._arrived()
        if ring.free() == 0:
            self._pause()

    def _pause(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()  # type: ignore[attr-defined]

    def _resume_if_room(self) -> None:
        if self._reading_paused and self._reader._ring.free() > 0 and self._transport is not None:
            self._reading_paused = False
            if not self._transport.is_closing():
                self._transport.resume_reading()  # type: ignore[attr-defined]

    def eof_received(self) -> bool:
        self._reader.feed_eof()
        # As StreamReaderProtocol: keep the transport open for writing after
        # the peer's half-close (a reply after EOF), except over TLS, which
        # has no half-close.
        return self._transport is None or self._transport.get_extra_info("sslcontext") is None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._grant is not None:
            self._grant.release()
            self._grant = None
        if exc is None:
            self._reader.feed_eof()
        else:
            self._reader.set_exception(exc)
        if not self._closed.done():
            if exc is None:
                self._closed.set_result(None)
            else:
                self._closed.set_exception(exc)
                self._closed.exception()  # retrieved: no "never retrieved" report
        super().connection_lost(exc)
        self._transport = None

    def _get_close_waiter(self, stream: object) -> asyncio.Future[None]:
        return self._closed

    def _replace_writer(self, writer: PicoStreamWriter) -> None:  # StreamWriter.start_tls calls it
        self._writer = writer
        self._transport = writer.transport


class PicoStreamWriter(asyncio.StreamWriter):
    """asyncio's StreamWriter, told about a PicoStreamReader."""

    def __init__(
        self,
        transport: asyncio.WriteTransport,
        protocol: PicoStreamProtocol,
        reader: PicoStreamReader | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(transport, protocol, None, loop)
        self._pico_reader = reader

    async def drain(self) -> None:
        if self._pico_reader is not None:
            exc = self._pico_reader.exception()
            if exc is not None:
                raise exc
        await super().drain()


async def open_connection(
    host: str | None = None,
    port: int | None = None,
    *,
    capacity: int = DEFAULT_CAPACITY,
    limit: int | None = None,
    **kwds: Any,
) -> tuple[PicoStreamReader, PicoStreamWriter]:
    """Connects to `host`:`port` as `asyncio.open_connection` does (every
    keyword passes through to `loop.create_connection`) and returns a reader
    backed by a ring of `capacity` bytes, and a writer."""
    loop = asyncio.get_running_loop()
    reader = PicoStreamReader(capacity, limit=limit)
    protocol = PicoStreamProtocol(reader, loop=loop)
    transport, _ = await loop.create_connection(lambda: protocol, host, port, **kwds)  # type: ignore[arg-type]
    writer = PicoStreamWriter(transport, protocol, reader, loop)
    return reader, writer


async def start_server(
    client_connected_cb: Callable[[PicoStreamReader, PicoStreamWriter], Awaitable[None] | None],
    host: str | None = None,
    port: int | None = None,
    *,
    capacity: int = DEFAULT_CAPACITY,
    limit: int | None = None,
    **kwds: Any,
) -> asyncio.Server:
    """Starts a server as `asyncio.start_server` does; each client gets a
    reader backed by a ring of `capacity` bytes."""
    loop = asyncio.get_running_loop()

    def factory() -> PicoStreamProtocol:
        return PicoStreamProtocol(PicoStreamReader(capacity, limit=limit), client_connected_cb, loop=loop)

    return await loop.create_server(factory, host, port, **kwds)
