"""Every Python example in the README runs, in order, as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_the_three_seed_examples() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 4
    assert "picoring.PicoRingByte(1024 * 1024)" in blocks[0]
    assert "picoring.PicoQueueByte(4096)" in blocks[1]
    assert "picoring.PicoByteStreamPy(8192)" in blocks[2]


def test_readme_examples_run() -> None:
    namespace: dict[str, object] = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in python_blocks():
            exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    assert out.getvalue() == "b'some data'\n"
    assert namespace["data"] == b"packe"
    assert namespace["chunk"] == b"payl"
