"""The benchmark workloads run and check their results (a smoke test: no
timing is judged here). A workload that breaks a rule of the API (say, a
writable view released before `advance_head`) fails here, not first in
`make bench`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SLOW

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(SLOW, reason="valgrind: a 1 GiB ring and 50 MB lists take minutes there")
def test_picoring_workloads_run_and_check_their_data() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "workloads.py"), "--impl", "picoring", "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    names = {r["workload"] for r in rows}
    assert {"pushpop_64B", "recv_64KiB", "fork_1GiB_ring", "view_128MiB"} <= names
    wrong = [r for r in rows if not r["ok"]]
    assert not wrong, wrong
