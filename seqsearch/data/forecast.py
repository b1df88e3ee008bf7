"""Forecasting: a time-series table framed as (lookback window -> next ``horizon`` values).

The table (CSV or Parquet) has a time column, one or more target columns, optional past
covariates (every other numeric column) and optionally an id column keying several series.
Each series is sorted by time and cut chronologically: its last rows are the test period, the
rows before them the validation period, the rest training. A window's *targets* lie inside one
period (so no training target is ever seen by validation or test, and windows never cross
series); its *inputs* may reach back into the period before, which is the past a forecaster
knows at that time.

Windows hold the targets first, then the covariates, then (with ``--future-cols``) the
known-future block (``seqsearch.data.future``): the model's forecast is the last observed
target value plus a predicted change (``TaskSpec.kind == "forecasting"``), so an untrained
model starts at the naive forecast. Scores are MAE, RMSE, MAPE and sMAPE, with the seasonal
naive forecast's scores beside them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from search_spaces.specs import TaskSpec

from ..config import FILLNA
from ..errors import DataError
from .arrays import fill_missing
from .dataset import Dataset
from .future import future_columns, future_names, observed_rows, with_future
from .tables import archive_name, pick_column, plain, read_table

__all__ = ["load_forecast", "read_series", "filled_values", "forecast_metrics", "seasonal_naive", "infer_season"]

TIME_CANDIDATES = ("time", "timestamp", "date", "datetime", "ds", "month", "quarter", "year", "period", "t", "step")
ID_CANDIDATES = ("id", "series_id", "unique_id", "series", "item_id")
TARGET_CANDIDATES = ("target", "y", "value")

# Median spacing (seconds) -> the usual season length (number of steps in one cycle).
_SEASONS = (
    (60, 60),  # minutes: an hour
    (15 * 60, 96),  # quarter hours: a day
    (30 * 60, 48),  # half hours: a day
    (3600, 24),  # hours: a day
    (86400, 7),  # days: a week
    (7 * 86400, 52),  # weeks: a year
)


def _parse_times(values, name):
    """Sortable times: numbers as they are, else dates (pandas), else quarters like '1970 Q1'.
    Returns (sort keys as float64, pandas datetimes or None)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=np.float64), None
    text = values.astype(str).str.strip()
    quarters = text.str.fullmatch(r"\d{4}\s*-?\s*Q[1-4]", case=False)
    if quarters.all():
        periods = pd.PeriodIndex(text.str.replace(r"\s*-?\s*", "", regex=True).str.upper(), freq="Q")
        stamps = pd.Series(periods.to_timestamp(), index=values.index)
    else:
        try:
            stamps = pd.to_datetime(text, format="mixed")
        except (ValueError, TypeError, OverflowError):
            bad = next(v for v in text if _unparsable(v))
            raise DataError(
                f"time column {name!r} has {bad!r}, which is neither a number nor a date; "
                "use numbers or ISO dates (2024-01-31, 2024-01-31 12:00)"
            ) from None
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    keys = stamps.astype("datetime64[ns]").astype(np.int64).to_numpy(dtype=np.float64) / 1e9
    return keys, stamps


def _unparsable(v):
    import pandas as pd

    try:
        pd.to_datetime(v)
        return False
    except (ValueError, TypeError, OverflowError):
        return True


def infer_season(step_seconds: float | None) -> int:
    """The usual season length for a spacing in seconds (months: 12, quarters: 4, ...); 1 when
    there is none (numbers as times, yearly data, irregular spacing)."""
    if not step_seconds or not np.isfinite(step_seconds):
        return 1
    days = step_seconds / 86400
    if 27 <= days <= 32:
        return 12
    if 88 <= days <= 93:
        return 4
    for seconds, season in _SEASONS:
        if abs(step_seconds - seconds) <= 0.02 * seconds:
            return season
    return 1


