"""The benchmark driver behind `make bench`.

1. Makes `.venv-ref`, a virtualenv with the published picoring 0.6.0 (same
   import name as ours), unless it exists.
2. Runs `benchmarks/workloads.py` under both interpreters, and the Python
   peers under ours, alternating A B A B so that machine drift cancels,
   keeping each result's best time.
3. Prints a table with ratios and the status of every speed target, and
   writes `benchmarks/results/latest.json` and the plot
   `benchmarks/results/bench.png` (`quick.json`, `quick.png` with --quick).
   `benchmarks/results/` is git-ignored: a run changes no tracked file.
   The README is not touched; `make bench-readme` (benchmarks/report.py)
   copies the saved results into it.

Usage: python benchmarks/run.py [--quick] [--rounds N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from report import RESULTS, ROOT, TIMED_NOTE, fmt_ns, plot

REF_VENV = ROOT / ".venv-ref"
REF_SPEC = "picoring==0.6.0"
WORKLOADS = ROOT / "benchmarks" / "workloads.py"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ref_python() -> Path | None:
    py = REF_VENV / "bin" / "python"
    if (REF_VENV / ".stamp").exists():
        return py
    log(f"setting up {REF_VENV.name} with {REF_SPEC} ...")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(REF_VENV)], check=True)
        subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", REF_SPEC, "numpy", "psutil"],
            check=True,
        )
    except subprocess.CalledProcessError as e:
        log(f"could not install {REF_SPEC} ({e}); the reference column will be empty")
        return None
    (REF_VENV / ".stamp").write_text(REF_SPEC + "\n")
    return py


def run_workloads(python: Path | str, impl: str, quick: bool) -> list[dict[str, Any]]:
    cmd = [str(python), str(WORKLOADS), "--impl", impl] + (["--quick"] if quick else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        log(out.stderr)
        raise SystemExit(f"workloads failed under {python} ({impl})")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def collect(rounds: int, quick: bool) -> dict[tuple[str, str], dict[str, Any]]:
    ref = ref_python()
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for r in range(rounds):
        order: list[tuple[Path | str, str, str]] = [(sys.executable, "picoring", "")]
        if ref is not None:
            order.append((ref, "picoring", " 0.6.0"))
        order.append((sys.executable, "peers", ""))
        if r % 2:
            order.reverse()
        for python, impl, suffix in order:
            log(f"round {r + 1}/{rounds}: {impl}{suffix}")
            for row in run_workloads(python, impl, quick):
                row["impl"] += suffix
                key = (row["workload"], row["impl"])
                if key not in best or row["ns"] < best[key]["ns"]:
                    ok = row["ok"] and best.get(key, {"ok": True})["ok"]
                    best[key] = {**row, "ok": ok}
                else:
                    best[key]["ok"] = best[key]["ok"] and row["ok"]
    return best


CRITERION = ROOT / "target" / "criterion"


def rust_results() -> dict[tuple[str, str], dict[str, Any]]:
    """Mean times from the last `make bench-rust` (criterion), if any."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for est in sorted(CRITERION.glob("*/*/*/new/estimates.json")):
        group, impl, size = est.parts[-5], est.parts[-4], est.parts[-3]
        ns = json.loads(est.read_text())["mean"]["point_estimate"]
        workload = f"rust_{group}_{size}"
        out[(workload, impl)] = {"workload": workload, "impl": impl, "ns": ns, "ok": True}
    # The two-thread channel groups (benches/spsc.rs): group/impl, no size.
    for est in sorted(CRITERION.glob("spsc_*/*/new/estimates.json")):
        group, impl = est.parts[-4], est.parts[-3]
        ns = json.loads(est.read_text())["mean"]["point_estimate"]
        workload = f"rust_{group}_1Mi"
        out[(workload, impl)] = {"workload": workload, "impl": impl, "ns": ns, "ok": True}
    return out


