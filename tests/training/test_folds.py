"""Cross-validation of completed trials (--folds): how train+validation is cut, how a trial's
folds combine into one value, when it applies by default, and the whole run from the CLI."""

import json
import math

import numpy as np
import pytest

from conftest import make_classification, make_regression
from seqsearch import training
from seqsearch.config import RunConfig
from seqsearch.data.dataset import RawArrays
from seqsearch.data.framing import frame_task
from seqsearch.errors import SeqsearchError
from seqsearch.training import TrialOutcome, cross_validate
from test_cli import seqsearch

CLF = frame_task(RawArrays(*make_classification(n=50, t=6, f=1)), name="waves", source="generated")
REG = frame_task(RawArrays(*make_regression(n=50, t=6, f=1)), name="level", source="generated")


def _rows(X):
    return {x.tobytes() for x in X}


@pytest.mark.parametrize("k", [2, 3, 5])
def test_every_train_val_sequence_is_validated_exactly_once(k):
    ds = CLF
    folds = [ds.fold(f, k, seed=0) for f in range(k)]
    assert folds[0] is ds  # fold 0 is the validation split the pruner watched
    everything = _rows(np.concatenate([ds.X_train, ds.X_val]))
    validated = [x.tobytes() for fold in folds for x in fold.X_val]
    assert len(validated) == len(everything) and set(validated) == everything
    for fold in folds:
        # A fold trains on everything else, never on what it validates on.
        assert _rows(fold.X_train) | _rows(fold.X_val) == everything
        assert not _rows(fold.X_train) & _rows(fold.X_val)
        assert len(fold.X_train) == len(fold.y_train) and len(fold.X_val) == len(fold.y_val)
    # Deterministic for a seed; stratified: each further fold holds every class.
    assert np.array_equal(ds.fold(1, k, seed=0).X_val, folds[1].X_val)
    for fold in folds[1:]:
        assert set(fold.y_val) == set(ds.y_train)


def test_a_folds_statistics_come_from_its_own_training_part():
    fold = REG.fold(1, 3, seed=0)
    assert fold.data_spec().feature_mean[0] == pytest.approx(float(fold.X_train.mean()), abs=1e-5)
    assert fold.task_spec.target_mean[0] == pytest.approx(float(fold.y_train.mean()), rel=1e-6)
    assert fold.task_spec.target_mean != REG.task_spec.target_mean
    with pytest.raises(SeqsearchError, match="--folds 50 needs at least 49 training sequences"):
        REG.fold(1, 50)


def test_default_folds_follow_the_validation_split_and_task():
    config = RunConfig(dataset="d.npz")
    assert config.folds_for("classification", 14) == 3 and config.folds_for("regression", 99) == 3
    assert config.folds_for("classification", 100) == 1 and config.folds_for("forecasting", 12) == 1
    assert RunConfig(dataset="d.npz", folds=1).folds_for("classification", 14) == 1
    assert RunConfig(dataset="d.npz", folds=5).folds_for("classification", 5000) == 5
    with pytest.raises(SeqsearchError, match=r"--folds must be an integer in \[1, 20\], got 0"):
        RunConfig(dataset="d.npz", folds=0)
    assert RunConfig(dataset="d.csv", horizon=3, folds=4).folds == 4  # rolling origins


def _scripted(monkeypatch, outcomes):
    calls = []

    def fake_fit(spec, dataset, **kw):
        calls.append((dataset, kw))
        return outcomes[len(calls) - 1]

    monkeypatch.setattr(training, "fit_candidate", fake_fit)
    return calls


def _done(value, best_epoch, acc, seconds=1.0, reason=None):
    return TrialOutcome(state="complete", value=value, best_epoch=best_epoch, epochs_run=best_epoch + 3,
                        n_params=10, seconds=seconds, reason=reason,
                        metrics={"val_loss": value, "val_accuracy": acc, "loss": value / 2})


def test_a_trials_folds_combine_into_means(monkeypatch):
    calls = _scripted(monkeypatch, [_done(0.4, 5, 0.8), _done(0.6, 9, 0.6)])
    out = cross_validate(_done(0.2, 1, 1.0), {"train.batch_size": 8}, CLF, 3, max_epochs=20, seed=7)
    assert out.state == "complete" and out.reason is None
    assert out.value == pytest.approx(0.4)  # (0.2 + 0.4 + 0.6) / 3
    assert out.fold_values == [0.2, 0.4, 0.6] and out.fold_epochs == [2, 6, 10]
    assert out.best_epoch == 5  # the export retrains round(mean(1, 5, 9)) + 1 = 6 epochs
    assert out.metrics["val_accuracy"] == pytest.approx(0.8)
    assert out.n_params == 10 and out.seconds >= 1.0
    # Folds 1 and 2 of 3, with the trial's seed, for at most the first fold's 2 best epochs and
    # a margin of 3 (never past --max-epochs).
    assert [len(d.X_val) for d, _ in calls] == [len(CLF.fold(f, 3).X_val) for f in (1, 2)]
    assert all(kw["seed"] == 7 and kw["max_epochs"] == 5 for _, kw in calls)
    calls = _scripted(monkeypatch, [_done(0.4, 5, 0.8), _done(0.6, 9, 0.6)])
    cross_validate(_done(0.2, 39, 1.0), {}, CLF, 3, max_epochs=45, seed=7)
    assert [kw["max_epochs"] for _, kw in calls] == [45, 45]  # 40 + 10 > 45


