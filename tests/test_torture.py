"""Torture tests, each in a subprocess with a timeout: a crash or a hang is a
failure of the test, not a dead test run."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(script: str, timeout: float = 120) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_many_live_rings_work_or_fail_clearly_naming_the_limit() -> None:
    # Each ring costs kernel mappings; Linux allows vm.max_map_count (65,530
    # by default) per process. Either 100,000 small rings work, or the first
    # failure is a MemoryError that names the limit, and every ring already
    # made keeps working, as do new lists once some rings are gone.
    out = run(
        """
        import picoring
        rings = []
        error = None
        try:
            for i in range(100_000):
                rings.append(picoring.PicoRingByte(4096))
        except MemoryError as e:
            error = str(e)
        if error is not None:
            assert "vm.max_map_count" in error and "4096" in error, error
        for i, r in enumerate(rings):
            assert r.push_bytes(i.to_bytes(4, "little")), i
        assert all(bytes(r) == i.to_bytes(4, "little") for i, r in enumerate(rings))
        del rings[-100:]
        lst = picoring.PicoListByte(b"still fine")
        assert bytes(lst) == b"still fine"
        print(len(rings) + 100)
        """
    )
    live = int(out)
    assert live > 30_000, f"only {live} live rings"
