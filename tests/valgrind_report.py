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
    return [b for b in out if b and not b[0].startswith(("Memcheck", "Copyright", "Using", "Command", "HEAP", "LEAK", "ERROR", "For lists", "Parent PID", "in use", "total heap", "All heap", "To see", "Use --", "Rerun", "searching", "checked", "For counts", "Warning: set address range perms"))]


def main(logdir: str) -> int:
    kinds: collections.Counter[str] = collections.Counter()
    ours: list[list[str]] = []
    files = sorted(pathlib.Path(logdir).glob("*.log"))
    for f in files:
        for b in blocks(f):
            if not b[0][0].isupper() or not any(s in b[0] for s in ("Invalid", "uninitialised", "Mismatched", "Syscall", "overlap", "free", "Source and destination", "definitely lost")):
                continue
            if any(OURS.search(line) for line in b):
                ours.append(b)
            else:
                kinds[b[0]] += 1
    print(f"memcheck: {len(files)} processes; errors through picoring: {len(ours)}; elsewhere (CPython, ld.so): {sum(kinds.values())}")
    for kind, n in kinds.most_common():
        print(f"  {n:6d}  {kind}")
    for b in ours[:5]:
        print("\n".join(["--- in picoring:"] + b[:30]))
    return 1 if ours else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "target/valgrind"))
