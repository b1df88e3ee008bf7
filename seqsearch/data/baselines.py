"""The classical forecasters a forecasting user compares every neural model with: AutoETS,
AutoARIMA and the seasonal naive forecast (``statsforecast``, the ``forecast`` extra), scored on
the model's own test windows.

Each model is fitted per series and target on the rows before the test period (train and
validation, as the exported model's retrain sees them), then at every test window's origin
forecasts the horizon from the series' whole history up to that origin with the fitted
parameters (``forward``: the states follow the new values, as the exported network, trained
once, reads each new window). Missing values in a history (``--fillna drop``) are interpolated
for these models only."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

__all__ = ["statistical_baselines", "cached_baselines", "BASELINES", "available"]

BASELINES = ("AutoETS", "AutoARIMA", "SeasonalNaive")
CACHE = "baselines.json"


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("statsforecast") is not None


def _models():
    from statsforecast.models import AutoARIMA, AutoETS, SeasonalNaive

    return {"AutoETS": lambda m: AutoETS(season_length=m), "AutoARIMA": lambda m: AutoARIMA(season_length=m),
            "SeasonalNaive": lambda m: SeasonalNaive(season_length=m)}


def _filled(y: np.ndarray) -> np.ndarray:
    bad = ~np.isfinite(y)
    if not bad.any():
        return y
    idx = np.arange(len(y))
    return np.interp(idx, idx[~bad], y[~bad])


def _fit(make, y: np.ndarray, season: int):
    """The model fitted with the season, or without it when the series is too short for it."""
    seasons = [season, 1] if season > 1 else [1]
    for i, m in enumerate(seasons):
        try:
            return make(m).fit(y)
        except Exception:  # noqa: BLE001 - statsforecast raises plain errors for too-short series
            if i == len(seasons) - 1:
                raise


def _forecasts(make, history, horizon: int, season: int) -> np.ndarray:
    """(n_test, horizon, targets) forecasts in the test split's order."""
    out = []
    for values, origins in history:
        if len(origins) == 0:
            continue
        per_target = []
        for j in range(values.shape[1]):
            y = _filled(values[:, j])
            model = _fit(make, y[:origins[0]], season)
            per_target.append([np.asarray(model.forward(y=y[:o], h=horizon)["mean"], dtype=np.float64)
                               for o in origins])
        out.append(np.stack(per_target, axis=-1))  # (origins, horizon, targets)
    return np.concatenate(out)


def statistical_baselines(ds, season: int | None = None) -> dict:
    """{name: test metrics (mae, rmse, mape, smape) and seconds} for each baseline on ``ds``'s
    test windows; a model that cannot fit a series is ``{"error": ...}``."""
    from .forecast import forecast_metrics

    season = int(season or (ds.about or {}).get("season_found") or ds.task_spec.season or 1)
    out = {}
    for name, make in _models().items():
        started = time.perf_counter()
        try:
            pred = _forecasts(make, ds.history, ds.task_spec.output_steps, season)
        except Exception as e:  # noqa: BLE001 - one failing baseline leaves the others
            out[name] = {"error": " ".join(str(e).split())[:200]}
            continue
        out[name] = {**forecast_metrics(pred, ds.y_test), "season": season,
                     "seconds": round(time.perf_counter() - started, 2)}
    return out


def cached_baselines(ds, study_path: Path) -> dict:
    """The baselines of ``ds``, kept in the study folder by data fingerprint (a resumed or
    re-exported study does not fit them again)."""
    path = Path(study_path) / CACHE
    try:
        kept = json.loads(path.read_text())
        if kept.get("fingerprint") == ds.fingerprint():
            return kept["baselines"]
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    found = statistical_baselines(ds)
    tmp = path.with_name(f".{CACHE}.part")
    tmp.write_text(json.dumps({"fingerprint": ds.fingerprint(), "baselines": found}, indent=2) + "\n")
    tmp.replace(path)
    return found
