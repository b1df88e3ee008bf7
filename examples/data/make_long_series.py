"""Generate a long-series classification set: 1,000 steps, one channel, four classes.

Each series is AR(1) background noise with one short event placed at a random position; the
event's shape is the class: a Gaussian bump, a square pulse, a sine burst or a sawtooth ramp
(amplitude 1.5-2.5, width 20-60 steps). Nothing else tells the classes apart, so a model has to
find a local shape anywhere in a long series: the case where a front end that shortens the time
axis (strided convolution, patches, pooling) pays off before a recurrent or attention family.

    python examples/data/make_long_series.py            # writes long_series.npz (240 train, 240 test)
    seqsearch run examples/data/long_series.npz

``make(n_train, n_test, length, seed)`` returns the arrays (tests use small ones).
"""

from pathlib import Path

import numpy as np

CLASSES = ("bump", "pulse", "burst", "ramp")


def _event(kind: str, width: int, rng) -> np.ndarray:
    t = np.linspace(-1.0, 1.0, width)
    if kind == "bump":
        return np.exp(-8.0 * t**2)
    if kind == "pulse":
        return (np.abs(t) < 0.6).astype(float)
    if kind == "burst":
        return np.sin(2 * np.pi * rng.uniform(2.5, 4.0) * t) * np.hanning(width)
    return (t + 1.0) / 2.0  # ramp


def series(n: int, length: int, rng) -> tuple[np.ndarray, np.ndarray]:
    X = np.zeros((n, length, 1), np.float32)
    labels = rng.integers(0, len(CLASSES), size=n)
    for i, c in enumerate(labels):
        noise = rng.normal(0.0, 0.4, size=length)
        x = np.empty(length)
        x[0] = noise[0]
        for t in range(1, length):  # AR(1) background
            x[t] = 0.7 * x[t - 1] + noise[t]
        width = int(rng.integers(20, 61))
        start = int(rng.integers(0, length - width))
        x[start:start + width] += rng.uniform(1.5, 2.5) * _event(CLASSES[c], width, rng)
        X[i, :, 0] = x
    return X, np.array(CLASSES)[labels]


def make(n_train: int = 240, n_test: int = 240, length: int = 1000, seed: int = 11) -> dict:
    rng = np.random.default_rng(seed)
    X_train, y_train = series(n_train, length, rng)
    X_test, y_test = series(n_test, length, rng)
    return {"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test}


if __name__ == "__main__":
    out = Path(__file__).with_name("long_series.npz")
    np.savez_compressed(out, **make())
    print(out)
