"""Circular buffers and byte collections whose data is one contiguous memoryview.

The ring's memory is mapped twice, back to back, so everything readable is
a single ``memoryview`` in O(1), with no copy, however the data wraps.
"""

from ._picoring import (
    MAX_CAPACITY,
    PAGE_SIZE,
    ItemArray,
    PicoByteStreamPy,
    PicoListByte,
    PicoQueueByte,
    PicoRing,
    PicoRingByte,
    PipeReader,
    PipeWriter,
    ReadView,
    WritableView,
    __version__,
    _open_pipe_end,
    pipe,
    shared_pipe,
)

__all__ = [
    "MAX_CAPACITY",
    "PAGE_SIZE",
    "ItemArray",
    "PicoByteStreamPy",
    "PicoListByte",
    "PicoQueueByte",
    "PicoRing",
    "PicoRingByte",
    "PipeReader",
    "PipeWriter",
    "ReadView",
    "WritableView",
    "__version__",
    "pipe",
    "shared_pipe",
]


def _rebuild_pipe_end(role: str, fd: object) -> PipeWriter | PipeReader:
    """Unpickles an end of a shared_pipe(): `fd` is a multiprocessing
    DupFd, whose detach() gives this process its own descriptor."""
    return _open_pipe_end(role, fd.detach())  # type: ignore[attr-defined]
