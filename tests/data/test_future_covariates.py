"""Known-future covariates (--future-cols): each forecasting window carries their values at its
forecast steps, the model reads them at its forecast head, and a prediction table must hold them
in rows after each series' last target."""

import numpy as np
import pandas as pd
import pytest

from search_spaces import SearchSpace, build_model
from seqsearch.config import RunConfig
from seqsearch.data.forecast import load_forecast
from seqsearch.data.forecast_inputs import forecast_inputs
from seqsearch.errors import DataError, SeqsearchError
from test_cli import seqsearch
from test_forecast import write_series


def promo_table(path, n=72, series=("a", "b"), ahead=0, seed=0, lift=30.0):
    """Monthly series whose value jumps by ``lift`` in months with a promotion (0/1, random,
    planned ahead); ``ahead`` future rows per series with the promotion set and sales empty."""
    rng = np.random.default_rng(seed)
    frames = []
    for k, sid in enumerate(series):
        r = np.arange(n + ahead)
        promo = rng.integers(0, 2, size=n + 50)[:n + ahead]  # the same months whatever ``ahead``
        sales = 100.0 * (k + 1) + 0.5 * r + lift * promo
        sales[n:] = np.nan
        frames.append(pd.DataFrame({"id": sid, "date": pd.date_range("2018-01-01", periods=n + ahead, freq="MS"),
                                    "sales": sales, "promo": promo.astype(float)}))
    pd.concat(frames).to_csv(path, index=False)
    return path


def test_each_window_carries_the_future_values_of_its_forecast_steps(tmp_path):
    # price = 1000 * series + row names each row, so the block can be traced back.
    ds = load_forecast(write_series(tmp_path / "s.csv"), horizon=3, lookback=6, target="sales", future_cols=["price"])
    assert ds.feature_names == ["sales", "price", "price@+1", "price@+2", "price@+3"]
    assert ds.n_static == 3 and ds.about["future_cols"] == ["price"]
    for X in (ds.X_train, ds.X_val, ds.X_test):
        last = X[:, -1, 1]  # the window's last row
        np.testing.assert_array_equal(X[:, :, 2:], np.broadcast_to((last[:, None] + [1, 2, 3])[:, None, :], X[:, :, 2:].shape))
    # The windows and targets are those of the plain framing, the block added after them.
    plain = load_forecast(write_series(tmp_path / "p.csv"), horizon=3, lookback=6, target="sales")
    np.testing.assert_array_equal(ds.X_train[:, :, :2], plain.X_train)
    np.testing.assert_array_equal(ds.y_test, plain.y_test)


def test_rows_after_the_last_target_are_future_rows_not_history(tmp_path):
    with_rows = load_forecast(promo_table(tmp_path / "f.csv", ahead=5), horizon=3, target="sales", future_cols=["promo"])
    without = load_forecast(promo_table(tmp_path / "p.csv"), horizon=3, target="sales", future_cols=["promo"])
    assert with_rows.fingerprint() == without.fingerprint()


@pytest.mark.parametrize("cols, message", [
    (["sales"], "--future-cols 'sales' is a target; a column to forecast cannot be known in advance"),
    (["holiday"], "--future-cols 'holiday' is not a covariate column of the file; its covariates: promo"),
    (["promo", "promo"], "--future-cols names a column twice: promo, promo"),
])
def test_future_columns_that_cannot_be_known_are_one_line(tmp_path, cols, message):
    with pytest.raises(DataError) as e:
        load_forecast(promo_table(tmp_path / "f.csv"), horizon=3, target="sales", future_cols=cols)
    assert str(e.value) == message


def test_future_columns_need_a_forecast(tmp_path):
    with pytest.raises(SeqsearchError, match="forecasting needs --horizon"):
        RunConfig(dataset=str(tmp_path / "f.csv"), future_cols=["promo"])


