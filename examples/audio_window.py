"""A rolling spectrum of an audio stream through a float32 PicoRing.

Blocks of samples (a 1 kHz tone plus noise, 48 kHz) arrive as a sound
card would deliver them; the ring keeps the latest samples, and every
block a Hann-windowed FFT runs over `latest(N)`: the newest N samples as
one contiguous array, in O(1), with no copy and no np.roll. Run it as a
script: it checks the dominant frequency it finds.
"""

from __future__ import annotations

import numpy as np

import picoring

RATE = 48_000
BLOCK = 480  # 10 ms
N = 4096  # FFT size
TONE = 1_000.0


def main() -> float:
    rng = np.random.default_rng(1)
    ring = picoring.PicoRing(4 * N, "float32")
    window = np.hanning(N).astype(np.float32)
    peaks = []
    t = 0
    for _ in range(200):
        n = np.arange(t, t + BLOCK)
        block = (np.sin(2 * np.pi * TONE * n / RATE) + 0.5 * rng.standard_normal(BLOCK)).astype(np.float32)
        t += BLOCK
        ring.push_overwrite(block)  # keeps the newest 4N samples
        if len(ring) < N:
            continue
        frame = ring.latest(N)  # the newest N samples: one view, O(1), no copy
        spectrum = np.abs(np.fft.rfft(np.asarray(frame) * window))
        frame.release()  # the view pins its samples until released
        peaks.append(np.argmax(spectrum) * RATE / N)
    found = float(np.median(peaks))
    assert abs(found - TONE) <= RATE / N, f"dominant frequency {found} Hz, expected {TONE} Hz"
    return found


if __name__ == "__main__":
    print(f"dominant frequency: {main():.1f} Hz")
