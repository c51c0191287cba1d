"""The examples in examples/ run and check their own results."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_runs_and_checks_its_result(name: str) -> None:
    module = runpy.run_path(str(EXAMPLES / name))  # defines main(), runs nothing
    assert module["main"]()
