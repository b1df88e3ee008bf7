"""Known-future covariates for forecasting (``--future-cols``): columns whose values are known
before the time they fall on (calendar features, planned promotions, prices set in advance).

Like every covariate they are read over the lookback window. Besides, each window carries their
values at the ``horizon`` steps it forecasts, as a block of ``horizon x k`` constant channels
after the window's own (``<column>@+<step>``, step-major), the static-feature layout every
export format already takes; the model feeds the block to its forecast head. At prediction
time the table holds, after each series' last observed target, the rows of the steps to
forecast: their time and the future columns filled, their targets empty.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .arrays import pack_static
from .tables import plain

__all__ = ["future_columns", "future_names", "with_future", "observed_rows", "future_values"]


def future_columns(given, targets, covariates) -> list:
    """``--future-cols`` checked against the table: each a covariate column (numeric, not a target,
    not the time or id). Returns the names in the table's spelling, in the order given."""
    names = [c.strip() for c in (given or []) if c.strip()]
    if len(set(names)) != len(names):
        raise DataError(f"--future-cols names a column twice: {', '.join(names)}")
    out = []
    for name in names:
        if name in targets:
            raise DataError(f"--future-cols {name!r} is a target; a column to forecast cannot be known in advance")
        if name not in covariates:
            raise DataError(f"--future-cols {name!r} is not a covariate column of the file; its covariates: "
                            f"{', '.join(map(str, covariates)) or 'none'}")
        out.append(name)
    return out


def future_names(columns, horizon: int) -> list:
    """The block's channel names, step-major: price@+1, promo@+1, price@+2, ..."""
    return [f"{c}@+{h}" for h in range(1, horizon + 1) for c in columns]


def with_future(X, values, idx, horizon: int, start: int, stop: int):
    """``X`` (the windows whose targets start at rows start..stop-1 of ``values``) with each
    window's future block appended: the columns ``idx`` at its ``horizon`` target rows."""
    from numpy.lib.stride_tricks import sliding_window_view

    if not idx:
        return X
    if stop <= start:
        return np.empty((0, X.shape[1], X.shape[2] + horizon * len(idx)), X.dtype)
    block = sliding_window_view(values[start:stop - 1 + horizon][:, idx], horizon, axis=0)  # (n, k, H)
    return pack_static(X, block.transpose(0, 2, 1).reshape(len(block), -1).astype(X.dtype))


def observed_rows(frame, targets) -> int:
    """How many leading rows of a series' (time-sorted) frame are its history: up to the last
    row with a target value. The rows after it are future rows (targets empty)."""
    have = frame[list(targets)].notna().any(axis=1).to_numpy()
    return int(np.flatnonzero(have)[-1]) + 1 if have.any() else 0


def future_values(ahead, sid, columns, horizon: int, time_col: str, keyed: bool):
    """The future block of one series at prediction time, from its rows after the last target:
    ((horizon, k) values, the times of the horizon steps), or one line saying what is missing."""
    where = f"series {sid!r}" if keyed else "the series"
    if len(ahead) < horizon:
        raise DataError(
            f"the model forecasts with known-future column(s) {', '.join(columns)}, so it needs the next {horizon} "
            f"row(s) after each series' last target; {where} has {len(ahead)}: add rows with the time and "
            f"{', '.join(columns)} filled and the target empty"
        )
    rows = ahead.iloc[:horizon]
    values = rows[list(columns)].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        t, c = np.argwhere(bad)[0]
        raise DataError(f"known-future column {columns[c]!r} is empty in {where} at {time_col}="
                        f"{plain(rows[time_col].iloc[t])!r}; the forecast needs its value at every one of the "
                        f"next {horizon} step(s)")
    return values, [plain(v) for v in rows[time_col]]
