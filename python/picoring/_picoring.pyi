"""Type stubs of the picoring._picoring extension module."""

from collections.abc import Iterable
from types import TracebackType
from typing import Any, Iterator, NoReturn, SupportsIndex, final, overload

from typing_extensions import Buffer, Self

__all__ = [
    "PicoRing",
    "ItemArray",
    "ReadView",
    "PicoRingByte",
    "PicoQueueByte",
    "PicoByteStreamPy",
    "PicoListByte",
    "WritableView",
    "__version__",
    "MAX_CAPACITY",
    "PAGE_SIZE",
    "PipeWriter",
    "PipeReader",
    "pipe",
    "shared_pipe",
    "_open_pipe_end",
]

__version__: str
MAX_CAPACITY: int
"""The largest capacity a ring accepts, in bytes."""
PAGE_SIZE: int
"""The memory page size; ring memory is rounded up to whole pages."""

@final
class PicoRingByte:
    """A circular byte buffer whose readable bytes are always one contiguous memoryview."""

    def __new__(cls, capacity: SupportsIndex) -> Self: ...
    def push(self, item: SupportsIndex) -> bool:
        """Append one byte; False (and no change) if the ring is full or a writable view is open."""
    def find(
        self, sub: Buffer | SupportsIndex, start: SupportsIndex | None = None, end: SupportsIndex | None = None
    ) -> int:
        """The offset of `sub` in the readable bytes, from the read position, as bytes.find; -1 when absent."""
    def pop(self) -> int | None:
        """Remove and return the oldest byte, or None if empty."""
    def push_bytes(self, data: Buffer) -> bool:
        """Append all of `data`, or nothing (False) if it does not fit."""
    def push_overwrite(self, data: Buffer) -> int:
        """Append `data`, dropping the oldest bytes to make room; return how many were dropped."""
    def pop_bytes(self, n: SupportsIndex | None = None) -> bytes:
        """Remove and return up to `n` of the oldest bytes (all if None)."""
    def len(self) -> int:
        """Number of readable bytes."""
    def capacity(self) -> int:
        """The most bytes the ring holds."""
    def free(self) -> int:
        """Bytes a push can take now (0 while a writable view is open)."""
    def clear(self) -> None:
        """Drop every readable byte (an open writable view stays open)."""
    def get_readable_view(self) -> memoryview:
        """A read-only memoryview of every readable byte: contiguous, O(1), no copy."""
    def get_writable_view(self, n: SupportsIndex | None = None) -> memoryview:
        """The ring's one open grant: a writable memoryview of `n` bytes of free space (all if None)."""
    def advance_head(self, n: SupportsIndex) -> None:
        """Publish the first `n` bytes written through the open writable view, and end it."""
    def advance_tail(self, n: SupportsIndex) -> None:
        """Consume `n` readable bytes."""
    def readinto(self, buffer: Buffer) -> int:
        """Move up to len(buffer) of the oldest bytes into `buffer`; return how many."""
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...
    @overload
    def __getitem__(self, key: SupportsIndex, /) -> int: ...
    @overload
    def __getitem__(self, key: slice, /) -> bytes: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...

@final
class PicoQueueByte:
    """A byte queue: bulk push and pop, and in-place reserve / commit."""

    def __new__(cls, capacity: SupportsIndex) -> Self: ...
    def push(self, item: SupportsIndex) -> bool:
        """Append one byte; False (and no change) if the queue is full or a reservation is open."""
    def find(
        self, sub: Buffer | SupportsIndex, start: SupportsIndex | None = None, end: SupportsIndex | None = None
    ) -> int:
        """The offset of `sub` in the readable bytes, from the read position, as bytes.find; -1 when absent."""
    def pop(self) -> int | None:
        """Remove and return the oldest byte, or None if empty."""
    def push_bulk(self, data: Buffer) -> bool:
        """Append all of `data`, or nothing (False) if it does not fit."""
    def pop_bulk(self, n: SupportsIndex | None = None) -> bytes:
        """Remove and return up to `n` of the oldest bytes (all if None)."""
    def get_view(self) -> memoryview:
        """A read-only memoryview of everything queued: contiguous, O(1), no copy."""
    def reserve(self, n: SupportsIndex) -> memoryview | None:
        """A writable memoryview of exactly `n` free bytes, or None if fewer are free now."""
    def commit(self, n: SupportsIndex) -> None:
        """Publish the first `n` bytes written into the open reservation, and end it."""
    def len(self) -> int:
        """Number of queued bytes."""
    def capacity(self) -> int:
        """The most bytes the queue holds."""
    def free(self) -> int:
        """Bytes a push can take now (0 while a reservation is open)."""
    def clear(self) -> None:
        """Drop every queued byte."""
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...
    @overload
    def __getitem__(self, key: SupportsIndex, /) -> int: ...
    @overload
    def __getitem__(self, key: slice, /) -> bytes: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...

