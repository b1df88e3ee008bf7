"""Forecasting's searched target handling (a seasonal base, a log transform) and the statistical
baselines scored beside the model."""

import numpy as np
import pandas as pd
import pytest

from search_spaces import SearchSpace, build_model
from seqsearch.data.baselines import statistical_baselines
from seqsearch.data.forecast import forecast_metrics, load_forecast, seasonal_naive
from test_cli import seqsearch
from test_forecast import write_series


@pytest.fixture(scope="module")
def monthly(tmp_path_factory):
    """Two positive monthly series, season 12, lookback 12, horizon 4."""
    return load_forecast(write_series(tmp_path_factory.mktemp("m") / "s.csv", covariate=False), horizon=4)


def _silenced(ds, overrides):
    """What the model of ``overrides`` forecasts untrained: its change head starts at zero."""
    space = SearchSpace(["rnn"], fixed=overrides, data_spec=ds.data_spec(), task_spec=ds.task_spec)
    model = build_model(space.default_spec(overrides={"rnn.units": 16, **overrides}), ds.data_spec(), ds.task_spec)
    assert not any(np.any(w) for w in model.get_layer("standardised_change").get_weights())
    return model.predict(ds.X_test, verbose=0)


@pytest.mark.parametrize("overrides", [{"train.output_scale": "window"}, {"train.target_transform": "log"},
                                       {"train.target_transform": "boxcox"}])
def test_the_seasonal_base_is_the_seasonal_naive_forecast_before_training(monthly, overrides):
    ds = monthly
    assert ds.task_spec.season == 12 and ds.task_spec.positive
    pred = _silenced(ds, {"train.forecast_base": "seasonal", **overrides})
    np.testing.assert_allclose(pred, seasonal_naive(ds.X_test, 1, 4, 12), rtol=1e-5)


def test_the_global_scale_adds_the_mean_seasonal_change(monthly):
    pred = _silenced(monthly, {"train.forecast_base": "seasonal", "train.output_scale": "global"})
    shift = np.asarray(monthly.task_spec.seasonal_mean, dtype=np.float32).reshape(1, 4, 1)
    np.testing.assert_allclose(pred, seasonal_naive(monthly.X_test, 1, 4, 12) + shift, rtol=1e-5)
    # The series climbs one unit a month: a season later it is 12 higher.
    np.testing.assert_allclose(monthly.task_spec.seasonal_mean, 12.0, atol=1e-3)


def test_a_log_model_forecasts_relative_changes_in_the_series_units(monthly):
    """The log head answers base x exp(change): ten times the series, ten times the forecast."""
    import keras

    ds = monthly
    space = SearchSpace(["rnn"], data_spec=ds.data_spec(), task_spec=ds.task_spec)
    spec = space.default_spec(overrides={"rnn.units": 16, "train.target_transform": "log", "train.scaling": "per_series"})
    keras.utils.set_random_seed(0)
    model = build_model(spec, ds.data_spec(), ds.task_spec)
    head = model.get_layer("standardised_change")  # as if trained: not the zero start
    head.set_weights([np.random.default_rng(0).normal(0, 0.3, w.shape) for w in head.get_weights()])
    pred = model.predict(ds.X_test, verbose=0)
    assert np.isfinite(pred).all() and (pred > 0).all()
    np.testing.assert_allclose(model.predict(10 * ds.X_test, verbose=0), 10 * pred, rtol=1e-3)


def test_box_cox_fits_its_exponent_on_the_training_targets_and_forecasts_in_the_series_units(monthly):
    from scipy import stats

    from seqsearch.data.arrays import boxcox_lambda

    y = np.random.default_rng(0).gamma(2.0, size=400) + 0.1
    assert boxcox_lambda(y) == pytest.approx(stats.boxcox(y)[1], abs=0.01)  # scipy's maximum likelihood
    ds = monthly
    assert ds.task_spec.boxcox_lambda == [boxcox_lambda(ds.y_train[:, 0, 0])]  # each training row once
    space = SearchSpace(["rnn"], fixed={"train.target_transform": "boxcox"}, data_spec=ds.data_spec(),
                        task_spec=ds.task_spec)
    model = build_model(space.default_spec(overrides={"rnn.units": 16}),
                        ds.data_spec(), ds.task_spec)
    # Untrained (the change head at zero): transformed and back, the forecast is the last value.
    last = np.broadcast_to(ds.X_test[:, -1:, :1], (len(ds.X_test), 4, 1))
    np.testing.assert_allclose(model.predict(ds.X_test, verbose=0), last, rtol=1e-4)


