"""Instructions per call, counted by valgrind's callgrind: repeatable on a
shared, noisy machine where nanosecond timings are not.

Each statement runs N times in a function (locals, as in real code) under
callgrind; the same loop with `pass` is subtracted. Every row is measured
under this package (.venv), under the published picoring 0.6.0 (.venv-ref,
made by `make bench`) and, for its builtin peer, under .venv's CPython; the
row's target is checked from those numbers.

    python benchmarks/instructions.py [--json PATH]

Writes benchmarks/results/instructions.json (git-ignored) unless --json
says otherwise; `make bench-readme` (benchmarks/report.py) turns it into
the README's table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
OURS = ROOT / ".venv" / "bin" / "python"
REF = ROOT / ".venv-ref" / "bin" / "python"
N = 20_000

SETUP = """
import io, picoring
def main():
    r = picoring.PicoRingByte(1 << 20); r.push_bytes(b"x" * 100)
    q = picoring.PicoQueueByte(1 << 20); q.push_bulk(b"x" * 100)
    s = picoring.PicoByteStreamPy(1 << 20); s.write(b"x" * 100)
    l = picoring.PicoListByte(); l.extend(b"q" * 1000)
    b = b"y" * 100; d = b"z" * 64
    ba = bytearray(b"q" * 1000); c = 1 << 20
    for _ in range({n}):
        {stmt}
main()
"""

# (statement, builtin peer, target: (description, check(ours, ref, peer)))
Check = Callable[[int, "int | None", int], "bool | None"]


def at_most_half_of_ref(ours: int, ref: int | None, peer: int) -> bool | None:
    return None if ref is None else ours <= ref / 2


def at_most_peer(ours: int, ref: int | None, peer: int) -> bool | None:
    return ours <= peer


def at_most_1_5_peer(ours: int, ref: int | None, peer: int) -> bool | None:
    return ours <= 1.5 * peer


def at_most_0_75_ref(ours: int, ref: int | None, peer: int) -> bool | None:
    return None if ref is None else ours <= 0.75 * ref


ROWS: list[tuple[str, str, str, Check | None]] = [
    ("r.push_bytes(d); r.pop_bytes(64)", "ba.extend(d); del ba[:64]", "<= 0.5x 0.6.0", at_most_half_of_ref),
    ("q.push_bulk(d); q.pop_bulk(64)", "ba.extend(d); del ba[:64]", "<= 0.5x 0.6.0", at_most_half_of_ref),
    ("s.write(d); s.read(64)", "ba.extend(d); del ba[:64]", "<= 0.5x 0.6.0", at_most_half_of_ref),
    ("r.get_readable_view()", "memoryview(b)", "<= builtin", at_most_peer),
    ("l[500]", "ba[500]", "<= 1.5x builtin", at_most_1_5_peer),
    ("r.capacity()", "c.bit_length()", "<= 0.75x 0.6.0", at_most_0_75_ref),
    # Not targets: what other calls cost, for reference.
    ("r.push(1); r.pop()", "ba.append(1); ba.pop()", "", None),
    ("l.get(500)", "ba[500]", "", None),
    ("len(r)", "len(ba)", "", None),
]


def count(python: Path, stmt: str) -> int | None:
    """Total instructions of the script with `stmt` in its loop, or None
    if the statement fails under that interpreter (0.6.0 lacks it)."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(SETUP.format(n=N, stmt=stmt))
        script = f.name
    try:
        if subprocess.run([str(python), script], capture_output=True).returncode != 0:
            return None
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", str(python), script],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        m = re.search(r"refs:\s+([\d,]+)", out.stderr)
        return int(m.group(1).replace(",", "")) if m else None
    finally:
        os.unlink(script)


def per_call(python: Path, stmt: str, base: dict[Path, int]) -> int | None:
    if python not in base:
        b = count(python, "pass")
        assert b is not None, f"{python} cannot run the empty loop"
        base[python] = b
    total = count(python, stmt)
    return None if total is None else (total - base[python]) // N


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "instructions.json")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is required (apt-get install valgrind)")
    ref = REF if REF.exists() else None
    if ref is None:
        print("(no .venv-ref: `make bench` makes it; the 0.6.0 column stays empty)", file=sys.stderr)
    base: dict[Path, int] = {}
    rows = []
    for stmt, peer, target, check in ROWS:
        ours = per_call(OURS, stmt, base)
        theirs = per_call(ref, stmt, base) if ref else None
        builtin = per_call(OURS, peer, base)
        assert ours is not None and builtin is not None, stmt
        met = check(ours, theirs, builtin) if check else None
        rows.append(
            {"statement": stmt, "picoring": ours, "picoring 0.6.0": theirs, "peer": peer,
             "peer instructions": builtin, "target": target, "met": met}
        )
        print(f"  {stmt}: {ours} (0.6.0: {theirs}, {peer}: {builtin})", file=sys.stderr)
    w = max(len(r["statement"]) for r in rows)
    pw = max(len(r["peer"]) for r in rows)
    print(f"{'statement':<{w}} {'picoring':>9} {'0.6.0':>7}   {'builtin peer':<{pw}} {'':>6}  target")
    for r in rows:
        theirs = "-" if r["picoring 0.6.0"] is None else str(r["picoring 0.6.0"])
        status = {True: "met", False: "MISSED", None: ""}[r["met"]]
        print(
            f"{r['statement']:<{w}} {r['picoring']:>9} {theirs:>7}   {r['peer']:<{pw}} "
            f"{r['peer instructions']:>6}  {r['target']} {status}".rstrip()
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    data = {"date": dt.date.today().isoformat(), "n": N, "python": sys.version.split()[0], "rows": rows}
    args.json.write_text(json.dumps(data, indent=1) + "\n")
    print(f"written to {args.json} (the README is updated by `make bench-readme`)", file=sys.stderr)


if __name__ == "__main__":
    main()
