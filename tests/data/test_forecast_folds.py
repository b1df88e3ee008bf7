"""Rolling-origin validation: a forecasting study's folds move the validation period back in
time, one period per fold, and train on the windows before it (as a forecaster is backtested)."""

import numpy as np
import pytest

from seqsearch.data.forecast import load_forecast
from seqsearch.errors import DataError
from test_cli import seqsearch
from test_forecast import write_series


@pytest.fixture(scope="module")
def sales(tmp_path_factory):
    # Two series of 60 rows; price = 1000 * series + row names each window's last row.
    return load_forecast(write_series(tmp_path_factory.mktemp("f") / "s.csv"), horizon=3, lookback=6, target="sales")


def _rows(X):
    """(series, first target row) of each window, read from its covariate."""
    k, r = np.divmod(X[:, -1, 1].astype(int), 1000)
    return k, r + 1


def test_each_fold_validates_on_an_earlier_period_and_trains_on_what_came_before(sales):
    # 60 rows: 12 test, 10 validation (rows 38-47), 38 training; fold f validates on rows
    # 38 - 10 f .. 47 - 10 f of each series and trains on the windows whose targets end before.
    assert sales.max_folds() == 3
    seen = set()
    X_all, _ = sales.train_val
    for f in (1, 2):
        fold = sales.fold(f, 3)
        k, first = _rows(fold.X_val)
        assert first.min() == 38 - 10 * f and (first + 3 - 1).max() == 47 - 10 * f
        assert set(k) == {0, 1} and len(fold.X_val) == 2 * (10 - 3 + 1)
        _, train_first = _rows(fold.X_train)
        assert (train_first + 3 - 1).max() < 38 - 10 * f  # no training target inside or after the period
        np.testing.assert_array_equal(X_all[sales.fold_rows(f, 3)], fold.X_val)  # out-of-fold rows line up
        rows = set(map(tuple, np.stack(_rows(fold.X_val), axis=1)))
        assert not rows & seen  # the folds' validation periods are disjoint
        seen |= rows
        # The fold's target statistics come from its own training windows.
        change = (fold.y_train[:, :, 0] - fold.X_train[:, -1:, 0]).mean(axis=0)
        np.testing.assert_allclose(fold.task_spec.target_mean, change, rtol=1e-5)
    assert sales.fold(0, 3) is sales


def test_more_origins_than_the_series_allow_is_one_line(sales):
    with pytest.raises(DataError) as e:
        sales.fold(1, 5)
    assert str(e.value) == ("--folds 5 needs 4 validation period(s) before the validation split, each with training "
                            "windows before it; the series allow 2: pass --folds 3 or less (or a smaller --val-size)")


def test_the_command_line_says_it_before_writing_anything(tmp_path):
    path = write_series(tmp_path / "sales.csv")
    r = seqsearch("run", path, "--horizon", 3, "--lookback", 6, "--target", "sales", "--folds", 5,
                  "--workdir", tmp_path / "runs")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--folds 5 needs 4 validation period(s)" in r.stderr and not (tmp_path / "runs" / "sales").exists()
