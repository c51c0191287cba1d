"""PicoRing: typed items, typed views, keep-latest windows."""

from __future__ import annotations

import collections
import os
import sys

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import picoring
from picoring import ItemArray, PicoRing

LITTLE = sys.byteorder == "little"


@pytest.mark.parametrize(
    ("dtype", "fmt", "size"),
    [
        ("b", "b", 1), ("B", "B", 1), ("h", "h", 2), ("<H", "H" if LITTLE else "<H", 2),
        ("=i", "i", 4), ("I", "I", 4), ("q", "q", 8), ("Q", "Q", 8), ("e", "e", 2),
        ("f", "f", 4), ("d", "d", 8), (">f", ">f" if LITTLE else "f", 4),
        ("float32", "f", 4), ("<f4", "f" if LITTLE else "<f", 4), ("complex64", "Zf", 8),
        ("complex128", "Zd", 16), ("int16", "h", 2), ("uint64", "Q", 8), ("float16", "e", 2),
        (np.int16, "h", 2), (np.float64, "d", 8), (np.dtype(">i4"), ">i" if LITTLE else "i", 4),
        (np.dtype("complex64"), "Zf", 8), (np.uint8, "B", 1),
    ],
)  # fmt: skip
def test_dtype_forms(dtype: object, fmt: str, size: int) -> None:
    r = PicoRing(4, dtype)
    assert (r.dtype, r.itemsize, r.item_shape) == (fmt, size, ())
    assert np.asarray(r).dtype == np.dtype(fmt.replace("Zf", "c8").replace("Zd", "c16"))


def test_numpys_native_int64_arrays_fit_int64_rings() -> None:
    # NumPy exports int64 as the native-size code "l" on Linux.
    for dtype in (np.int64, "int64", "q", "l"):
        r = PicoRing(4, dtype)
        assert r.dtype == ("q" if np.dtype("l").itemsize == 8 or dtype != "l" else "i")
        assert r.push_array(np.arange(2, dtype=np.int64))
        assert r.push_array(np.array([5], dtype=np.dtype("l")).astype(np.int64))
    assert PicoRing(4, "<l").itemsize == 4  # standard size with an explicit order, as in struct
    u = PicoRing(4, np.uint64)
    assert u.push_array(np.arange(3, dtype=np.uint64)) and u[2] == 2


def test_dtype_and_shape_are_checked() -> None:
    for bad in ["x", "ff", "<", "n>", "float", "", "<n"]:
        with pytest.raises(TypeError, match=f"dtype '{bad}' is not supported"):
            PicoRing(4, bad)
    with pytest.raises(TypeError, match="dtype .* is not supported"):
        PicoRing(4, np.dtype([("a", "f4")]))
    with pytest.raises(TypeError, match="dtype .* is not supported"):
        PicoRing(4, 3.5)
    with pytest.raises(ValueError, match="item_shape dimensions must be > 0 .* got 0"):
        PicoRing(4, "f", (2, 0))
    with pytest.raises(TypeError, match="item_shape must be a tuple of ints, not str"):
        PicoRing(4, "f", "2")
    with pytest.raises(TypeError, match="item_shape must be an int"):
        PicoRing(4, "f", (2.0,))
    with pytest.raises(ValueError, match="capacity must be > 0, got 0"):
        PicoRing(0, "f")
    with pytest.raises(ValueError, match="capacity must be > 0, got -5"):
        PicoRing(-5)
    with pytest.raises(MemoryError, match=r"capacity 2199023255552 items of 16 bytes is larger"):
        PicoRing(2**41, "Zd")
    with pytest.raises(MemoryError, match=f"capacity {2**70} items"):
        PicoRing(2**70, "B")
    assert PicoRing(np.int64(8), "f", (np.int32(2),)).item_shape == (2,)
    assert PicoRing(8, "f", 3).item_shape == (3,)
    assert PicoRing(8, "f", [2, 3]).item_shape == (2, 3)


