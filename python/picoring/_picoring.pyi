"""Type stubs of the picoring._picoring extension module."""

from types import TracebackType
from typing import Iterator, SupportsIndex, final, overload

from typing_extensions import Buffer, Self

__all__ = [
    "PicoRingByte",
    "PicoQueueByte",
    "PicoByteStreamPy",
    "PicoListByte",
    "__version__",
    "MAX_CAPACITY",
    "PAGE_SIZE",
]

__version__: str
MAX_CAPACITY: int
"""The largest capacity a ring accepts, in bytes."""
PAGE_SIZE: int
"""The memory page size; ring memory is rounded up to whole pages."""

@final
class PicoRingByte:
    """A circular byte buffer whose readable bytes are always one contiguous memoryview."""

    def __new__(cls, capacity: int) -> Self: ...
    def push(self, value: int) -> bool:
        """Append one byte; False if the ring is full."""
    def pop(self) -> int | None:
        """Remove and return the oldest byte, or None if empty."""
    def push_bytes(self, data: Buffer) -> bool:
        """Append all of `data`, or nothing (False) if it does not fit."""
    def push_overwrite(self, data: Buffer) -> int:
        """Append `data`, dropping the oldest bytes to make room; return how many were dropped."""
    def pop_bytes(self, n: int | None = None) -> bytes:
        """Remove and return up to `n` of the oldest bytes (all if None)."""
    def len(self) -> int:
        """Number of readable bytes."""
    def capacity(self) -> int:
        """The most bytes the ring holds."""
    def free(self) -> int:
        """Bytes a push can take now."""
    def clear(self) -> None:
        """Drop every readable byte."""
    def get_readable_view(self) -> memoryview:
        """A read-only memoryview of every readable byte: contiguous, O(1), no copy."""
    def get_writable_view(self, n: int | None = None) -> memoryview:
        """A writable memoryview of `n` bytes of free space (all if None)."""
    def advance_head(self, n: int) -> None:
        """Publish `n` bytes written through a writable view."""
    def advance_tail(self, n: int) -> None:
        """Consume `n` readable bytes."""
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

    def __new__(cls, capacity: int) -> Self: ...
    def push(self, value: int) -> bool:
        """Append one byte; False if the queue is full."""
    def pop(self) -> int | None:
        """Remove and return the oldest byte, or None if empty."""
    def push_bulk(self, data: Buffer) -> bool:
        """Append all of `data`, or nothing (False) if it does not fit."""
    def pop_bulk(self, n: int | None = None) -> bytes:
        """Remove and return up to `n` of the oldest bytes (all if None)."""
    def get_view(self) -> memoryview:
        """A read-only memoryview of everything queued: contiguous, O(1), no copy."""
    def reserve(self, n: int) -> memoryview | None:
        """A writable memoryview of exactly `n` free bytes, or None if fewer are free."""
    def commit(self, n: int) -> None:
        """Publish `n` bytes written into a reservation."""
    def len(self) -> int:
        """Number of queued bytes."""
    def capacity(self) -> int:
        """The most bytes the queue holds."""
    def free(self) -> int:
        """Bytes a push can take now."""
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

    def __new__(cls, capacity: int) -> Self: ...
    def write(self, data: Buffer) -> int:
        """Write as much of `data` as fits; return how many bytes were taken."""
    def read(self, n: int | None = None) -> bytes:
        """Read up to `n` bytes (all that is there for -1 or None)."""
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
        """Close the stream; further reads and writes raise ValueError."""
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *_args: object) -> bool: ...
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...

@final
class PicoListByte:
    """A growable list of bytes whose storage never moves or copies as it grows."""

    def __new__(cls, data: Buffer | None = None) -> Self: ...
    def push(self, value: int) -> None:
        """Append one byte."""
    def append(self, value: int) -> None:
        """Append one byte (same as push)."""
    def extend(self, data: Buffer) -> None:
        """Append every byte of `data` (a bytes-like object or an iterable of ints)."""
    def get(self, index: int) -> int | None:
        """The byte at `index` (negative counts from the end), or None."""
    def set(self, index: int, value: int) -> bool:
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
    def __setitem__(self, key: SupportsIndex, value: int, /) -> None: ...
    def __iter__(self) -> Iterator[int]: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...