def read_series(path, *, target, id_col, time_col, feature_order=None):
    """The table as series: (list of (series id, sorted frame)), target columns, feature
    columns (targets first), id column, time column, median spacing in seconds or None)."""

    df = read_table(path)
    # A DataFrame index written by pandas.to_csv ("Unnamed: 0" = 0..n-1) is not a covariate.
    for c in [c for c in df.columns if str(c).startswith("Unnamed:")]:
        if (df[c].to_numpy() == np.arange(len(df))).all():
            df = df.drop(columns=c)
    cols = list(df.columns)
    time_c = pick_column(cols, time_col, TIME_CANDIDATES, "--time-col", "time")
    id_c = pick_column([c for c in cols if c != time_c], id_col, ID_CANDIDATES, "--id-col", "series id", required=False)
    rest = [c for c in cols if c not in (time_c, id_c)]
    targets = _targets(df, cols, rest, target)
    covariates = [c for c in rest if c not in targets]
    features = targets + covariates
    if feature_order is not None:
        missing = [c for c in feature_order if c not in cols]
        if missing:
            raise DataError(f"{path.name} lacks the model's column(s) {', '.join(map(str, missing))}; "
                            f"columns: {', '.join(map(str, cols))}")
        features = list(feature_order)
    _check_numeric(df, features, targets, id_c)
    if df[time_c].isna().any():
        raise DataError(f"time column {time_c!r} has {int(df[time_c].isna().sum())} empty value(s); every row needs a time")
    keys, stamps = _parse_times(df[time_c], time_c)
    df = df.assign(_key=keys)
    if stamps is not None:
        df = df.assign(_stamp=stamps.to_numpy())
    if id_c is not None and df[id_c].isna().any():
        raise DataError(f"id column {id_c!r} has {int(df[id_c].isna().sum())} empty value(s)")
    groups = [("", df)] if id_c is None else list(df.groupby(id_c, sort=True))
    series, steps = [], []
    for sid, g in groups:
        g = g.sort_values("_key", kind="stable")
        dup = g["_key"].duplicated()
        if dup.any():
            where = f" in series {plain(sid)!r}" if id_c is not None else ""
            raise DataError(
                f"time {plain(g.loc[dup.idxmax(), time_c])!r} appears twice{where}; each time must appear once per series"
                + ("" if id_c is not None else " (pass --id-col if the file holds several series)")
            )
        if len(g) > 1:
            steps.append(np.diff(g["_key"].to_numpy()))
        series.append((str(plain(sid)), g))
    spacing = float(np.median(np.concatenate(steps))) if steps and stamps is not None else None
    return series, targets, features, id_c, time_c, spacing


def _targets(df, cols, rest, target) -> list:
    """The columns to forecast: ``--target`` (comma-separated), else the target candidate, else
    the one numeric column."""
    if target:
        targets = [t.strip() for t in target.split(",") if t.strip()]
        for t in targets:
            if t not in rest:
                raise DataError(f"--target {t!r} is not a column of the file; columns: {', '.join(map(str, cols))}")
        return targets
    found = pick_column(rest, None, TARGET_CANDIDATES, "--target", "target", required=False)
    numeric = [c for c in rest if _is_numeric(df[c])]
    if found is not None:
        return [found]
    if len(numeric) == 1:
        return numeric
    raise DataError(
        f"cannot tell which column to forecast (looked for {', '.join(TARGET_CANDIDATES)}); pass --target "
        f"(comma-separated for several). Columns: {', '.join(map(str, cols))}"
    )


def _check_numeric(df, features, targets, id_c) -> None:
    """Every target and covariate column numeric, or one line naming it."""
    for c in features:
        if not _is_numeric(df[c]):
            import pandas as pd

            sample = df[c][pd.to_numeric(df[c], errors="coerce").isna() & df[c].notna()].iloc[:1].tolist()
            role = "target" if c in targets else "covariate"
            hint = f"; if it names the series, pass --id-col {c}" if id_c is None and role == "covariate" else ""
            raise DataError(
                f"{role} column {c!r} is not numeric" + (f" (e.g. {sample[0]!r})" if sample else "")
                + hint + "; convert it, or drop the column if it is not a covariate"
            )


def _is_numeric(col):
    import pandas as pd

    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def filled_values(values, sid, time_values, fillna, features, time_c, id_c):
    """Series values (t, f) with missing values filled, or a DataError saying where they are."""
    bad = ~np.isfinite(values)
    if not bad.any():
        return values, 0
    if not fillna:
        t, f = np.argwhere(bad)[0]
        where = f"series {sid!r}, " if id_c is not None else ""
        raise DataError(
            f"{int(bad.sum())} missing or infinite value(s) (first: {where}{time_c}={plain(time_values[t])!r}, "
            f"column {features[f]!r}); pass --fillna {'|'.join(FILLNA)} or fix the file"
        )
    if fillna == "drop":
        return values, int(bad.any(axis=1).sum())  # windows touching them are dropped
    out, _, n = fill_missing(values[None], fillna)
    return out[0], n