@pytest.mark.parametrize(("shape", "dtype"), [((), "B"), ((3,), "B"), ((), "i"), ((3,), "f"), ((480, 640, 3), "B")])
def test_memory_is_whole_pages_and_items_and_items_wrap_whole(shape: tuple[int, ...], dtype: str) -> None:
    cap = 5 if len(shape) == 3 else 1000
    r = PicoRing(cap, dtype, shape)
    item = np.empty(shape, dtype).nbytes
    assert r.itemsize == item and r.capacity() == cap
    rng = np.random.default_rng(7)
    model: collections.deque[np.ndarray] = collections.deque(maxlen=cap)
    for _ in range(60):
        n = int(rng.integers(1, cap // 2 + 2))
        block = rng.integers(0, 100, size=(n, *shape)).astype(dtype)
        r.push_overwrite(block)
        model.extend(block)
        got = np.asarray(r)
        assert got.shape == (len(model), *shape)
        assert np.array_equal(got, np.array(model))
        del got  # an array of the ring pins its items, as a view does
        if rng.random() < 0.2:
            k = int(rng.integers(0, len(model) + 1))
            r.advance_tail(k)
            for _ in range(k):
                model.popleft()


def test_push_array_all_or_nothing_and_strict() -> None:
    r = PicoRing(4, "f", (2,))
    assert r.push_array(np.zeros((3, 2), np.float32)) is True
    assert r.push_array(np.zeros((2, 2), np.float32)) is False  # does not fit: nothing
    assert len(r) == 3
    assert r.push_array(np.array([7, 8], np.float32)) is True  # one item, shaped item_shape
    assert np.array_equal(np.asarray(r)[-1], [7, 8])
    with pytest.raises(TypeError, match="data has format 'd', but this ring holds 'f' items"):
        r.push_array(np.zeros((1, 2)))
    with pytest.raises(TypeError, match=r"data has shape \(1, 3\), but this ring's items have shape \(2,\)"):
        r.push_array(np.zeros((1, 3), np.float32))
    with pytest.raises(TypeError, match="data has format 'B'"):
        r.push_array(b"12345678")
    with pytest.raises(TypeError, match="data must be a buffer of items .* not list"):
        r.push_array([1.0, 2.0])
    assert len(r) == 4


def test_push_array_takes_strided_and_foreign_buffers() -> None:
    import array

    r = PicoRing(100, "h")
    big = np.arange(40, dtype=np.int16)
    assert r.push_array(big[::3])  # not contiguous
    assert r.push_array(array.array("h", [1, 2, 3]))
    assert r.push_array(memoryview(np.array([9, 9], np.int16)))
    assert np.array_equal(np.asarray(r), np.concatenate([big[::3], [1, 2, 3, 9, 9]]))
    frames = PicoRing(10, "B", (4, 3))
    img = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert frames.push_array(img.transpose(0, 2, 1))  # a Fortran-ordered view of (2, 4, 3)
    assert np.array_equal(np.asarray(frames), img.transpose(0, 2, 1))
    be = PicoRing(4, ">f")
    assert be.push_array(np.array([1.5, -2.0], ">f4"))
    with pytest.raises(TypeError, match="data has format"):
        be.push_array(np.array([1.5], "<f4") if LITTLE else np.array([1.5], ">f8"))
    assert list(np.asarray(be)) == [1.5, -2.0]


def test_pop_array_is_typed_and_owns_its_memory() -> None:
    r = PicoRing(8, "d", (2,))
    r.push_array(np.arange(10, dtype=np.float64).reshape(5, 2))
    a = r.pop_array(2)
    assert isinstance(a, ItemArray) and len(a) == 2
    assert (a.dtype, a.shape) == ("d", (2, 2))
    arr = np.asarray(a)
    assert arr.dtype == np.float64 and arr.shape == (2, 2)
    assert np.shares_memory(arr, np.asarray(a))  # no copy in asarray
    assert np.array_equal(arr, [[0, 1], [2, 3]])
    r.push_array(np.full((5, 2), 99, np.float64))  # reuses the popped slots
    assert np.array_equal(arr, [[0, 1], [2, 3]])
    assert r.pop_array(100).shape == (8, 2)
    assert r.pop_array().shape == (0, 2)
    assert memoryview(a).format == "d" and memoryview(a).shape == (2, 2)
    assert repr(a) == "ItemArray(dtype='d', shape=(2, 2))"
    with pytest.raises(ValueError, match="n must be >= 0, got -1"):
        r.pop_array(-1)


def test_views_are_typed_nd_arrays_without_copies() -> None:
    r = PicoRing(6, "B", (2, 3))
    frames = np.arange(4 * 6, dtype=np.uint8).reshape(4, 2, 3)
    r.push_array(frames)
    v = r.get_readable_view()
    assert (v.format, v.itemsize, v.shape, v.strides, v.readonly) == ("B", 1, (4, 2, 3), (6, 3, 1), True)
    arr = np.asarray(v)
    assert np.array_equal(arr, frames)
    assert not arr.flags.writeable
    whole = np.asarray(r)  # the buffer protocol of the ring itself
    assert whole.shape == (4, 2, 3) and np.shares_memory(whole, arr)
    v.release()
    f = PicoRing(16, "f", (2,))
    f.push_array(np.ones((3, 2), np.float32))
    m = memoryview(f)
    assert (m.format, m.itemsize, m.shape, m.nbytes) == ("f", 4, (3, 2), 24)
    assert m.tolist() == [[1.0, 1.0]] * 3
    assert bytes(f) == np.ones((3, 2), np.float32).tobytes()


def test_torch_takes_the_views() -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: its PyPI wheel pulls ~2 GB of CUDA libraries; see README")
    r = PicoRing(8, "f", (2,))
    r.push_array(np.arange(6, dtype=np.float32).reshape(3, 2))
    import warnings

    view = r.get_readable_view()
    arr = np.asarray(view)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that the view is read-only
        t = torch.from_numpy(arr)
    assert t.shape == (3, 2) and t.data_ptr() == arr.ctypes.data  # no copy
    assert t[2, 1].item() == 5.0


def test_latest_is_the_window_and_pins_only_itself() -> None:
    r = PicoRing(1000, "f")
    r.push_array(np.arange(600, dtype=np.float32))
    w = r.latest(100)
    assert np.array_equal(np.asarray(w), np.arange(500, 600))
    assert np.asarray(r.latest(0)).shape == (0,)
    with pytest.raises(ValueError, match=r"n=601 is more than the items readable \(600\)"):
        r.latest(601)
    with pytest.raises(ValueError, match=f"n={2**80} is more than the items readable"):
        r.latest(2**80)
    # Dropping items older than the window is allowed while it is alive...
    assert r.push_overwrite(np.full(800, -1, np.float32)) == 400
    # ...dropping the window's own items is not, and changes nothing.
    with pytest.raises(BufferError, match="live view"):
        r.push_overwrite(np.full(150, -2, np.float32))
    assert len(r) == 1000 and np.asarray(r)[-1] == -1
    assert np.array_equal(np.asarray(w), np.arange(500, 600))  # unchanged
    w.release()
    assert r.push_overwrite(np.full(150, -2, np.float32)) == 150
    assert np.asarray(r.latest(1))[0] == -2


def test_writable_view_is_a_typed_grant() -> None:
    r = PicoRing(8, "i", (2,))
    g = r.get_writable_view(3)
    assert (g.format, g.shape, g.readonly) == ("i", (3, 2), False)
    with pytest.raises(BufferError, match="second writable view"):
        r.get_writable_view(1)
    assert r.push_array(np.zeros((1, 2), np.int32)) is False  # a grant is open
    np.asarray(g)[:2] = [[1, 2], [3, 4]]
    with pytest.raises(ValueError, match=r"n=4 is more than"):
        r.advance_head(4)
    r.advance_head(2)
    g.release()
    assert np.array_equal(np.asarray(r), [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match=r"n=9 is more than the free space \(6\)"):
        r.get_writable_view(9)
    g = r.get_writable_view()
    assert g.shape == (6, 2)
    g.release()  # abandoned: nothing published
    assert len(r) == 2 and r.free() == 6


def test_indexing_items() -> None:
    r = PicoRing(10, "h")
    r.push_array(np.array([5, -6, 7], np.int16))
    assert (r[0], r[1], r[-1]) == (5, -6, 7)
    assert isinstance(r[0], int)
    assert np.array_equal(np.asarray(r[1:]), [-6, 7])
    with pytest.raises(IndexError, match="PicoRing index 3 out of range for 3 items"):
        r[3]
    with pytest.raises(IndexError, match=f"PicoRing index {-(2**70)} out of range"):
        r[-(2**70)]
    assert r[np.int64(2)] == 7
    f = PicoRing(4, "B", (2, 2))
    f.push_array(np.arange(8, dtype=np.uint8).reshape(2, 2, 2))
    item = f[1]
    assert np.array_equal(np.asarray(item), [[4, 5], [6, 7]])
    c = PicoRing(2, "complex64")
    c.push_array(np.array([1 + 2j], np.complex64))
    assert c[0] == 1 + 2j and isinstance(c[0], complex)
    for dtype, value in [("e", 1.5), (">f", -2.25), ("<d", 3.125), (">Q", 2**63 + 5), ("b", -7), (">Zd", 1 - 1j)]:
        r2 = PicoRing(2, dtype)
        np_dtype = np.dtype(dtype.replace("Zd", "c16"))
        r2.push_array(np.array([value], np_dtype))
        assert r2[0] == value, dtype


def test_counts_accept_index_objects_and_refused_calls_change_nothing() -> None:
    r = PicoRing(10, "f")
    r.push_array(np.arange(4, dtype=np.float32))
    for call, pattern in [
        (lambda: r.advance_tail(5), r"n=5 is more than the readable length \(4\)"),
        (lambda: r.advance_tail(2**64), f"n={2**64} is more than"),
        (lambda: r.advance_head(1), "n=1 is more than what is handed out"),
        (lambda: r.pop_array(1.5), "n must be an int"),
        (lambda: r.latest("2"), "n must be an int"),
    ]:
        with pytest.raises((ValueError, TypeError), match=pattern):
            call()
        assert list(np.asarray(r)) == [0, 1, 2, 3]
    r.advance_tail(np.int8(1))
    assert len(r) == 3 and r.free() == 7 and bool(r)
    r.clear()
    assert not r and repr(r) == "PicoRing(capacity=10, dtype='f', item_shape=(), len=0, free=10)"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_g6_typed_rings_are_copied_at_fork() -> None:
    r = PicoRing(1024, "d", (2,))  # 16 KiB: the memory is exactly the capacity
    r.push_array(np.ones((10, 2)))
    view = np.asarray(r.latest(5))
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: writes over the parent's items through its own ring
        try:
            r.clear()  # the 5 oldest items are free now, the window's are pinned
            ok = r.push_array(np.full((1019, 2), 7.0))  # wraps over the parent's 5 oldest items
            ok = ok and view.sum() == 10.0 and np.asarray(r)[0, 0] == 7.0
            os.write(wfd, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(wfd)
    os.waitpid(pid, 0)
    assert os.read(rfd, 1) == b"1"
    assert np.asarray(r).sum() == 20.0 and view.sum() == 10.0


class TypedRingMachine(RuleBasedStateMachine):
    """A PicoRing of 3-byte items against a deque of item tuples."""

    def __init__(self) -> None:
        super().__init__()
        self.r = PicoRing(37, "B", (3,))
        self.model: collections.deque[tuple[int, ...]] = collections.deque()
        self.base = 0  # absolute index of model[0]
        # Live windows: the view, what it must show, its first item's index.
        self.views: list[tuple[memoryview, list[tuple[int, ...]], int]] = []

    def items(self, n: int, seed: int) -> np.ndarray:
        return (np.arange(n * 3, dtype=np.int64).reshape(n, 3) + seed).astype(np.uint8)

    @rule(n=st.integers(0, 40), seed=st.integers(0, 255))
    def push(self, n: int, seed: int) -> None:
        data = self.items(n, seed)
        fits = n <= self.r.free()
        assert self.r.push_array(data) is fits
        if fits:
            self.model.extend(map(tuple, data.tolist()))

    @rule(n=st.integers(0, 80), seed=st.integers(0, 255))
    def overwrite(self, n: int, seed: int) -> None:
        data = self.items(n, seed)
        head = self.base + len(self.model)
        needed_tail = head + min(n, 37) - 37  # the oldest item that must stay
        refused = n > 0 and any(start < needed_tail for _, _, start in self.views)
        if refused:
            with pytest.raises(BufferError, match="live view"):
                self.r.push_overwrite(data)
            return
        dropped = self.r.push_overwrite(data)
        new = list(map(tuple, data.tolist()))
        total = list(self.model) + new
        keep = total[-37:] if total else []
        assert dropped == len(total) - len(keep)
        self.base += len(self.model) + len(new) - len(keep)
        self.model = collections.deque(keep)

    @rule(n=st.integers(0, 40))
    def pop(self, n: int) -> None:
        got = [tuple(x) for x in np.asarray(self.r.pop_array(n)).tolist()]
        want = [self.model.popleft() for _ in range(min(n, len(self.model)))]
        self.base += len(want)
        assert got == want

    @rule(n=st.integers(0, 40))
    def take_latest(self, n: int) -> None:
        if n > len(self.model):
            with pytest.raises(ValueError):
                self.r.latest(n)
            return
        v = self.r.latest(n)
        self.views.append((v, list(self.model)[len(self.model) - n :], self.base + len(self.model) - n))

    @precondition(lambda self: self.views)
    @rule(i=st.integers(0, 10))
    def release(self, i: int) -> None:
        v, _, _ = self.views.pop(i % len(self.views))
        v.release()

    @invariant()
    def agrees(self) -> None:
        assert len(self.r) == len(self.model)
        assert [tuple(x) for x in np.asarray(self.r).tolist()] == list(self.model)
        for v, want, _ in self.views:
            assert [tuple(x) for x in np.asarray(v).tolist()] == want


TestTypedRingMachine = TypedRingMachine.TestCase
TestTypedRingMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


def test_iteration_yields_items() -> None:
    r = PicoRing(8, "h")
    r.push_array(np.array([3, -1, 4], np.int16))
    assert list(r) == [3, -1, 4]
    f = PicoRing(4, "f", (2,))
    f.push_array(np.ones((2, 2), np.float32))
    assert [np.asarray(x).tolist() for x in f] == [[1.0, 1.0], [1.0, 1.0]]


def test_exported_names() -> None:
    assert {"PicoRing", "ItemArray", "ReadView"} <= set(picoring.__all__)


def test_g5_typed_exports_free_what_they_allocate() -> None:
    import psutil

    r = PicoRing(64, "f", (2, 2))
    r.push_array(np.ones((8, 2, 2), np.float32))
    proc = psutil.Process()

    def churn(k: int) -> None:
        for _ in range(k):
            memoryview(r).release()  # a typed export: shape and strides on the heap
            r.latest(3).release()
            np.asarray(r.pop_array(1))
            r.push_array(np.ones((1, 2, 2), np.float32))
            r[0].release()

    churn(20_000)  # warm up the allocators
    before = proc.memory_info().rss
    churn(100_000)
    grown = proc.memory_info().rss - before
    assert grown < 4 << 20, f"RSS grew by {grown} bytes over 100,000 rounds of typed exports"
    assert len(r) == 8
