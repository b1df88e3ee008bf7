"""Forecasting: time-series tables framed as lookback windows -> the next horizon values, split
by time per series, scored against the seasonal naive forecast."""

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest

from seqsearch.config import RunConfig
from seqsearch.data.forecast import forecast_metrics, infer_season, load_forecast, seasonal_naive
from seqsearch.errors import DataError, SeqsearchError
from test_cli import seqsearch

def write_series(path, n=60, series=("a", "b"), season=12, covariate=True, start="2020-01-01", freq="MS"):
    """Monthly seasonal series with a trend, one level per series; the value of row r of series
    k is 100*(k+1) + r + 10*sin(2*pi*r/season) (so windows can be checked exactly)."""
    rows = []
    stamps = pd.date_range(start, periods=n, freq=freq)
    for k, sid in enumerate(series):
        for r in range(n):
            row = {"id": sid, "date": stamps[r].strftime("%Y-%m-%d"),
                   "sales": 100.0 * (k + 1) + r + 10 * np.sin(2 * np.pi * r / season)}
            if covariate:
                row["price"] = float(1000 * k + r)  # names the row: windows can be traced back
            rows.append(row)
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # shuffled: the loader sorts by time
    df.to_csv(path, index=False)
    return path


def _value(k, r, season=12):
    return 100.0 * (k + 1) + r + 10 * np.sin(2 * np.pi * r / season)


def test_windows_stay_inside_one_series_and_targets_are_split_by_time(tmp_path):
    ds = load_forecast(write_series(tmp_path / "sales.csv"), horizon=3, lookback=6, target="sales")
    assert ds.task_spec.kind == "forecasting" and ds.task_spec.output_steps == 3
    assert ds.feature_names == ["sales", "price"]  # targets first, then covariates
    assert ds.X_train.shape[1:] == (6, 2) and ds.y_train.shape[1:] == (3, 1)
    # 60 rows per series: 12 test rows, 10 validation rows, 38 training rows.
    assert len(ds.X_test) == 2 * (12 - 3 + 1) and len(ds.X_val) == 2 * (10 - 3 + 1)
    assert len(ds.X_train) == 2 * (38 - 6 - 3 + 1)
    assert ds.about["season_found"] == 12 and ds.task_spec.season == 1  # season 12 > lookback 6: naive
    # Every window's input is 6 consecutive rows of one series, its targets that series' next 3
    # rows, all inside the split's own rows (the covariate names the row: 1000 * series + row).
    for X, y, lo, hi in ((ds.X_train, ds.y_train, 6, 38), (ds.X_val, ds.y_val, 38, 48), (ds.X_test, ds.y_test, 48, 60)):
        for x, t in zip(X, y):
            k, r = divmod(int(x[-1, 1]), 1000)
            assert np.array_equal(x[:, 1], 1000 * k + np.arange(r - 5, r + 1))
            assert np.allclose(x[:, 0], [_value(k, q) for q in range(r - 5, r + 1)], atol=1e-3)
            assert np.allclose(t[:, 0], [_value(k, r + h) for h in (1, 2, 3)], atol=1e-3)
            assert lo <= r + 1 and r + 3 < hi


def test_season_lookback_defaults_and_the_seasonal_naive_baseline(tmp_path):
    ds = load_forecast(write_series(tmp_path / "s.csv", covariate=False), horizon=4)
    assert ds.about["lookback"] == 12 and ds.task_spec.season == 12  # max(2*4, 12)
    naive = seasonal_naive(ds.X_test, 1, 4, 12)
    # Step h repeats the value one season before it: row r+1+h-12 of the series.
    assert np.allclose(naive[:, :, 0], ds.X_test[:, :4, 0])
    assert [infer_season(s) for s in (3600, 86400, 30 * 86400, 91 * 86400, 1800, 365 * 86400, None)] == \
        [24, 7, 12, 4, 48, 1, 1]


def test_forecast_metrics_by_hand():
    y = np.array([[[100.0], [200.0]]])
    pred = np.array([[[110.0], [180.0]]])
    m = forecast_metrics(pred, y)
    assert m["mae"] == pytest.approx(15.0) and m["rmse"] == pytest.approx(np.sqrt((100 + 400) / 2))
    assert m["mape"] == pytest.approx(100 * (0.1 + 0.1) / 2)
    assert m["smape"] == pytest.approx(100 * (20 / 210 + 40 / 380) / 2)
    assert np.isnan(forecast_metrics(np.ones((1, 1, 1)), np.zeros((1, 1, 1)))["mape"])  # no non-zero target


@pytest.mark.parametrize("output_scale", ["global", "window"])
def test_the_model_starts_at_the_last_value_and_answers_in_units(tmp_path, output_scale):
    """With the change head silenced the forecast is the window's last value (plus the mean
    training change per step with the global scale): the naive forecast, in the data's units."""
    from search_spaces import SearchSpace, build_model

    ds = load_forecast(write_series(tmp_path / "s.csv"), horizon=3, lookback=6, target="sales")
    space = SearchSpace(["rnn"], data_spec=ds.data_spec(), task_spec=ds.task_spec)
    assert "output_scale" in [p.name for p in space.params("train")]
    spec = space.default_spec(overrides={"train.output_scale": output_scale})
    model = build_model(spec, ds.data_spec(), ds.task_spec)
    assert tuple(model.output_shape) == (None, 3, 1)
    head = model.get_layer("standardised_change")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    pred = model.predict(ds.X_test, verbose=0)
    expected = np.repeat(ds.X_test[:, -1:, :1], 3, axis=1)
    if output_scale == "global":
        expected = expected + np.asarray(ds.task_spec.target_mean, dtype=np.float32).reshape(1, 3, 1)
    assert np.allclose(pred, expected, rtol=1e-5, atol=1e-3)