def _windows(values, n_targets, lookback, horizon, start, stop):
    """Windows whose targets start at rows start..stop-1: X (n, lookback, f), y (n, horizon, targets)."""
    from numpy.lib.stride_tricks import sliding_window_view

    if stop <= start:
        return (np.empty((0, lookback, values.shape[1]), np.float32), np.empty((0, horizon, n_targets), np.float32))
    xs = sliding_window_view(values[start - lookback:stop - 1], lookback, axis=0)  # (n, f, lookback)
    ys = sliding_window_view(values[start:stop - 1 + horizon, :n_targets], horizon, axis=0)
    return np.ascontiguousarray(xs.transpose(0, 2, 1)), np.ascontiguousarray(ys.transpose(0, 2, 1))


def load_forecast(path, *, lookback=None, horizon, season=None, target=None, id_col=None, time_col=None,
                  fillna=None, test_size=0.2, val_size=0.2, future_cols=None) -> Dataset:
    """Frame a time-series table for direct multi-step forecasting (see the module's doc).
    ``future_cols``: covariates known in advance (``seqsearch.data.future``)."""

    path = Path(path)
    if horizon is None or horizon < 1:
        raise DataError("forecasting needs --horizon: how many steps ahead to forecast (e.g. --horizon 12)")
    series, targets, features, id_c, time_c, spacing = read_series(path, target=target, id_col=id_col, time_col=time_col)
    future = future_columns(future_cols, targets, features[len(targets):])
    m = int(season) if season else infer_season(spacing)
    if lookback is None:
        lookback = max(2 * horizon, m if m > 1 else 0)
    if lookback < 1:
        raise DataError(f"--lookback must be at least 1, got {lookback}")
    n_t = len(targets)
    if future:  # rows after a series' last target are the future rows of a prediction table
        series = [(sid, g.iloc[:observed_rows(g, targets)]) for sid, g in series]
    arrays, filled, history, rolling = _split_windows(series, features, n_t, lookback, horizon, test_size, val_size, fillna,
                                             time_c, id_c, [features.index(c) for c in future])
    (X_tr, y_tr), (X_va, y_va), (X_te, y_te) = arrays["train"], arrays["val"], arrays["test"]
    m_used = m if m <= lookback else 1  # the baseline reads the season from the window
    task_spec = TaskSpec(kind="forecasting", n_outputs=n_t, output_steps=horizon, target_names=list(map(str, targets)),
                         season=m_used)
    ds = Dataset(
        name=archive_name(path), source=str(path.resolve()), X_train=X_tr, y_train=y_tr, X_val=X_va, y_val=y_va,
        X_test=X_te, y_test=y_te, task_spec=task_spec, feature_names=[str(f) for f in features + future_names(future, horizon)],
        fillna=fillna if filled else None, n_filled=filled, history=history, n_static=horizon * len(future),
        rolling=rolling,
    )
    ds.kind, ds.about = "forecast", {
        "kind": "forecast", "lookback": int(lookback), "horizon": int(horizon), "season": int(m_used),
        "season_found": int(m), "targets": [str(t) for t in targets], "id_col": id_c, "time_col": time_c,
        "series": len(series), "spacing_seconds": spacing, "future_cols": [str(c) for c in future],
    }
    ds.task_spec = ds.task_spec_for(y_tr, X_tr)
    return ds


