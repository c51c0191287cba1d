"""Shared helpers and hypothesis profiles.

HYPOTHESIS_PROFILE=dev (default) runs quickly; =ci runs more examples.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import psutil
from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev",
    max_examples=60,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=200,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# Set by tests/valgrind.sh: everything runs 20-50x slower under memcheck.
SLOW = os.environ.get("PICORING_SLOW") == "1"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def mapping_count() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


def rss() -> int:
    return int(psutil.Process().memory_info().rss)


def run_python(script: str, timeout: float = 120) -> str:
    """Runs `script` in a new interpreter with a timeout, so that a crash or
    a hang fails the calling test instead of killing the test run. Returns
    its standard output; a non-zero exit fails with its standard error."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=timeout * (50 if SLOW else 1),
    )
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stderr}"
    return out.stdout
