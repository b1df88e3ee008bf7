"""Generate ``demand.csv``: daily sales of four stores over two years, for forecasting.

Each store's sales have its own level and growth, a weekly pattern (weekend peak), a yearly
cycle, a lift on promotion days and noise whose size grows with the level. Two covariates
come with them: ``promo`` (0/1, known for the past) and ``temperature`` (drives the yearly
cycle, with noise of its own). Long format, one row per store and day, shuffled order does not
matter (the loader sorts by date). Run: ``python examples/data/make_demand.py``; then
``seqsearch run examples/data/demand.csv --horizon 7 --target sales``.
"""

from pathlib import Path

import numpy as np


def make(days=730, stores=("north", "south", "east", "west"), seed=7):
    import pandas as pd

    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-02", periods=days, freq="D")
    t = np.arange(days)
    weekly = np.array([0.85, 0.9, 0.95, 1.0, 1.15, 1.35, 1.2])[dates.dayofweek]
    frames = []
    for k, store in enumerate(stores):
        level = 80 + 45 * k
        growth = 1 + (0.15 + 0.1 * k) * t / 365
        temperature = 12 + 10 * np.sin(2 * np.pi * (t - 100) / 365.25) + rng.normal(0, 2.5, days)
        yearly = 1 + 0.012 * (temperature - 12) * (1 if k % 2 == 0 else -0.6)
        promo = (rng.random(days) < 0.12).astype(int)
        mean = level * growth * weekly * yearly * (1 + 0.3 * promo)
        sales = np.maximum(0, mean + rng.normal(0, 0.06, days) * mean)
        frames.append(pd.DataFrame({
            "store": store, "date": dates.strftime("%Y-%m-%d"), "sales": np.round(sales, 1),
            "promo": promo, "temperature": np.round(temperature, 1),
        }))
    return pd.concat(frames, ignore_index=True)


if __name__ == "__main__":
    df = make()
    out = Path(__file__).with_name("demand.csv")
    df.to_csv(out, index=False)
    print(out, df.shape)