def test_a_failing_fold_fails_the_trial(monkeypatch):
    _scripted(monkeypatch, [TrialOutcome(state="failed", reason="NaN loss")])
    out = cross_validate(_done(0.2, 1, 1.0), {}, CLF, 3, max_epochs=20, seed=0)
    assert out.state == "failed" and out.reason == "fold 2 of 3: NaN loss" and math.isnan(out.value)


def test_the_budget_ending_in_a_fold_keeps_the_folds_reached(monkeypatch):
    stopped = _done(0.4, 3, 0.9, reason="stopped in epoch 4 at the end of the --timeout budget")
    stopped.budget_stop = "deadline"
    _scripted(monkeypatch, [stopped])
    out = cross_validate(_done(0.2, 1, 1.0), {}, CLF, 3, max_epochs=20, seed=0, deadline=float("inf"))
    assert out.state == "complete" and out.value == pytest.approx(0.3) and out.fold_values == [0.2, 0.4]
    assert out.reason == "cross-validated on 2 of 3 folds (stopped in epoch 4 at the end of the --timeout budget)"


def test_the_trial_time_limit_covers_every_fold(monkeypatch):
    calls = _scripted(monkeypatch, [_done(0.4, 3, 0.9)] * 2)
    cross_validate(_done(0.2, 1, 1.0, seconds=4.0), {}, CLF, 3, max_epochs=20, seed=0, time_limit=10.0)
    assert 5.0 < calls[0][1]["time_limit"] <= 6.0
    out = cross_validate(_done(0.2, 1, 1.0, seconds=11.0), {}, CLF, 3, max_epochs=20, seed=0, time_limit=10.0)
    assert out.state == "failed" and "per-trial time limit of 10 s before fold 2 of 3" in out.reason


def test_too_many_folds_for_the_data_is_one_line(tmp_path):
    X, y = make_classification(n=20, t=6, f=1)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    r = seqsearch("run", tmp_path / "d.npz", "--workdir", tmp_path / "runs", "--folds", 20)
    assert r.returncode == 2 and r.stderr.strip() == (
        "error: --folds 20 needs at least 19 training sequences, the training split has 14; pass a smaller --folds")
    assert not (tmp_path / "runs").exists()


def test_folds_end_to_end_from_the_cli(tmp_path):
    """Two trials cross-validated on 2 folds: each stored value is the mean of its folds, the
    status says so, and a rerun with other folds is refused in one line, the study kept."""
    from seqsearch.engines import OptunaEngine

    X, y = make_classification(n=40, t=8, f=1, classes=("lo", "hi"))
    np.savez(tmp_path / "d.npz", X=X, y=y)
    wd = tmp_path / "runs"
    cmd = ["run", tmp_path / "d.npz", "--workdir", wd, "--no-warm-start", "--trials", 2, "--max-epochs", 3,
           "--families", "rnn", "--folds", 2, "--pruner", "none", "--json"]
    r = seqsearch(*cmd)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout)
    assert result["folds"] == 2
    records = [rec for rec in OptunaEngine("d", wd / "d").load().records() if rec.state == "complete"]
    assert records
    for rec in records:
        assert len(rec.attrs["fold_values"]) == 2 and len(rec.attrs["fold_epochs"]) == 2
        assert rec.value == pytest.approx(np.mean(rec.attrs["fold_values"]))
    assert json.loads((wd / "d" / "study.json").read_text())["folds"] == 2
    # MLflow: each completed trial's run has its folds' losses (one step each) and their mean.
    from test_end_to_end import _runs

    client, _, children = _runs(wd / "d", "d")
    by_trial = {int(c.data.tags["seqsearch.trial"]): c for c in children}
    for rec in records:
        run = by_trial[rec.number]
        history = client.get_metric_history(run.info.run_id, "fold_val_loss")
        assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(rec.attrs["fold_values"])
        assert run.data.metrics["best_val_loss"] == pytest.approx(rec.value)

    r = seqsearch("status", "d", "--workdir", wd)
    assert "cross-validated on 2 folds" in r.stdout

    before = (wd / "d" / "optuna.journal").read_bytes()
    r = seqsearch(*cmd[:-3], "--folds", 1, "--trials", 3)
    assert r.returncode == 2 and r.stderr.strip() == (
        "error: study 'd' validated its trials on 2 fold(s), this run would use 1; pass --folds 2 to resume it, "
        "or another --study")
    assert (wd / "d" / "optuna.journal").read_bytes() == before
