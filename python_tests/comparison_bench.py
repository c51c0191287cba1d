"""The seed's three scenarios, picoring beside plain Python, in one run.

1. Extracting 94 MiB from a wrapped 105 MiB ring: one view vs a copy-join.
2. Growing a byte list to 50 million items: time and RAM, vs list and bytearray.
3. Streaming 500 MiB through a fixed 512 KiB buffer vs io.BytesIO.

Every scenario checks its data, not only its time. Run:
    python python_tests/comparison_bench.py
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import picoring

MiB = 1 << 20


def pattern(n: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(251)) * (n // 251) + bytes(n % 251)


def best_of(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def report(title: str, rows: list[tuple[str, str, bool]], gap: str) -> None:
    print(f"\nSCENARIO: {title}")
    for name, value, ok in rows:
        print(f"  {name:<22} {value:<32} data {'verified' if ok else 'WRONG'}")
    print(f"  {'Performance gap:':<22} {gap}")
    if not all(ok for _, _, ok in rows):
        raise SystemExit(f"wrong data in scenario: {title}")


def scenario_extract() -> None:
    cap, skip, size = 105 * MiB, 60 * MiB, 94 * MiB
    payload = pattern(size, 3)

    ring = picoring.PicoRingByte(cap)
    ring.push_bytes(bytes(skip))
    ring.advance_tail(skip - 1)  # one byte stays: a drained ring would rewind
    ring.push_bytes(payload)  # wraps past the end of the memory
    ring.advance_tail(1)

    # The same state in a plain bytearray ring: the data is in two pieces.
    buf = bytearray(cap)
    first = cap - skip
    buf[skip:] = payload[:first]
    buf[: size - first] = payload[first:]

    def copy_join() -> bytes:
        return b"".join((buf[skip:], buf[: size - first]))

    t_view = best_of(ring.get_readable_view, 200)
    t_join = best_of(copy_join, 5)
    view_ok = ring.get_readable_view() == payload
    join_ok = copy_join() == payload
    report(
        "Extracting 94 MiB from a wrapped 105 MiB buffer",
        [
            ("PicoRing extraction:", f"{t_view:.7f} s (constant time)", view_ok),
            ("Python copy-join:", f"{t_join:.6f} s (linear time)", join_ok),
        ],
        f"{t_join / t_view:,.0f}x faster",
    )


GROW = r"""
import json, sys, time, psutil
kind, items = sys.argv[1], int(sys.argv[2])
chunk = bytes(range(256)) * 4096  # 1 MiB
proc = psutil.Process()
import picoring
before = proc.memory_info().rss
t = time.perf_counter()
if kind == "picoring":
    obj = picoring.PicoListByte()
elif kind == "list":
    obj = []
else:
    obj = bytearray()
left = items
while left:
    part = chunk if left >= len(chunk) else chunk[:left]
    obj.extend(part)
    left -= len(part)
elapsed = time.perf_counter() - t
ram = proc.memory_info().rss - before
ok = len(obj) == items and obj[0] == 0 and obj[items - 1] == (items - 1) % 256 and obj[12345] == 12345 % 256
print(json.dumps({"time": elapsed, "ram": ram, "ok": bool(ok)}))
"""


def grow(kind: str, items: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", GROW, kind, str(items)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def scenario_grow() -> None:
    items = 50_000_000
    res = {k: grow(k, items) for k in ("picoring", "bytearray", "list")}
    rows = [
        (
            {"picoring": "PicoList", "bytearray": "bytearray", "list": "Python list"}[k] + ":",
            f"{r['time']:.4f} s | RAM {r['ram'] / MiB:7.1f} MiB",
            bool(r["ok"]),
        )
        for k, r in res.items()
    ]
    p, b, lst = res["picoring"], res["bytearray"], res["list"]
    report(
        "Growing to 50 million items (1 MiB extends)",
        rows,
        f"{lst['time'] / p['time']:.1f}x faster than list, "
        f"{b['time'] / p['time']:.2f}x the speed of bytearray; "
        f"RAM {p['ram'] / items:.3f} bytes/item",
    )


def scenario_stream() -> None:
    total, chunk_size, cap = 500 * MiB, 64 * 1024, 512 * 1024
    chunk = pattern(chunk_size, 5)
    rounds = total // chunk_size

    def pico() -> bool:
        s = picoring.PicoByteStreamPy(cap)
        ok = True
        for _ in range(rounds):
            s.write(chunk)
            ok &= s.read(chunk_size) == chunk
        return ok

    def bytesio() -> bool:
        b = io.BytesIO()
        ok = True
        for _ in range(rounds):
            b.write(chunk)
            b.seek(0)
            ok &= b.read(chunk_size) == chunk
            b.seek(0)
            b.truncate()
        return ok

    t = time.perf_counter()
    p_ok = pico()
    t_p = time.perf_counter() - t
    t = time.perf_counter()
    b_ok = bytesio()
    t_b = time.perf_counter() - t
    report(
        "Streaming 500 MiB through a 512 KiB buffer (64 KiB chunks)",
        [
            ("PicoByteStream:", f"{t_p:.3f} s ({total / MiB / t_p:,.0f} MiB/s)", p_ok),
            ("io.BytesIO:", f"{t_b:.3f} s ({total / MiB / t_b:,.0f} MiB/s)", b_ok),
        ],
        f"{t_b / t_p:.2f}x the speed of io.BytesIO",
    )


def main() -> None:
    print(f"picoring {picoring.__version__} - comparison benchmark (Python {sys.version.split()[0]})")
    scenario_extract()
    scenario_grow()
    scenario_stream()


if __name__ == "__main__":
    main()