def test_the_space_offers_what_the_series_allows(tmp_path, monthly):
    assert {"forecast_base", "target_transform"} <= {p.name for p in SearchSpace(
        ["rnn"], data_spec=monthly.data_spec(), task_spec=monthly.task_spec).params("train")}
    # A positive series: log is searched, Box-Cox only when --set asks for it.
    transform = next(p for p in SearchSpace(["rnn"], data_spec=monthly.data_spec(), task_spec=monthly.task_spec)
                     .params("train") if p.name == "target_transform")
    assert list(transform.current_options()) == ["none", "log"]
    asked = SearchSpace(["rnn"], fixed={"train.target_transform": "boxcox"}, data_spec=monthly.data_spec(),
                        task_spec=monthly.task_spec)
    assert asked.default_spec()["train.target_transform"] == "boxcox"
    # Growth rates (negative values), no season inside the lookback: last value, no log.
    t = np.arange(80)
    pd.DataFrame({"t": t, "y": np.sin(t / 3.0) - 0.2}).to_csv(tmp_path / "g.csv", index=False)
    ds = load_forecast(tmp_path / "g.csv", horizon=2, lookback=6)
    assert not ds.task_spec.positive and not ds.task_spec.seasonal_mean
    space = SearchSpace(["rnn"], data_spec=ds.data_spec(), task_spec=ds.task_spec)
    options = {p.name: p.current_options() for p in space.params("train") if hasattr(p, "current_options")}
    assert list(options["forecast_base"]) == ["last"] and list(options["target_transform"]) == ["none"]
    for transform in ("log", "boxcox"):
        with pytest.raises(ValueError, match=f"target_transform={transform} needs a positive series"):
            SearchSpace(["rnn"], fixed={"train.target_transform": transform}, data_spec=ds.data_spec(),
                        task_spec=ds.task_spec)
    with pytest.raises(ValueError, match="forecast_base=seasonal needs a season"):
        SearchSpace(["rnn"], fixed={"train.forecast_base": "seasonal"}, data_spec=ds.data_spec(),
                    task_spec=ds.task_spec)
    r = seqsearch("run", tmp_path / "g.csv", "--horizon", 2, "--set", "train.target_transform=log",
                  "--workdir", tmp_path / "runs")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len([line for line in r.stderr.splitlines() if line.strip()]) == 1, r.stderr
    assert "needs a positive series" in r.stderr and not (tmp_path / "runs" / "g").exists()


def test_baselines_match_statsforecast_cross_validation(tmp_path):
    """Fitted once on the rows before the test period, then run forward to every test origin:
    statsforecast's own cross_validation(refit=False) over the same windows."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, SeasonalNaive

    ds = load_forecast(write_series(tmp_path / "s.csv", series=("a",), covariate=False), horizon=3)
    ours = statistical_baselines(ds)
    values, origins = ds.history[0]
    df = pd.DataFrame({"unique_id": "a", "ds": np.arange(len(values)), "y": values[:, 0]})
    sf = StatsForecast(models=[AutoETS(season_length=12), AutoARIMA(season_length=12), SeasonalNaive(12)], freq=1)
    cv = sf.cross_validation(df=df, h=3, n_windows=len(origins), step_size=1, refit=False)
    for name in ("AutoETS", "AutoARIMA", "SeasonalNaive"):
        pred = cv[name].to_numpy().reshape(len(origins), 3, 1)
        assert ours[name]["mae"] == pytest.approx(forecast_metrics(pred, ds.y_test)["mae"], rel=1e-6), name
    assert ours["SeasonalNaive"]["mae"] == pytest.approx(
        forecast_metrics(seasonal_naive(ds.X_test, 1, 3, 12), ds.y_test)["mae"], rel=1e-6)


def test_test_and_validation_periods_in_rows(tmp_path):
    from seqsearch.config import RunConfig
    from seqsearch.errors import DataError, SeqsearchError

    path = write_series(tmp_path / "s.csv", covariate=False)  # two series of 60 months
    ds = load_forecast(path, horizon=3, lookback=12, test_size=12, val_size=6)
    # Per series: the last 12 rows are the test period (10 windows of 3), the 6 before validation.
    assert len(ds.X_test) == 2 * (12 - 3 + 1) and len(ds.X_val) == 2 * (6 - 3 + 1)
    assert [list(o) for _, o in ds.history] == [list(range(48, 58))] * 2
    with pytest.raises(DataError, match="--test-size 2 is shorter than --horizon 3"):
        load_forecast(path, horizon=3, test_size=2)
    with pytest.raises(DataError, match=r"after 50 test and 6 validation rows, 4 are left for training"):
        load_forecast(path, horizon=3, lookback=12, test_size=50, val_size=6)
    with pytest.raises(SeqsearchError, match="a number of rows applies to forecasting"):
        RunConfig(dataset="x.npz", test_size=12)
    with pytest.raises(SeqsearchError, match="whole number of rows"):
        RunConfig(dataset="x.csv", horizon=3, test_size=2.5)
    r = seqsearch("run", path, "--horizon", 3, "--test-size", 58, "--workdir", tmp_path / "runs")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "lower --test-size" in r.stderr
    assert not (tmp_path / "runs" / "s").exists()
