"""--jobs: several processes train trials of one study against the same storage."""

import numpy as np
import pytest

from conftest import make_classification
from test_cli import seqsearch
from test_end_to_end import _optuna_trials, _runs

pytestmark = pytest.mark.slow


def test_jobs_share_one_study_without_losing_or_duplicating_trials(tmp_path):
    X, y = make_classification(n=40, t=8, f=1)
    np.savez(tmp_path / "w.npz", X=X, y=y)
    wd = tmp_path / "runs"
    r = seqsearch("run", tmp_path / "w.npz", "--workdir", wd, "--trials", 5, "--max-epochs", 2, "--jobs", 2,
                  "--families", "rnn", "--set", "rnn.units=16", "--set", "rnn.layers=1", "--pruner", "none")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "locked" not in r.stderr + r.stdout
    trials = _optuna_trials(wd / "w", "w")
    assert sorted(t.number for t in trials) == list(range(5))
    assert all(t.state.name == "COMPLETE" for t in trials)
    # Two workers really ran trials (the worker token names the process).
    assert len({t.user_attrs["worker"] for t in trials}) == 2
    _, parents, children = _runs(wd / "w", "w")
    assert len(parents) == 1
    assert sorted(int(c.data.tags["seqsearch.trial"]) for c in children) == list(range(5))
    assert all(c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for c in children)
    assert (wd / "w" / "best" / "metrics.json").is_file()