def test_prediction_reads_the_future_rows_and_says_when_they_are_missing(tmp_path):
    ds = load_forecast(promo_table(tmp_path / "f.csv"), horizon=3, target="sales", future_cols=["promo"])
    framing = {**ds.about}
    X, ids, times = forecast_inputs(promo_table(tmp_path / "new.csv", ahead=4, seed=1), framing, ds.feature_names)
    table = pd.read_csv(tmp_path / "new.csv")
    for sid, x, when in zip(ids, X, times):
        rows = table[table.id == sid]
        future = rows[rows.sales.isna()].iloc[:3]
        assert when == list(future.date)  # the forecast falls on the future rows' own times
        np.testing.assert_array_equal(x[:, 2:], np.broadcast_to(future.promo.to_numpy(), (len(x), 3)))
        np.testing.assert_array_equal(x[:, 0], rows.sales.dropna().to_numpy()[-len(x):])
    with pytest.raises(DataError) as e:
        forecast_inputs(promo_table(tmp_path / "short.csv", ahead=2), framing, ds.feature_names)
    assert str(e.value) == ("the model forecasts with known-future column(s) promo, so it needs the next 3 row(s) "
                            "after each series' last target; series 'a' has 2: add rows with the time and promo "
                            "filled and the target empty")
    gap = pd.read_csv(promo_table(tmp_path / "gap.csv", ahead=3))
    gap.loc[(gap.id == "b") & gap.sales.isna(), "promo"] = [1.0, np.nan, 0.0]
    gap.to_csv(tmp_path / "gap.csv", index=False)
    with pytest.raises(DataError, match=r"^known-future column 'promo' is empty in series 'b' at date='2024-02-01'"):
        forecast_inputs(tmp_path / "gap.csv", framing, ds.feature_names)


def test_the_known_future_values_reach_the_forecast_and_training_learns_them(tmp_path):
    ds = load_forecast(promo_table(tmp_path / "f.csv", n=96), horizon=3, target="sales", future_cols=["promo"])
    space = SearchSpace(["mlp"], data_spec=ds.data_spec(), task_spec=ds.task_spec)
    assert "static" not in [p.name for p in space.params("mlp")]  # no concat / init-state choice: the head reads them
    model = build_model(space.default_spec(overrides={"mlp.layers": 0}), ds.data_spec(), ds.task_spec)
    on, off = ds.X_test.copy(), ds.X_test.copy()
    on[:, :, 2:], off[:, :, 2:] = 1.0, 0.0
    assert np.array_equal(model.predict(on, verbose=0), model.predict(off, verbose=0))  # untrained: the base
    import keras

    keras.utils.set_random_seed(0)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    model.fit(ds.X_train, ds.y_train, epochs=60, batch_size=32, verbose=0)
    lift = model.predict(on, verbose=0) - model.predict(off, verbose=0)
    assert lift.mean() > 15  # a planned promotion adds 30 to every forecast step


def test_the_encoder_decoder_forecasts_over_the_horizon_reading_each_steps_known_future_values(tmp_path):
    ds = load_forecast(promo_table(tmp_path / "f.csv"), horizon=3, target="sales", future_cols=["promo"])
    space = SearchSpace(["encdec"], data_spec=ds.data_spec(), task_spec=ds.task_spec)
    decoder = next(p for p in space.params("encdec") if p.name == "decoder")
    assert tuple(decoder.options) == ("repeat", "feedback")  # nothing to teacher-force in a forecast
    for kind in ("repeat", "feedback"):
        model = build_model(space.default_spec(overrides={"encdec.units": 16, "encdec.decoder": kind}),
                            ds.data_spec(), ds.task_spec)
        # Each of the 3 decoder steps reads the context (16) and its own step's promotion (1).
        assert tuple(model.get_layer("decoder_known_future").output.shape[1:]) == (3, 17)
        assert model.predict(ds.X_test, verbose=0).shape == (len(ds.X_test), 3, 1)


@pytest.mark.slow
def test_known_future_columns_end_to_end_from_the_command_line(tmp_path):
    """`seqsearch run --future-cols promo` on a table that already holds the next months' plan;
    `predict` forecasts on those months from the same file, and says in one line when a table
    lacks them."""
    import csv
    import io

    path = promo_table(tmp_path / "plan.csv", ahead=3)
    wd = tmp_path / "runs"
    r = seqsearch("run", path, "--horizon", 3, "--target", "sales", "--future-cols", "promo", "--trials", 1,
                  "--max-epochs", 2, "--families", "mlp", "--workdir", wd)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "known in advance for the forecast steps: promo" in r.stdout
    framing = __import__("json").loads((wd / "plan" / "best" / "metrics.json").read_text())["dataset"]["framing"]
    assert framing["future_cols"] == ["promo"]
    r = seqsearch("predict", wd / "plan" / "best", path)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["id", "step", "date", "sales"] and len(rows) == 1 + 2 * 3
    assert [row[2] for row in rows[1:4]] == ["2024-01-01", "2024-02-01", "2024-03-01"]  # the plan's months
    r = seqsearch("predict", wd / "plan" / "best", promo_table(tmp_path / "history.csv"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == ["error: the model forecasts with known-future column(s) promo, so it "
                                             "needs the next 3 row(s) after each series' last target; series 'a' "
                                             "has 0: add rows with the time and promo filled and the target empty"]