@final
class PicoByteStreamPy:
    """A bounded FIFO byte stream: `write` takes what fits, `read` returns what is there."""

    def __new__(cls, capacity: SupportsIndex) -> Self: ...
    def write(self, data: Buffer) -> int:
        """Write as much of `data` as fits; return how many bytes were taken."""
    def read(self, n: SupportsIndex | None = -1) -> bytes:
        """Read up to `n` bytes (all that is buffered for -1 or None)."""
    def find(
        self, sub: Buffer | SupportsIndex, start: SupportsIndex | None = None, end: SupportsIndex | None = None
    ) -> int:
        """The offset of `sub` in the readable bytes, from the read position, as bytes.find; -1 when absent."""
    def readline(self, limit: SupportsIndex | None = -1) -> bytes:
        """The bytes up to and including the next newline, consumed; b'' while no whole line is buffered."""
    def read_until(self, delim: Buffer, limit: SupportsIndex | None = -1) -> bytes:
        """The bytes up to and including the next `delim`, consumed; b'' while none is buffered."""
    def peek(self, n: SupportsIndex | None = None) -> memoryview:
        """A read-only view of the first `n` buffered bytes, consuming nothing."""
    def __iter__(self) -> Iterator[bytes]: ...
    def readinto(self, buffer: Buffer) -> int:
        """Read into a writable buffer; return how many bytes were read."""
    def available_to_read(self) -> int:
        """Bytes that can be read now."""
    def available_to_write(self) -> int:
        """Bytes that can be written now."""
    def free(self) -> int:
        """Bytes that can be written now (same as available_to_write)."""
    def capacity(self) -> int:
        """The most bytes the stream buffers."""
    def clear(self) -> None:
        """Drop every buffered byte."""
    def readable(self) -> bool: ...
    def writable(self) -> bool: ...
    def seekable(self) -> bool: ...
    def flush(self) -> None: ...
    def close(self) -> None:
        """Close the stream; further reads, writes and views raise ValueError."""
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> bool: ...
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...

@final
class PicoListByte:
    """A growable list of bytes whose storage never moves or copies as it grows."""

    def __new__(cls, data: Buffer | Iterable[SupportsIndex] | None = None) -> Self: ...
    def push(self, item: SupportsIndex) -> None:
        """Append one byte."""
    def append(self, item: SupportsIndex) -> None:
        """Append one byte (same as push)."""
    def extend(self, data: Buffer | Iterable[SupportsIndex]) -> None:
        """Append every byte of `data` (a bytes-like object or an iterable of ints)."""
    def get(self, index: SupportsIndex) -> int | None:
        """The byte at `index` (negative counts from the end), or None."""
    def set(self, index: SupportsIndex, value: SupportsIndex) -> bool:
        """Set the byte at `index`; False if out of range."""
    def pop(self) -> int:
        """Remove and return the last byte."""
    def clear(self) -> None:
        """Remove every byte and return the memory to the OS."""
    def len(self) -> int:
        """Number of bytes."""
    def capacity(self) -> int:
        """Bytes that fit before the next system call."""
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...
    @overload
    def __getitem__(self, key: SupportsIndex, /) -> int: ...
    @overload
    def __getitem__(self, key: slice, /) -> bytes: ...
    def __setitem__(self, key: SupportsIndex, value: SupportsIndex, /) -> None: ...
    def __delitem__(self, key: SupportsIndex | slice, /) -> NoReturn: ...
    def __iter__(self) -> Iterator[int]: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...

@final
class WritableView:
    """The free space a ring or queue handed out for writing in place (`memoryview.obj` of a writable view)."""

    def __new__(cls) -> NoReturn: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...

_DType = str | type | Any
"""A struct format code ('f', '<h', 'Zf'), a NumPy dtype or scalar type, or its name ('float32')."""

