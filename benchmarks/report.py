"""What the benchmark results look like: the plot and the README section.

`benchmarks/run.py` (make bench, make bench-python) saves its results in
`benchmarks/results/` (git-ignored) and draws the plot there; this module's
command line (make bench-readme) is the only thing that writes the README's
results: it copies the saved JSON into the committed snapshot
`benchmarks/snapshot/`, draws `benchmarks/snapshot/bench.png` from it, and
rewrites the README between its markers. No benchmark runs here.

Usage: python benchmarks/report.py [--results PATH] [--instructions PATH]
                                   [--allow-quick] [--readme PATH] [--snapshot DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SNAPSHOT = ROOT / "benchmarks" / "snapshot"
README = ROOT / "README.md"

Best = dict[tuple[str, str], dict[str, Any]]

TIMED_NOTE = (
    "* timed on a shared machine, so within ~10% they flip between runs; the targets for these small calls "
    "are decided by callgrind instruction counts (`make bench-instructions`, the table below)"
)


def fmt_ns(ns: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:,.2f} {unit}"
    return f"{ns:,.0f} ns"


def fmt_ratio(x: float) -> str:
    if x >= 10:
        return f"{x:,.0f}x"
    if x >= 1:
        return f"{x:.1f}x"
    return f"{x:.2f}x"


def tick(x: float, _pos: object = None) -> str:
    """An x-axis label: 0.1x, 1x, 1,000x, then powers of ten."""
    if x >= 1e4:
        return f"$10^{{{round(math.log10(x))}}}$x"
    return f"{x:,.0f}x" if x >= 1 else f"{x:g}x"


def index(data: dict[str, Any]) -> Best:
    return {(r["workload"], r["impl"]): r for r in data["results"]}


def workloads(data: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(r["workload"] for r in data["results"]))


# --- which number is ours, which is 0.6.0's, which are peers --------------------

OURS = ("picoring", "picoring [i]", "picoring x64")
REF = ("picoring 0.6.0", "picoring .get(i) 0.6.0")

# Measured beside a workload but not another way of doing its job: physical
# limits and baselines, and `deque`, which queues references to bytes
# objects (it copies nothing and cannot pop n bytes). The plot's "fastest
# peer" is chosen among the others (the README table still lists them all).
NOT_PEERS = frozenset(
    {"memcpy", "memcpy x2", "memoryview(bytes)", "np.copyto (same process)", "no ring", "no ring 0.6.0", "deque"}
)

# Workloads where each package's time is first divided by a baseline run in
# its own interpreter (the two interpreters' processes differ in size, which
# is what a bare fork's time follows).
BASELINES = {"fork_1GiB_ring": ("no ring", "no ring 0.6.0")}


def first(best: Best, workload: str, impls: tuple[str, ...]) -> dict[str, Any] | None:
    for impl in impls:
        if (workload, impl) in best:
            return best[(workload, impl)]
    return None


class Speedup(NamedTuple):
    workload: str
    over_ref: float | None  # 0.6.0's time / ours
    over_peer: float | None  # the fastest peer's time / ours
    peer: str | None
    ok: bool
    normalised: bool  # over_ref compares times relative to BASELINES


def speedups(data: dict[str, Any]) -> list[Speedup]:
    """One row per workload that has a picoring time and something to
    compare it with."""
    best = index(data)
    rows = []
    for w in workloads(data):
        ours = first(best, w, OURS)
        if ours is None:
            continue
        ref = first(best, w, REF)
        over_ref = None if ref is None else ref["ns"] / ours["ns"]
        normalised = False
        if ref is not None and w in BASELINES:
            ours_base, ref_base = (best.get((w, b)) for b in BASELINES[w])
            if ours_base and ref_base:
                over_ref = (ref["ns"] / ref_base["ns"]) / (ours["ns"] / ours_base["ns"])
                normalised = True
        peers = [
            r for (wk, impl), r in best.items() if wk == w and not impl.startswith("picoring") and impl not in NOT_PEERS
        ]
        fastest = min(peers, key=lambda r: r["ns"], default=None)
        over_peer = None if fastest is None else fastest["ns"] / ours["ns"]
        if over_ref is None and over_peer is None:
            continue
        ok = ours["ok"] and (ref is None or ref["ok"]) and (fastest is None or fastest["ok"])
        rows.append(Speedup(w, over_ref, over_peer, None if fastest is None else fastest["impl"], ok, normalised))
    return rows


# --- the plot -------------------------------------------------------------------


def plot(data: dict[str, Any], path: Path) -> None:
    """Two horizontal bars per workload, from 1x: the speed-up over picoring
    0.6.0 and over the fastest peer. Raises ImportError without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = speedups(data)
    values = [v for r in rows for v in (r.over_ref, r.over_peer) if v is not None]
    lo = min([0.5, *values])
    hi = max([2.0, *values])
    n = max(1, len(rows))
    height = 0.42 * n + 2.2  # inches
    fig, ax = plt.subplots(figsize=(11, height))
    colours = {"ref": ("#3b75af", "#1f4a75"), "peer": ("#ef8636", "#9c4a0c")}
    h = 0.38
    # A label goes inside its bar when the bar is long, beside it otherwise.
    span = math.log10(hi * 8) - math.log10(lo / 25)
    for i, r in enumerate(rows):
        if i % 2:
            ax.axhspan(i - 0.5, i + 0.5, color="#f2f2f2", zorder=0)
        for value, dy, kind, peer in ((r.over_ref, -h / 2, "ref", None), (r.over_peer, h / 2, "peer", r.peer)):
            if value is None:
                continue
            y = i + dy
            fill, ink = colours[kind]
            ax.barh(y, value - 1, left=1, height=h, color=fill, zorder=2)
            ax.plot([value], [y], marker="|", markersize=7, color=ink, zorder=3)
            label = fmt_ratio(value) + (f"  {peer}" if peer else "")
            faster = value >= 1
            inside = abs(math.log10(value)) > 0.4 * span
            if inside:
                x, ha, colour = (value / 1.15, "right", "white") if faster else (value * 1.15, "left", "white")
            else:
                x, ha, colour = (value * 1.12, "left", ink) if faster else (value / 1.12, "right", ink)
                if not faster and peer:
                    label = f"{peer}  {fmt_ratio(value)}"
            ax.text(x, y, label, va="center", ha=ha, fontsize=7.5, color=colour, zorder=4)
    ax.set_xscale("log")
    ax.set_xlim(lo / 25, hi * 8)
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, numticks=30))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(tick))
    ax.set_ylim(n - 0.5, -0.5)
    labels = [r.workload + (" \u2020" if r.normalised else "") + ("" if r.ok else " (WRONG DATA)") for r in rows]
    ax.set_yticks(range(len(rows)), labels, fontsize=8.5)
    ax.axvline(1, color="black", linewidth=1.4, zorder=5)
    ax.annotate(
        "1x = same speed",
        xy=(1, 1),
        xycoords=("data", "axes fraction"),
        xytext=(0, 4),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=9,
        fontweight="bold",
    )
    ax.xaxis.grid(True, which="major", alpha=0.35, zorder=1)
    ax.set_xlabel("speed-up of picoring = their time / picoring's time (log scale; right of 1x: picoring is faster)")
    handles = [
        matplotlib.patches.Patch(color=colours["ref"][0], label="over picoring 0.6.0"),
        matplotlib.patches.Patch(color=colours["peer"][0], label="over the fastest peer for the same job (named)"),
    ]
    ax.legend(
        handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, fontsize=8.5, frameon=False
    )
    quick = " (quick run)" if data.get("quick") else ""
    fig.suptitle(f"picoring's speed-up per workload, {data.get('date', '?')}{quick}", fontsize=11)
    notes = [
        "Peers: Python builtins and NumPy; Rust crates for the rust_* rows. Left out: limits and baselines "
        "(memcpy, memoryview(bytes), no ring) and deque (queues references, copies nothing).",
    ]
    if any(r.normalised for r in rows):
        notes.append("\u2020 each package's time divided by a fork without a ring in its own interpreter.")
    fig.text(0.01, 0.08 / height, "\n".join(notes), fontsize=7.5, va="bottom", ha="left", color="#444444")
    fig.tight_layout(rect=(0, 0.4 / height, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- the README -----------------------------------------------------------------

PLOT_IN_README = "benchmarks/snapshot/bench.png"


def results_section(data: dict[str, Any]) -> str:
    best = index(data)
    where = f"on {data['date']} ({data['machine']}, Python {data['python']})"
    if data.get("quick"):
        lead = f"Measured by `benchmarks/run.py --quick` {where}: one short round, not for comparison"
    else:
        lead = f"Measured by `make bench` {where}; times are the best of several runs"
    out = [
        lead + ", ratios are against picoring in the same run.",
        "",
        f"![picoring's speed-up per workload over picoring 0.6.0 and over the fastest peer]({PLOT_IN_README})",
        "",
        "| workload | picoring | picoring 0.6.0 | peers |",
        "|---|---|---|---|",
    ]
    for w in workloads(data):
        ours = first(best, w, OURS)
        ref = first(best, w, REF)
        peers = [
            f"{impl} {fmt_ns(r['ns'])}"
            for (wk, impl), r in best.items()
            if wk == w and r is not ours and r is not ref and not impl.startswith(("picoring 0.6.0", "picoring .get"))
        ]

        def cell(r: dict[str, Any] | None) -> str:
            return "-" if r is None else fmt_ns(r["ns"]) + ("" if r["ok"] else " (WRONG)")

        out.append(f"| {w} | {cell(ours)} | {cell(ref)} | {'; '.join(peers) or '-'} |")
    out += ["", "| target | measured | limit | status |", "|---|---|---|---|"]
    for t in data["targets"]:
        v = "-" if t["value"] is None else f"{t['value']:.3f}"
        out.append(f"| {t['target']} | {v} | {t['limit']:.4g} | {t['status']} |")
    out += ["", TIMED_NOTE + "."]
    return "\n".join(out)


# Instructions per call before the bindings were rewritten (2026-12-01):
# history, kept for comparison, never re-measured.
BEFORE_REWRITE = {
    "r.push_bytes(d); r.pop_bytes(64)": 1609,
    "q.push_bulk(d); q.pop_bulk(64)": 1609,
    "s.write(d); s.read(64)": 1598,
    "r.get_readable_view()": 1583,
    "l[500]": 453,
    "r.capacity()": 414,
    "r.push(1); r.pop()": 1113,
    "l.get(500)": 585,
    "len(r)": 438,
}
STATEMENT_NOTES = {"r.get_readable_view()": " (made and dropped)"}


def target_words(target: str) -> str:
    """'<= 1.5x builtin' -> 'at most 1.5x the builtin'."""
    return re.sub(r"\bbuiltin\b", "the builtin", target.replace("<=", "at most", 1))


def instructions_section(instr: dict[str, Any]) -> str:
    when = f"on {instr['date']}, " if instr.get("date") else ""
    out = [
        f"Counted {when}Python {instr['python']}, {instr['n']:,} repetitions each; "
        "`before` is the count before the bindings were rewritten (2026-12-01).",
        "",
        "| statement | before | picoring | picoring 0.6.0 | builtin peer | target | status |",
        "|---|---|---|---|---|---|---|",
    ]
    prev_peer = None
    for r in instr["rows"]:
        ours, ref, peer_n = r["picoring"], r["picoring 0.6.0"], r["peer instructions"]
        before = BEFORE_REWRITE.get(r["statement"])
        peer = "same" if r["peer"] == prev_peer else f"`{r['peer']}`"
        prev_peer = r["peer"]
        status = "-"
        if r["target"]:
            base = ref if "0.6.0" in r["target"] else peer_n
            verdict = {True: "met", False: "missed", None: "not measured"}[r["met"]]
            status = verdict if not base else f"{verdict} ({ours / base:.2f}x)"
        out.append(
            f"| `{r['statement']}`{STATEMENT_NOTES.get(r['statement'], '')} | "
            f"{'-' if before is None else f'{before:,}'} | {ours:,} | {'-' if ref is None else f'{ref:,}'} | "
            f"{peer} {peer_n:,} | {target_words(r['target']) or '-'} | {status} |"
        )
    return "\n".join(out)


def replace_section(text: str, name: str, body: str) -> str:
    """`text` with what lies between `<!-- name:start -->` and
    `<!-- name:end -->` replaced by `body`; everything else untouched."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.escape(start) + ".*?" + re.escape(end)
    if len(re.findall(pattern, text, flags=re.S)) != 1:
        raise ValueError(f"the README needs exactly one {start} ... {end} pair")
    return re.sub(pattern, lambda _: f"{start}\n{body}\n{end}", text, flags=re.S)


def load(path: Path, what: str, hint: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise SystemExit(f"no {what} at {path}: {hint}") from None
    return data


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="README results section and plot from saved results (no benchmark runs)")
    ap.add_argument("--results", type=Path, default=RESULTS / "latest.json", help="results of `make bench`")
    ap.add_argument(
        "--instructions",
        type=Path,
        default=None,
        help="callgrind counts (default: benchmarks/results/instructions.json, else the snapshot's)",
    )
    ap.add_argument("--allow-quick", action="store_true", help="accept the results of `run.py --quick`")
    ap.add_argument("--readme", type=Path, default=README)
    ap.add_argument("--snapshot", type=Path, default=SNAPSHOT, help="where the committed copies go")
    args = ap.parse_args(argv)

    data = load(
        args.results,
        "benchmark results",
        "run `make bench` (or `make bench-python`) first, or pass "
        "`BENCH_RESULTS=benchmarks/snapshot/latest.json` to re-render the committed snapshot",
    )
    if data.get("quick") and not args.allow_quick:
        raise SystemExit(f"{args.results} is from a --quick run (one short round); pass --allow-quick to use it anyway")
    instr_path = args.instructions
    if instr_path is None:  # new counts if there are, else the committed ones
        instr_path = RESULTS / "instructions.json"
        if not instr_path.exists():
            instr_path = args.snapshot / "instructions.json"
    if args.instructions is not None or instr_path.exists():
        instr = load(instr_path, "instruction counts", "run `make bench-instructions` first")
    else:
        instr = None

    try:
        text = replace_section(args.readme.read_text(), "bench", results_section(data))
        if instr is not None:
            text = replace_section(text, "instructions", instructions_section(instr))
    except ValueError as e:
        raise SystemExit(f"{args.readme}: {e}") from None
    args.snapshot.mkdir(parents=True, exist_ok=True)
    plot(data, args.snapshot / "bench.png")
    for src, name in ((args.results, "latest.json"), (instr_path if instr else None, "instructions.json")):
        if src is not None and src.resolve() != (args.snapshot / name).resolve():
            shutil.copyfile(src, args.snapshot / name)
    args.readme.write_text(text)
    counts = f", counts from {instr_path}" if instr else ""
    print(f"{args.readme}: results of {data['date']} from {args.results}{counts}")
    print(f"snapshot: {args.snapshot}/latest.json, bench.png" + (", instructions.json" if instr else ""))


if __name__ == "__main__":
    main()
