"""A cross-validated trial's fold models, kept for the export (seqsearch.fold_models): each fold's
weights at its best epoch, rebuilt with the fold's own statistics, give the outputs the fold was
scored by; the export averages them instead of retraining (--final folds)."""

import json

import numpy as np
import pytest

from conftest import make_classification, make_regression, two_cell_study
from search_spaces import SearchSpace
from seqsearch.candidate import TrialModel
from seqsearch.data.dataset import RawArrays
from seqsearch.data.framing import frame_task
from seqsearch.fold_models import (build_fold_model, has_fold_weights, load_fold_weights, remove_fold_weights,
                                   save_fold_weights)
from seqsearch.training import cross_validate, fit_candidate

CLF = frame_task(RawArrays(*make_classification(n=60, t=8, f=2)), name="waves", source="generated")
REG = frame_task(RawArrays(*make_regression(n=60, t=8, f=2)), name="level", source="generated")


def _spec(ds, scaling="global"):
    space = SearchSpace(["conv"], {}, data_spec=ds.data_spec(), task_spec=ds.task_spec)
    return space.default_spec("conv", overrides={"train.scaling": scaling, "train.batch_size": 16})


def _cross_validated(ds, spec, seed=3):
    models = TrialModel()
    try:
        first = fit_candidate(spec, ds, max_epochs=3, seed=seed, models=models, predict_val=lambda v: True)
        return cross_validate(first, spec, ds, 3, max_epochs=3, seed=seed, fold_seed=seed, models=models)
    finally:
        models.release()


@pytest.mark.parametrize("ds,scaling", [(CLF, "global"), (CLF, "per_series"), (REG, "global")])
def test_a_rebuilt_fold_model_gives_the_outputs_its_fold_was_scored_by(ds, scaling):
    """Later folds of a classification trial train the first fold's model on mapped inputs; a
    regression fold builds its own (its head holds the fold's target statistics). Either way
    the fold's weights in a model built with the fold's own statistics reproduce, on the fold's
    raw held-out rows, the out-of-fold outputs the search kept."""
    spec = _spec(ds, scaling)
    out = _cross_validated(ds, spec)
    assert out.state == "complete" and len(out.fold_weights) == 3
    pred, covered = out.oof
    assert covered.all()
    for f, weights in enumerate(out.fold_weights):
        model = build_fold_model(spec, ds, f, 3, 3, weights, seed=99)
        rebuilt = model.predict(ds.fold(f, 3, 3).X_val, verbose=0)
        np.testing.assert_allclose(rebuilt, pred[ds.fold_rows(f, 3, 3)], rtol=1e-4, atol=1e-4)
    # The folds trained apart: their weights differ.
    assert not np.allclose(out.fold_weights[1][0], out.fold_weights[2][0])


def test_fold_weights_round_trip_and_refuse_another_dataset_or_folding(tmp_path):
    weights = [[np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(3, np.float32)],
               [np.zeros((2, 3), np.float32), np.full(3, 2.0, np.float32)]]
    save_fold_weights(tmp_path, 7, weights, folds=3, fold_seed=0, fingerprint="abc")
    assert has_fold_weights(tmp_path, 7) and not has_fold_weights(tmp_path, 8)
    back = load_fold_weights(tmp_path, 7, "abc", 3, 0)
    assert len(back) == 2  # two of three folds trained (the budget ended the third)
    for a, b in zip(weights, back):
        assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert load_fold_weights(tmp_path, 7, "other data", 3, 0) is None
    assert load_fold_weights(tmp_path, 7, "abc", 5, 0) is None
    assert load_fold_weights(tmp_path, 7, "abc", 3, 1) is None
    assert load_fold_weights(tmp_path, 8, "abc", 3, 0) is None
    (tmp_path / "fold_models" / "trial-9.npz").write_bytes(b"half a file")
    assert load_fold_weights(tmp_path, 9, "abc", 3, 0) is None
    remove_fold_weights(tmp_path, [7, 9, 11])
    assert not any((tmp_path / "fold_models").iterdir())


