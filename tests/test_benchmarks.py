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


# --- the report (benchmarks/report.py): plot and README, on made-up results -----

sys.path.insert(0, str(ROOT / "benchmarks"))
import report  # noqa: E402


def row(workload: str, impl: str, ns: float, ok: bool = True) -> dict[str, object]:
    return {"workload": workload, "impl": impl, "ns": ns, "ok": ok}


def tiny_results(quick: bool = False) -> dict[str, object]:
    return {
        "date": "2000-01-01",
        "machine": "test machine",
        "python": "3.x",
        "rounds": 1,
        "quick": quick,
        "results": [
            row("pushpop_64B", "picoring", 100),
            row("pushpop_64B", "picoring 0.6.0", 200),
            row("pushpop_64B", "bytearray", 300),
            row("pushpop_64B", "deque", 10),  # not the same job: never the "fastest peer"
            row("pushpop_64B", "memcpy x2", 50),  # a limit
            row("view_4KiB", "picoring", 80),
            row("view_4KiB", "copy-join", 400),
            row("view_4KiB", "numpy", 900),
            row("fork_1GiB_ring", "picoring", 1100),
            row("fork_1GiB_ring", "no ring", 1000),
            row("fork_1GiB_ring", "picoring 0.6.0", 600),
            row("fork_1GiB_ring", "no ring 0.6.0", 500),
            row("memcpy_1MiB", "memcpy", 10),
        ],
        "targets": [{"target": "a target", "value": 0.5, "limit": 1.0, "status": "met", "unit": "x"}],
    }


def test_speedups_pick_the_fastest_peer_for_the_same_job() -> None:
    rows = {r.workload: r for r in report.speedups(tiny_results())}
    assert set(rows) == {"pushpop_64B", "view_4KiB", "fork_1GiB_ring"}  # memcpy_1MiB has no picoring
    assert rows["pushpop_64B"].over_ref == 2.0
    assert (rows["pushpop_64B"].over_peer, rows["pushpop_64B"].peer) == (3.0, "bytearray")
    assert rows["view_4KiB"].over_ref is None and rows["view_4KiB"].over_peer == 5.0
    fork = rows["fork_1GiB_ring"]  # each against a fork without a ring in its own interpreter
    assert fork.normalised and fork.over_peer is None
    assert fork.over_ref is not None and abs(fork.over_ref - (600 / 500) / (1100 / 1000)) < 1e-9


def test_plot_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "bench.png"
    report.plot(tiny_results(), out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


README_TEXT = """# title
before, kept as written
<!-- bench:start -->
old table
<!-- bench:end -->
between, kept
<!-- instructions:start -->
old counts
<!-- instructions:end -->
after, kept
"""

INSTRUCTIONS = {
    "date": "2000-01-02",
    "n": 10,
    "python": "3.x",
    "rows": [
        {"statement": "r.capacity()", "picoring": 300, "picoring 0.6.0": 400, "peer": "c.bit_length()",
         "peer instructions": 150, "target": "<= 0.75x 0.6.0", "met": True},
        {"statement": "len(r)", "picoring": 200, "picoring 0.6.0": None, "peer": "c.bit_length()",
         "peer instructions": 100, "target": "", "met": None},
    ],
}


def test_bench_readme_replaces_only_the_marked_sections(tmp_path: Path) -> None:
    results, instr = tmp_path / "latest.json", tmp_path / "instructions.json"
    results.write_text(json.dumps(tiny_results()))
    instr.write_text(json.dumps(INSTRUCTIONS))
    readme, snap = tmp_path / "README.md", tmp_path / "snapshot"
    readme.write_text(README_TEXT)
    report.main(
        ["--results", str(results), "--instructions", str(instr), "--readme", str(readme), "--snapshot", str(snap)]
    )
    text = readme.read_text()
    for kept in ("# title\nbefore, kept as written\n<!-- bench:start -->\n", "<!-- bench:end -->\nbetween, kept\n",
                 "<!-- instructions:end -->\nafter, kept\n"):
        assert kept in text
    assert "old table" not in text and "old counts" not in text
    assert "| pushpop_64B | 100 ns | 200 ns | bytearray 300 ns; deque 10 ns; memcpy x2 50 ns |" in text
    assert "| a target | 0.500 | 1 | met |" in text
    assert "| `r.capacity()` | 414 | 300 | 400 | `c.bit_length()` 150 | at most 0.75x 0.6.0 | met (0.75x) |" in text
    assert "| `len(r)` | 438 | 200 | - | same 100 | - | - |" in text
    assert json.loads((snap / "latest.json").read_text()) == tiny_results()
    assert (snap / "instructions.json").read_text() == instr.read_text()
    assert (snap / "bench.png").stat().st_size > 0


def test_bench_readme_refuses_missing_or_quick_results(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(README_TEXT)
    args = ["--readme", str(readme), "--snapshot", str(tmp_path / "snap")]
    with pytest.raises(SystemExit, match="no benchmark results at .*make bench"):
        report.main(["--results", str(tmp_path / "missing.json"), *args])
    quick = tmp_path / "quick.json"
    quick.write_text(json.dumps(tiny_results(quick=True)))
    with pytest.raises(SystemExit, match="--quick run"):
        report.main(["--results", str(quick), *args])
    assert readme.read_text() == README_TEXT and not (tmp_path / "snap").exists()


def test_committed_readme_section_is_the_committed_snapshot() -> None:
    """The README's table is `make bench-readme`'s rendering of
    benchmarks/snapshot/latest.json, not edited by hand."""
    data = json.loads((report.SNAPSHOT / "latest.json").read_text())
    text = report.README.read_text()
    assert f"<!-- bench:start -->\n{report.results_section(data)}\n<!-- bench:end -->" in text
    instr = json.loads((report.SNAPSHOT / "instructions.json").read_text())
    assert f"<!-- instructions:start -->\n{report.instructions_section(instr)}\n<!-- instructions:end -->" in text
