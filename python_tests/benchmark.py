"""Stress: 40 MB chunks through a 50 MB ring, per-call latency of taking the
whole readable region as one view vs a Python copy-join of its two halves.

Every round checks that the data read is the data written. Run:
    python python_tests/benchmark.py
"""

from __future__ import annotations

import time

import picoring

MB = 1_000_000
CAP, CHUNK, ROUNDS = 50 * MB, 40 * MB, 20
CALLS = 1000  # views taken (and released) per round, to time one call


def main() -> None:
    base = bytes(range(256)) * (CHUNK // 256 + 1)
    chunks = [bytes([r + 1]) * 64 + base[64:CHUNK] for r in range(2)]
    for c in chunks:
        assert len(c) == CHUNK

    ring = picoring.PicoRingByte(CAP)
    # One byte always stays in the ring, so that it never idles (a drained
    # ring restarts at the start of its memory) and the chunks walk through
    # the memory, wrapping past its end in most rounds.
    ring.push(0)
    buf = bytearray(CAP)  # the same data, as a plain ring with a copy-join
    tail = 0
    t_view = t_join = 0.0
    ok = True
    for r in range(ROUNDS):
        chunk = chunks[r % 2]
        assert ring.push_bytes(chunk)
        first = min(CHUNK, CAP - tail)
        buf[tail : tail + first] = chunk[:first]
        buf[: CHUNK - first] = chunk[first:]

        t = time.perf_counter()
        for _ in range(CALLS):
            ring.get_readable_view().release()
        t_view += (time.perf_counter() - t) / CALLS
        view = ring.get_readable_view()

        t = time.perf_counter()
        joined = b"".join((buf[tail : tail + first], buf[: CHUNK - first]))
        t_join += time.perf_counter() - t

        ok &= bytes(view[1:]) == chunk and joined == chunk
        view.release()
        ring.advance_tail(CHUNK)
        tail = (tail + CHUNK) % CAP

    print(f"\nSCENARIO: {CHUNK // MB} MB chunks through a {CAP // MB} MB ring, {ROUNDS} rounds (most wrap)")
    print(f"  PicoRing view:    {t_view / ROUNDS * 1e6:12,.2f} us latency per call")
    print(f"  Python copy-join: {t_join / ROUNDS * 1e6:12,.2f} us latency per call")
    print(f"  Performance gap:  {t_join / t_view:12,.0f}x faster")
    print(f"  Data: {'verified' if ok else 'WRONG'} ({ROUNDS} rounds)")
    if not ok:
        raise SystemExit("wrong data")


if __name__ == "__main__":
    main()