def _split_windows(series, features, n_t, lookback, horizon, test_size, val_size, fillna, time_c, id_c, future=()):
    """Each series split by time (the last ``test_size`` of its rows for test, then
    ``val_size`` of the rest for validation, each at least a horizon) and cut into windows
    (with the known-future block of the columns ``future`` indexes): ({split: (X, y)}, how
    many values were filled, each series' targets and test origins, and where each training and
    validation window lies: its series, its first target row, each series' validation period,
    which rolling-origin folds move back (``Dataset.fold``))."""
    parts = {"train": [], "val": [], "test": []}
    filled, history, where, periods = 0, [], [], []
    for size, flag in ((test_size, "--test-size"), (val_size, "--val-size")):
        if size >= 1 and int(size) < horizon:
            raise DataError(f"{flag} {int(size)} is shorter than --horizon {horizon}: the period must hold at least "
                            "one horizon of targets")
    shortest = min(len(g) for _, g in series)
    for i, (sid, g) in enumerate(series):
        n = len(g)
        n_train, n_val = _periods(n, sid, lookback, horizon, test_size, val_size, id_c, shortest)
        values = g[features].to_numpy(dtype=np.float64)
        values, k = filled_values(values, sid, g[time_c].to_numpy(), fillna, features, time_c, id_c)
        filled += k
        values = values.astype(np.float32)
        periods.append((n_train, n_val))
        cuts = {"train": (lookback, n_train - horizon + 1), "val": (n_train, n_train + n_val - horizon + 1),
                "test": (n_train + n_val, n - horizon + 1)}
        for split, (a, b) in cuts.items():
            X, y = _windows(values, n_t, lookback, horizon, a, b)
            X = with_future(X, values, list(future), horizon, a, b)
            origins = np.arange(a, max(a, b))
            if fillna == "drop":
                ok = np.isfinite(X).all(axis=(1, 2)) & np.isfinite(y).all(axis=(1, 2))
                X, y, origins = X[ok], y[ok], origins[ok]
            parts[split].append((X, y))
            if split == "test":
                history.append((values[:, :n_t].astype(np.float64), origins))
            else:
                where.append((split, np.full(len(origins), i), origins))
    arrays = {k: (np.concatenate([x for x, _ in v]), np.concatenate([y for _, y in v])) for k, v in parts.items()}
    for split, (X, _) in arrays.items():
        if len(X) == 0:
            raise DataError(f"no {split} window is left after dropping the windows with missing values; "
                            "use --fillna interpolate or ffill instead of drop")
    ordered = [w for split in ("train", "val") for w in where if w[0] == split]  # train+validation's order
    rolling = {"series": np.concatenate([w[1] for w in ordered]), "origin": np.concatenate([w[2] for w in ordered]),
               "cut": np.array([p[0] for p in periods]), "period": np.array([p[1] for p in periods]),
               "horizon": int(horizon)}
    return arrays, filled, history, rolling


def _periods(n, sid, lookback, horizon, test_size, val_size, id_c, shortest):
    """(training rows, validation rows) of a series of ``n`` rows, or one line when too few."""
    n_test = int(test_size) if test_size >= 1 else max(horizon, int(round(test_size * n)))
    n_val = int(val_size) if val_size >= 1 else max(horizon, int(round(val_size * (n - n_test))))
    n_train = n - n_test - n_val
    who = f"series {sid!r} has" if id_c is not None else "the series has"
    if n_train < lookback + horizon and (test_size >= 1 or val_size >= 1):
        raise DataError(
            f"{who} {n} rows: after {n_test} test and {n_val} validation rows, {max(n_train, 0)} are left for "
            f"training, and --lookback {lookback} + --horizon {horizon} need {lookback + horizon}; lower "
            "--test-size or --val-size (or --lookback)"
        )
    if n_train < lookback + horizon:
        raise DataError(
            f"{who} {n} rows; --lookback {lookback} + --horizon {horizon} need at least "
            f"{lookback + 3 * horizon} (a training window plus a validation and a test horizon) and more for "
            f"a useful split (shortest series: {shortest} rows); lower --lookback or --horizon"
        )
    return n_train, n_val


def seasonal_naive(X, n_targets: int, horizon: int, season: int) -> np.ndarray:
    """The seasonal naive forecast from each window: step h repeats the value one season
    before it (season 1: the last value). X (n, lookback, f) -> (n, horizon, targets)."""
    lookback = X.shape[1]
    idx = [lookback - season + (h % season) for h in range(horizon)]
    return X[:, idx, :n_targets]


def forecast_metrics(pred, y) -> dict:
    """MAE, RMSE, MAPE (%, over the non-zero targets) and sMAPE (%) over every step and target."""
    pred = np.asarray(pred, dtype=np.float64).reshape(len(y), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    err = pred - y
    nz = np.abs(y) > 1e-8
    denom = np.abs(y) + np.abs(pred)
    smape = np.where(denom > 0, 2 * np.abs(err) / np.where(denom > 0, denom, 1), 0.0)
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mape": float(100 * np.mean(np.abs(err[nz]) / np.abs(y[nz]))) if nz.any() else float("nan"),
        "smape": float(100 * np.mean(smape)),
    }