def test_quarters_and_missing_values(tmp_path):
    rows = [{"Quarter": f"{1970 + q // 4} Q{q % 4 + 1}", "Consumption": float(q % 4) + q * 0.1} for q in range(40)]
    rows[20]["Consumption"] = np.nan
    path = tmp_path / "q.csv"
    pd.DataFrame(rows).to_csv(path)  # with the pandas index column, which is not a covariate
    with pytest.raises(DataError, match=r"1 missing or infinite value\(s\) \(first: Quarter='1975 Q1', column 'Consumption'\); pass --fillna"):
        load_forecast(path, horizon=2)
    ds = load_forecast(path, horizon=2, fillna="interpolate")
    assert ds.feature_names == ["Consumption"] and ds.task_spec.season == 4 and ds.n_filled == 1
    assert np.isfinite(ds.X_train).all()
    dropped = load_forecast(path, horizon=2, fillna="drop")
    assert len(dropped.X_train) < len(ds.X_train) and np.isfinite(dropped.X_train).all()


@pytest.mark.parametrize("make, kwargs, message", [
    (lambda p: pd.DataFrame({"when": [1, 2], "v": [1.0, 2.0]}).to_csv(p, index=False), {"horizon": 1},
     r"cannot find the time column .*pass --time-col. Columns: when, v"),
    (lambda p: pd.DataFrame({"time": range(10), "v": range(10)}).to_csv(p, index=False), {"horizon": 4},
     r"the series has 10 rows; --lookback 8 \+ --horizon 4 need at least 20 .*lower --lookback or --horizon"),
    (lambda p: pd.DataFrame({"time": range(40), "v": range(40), "w": ["x"] * 40}).to_csv(p, index=False),
     {"horizon": 2, "target": "v"}, r"covariate column 'w' is not numeric \(e.g. 'x'\)"),
    (lambda p: pd.DataFrame({"time": [1, 2, 2] + list(range(3, 40)), "v": range(40)}).to_csv(p, index=False),
     {"horizon": 2}, r"time 2 appears twice; .*pass --id-col"),
    (lambda p: pd.DataFrame({"time": ["soon"] * 40, "v": range(40)}).to_csv(p, index=False), {"horizon": 2},
     r"time column 'time' has 'soon', which is neither a number nor a date"),
    (lambda p: pd.DataFrame({"time": range(40), "a": range(40), "b": range(40)}).to_csv(p, index=False),
     {"horizon": 2}, r"cannot tell which column to forecast .*pass --target"),
    (lambda p: pd.DataFrame({"time": range(40), "v": range(40)}).to_csv(p, index=False),
     {"horizon": 2, "target": "sales"}, r"--target 'sales' is not a column of the file; columns: time, v"),
])
def test_bad_forecasting_tables_say_what_is_wrong(tmp_path, make, kwargs, message):
    path = tmp_path / "bad.csv"
    make(path)
    with pytest.raises(DataError, match=message):
        load_forecast(path, **kwargs)


def test_forecasting_options_are_checked_before_anything_runs(tmp_path):
    with pytest.raises(SeqsearchError, match="forecasting needs --horizon"):
        RunConfig(dataset="x.csv", task="forecasting")
    with pytest.raises(SeqsearchError, match="forecasting needs --horizon"):
        RunConfig(dataset="x.csv", lookback=5)
    with pytest.raises(SeqsearchError, match="forecasting reads a CSV or Parquet table"):
        RunConfig(dataset="x.npz", horizon=3)
    with pytest.raises(SeqsearchError, match="--horizon frames a forecasting task"):
        RunConfig(dataset="x.csv", horizon=3, task="regression")
    with pytest.raises(SeqsearchError, match=r"--horizon must be an integer in \[1"):
        RunConfig(dataset="x.csv", horizon=0)
    assert RunConfig(dataset="x.csv", horizon=3).task == "forecasting"


@pytest.mark.slow
def test_forecasting_end_to_end_run_export_and_predict_the_future(tmp_path):
    """`seqsearch run table.csv --horizon 3` with two series and a covariate: the baseline is
    reported beside the model; `predict` forecasts 3 steps past every series' end."""
    path = write_series(tmp_path / "sales.csv")
    wd = tmp_path / "runs"
    r = seqsearch("run", path, "--horizon", 3, "--lookback", 12, "--target", "sales", "--trials", 1,
                  "--max-epochs", 2, "--families", "rnn", "--set", "rnn.units=16", "--workdir", wd)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "forecasting sales 3 step(s) ahead from 12" in r.stdout
    assert "baseline seasonal naive (season 12): mae" in r.stdout and "model MAE / baseline MAE" in r.stdout
    metrics = json.loads((wd / "sales" / "best" / "metrics.json").read_text())
    assert set(metrics["test"]) == {"mae", "rmse", "mape", "smape"}
    assert metrics["baseline"]["season"] == 12 and metrics["dataset"]["framing"]["id_col"] == "id"
    r = seqsearch("predict", wd / "sales" / "best", path)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["id", "step", "date", "sales"] and len(rows) == 1 + 2 * 3
    assert [row[2] for row in rows[1:4]] == ["2025-01-01", "2025-02-01", "2025-03-01"]  # after 2024-12
    assert all(np.isfinite(float(row[3])) for row in rows[1:])
    r = seqsearch("run", path, "--horizon", 3, "--time-col", "nope", "--workdir", wd, "--study", "other")
    assert r.returncode == 2 and "--time-col 'nope' is not a column" in r.stderr and "Traceback" not in r.stderr
    assert not (wd / "other").exists()
