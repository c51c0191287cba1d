"""Checks that a Linux wheel really installs on manylinux2014 (glibc 2.17).

Usage: python tools/check_wheel.py WHEEL [MAX]   (MAX defaults to manylinux_2_17)

1. Runs `auditwheel show WHEEL`, prints its report, and fails unless the
   platform tag it reports is MAX or older.
2. Fails unless every manylinux tag in the wheel's file name (what pip
   reads) is MAX or older.
3. Fails if an extension module references a C library function without a
   symbol version. auditwheel judges only versioned references; an
   unversioned one means the function was missing from the glibc that zig
   linked against (memfd_create, for example, is in glibc 2.27 and later),
   so on an older system the import fails with "undefined symbol". Python's
   own API (Py*, _Py*) is unversioned by design and weak references are
   resolved at run time by whoever made them weak, so both are allowed.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from elftools.elf.elffile import ELFFile  # installed with auditwheel
from elftools.elf.gnuversions import GNUVerSymSection
from elftools.elf.sections import SymbolTableSection


def glibc_version(tag: str) -> tuple[int, int] | None:
    """(2, 17) for manylinux_2_17_x86_64 or manylinux2014_x86_64."""
    m = re.match(r"manylinux_(\d+)_(\d+)_", tag)
    if m:
        return int(m.group(1)), int(m.group(2))
    legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
    m = re.match(r"(manylinux1|manylinux2010|manylinux2014)_", tag)
    return legacy[m.group(1)] if m else None


def unversioned_imports(data: bytes) -> list[str]:
    elf = ELFFile(io.BytesIO(data))
    dynsym = elf.get_section_by_name(".dynsym")
    versym = next((s for s in elf.iter_sections() if isinstance(s, GNUVerSymSection)), None)
    if not isinstance(dynsym, SymbolTableSection):
        return []
    bad = []
    for i, sym in enumerate(dynsym.iter_symbols()):
        if not sym.name or sym["st_shndx"] != "SHN_UNDEF":
            continue
        if sym["st_info"]["bind"] != "STB_GLOBAL":
            continue  # weak: may be absent, the code that made it weak checks
        if sym.name.startswith(("Py", "_Py")):
            continue  # the interpreter's C API: unversioned by design
        ndx = versym.get_symbol(i)["ndx"] if versym is not None else "VER_NDX_GLOBAL"
        if ndx in ("VER_NDX_LOCAL", "VER_NDX_GLOBAL", 0, 1):
            bad.append(sym.name)
    return sorted(bad)


def main() -> int:
    wheel = Path(sys.argv[1])
    limit_tag = sys.argv[2] if len(sys.argv) > 2 else "manylinux_2_17"
    limit = glibc_version(limit_tag + "_")
    assert limit is not None, limit_tag
    failures = []

    proc = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", str(wheel)],
        capture_output=True,
        text=True,
    )
    print(proc.stdout.strip() or proc.stderr.strip())
    flat = " ".join(proc.stdout.split())
    m = re.search(r'consistent with the following platform tag: "([^"]+)"', flat)
    if proc.returncode != 0 or m is None:
        failures.append(f"auditwheel show failed or reported no platform tag (exit {proc.returncode})")
    else:
        got = glibc_version(m.group(1))
        if got is None or got > limit:
            failures.append(f"auditwheel reports {m.group(1)}, newer than {limit_tag}")

    platform = wheel.name[: -len(".whl")].split("-")[-1]
    for tag in platform.split("."):
        got = glibc_version(tag)
        if got is None or got > limit:
            failures.append(f"the file name carries {tag}, newer than {limit_tag} (or not manylinux)")

    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.endswith(".so") or ".so." in name:
                bad = unversioned_imports(zf.read(name))
                if bad:
                    failures.append(
                        f"{name} references {', '.join(bad)} without a glibc symbol version: "
                        f"not in glibc {limit[0]}.{limit[1]}, so the import fails there "
                        "('undefined symbol'); call it through syscall() or dlsym instead"
                    )

    if failures:
        for f in failures:
            print(f"check_wheel: FAILED: {f}")
        return 1
    print(f"check_wheel: {wheel.name}: {limit_tag} or older, every C library import versioned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
