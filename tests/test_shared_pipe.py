"""picoring.shared_pipe across processes: multiprocessing with the fork,
spawn and forkserver start methods, a peer killed mid-stream, views.

Each scenario runs as a script in a new interpreter with a time bound
(spawn and forkserver need a main module on disk), so a hang fails its
test instead of the run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import picoring

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="shared_pipe is Linux only")


def run_script(tmp_path: Path, body: str, timeout: float = 120) -> str:
    script = tmp_path / "scenario.py"
    script.write_text(textwrap.dedent(body))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_200_mb_in_order_from_a_child_process(tmp_path: Path, method: str) -> None:
    out = run_script(
        tmp_path,
        f"""
        import multiprocessing as mp, picoring

        TOTAL = 200 * 1024 * 1024
        PATTERN = bytes(range(256)) * 8192          # 2 MiB

        def produce(w):
            done, k = 0, 1
            while done < TOTAL:
                n = min(k, TOTAL - done)
                off = done % 256
                assert w.write(PATTERN[off:off + n], timeout=30) == n
                done += n
                k = k * 7 % 1_000_003 + 1
            w.close()

        if __name__ == "__main__":
            ctx = mp.get_context("{method}")
            w, r = picoring.shared_pipe(1 << 20)
            p = ctx.Process(target=produce, args=(w,))
            p.start()
            got = 0
            for chunk in iter(lambda: r.read(timeout=30), b""):
                off = got % 256
                assert chunk == PATTERN[off:off + len(chunk)], f"wrong bytes at {{got}}"
                got += len(chunk)
            p.join(30)
            print(got, p.exitcode)
        """,
    )
    assert out.split() == [str(200 * 1024 * 1024), "0"]


def test_frames_read_through_views_in_the_parent(tmp_path: Path) -> None:
    out = run_script(
        tmp_path,
        """
        import multiprocessing as mp, picoring
        FRAME = 1 << 20

        def produce(w):
            for i in range(100):
                w.write(bytes([i]) * FRAME, timeout=30)
            w.close()

        if __name__ == "__main__":
            w, r = picoring.shared_pipe(4 * FRAME)
            p = mp.get_context("spawn").Process(target=produce, args=(w,))
            p.start()
            frames = 0
            waits = 0
            while True:
                view = r.get_readable_view(timeout=30, at_least=FRAME)
                if len(view) == 0:
                    break
                whole = len(view) // FRAME
                assert whole >= 1, "at_least: never part of a frame only"
                for k in range(whole):
                    frame = view[k * FRAME:(k + 1) * FRAME]
                    assert frame[0] == frame[-1] == frames % 256
                    frames += 1
                    frame.release()
                view.release()
                r.advance_tail(whole * FRAME)
            p.join(30)
            print(frames)
        """,
    )
    assert out.strip() == "100"


def test_a_killed_writer_gives_eof_within_a_second(tmp_path: Path) -> None:
    out = run_script(
        tmp_path,
        """
        import multiprocessing as mp, os, signal, time, picoring

        def produce(w):
            w.write(b"partial", timeout=10)
            time.sleep(60)

        if __name__ == "__main__":
            w, r = picoring.shared_pipe(4096)
            p = mp.get_context("spawn").Process(target=produce, args=(w,))
            p.start()
            assert r.read(timeout=20) == b"partial"
            os.kill(p.pid, signal.SIGKILL)
            t0 = time.monotonic()
            assert r.read(timeout=10) == b""           # EOF, not a timeout
            print(round(time.monotonic() - t0, 2))
            p.join(5)
        """,
    )
    assert float(out) < 1.0


def test_a_killed_reader_gives_the_writer_broken_pipe_within_a_second(tmp_path: Path) -> None:
    out = run_script(
        tmp_path,
        """
        import multiprocessing as mp, os, signal, time, picoring

        def consume(r):
            r.read(1, timeout=10)
            time.sleep(60)

        if __name__ == "__main__":
            w, r = picoring.shared_pipe(4096)
            p = mp.get_context("forkserver").Process(target=consume, args=(r,))
            p.start()
            w.write(b"x")
            time.sleep(0.5)
            os.kill(p.pid, signal.SIGKILL)
            t0 = time.monotonic()
            try:
                w.write(b"y" * 100_000, timeout=10)
            except BrokenPipeError as e:
                print(round(time.monotonic() - t0, 2), e.written)
            p.join(5)
        """,
    )
    secs, written = out.split()
    assert float(secs) < 1.0 and written == "4096"


def test_the_reader_closing_in_another_process_breaks_the_pipe(tmp_path: Path) -> None:
    out = run_script(
        tmp_path,
        """
        import multiprocessing as mp, picoring

        def consume(r):
            assert r.read(5, timeout=10) == b"hello"
            r.close()

        if __name__ == "__main__":
            w, r = picoring.shared_pipe(4096)
            p = mp.get_context("fork").Process(target=consume, args=(r,))
            p.start()
            w.write(b"hello")
            p.join(10)
            try:
                w.write(b"more")
            except BrokenPipeError:
                print("broken", p.exitcode)
        """,
    )
    assert out.split() == ["broken", "0"]


def test_ends_pickle_only_for_shared_pipes() -> None:
    import pickle

    w, r = picoring.shared_pipe(100)
    assert w.__reduce__()[0] is picoring._rebuild_pipe_end
    w2, r2 = picoring.pipe(100)
    with pytest.raises(TypeError, match="use picoring.shared_pipe"):
        pickle.dumps(w2)


def test_a_descriptor_that_is_not_a_shared_pipe_is_refused() -> None:
    import os

    rfd, wfd = os.pipe()
    os.close(wfd)
    with pytest.raises(ValueError, match="not a shared pipe"):
        picoring._open_pipe_end("reader", rfd)
    with pytest.raises(ValueError, match="role must be"):
        picoring._open_pipe_end("both", os.dup(0))


def test_the_readme_example_is_the_example_file_and_runs() -> None:
    root = Path(__file__).resolve().parent.parent
    example = root / "examples" / "processes" / "feed_frames.py"
    assert f"```py\n{example.read_text()}```" in (root / "README.md").read_text()
    out = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "50 frames\n"
