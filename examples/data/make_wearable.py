"""Generate ``wearable.npz``: a two-rate wearable sensor dataset, for classification from
several input sequences that do not share a time axis.

Each example is one minute of a person: a 3-axis accelerometer at 2 Hz (``X_accel``, 120 steps x
3) and a heart rate once every 5 seconds (``X_heart``, up to 12 steps x 1; a recording starts
late in some examples, so ``lengths_heart`` gives how many of its steps are observed). The label
``activity`` is one of four: ``rest``, ``walk``, ``stress`` (resting movement, a climbing heart
rate) and ``run``. Movement alone separates rest and stress from walk and run, and the heart rate
alone separates rest and walk from stress and run: only both inputs together name all four.
400 examples. Run ``python examples/data/make_wearable.py``; then
``seqsearch run examples/data/wearable.npz``.
"""

from pathlib import Path

import numpy as np

CLASSES = ("rest", "walk", "stress", "run")


def make(n=400, seed=5):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(CLASSES)
    rng.shuffle(y)
    t = np.arange(120) / 2.0  # seconds
    accel = np.empty((n, 120, 3), np.float32)
    heart = np.zeros((n, 12, 1), np.float32)
    lengths = rng.integers(6, 13, size=n)
    for i, label in enumerate(y):
        moving = CLASSES[label] in ("walk", "run")
        step = rng.uniform(0.8, 1.2) * (2.5 if CLASSES[label] == "run" else 1.0)  # steps per second
        amplitude = rng.uniform(0.6, 1.0) if moving else rng.uniform(0.03, 0.08)
        phase = rng.uniform(0, 2 * np.pi, 3)
        for axis in range(3):
            accel[i, :, axis] = amplitude * np.sin(2 * np.pi * step * t / 2.0 + phase[axis]) * (1.0 if axis < 2 else 0.4)
        accel[i, :, 2] += 1.0  # gravity on the vertical axis
        accel[i] += rng.normal(0, 0.05, (120, 3))
        raised = CLASSES[label] in ("stress", "run")
        base = rng.uniform(58, 72) + (8 if CLASSES[label] == "walk" else 0)
        climb = rng.uniform(2.0, 3.5) if raised else rng.uniform(-0.3, 0.3)  # beats per minute per reading
        k = lengths[i]
        heart[i, :k, 0] = base + climb * np.arange(k) + rng.normal(0, 1.0, k)
    return {"X_accel": accel, "X_heart": heart, "lengths_heart": lengths.astype(np.int64), "y": y.astype(np.int64),
            "classes": np.array(CLASSES), "feature_names_accel": np.array(["x", "y", "z"]),
            "feature_names_heart": np.array(["bpm"])}


if __name__ == "__main__":
    out = Path(__file__).with_name("wearable.npz")
    np.savez_compressed(out, **make())
    print(f"wrote {out}")
