"""A moving average over the latest video frames in a PicoRing.

Frames of shape (H, W, 3), uint8, go into a ring of frames; `latest(k)`
shows the newest k frames as one (k, H, W, 3) array without a copy, and
their mean is the moving average a denoiser or motion detector wants.
Run it as a script: it checks the averages against the frames it made.
"""

from __future__ import annotations

import numpy as np

import picoring

H, W, K = 120, 160, 4


def frame(i: int) -> np.ndarray:
    """Frame i: a flat image of value 10 * i, with a moving bright square."""
    f = np.full((H, W, 3), (10 * i) % 200, dtype=np.uint8)
    f[10 : 20, 4 * i : 4 * i + 10] = 255
    return f


def main() -> int:
    frames = picoring.PicoRing(16, "uint8", (H, W, 3))
    checked = 0
    for i in range(40):
        frames.push_overwrite(frame(i))  # one frame: shaped item_shape
        if len(frames) < K:
            continue
        window = frames.latest(K)  # (K, H, W, 3), no copy
        average = np.asarray(window).mean(axis=0)
        window.release()
        expected = np.mean([frame(j) for j in range(i - K + 1, i + 1)], axis=0)
        assert average.shape == (H, W, 3)
        assert np.allclose(average, expected)
        checked += 1
    assert checked == 40 - K + 1
    return checked


if __name__ == "__main__":
    print(f"{main()} moving averages checked")
