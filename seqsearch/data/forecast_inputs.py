"""What a forecasting model reads at prediction time: the last ``lookback`` rows of every series
in a new table (with the known-future block when the model has one), the series ids, and the
times its forecast steps fall on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .arrays import pack_static
from .forecast import filled_values, read_series
from .future import future_values, observed_rows
from .tables import plain

__all__ = ["forecast_inputs"]


def forecast_inputs(path, framing: dict, feature_names, fillna=None):
    """Prediction input for a forecasting model: every series' last ``lookback`` rows, with
    the series ids and the times the forecast steps fall on. Returns (X, ids, future times).
    A model with known-future columns reads their values from the rows after each series'
    last target (see ``seqsearch.data.future``); those rows' times are the forecast's."""
    path = Path(path)
    lookback, horizon = int(framing["lookback"]), int(framing["horizon"])
    future = list(framing.get("future_cols") or [])
    past = list(feature_names)[:len(feature_names) - horizon * len(future)] if feature_names else None
    series, targets, features, id_c, time_c, spacing = read_series(
        path, target=",".join(framing["targets"]), id_col=framing.get("id_col"), time_col=framing.get("time_col"),
        feature_order=past,
    )
    if framing.get("id_col") and id_c is None:
        raise DataError(f"{path.name} has no {framing['id_col']!r} column; the model was trained on series keyed by it")
    X, ids, times = [], [], []
    for sid, g in series:
        block = None
        if future:
            end = observed_rows(g, targets)
            block, when = future_values(g.iloc[end:], sid, future, horizon, time_c, id_c is not None)
            g = g.iloc[:end]
        if len(g) < lookback:
            raise DataError(f"series {sid!r} has {len(g)} rows; the model reads the last {lookback}")
        values = g[features].to_numpy(dtype=np.float64)[-lookback:]
        values, _ = filled_values(values, sid, g[time_c].to_numpy()[-lookback:], fillna if fillna != "drop" else None,
                                  features, time_c, id_c)
        if block is not None:
            values = pack_static(values[None], block.reshape(1, -1))[0]
        X.append(values.astype(np.float32))
        ids.append(sid)
        times.append(when if future else _next_times(g, framing.get("spacing_seconds"), horizon))
    return np.stack(X), ids, times


def _next_times(g, step, horizon: int) -> list:
    """The times of the ``horizon`` steps after a series' last row, from its spacing."""
    import pandas as pd

    if "_stamp" in g and step and len(g) > 1:
        last, offset = pd.Timestamp(g["_stamp"].iloc[-1]), _offset(step)
        future = [last + offset * (h + 1) for h in range(horizon)]
        return [t.date().isoformat() if t == t.normalize() else t.isoformat() for t in future]
    keys = g["_key"].to_numpy()
    d = float(np.median(np.diff(keys))) if len(keys) > 1 else 1.0
    return [plain(keys[-1] + d * (h + 1)) for h in range(horizon)]


def _offset(step_seconds):
    """A calendar step for monthly/quarterly data (their lengths vary), else a fixed one."""
    import pandas as pd

    days = step_seconds / 86400
    if 27 <= days <= 32:
        return pd.DateOffset(months=1)
    if 88 <= days <= 93:
        return pd.DateOffset(months=3)
    if 360 <= days <= 367:
        return pd.DateOffset(years=1)
    return pd.Timedelta(seconds=step_seconds)
