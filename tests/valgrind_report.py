"""Reads memcheck logs and counts the errors whose stack passes through
picoring (its extension module or its Rust code). CPython and the dynamic
loader report a few errors of their own under memcheck (CPython is not
built for it); those are listed by kind but do not fail the run."""

from __future__ import annotations

import collections
import pathlib
import re
import sys

HEAD = re.compile(r"^==(\d+)== (\S.*)$")
# What memcheck's error reports start with (the first line of a block).
ERROR_KINDS = (
    "Invalid",
    "uninitialised",
    "Mismatched",
    "Syscall param",
    "overlap",
    "free()",
    "definitely lost",
)
# A frame in the extension module or in the Rust code of either crate.
OURS = re.compile(r"_picoring\.|picoring(_py)?::")


def blocks(path: pathlib.Path) -> list[list[str]]:
    """The error reports in one log: runs of lines between blank ones."""
    out: list[list[str]] = []
    cur: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        m = HEAD.match(line)
        if m is None:
            if cur:
                out.append(cur)
                cur = []
            continue
        cur.append(m.group(2))
    if cur:
        out.append(cur)
    return out


def main(logdir: str) -> int:
    kinds: collections.Counter[str] = collections.Counter()
    ours: list[list[str]] = []
    files = sorted(pathlib.Path(logdir).glob("*.log"))
    for f in files:
        for b in blocks(f):
            if b[0].startswith("Use --") or not any(k in b[0] for k in ERROR_KINDS):
                continue  # a banner, hint or summary, not an error report
            if any(OURS.search(line) for line in b):
                ours.append(b)
            else:
                # "32 bytes in 1 blocks are definitely lost in loss record
                # 390 of 3,719" and the like: one kind whatever the numbers.
                kinds[re.sub(r"[\d,]+", "N", b[0])] += 1
    print(f"memcheck: {len(files)} processes; errors through picoring: {len(ours)}; elsewhere (CPython, ld.so): {sum(kinds.values())}")
    for kind, n in kinds.most_common():
        print(f"  {n:6d}  {kind}")
    for b in ours[:5]:
        print("\n".join(["--- in picoring:"] + b[:30]))
    return 1 if ours else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "target/valgrind"))