def test_the_export_averages_a_members_fold_models_instead_of_retraining(tmp_path, monkeypatch):
    from seqsearch import training
    from seqsearch.engines.base import TrialRecord
    from seqsearch.export import export_best
    from seqsearch.model_file import load_model

    spec = _spec(CLF)
    out = _cross_validated(CLF, spec)
    record = TrialRecord(number=4, state="complete", value=out.value, spec=spec,
                         attrs={"best_epoch": out.best_epoch, "fold_epochs": out.fold_epochs})
    monkeypatch.setattr(training, "retrain", lambda *a, **k: pytest.fail("a fold member was retrained"))
    model, metrics = export_best(record, CLF, seed=0, best_dir=tmp_path / "best", study="s",
                                 fold_weights={4: out.fold_weights}, folds=3, fold_seed=3)
    assert metrics["fold_models"] == 3 and metrics["retrain_epochs"] == 0
    assert metrics["fold_epochs"] == out.fold_epochs and metrics["summary"].endswith("(3 folds)")
    folds = [build_fold_model(spec, CLF, f, 3, 3, w, seed=0) for f, w in enumerate(out.fold_weights)]
    expected = np.mean([m.predict(CLF.X_test, verbose=0) for m in folds], axis=0)
    saved = load_model(tmp_path / "best" / "model.keras")
    np.testing.assert_allclose(saved.predict(CLF.X_test, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert json.loads((tmp_path / "best" / "spec.json").read_text()) == spec


def test_only_the_best_trials_keep_their_fold_models(tmp_path, monkeypatch):
    from seqsearch import fold_models
    from seqsearch.config import RunConfig
    from seqsearch.engines.base import TrialRecord
    from seqsearch.evaluate import keep_fold_models
    from seqsearch.training import TrialOutcome

    monkeypatch.setattr(fold_models, "KEEP", 2)
    config = RunConfig(dataset="d.npz", workdir=str(tmp_path), folds=3)
    records = []

    class Engine:
        def records(self):
            return list(records)

    weights = [[np.zeros(2, np.float32)]] * 3
    # A trial another process is still recording keeps its file whatever its rank.
    save_fold_weights(config.study_path, 100, weights, folds=3, fold_seed=0, fingerprint="x")
    records.append(TrialRecord(number=100, state="running", value=None, spec={}))
    for number, value in enumerate([0.5, 0.3, 0.4, 0.2]):
        keep_fold_models(config, CLF, Engine(), number, TrialOutcome(state="complete", value=value, fold_weights=weights))
        records.append(TrialRecord(number=number, state="complete", value=value, spec={}))
    folder = config.study_path / "fold_models"
    assert sorted(p.name for p in folder.iterdir()) == ["trial-1.npz", "trial-100.npz", "trial-3.npz"]
    assert len(load_fold_weights(config.study_path, 3, CLF.fingerprint(), 3, config.seed)) == 3


@pytest.mark.slow
def test_a_cross_validated_search_exports_fold_models_from_the_command_line(tmp_path):
    """3 folds (a validation split of 6): each finalist keeps its fold models and the export
    averages them; --final retrain retrains as before; `seqsearch export --trial` uses them too."""
    from test_cli import seqsearch

    cmd, _ = two_cell_study(tmp_path, max_epochs=4, folds=3)
    wd = tmp_path / "runs"
    r = seqsearch(*cmd)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "the average of its 3 fold models" in r.stdout and "retraining" not in r.stdout, r.stdout[-2000:]
    metrics = json.loads((wd / "d" / "best" / "metrics.json").read_text())
    members = metrics.get("ensemble", [metrics])
    assert [m["fold_models"] for m in members] == [3] * len(members)
    kept = {p.name for p in (wd / "d" / "fold_models").iterdir()}
    assert {f"trial-{m['trial']}.npz" for m in members} <= kept
    assert f"test (8 sequences): accuracy {metrics['test']['accuracy']:.4f}" in r.stdout

    n = metrics["trial"]
    r = seqsearch("export", "d", "--workdir", wd, "--trial", n, "--format", "keras", "--out", tmp_path / "t1")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((wd / "d" / f"trial-{n}" / "metrics.json").read_text())["fold_models"] == 3

    r = seqsearch(*cmd, "--final", "retrain", "--trials", 2)
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = json.loads((wd / "d" / "best" / "metrics.json").read_text())
    assert all(not m.get("fold_models") and m["retrain_epochs"] >= 1 for m in metrics.get("ensemble", [metrics]))
    assert "retraining" in r.stdout

    r = seqsearch(*cmd, "--final", "average")
    assert r.returncode == 2 and "--final" in r.stderr and "Traceback" not in r.stderr