@final
class PicoRing:
    """A circular buffer of typed, fixed-size items whose readable items are one contiguous typed view."""

    def __new__(
        cls,
        capacity: SupportsIndex,
        dtype: _DType = "B",
        item_shape: SupportsIndex | tuple[SupportsIndex, ...] | list[SupportsIndex] | None = (),
    ) -> Self: ...
    @property
    def dtype(self) -> str:
        """The items' element format, as a struct format string."""
    @property
    def itemsize(self) -> int:
        """Bytes per item."""
    @property
    def item_shape(self) -> tuple[int, ...]:
        """The shape of one item."""
    def push_array(self, data: Buffer) -> bool:
        """Append every item of `data` (same dtype, shaped (n, *item_shape) or item_shape), or nothing."""
    def push_overwrite(self, data: Buffer) -> int:
        """Append the items of `data`, dropping the oldest; return how many were dropped."""
    def pop_array(self, n: SupportsIndex | None = None) -> ItemArray:
        """Remove and return up to `n` of the oldest items (all if None)."""
    def latest(self, n: SupportsIndex) -> memoryview:
        """The newest `n` items as one read-only typed view, in O(1)."""
    def get_readable_view(self) -> memoryview:
        """A read-only typed memoryview of every readable item."""
    def get_writable_view(self, n: SupportsIndex | None = None) -> memoryview:
        """A writable typed memoryview of `n` items of free space: the ring's one open grant."""
    def advance_head(self, n: SupportsIndex) -> None:
        """Publish the first `n` items written through the open writable view, and end it."""
    def advance_tail(self, n: SupportsIndex) -> None:
        """Consume `n` items."""
    def len(self) -> int:
        """Number of readable items."""
    def capacity(self) -> int:
        """The most items the ring holds."""
    def free(self) -> int:
        """Items a push can take now (0 while a writable view is open)."""
    def clear(self) -> None:
        """Drop every readable item."""
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...
    @overload
    def __getitem__(self, key: SupportsIndex, /) -> Any: ...
    @overload
    def __getitem__(self, key: slice, /) -> memoryview: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...

@final
class ItemArray:
    """Items popped from a PicoRing, in memory of their own; np.asarray sees them typed, without a copy."""

    def __new__(cls) -> NoReturn: ...
    @property
    def dtype(self) -> str:
        """The element format, as a struct format string."""
    @property
    def shape(self) -> tuple[int, ...]:
        """(items, *item_shape)."""
    def __len__(self) -> int: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...

@final
class ReadView:
    """Items of a PicoRing shown read-only (`memoryview.obj` of latest(n) and ring[i])."""

    def __new__(cls) -> NoReturn: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...

def pipe(capacity: SupportsIndex) -> tuple[PipeWriter, PipeReader]:
    """A blocking byte pipe of `capacity` bytes between threads, as (writer, reader)."""

def shared_pipe(capacity: SupportsIndex) -> tuple[PipeWriter, PipeReader]:
    """A blocking byte pipe of `capacity` bytes in shared memory, as (writer, reader); both ends pickle (Linux)."""

def _open_pipe_end(role: str, fd: int) -> PipeWriter | PipeReader: ...

@final
class PipeWriter:
    """The writing end of a pipe: write() blocks while the pipe is full until all of its data is written."""

    def __new__(cls) -> NoReturn: ...
    @property
    def closed(self) -> bool:
        """True after close()."""
    def write(self, data: Buffer, timeout: float | None = None) -> int:
        """Write all of `data`, waiting while the pipe is full; return len(data) in bytes.

        Raises TimeoutError when `timeout` seconds pass first and BrokenPipeError once the
        reader is closed; the bytes written before stay written (the error's `written`).
        """
    def close(self) -> None:
        """End the stream: the reader reads what was written, then EOF (b'')."""
    def capacity(self) -> int:
        """The most bytes the pipe holds."""
    def free(self) -> int:
        """Bytes a write could take now without waiting."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> bool: ...
    def __reduce__(self) -> tuple[Any, ...]: ...

@final
class PipeReader:
    """The reading end of a pipe: reads block while it is empty; b'' is EOF."""

    def __new__(cls) -> NoReturn: ...
    @property
    def closed(self) -> bool:
        """True after close()."""
    def read(self, n: SupportsIndex | None = -1, timeout: float | None = None) -> bytes:
        """Up to `n` bytes (everything readable for a negative n or None), waiting while empty; b'' at EOF."""
    def readinto(self, buffer: Buffer, timeout: float | None = None) -> int:
        """Move up to len(buffer) bytes into `buffer`, waiting while empty; return how many (0 at EOF)."""
    def get_readable_view(self, timeout: float | None = None, at_least: SupportsIndex = 1) -> memoryview:
        """Wait until `at_least` bytes are readable, then a read-only memoryview of all readable bytes, in place.

        Shorter only once the writer is gone; empty at EOF.
        """
    def advance_tail(self, n: SupportsIndex) -> None:
        """Consume `n` readable bytes."""
    def close(self) -> None:
        """Stop reading: the writer's next write raises BrokenPipeError."""
    def capacity(self) -> int:
        """The most bytes the pipe holds."""
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[bytes]: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> bool: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...
