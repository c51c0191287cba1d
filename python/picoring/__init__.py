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
    pipe,
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
]
