"""Generate ``wearable.npz``: a two-rate wearable sensor dataset, for classification from
several input sequences that do not share a time axis.

Each example is one minute of a person: a 3-axis accelerometer at 2 Hz (``X_accel``, 120 steps x
3) and a heart rate once every 5 seconds (``X_heart``, up to 12 steps x 1; a recording starts
late in some examples, so ``lengths_heart`` gives how many of its steps are observed). The label
``activity`` is one of four: ``rest``, ``walk``, ``stress`` (little movement, a climbing heart
rate) and ``run``. Movement separates rest and stress from walk and run (a run's cadence is
faster than a walk's), and the heart rate's climb separates rest and walk from stress and run:
neither input alone tells rest from stress, only both together name all four. Both signals are noisy and their ranges overlap a little
(fidgeting at rest, a slow walk; resting heart rates differ by 20 bpm between people), so no
single reading decides. 400 examples. Run ``python examples/data/make_wearable.py``; then
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
        name = CLASSES[label]
        moving = name in ("walk", "run")
        cadence = rng.uniform(0.7, 1.3) * (1.6 if name == "run" else 1.0)  # steps per second
        amplitude = rng.uniform(0.25, 0.9) if moving else rng.uniform(0.0, 0.35)
        phase = rng.uniform(0, 2 * np.pi, 3)
        for axis in range(3):
            accel[i, :, axis] = amplitude * np.sin(np.pi * cadence * t + phase[axis]) * (1.0 if axis < 2 else 0.4)
        accel[i, :, 2] += 1.0  # gravity on the vertical axis
        accel[i] += rng.normal(0, 0.25, (120, 3))
        raised = name in ("stress", "run")
        climb = rng.uniform(0.8, 2.5) if raised else rng.uniform(-0.6, 1.0)  # bpm per reading
        k = lengths[i]
        heart[i, :k, 0] = rng.uniform(55, 75) + climb * np.arange(k) + rng.normal(0, 2.0, k)
    return {"X_accel": accel, "X_heart": heart, "lengths_heart": lengths.astype(np.int64), "y": y.astype(np.int64),
            "classes": np.array(CLASSES), "feature_names_accel": np.array(["x", "y", "z"]),
            "feature_names_heart": np.array(["bpm"])}


if __name__ == "__main__":
    out = Path(__file__).with_name("wearable.npz")
    np.savez_compressed(out, **make())
    print(f"wrote {out}")
