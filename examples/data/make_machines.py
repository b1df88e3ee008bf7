"""Generate ``machines.csv``: sensor recordings of machine runs in long format, for
classification from a table of one row per time step.

Each run (``run_id``) is one machine recorded for 30-60 steps (so runs have different lengths:
they are padded and masked) on two channels, ``vibration`` and ``temperature``. The label
``state`` is what the run shows: ``normal`` (noise around a steady hum), ``imbalance`` (a strong
oscillation at the rotation frequency) or ``bearing`` (short bursts of high-frequency
vibration and a slow temperature rise). 120 runs, shuffled rows. Run:
``python examples/data/make_machines.py``; then
``seqsearch run examples/data/machines.csv --id-col run_id --time-col step --target state``.
"""

from pathlib import Path

import numpy as np

STATES = ("normal", "imbalance", "bearing")


def make(n=120, seed=11):
    import pandas as pd

    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        state = STATES[i % 3]
        steps = int(rng.integers(30, 61))
        t = np.arange(steps)
        vibration = 0.3 * np.sin(2 * np.pi * t / rng.uniform(9, 12)) + rng.normal(0, 0.25, steps)
        temperature = rng.uniform(38, 46) + rng.normal(0, 0.3, steps)
        if state == "imbalance":
            vibration += rng.uniform(0.6, 1.0) * np.sin(2 * np.pi * t / rng.uniform(5, 7) + rng.uniform(0, 6))
        elif state == "bearing":
            for start in rng.integers(0, steps - 4, size=int(rng.integers(2, 5))):
                vibration[start:start + 4] += rng.uniform(0.8, 1.4) * np.array([1, -1, 1, -1])
            temperature += np.linspace(0, rng.uniform(2, 4), steps)
        frames.append(pd.DataFrame({"run_id": f"run{i:03d}", "step": t, "vibration": vibration.round(3),
                                    "temperature": temperature.round(2), "state": state}))
    table = pd.concat(frames, ignore_index=True)
    return table.sample(frac=1.0, random_state=seed).reset_index(drop=True)


if __name__ == "__main__":
    out = Path(__file__).with_name("machines.csv")
    make().to_csv(out, index=False)
    print(f"wrote {out}")
