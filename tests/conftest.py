"""Shared helpers and hypothesis profiles.

HYPOTHESIS_PROFILE=dev (default) runs quickly; =ci runs more examples.
"""

from __future__ import annotations

import os

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


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def mapping_count() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


def rss() -> int:
    return int(psutil.Process().memory_info().rss)