class Targets:
    def __init__(self, best: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.best = best
        self.rows: list[dict[str, Any]] = []

    def ns(self, workload: str, impl: str) -> float | None:
        r = self.best.get((workload, impl))
        return None if r is None else float(r["ns"])

    def add(self, name: str, value: float | None, limit: float, better: str, unit: str = "x") -> None:
        if value is None:
            self.rows.append({"target": name, "value": None, "limit": limit, "status": "not measured"})
            return
        met = value <= limit if better == "lower" else value >= limit
        if met:
            status = "met"
        elif better == "lower":
            status = f"missed by {value / limit:.2f}x"
        else:
            status = f"missed by {limit / value:.2f}x"
        self.rows.append({"target": name, "value": round(value, 3), "limit": limit, "status": status, "unit": unit})

    def ratio(self, a: tuple[str, str], b: tuple[str, str]) -> float | None:
        x, y = self.ns(*a), self.ns(*b)
        return None if x is None or y is None else x / y


def evaluate(best: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    t = Targets(best)
    p, ref = "picoring", "picoring 0.6.0"
    t.add("view creation / memoryview(bytes)", t.ratio(("view_4KiB", p), ("memoryview_create", "memoryview(bytes)")), 1.0, "lower")
    t.add("view 128 MiB / view 4 KiB", t.ratio(("view_128MiB", p), ("view_4KiB", p)), 1.1, "lower")
    t.add("64 B push+pop: speed-up over 0.6.0 (timed*)", t.ratio(("pushpop_64B", ref), ("pushpop_64B", p)), 2.0, "higher")
    t.add("64 B push+pop / bytearray +=,del", t.ratio(("pushpop_64B", p), ("pushpop_64B", "bytearray")), 1.0, "lower")
    t.add("64 B queue push+pop: speed-up over 0.6.0 (timed*)", t.ratio(("queue_64B", ref), ("queue_64B", p)), 2.0, "higher")
    t.add("64 B stream write+read: speed-up over 0.6.0 (timed*)", t.ratio(("stream_64B", ref), ("stream_64B", p)), 2.0, "higher")
    t.add("capacity(): speed-up over 0.6.0 (timed*)", t.ratio(("call_capacity", ref), ("call_capacity", p)), 1 / 0.75, "higher")
    t.add("4 KiB ring create+drop: speed-up over 0.6.0", t.ratio(("create_drop_4KiB", ref), ("create_drop_4KiB", p)), 2.0, "higher")
    t.add("4 KiB ring create+push+view+drop: speed-up over 0.6.0", t.ratio(("create_push_drop_4KiB", ref), ("create_push_drop_4KiB", p)), 2.0, "higher")
    t.add("1 MiB push+pop / memcpy x2", t.ratio(("pushpop_1MiB", p), ("pushpop_1MiB", "memcpy x2")), 1.0, "lower")
    t.add("stream 64 KiB: speed-up over 0.6.0", t.ratio(("stream_64KiB", ref), ("stream_64KiB", p)), 2.0, "higher")
    t.add("stream 64 KiB / io.BytesIO", t.ratio(("stream_64KiB", p), ("stream_64KiB", "io.BytesIO")), 1.0, "lower")
    t.add("list growth / bytearray.extend", t.ratio(("list_growth_50M", p), ("list_growth_50M", "bytearray")), 1.0, "lower")
    t.add("list growth: speed-up over 0.6.0", t.ratio(("list_growth_50M", ref), ("list_growth_50M", p)), 3.0, "higher")
    for size in ("64B", "4KiB", "1MiB"):
        w = f"rust_push_pop_{size}"
        peers = [x for x in (t.ns(w, "ringbuf"), t.ns(w, "rtrb")) if x is not None]
        ours = t.ns(w, "picoring")
        t.add(f"Rust {size} push+pop / best of ringbuf, rtrb", None if ours is None or not peers else ours / min(peers), 1.0, "lower")
    t.add("Rust spsc, 2 threads, single items: rtrb's time / ours", t.ratio(("rust_spsc_single_1Mi", "rtrb"), ("rust_spsc_single_1Mi", "picoring")), 1.0, "higher")
    t.add("Rust spsc, 2 threads, chunks of 64: rtrb's time / ours", t.ratio(("rust_spsc_batch64_1Mi", "rtrb chunks"), ("rust_spsc_batch64_1Mi", "picoring")), 1.2, "higher")
    t.add("Rust view 128 MiB / view 4 KiB", t.ratio(("rust_view_128MiB", "picoring x64"), ("rust_view_4KiB", "picoring x64")), 1.1, "lower")
    t.add("fork, 1 GiB ring with 5 B live / fork, no ring", t.ratio(("fork_1GiB_ring", p), ("fork_1GiB_ring", "no ring")), 1.5, "lower")
    t.add("latest(1024) of 16 Mi / of 4 Ki items", t.ratio(("latest1024_16Mi", p), ("latest1024_4Ki", p)), 1.2, "lower")
    peers16 = [x for x in (t.ns("latest1024_16Mi", k) for k in ("np.roll", "np.concatenate", "numpy_ringbuffer")) if x]
    ours16 = t.ns("latest1024_16Mi", p)
    t.add("latest(1024) of 16 Mi: speed-up over the best NumPy peer", None if not peers16 or not ours16 else min(peers16) / ours16, 1.0, "higher")
    t.add("push_array 1 MiB float32: memcpy's time / ours", t.ratio(("push_array_1MiB", "np.copyto (same process)"), ("push_array_1MiB", p)), 0.9, "higher")
    t.add("find 4 B in 1 MiB / bytes.find", t.ratio(("find_1MiB", p), ("find_1MiB", "bytes.find")), 1.2, "lower")
    t.add("find: speed-up over bytes(view).find", t.ratio(("find_1MiB", "bytes(view).find"), ("find_1MiB", p)), 3.0, "higher")
    sr = "asyncio.StreamReader (same process)"
    t.add("asyncio 1 MiB frames: speed-up over StreamReader", t.ratio(("asyncio_frames_1MiB", sr), ("asyncio_frames_1MiB", p)), 2.0, "higher")
    t.add("asyncio 64 B readline / StreamReader's", t.ratio(("asyncio_lines_64B", p), ("asyncio_lines_64B", sr)), 1.0, "lower")
    t.add("recv_into 64 KiB / recv + bytearray", t.ratio(("recv_64KiB", p), ("recv_64KiB", "recv+bytearray")), 1.0, "lower")
    for label, limit in (("64KiB", 3.0), ("1KiB", 2.0)):
        w = f"threads_{label}"
        t.add(f"pipe between threads, {label} messages: os.pipe's time / ours", t.ratio((w, "os.pipe"), (w, p)), limit, "higher")
    t.add("shared_pipe between processes, 1 KiB: multiprocessing.Queue's time / ours", t.ratio(("processes_1KiB", "multiprocessing.Queue"), ("processes_1KiB", p)), 10.0, "higher")
    t.add("shared_pipe between processes, 1 MiB frames (views): multiprocessing.Pipe's time / ours", t.ratio(("processes_1MiB", "multiprocessing.Pipe"), ("processes_1MiB", "picoring (views)")), 3.0, "higher")
    grow = best.get(("list_growth_50M", p))
    t.add("list RSS / data", None if grow is None else grow["ram"] / grow["items"], 1.05, "lower")
    t.add("lst[i] / bytearray[i]", t.ratio(("list_get", "picoring [i]"), ("list_get", "bytearray[i]")), 1.5, "lower")
    return t.rows


def print_table(best: dict[tuple[str, str], dict[str, Any]], targets: list[dict[str, Any]]) -> str:
    lines = []
    workloads = list(dict.fromkeys(w for w, _ in best))
    for w in workloads:
        rows = [(impl, r) for (wk, impl), r in best.items() if wk == w]
        base = best.get((w, "picoring"))
        lines.append(f"\n{w}")
        for impl, r in sorted(rows, key=lambda x: x[1]["ns"]):
            rel = ""
            if base and impl != "picoring":
                ratio = r["ns"] / base["ns"]
                rel = f"{ratio:,.2f}x picoring's time"
            extra = f"  RSS {r['ram'] / (1 << 20):,.1f} MiB" if "ram" in r else ""
            lines.append(f"  {impl:<20} {fmt_ns(r['ns']):>14}  {rel:<28}{extra}  {'ok' if r['ok'] else 'WRONG DATA'}")
    lines.append("\nTargets")
    for t in targets:
        v = "-" if t["value"] is None else f"{t['value']:.3f}"
        lines.append(f"  {t['target']:<40} {v:>9}  (limit {t['limit']:.4g})  {t['status']}")
    lines.append(TIMED_NOTE)
    text = "\n".join(lines)
    print(text)
    return text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one short round (for a smoke test)")
    ap.add_argument("--rounds", type=int, default=None)
    args = ap.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    best = collect(rounds, args.quick)
    rust = rust_results()
    if rust:
        best.update(rust)
    else:
        log("no criterion results in target/criterion: run `make bench-rust` for the Rust rows")
    targets = evaluate(best)
    print_table(best, targets)
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "rounds": rounds,
        "quick": args.quick,
        "results": sorted(best.values(), key=lambda r: (r["workload"], r["impl"])),
        "targets": targets,
    }
    stem = "quick" if args.quick else "latest"
    (RESULTS / f"{stem}.json").write_text(json.dumps(data, indent=1) + "\n")
    log(f"results written to {RESULTS / f'{stem}.json'} (the README is updated by `make bench-readme`)")
    png = RESULTS / ("quick.png" if args.quick else "bench.png")
    try:
        plot(data, png)
        log(f"plot written to {png}")
    except ImportError:
        log("matplotlib is not installed: no plot")
    if not all(r["ok"] for r in best.values()):
        raise SystemExit("some workload produced wrong data")


if __name__ == "__main__":
    main()
