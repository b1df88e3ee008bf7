"""The export as an average of the best trials: who joins, when by default, and that the averaged
model is one model that saves, loads, exports and serves like a single one."""

import json

import numpy as np
import pytest

from conftest import make_classification, make_regression
from search_spaces import SearchSpace
from seqsearch.config import RunConfig
from seqsearch.data.dataset import RawArrays, frame_task
from seqsearch.engines import TrialRecord
from seqsearch.errors import SeqsearchError
from seqsearch.export import FORMATS, ensemble_members, export_best, export_formats
from test_cli import seqsearch


def _rec(number, value, state="complete", **spec):
    return TrialRecord(number=number, state=state, value=value, spec={"family": "rnn", **spec},
                       attrs={"best_epoch": 0})


def test_members_are_the_best_distinct_trials_close_to_the_best():
    records = [
        _rec(0, 0.010, units=16),
        _rec(1, 0.011, units=16),  # the same architecture again: adds nothing
        _rec(2, 0.012, units=32),
        _rec(3, 0.005, state="pruned", units=64),  # pruned: its value is an early epoch's
        _rec(4, 0.020, units=8),
        _rec(5, 0.500, units=4),  # far worse than the best: never joins
    ]
    best = records[0]
    assert [r.number for r in ensemble_members(records, best, 1)] == [0]
    assert [r.number for r in ensemble_members(records, best, 2)] == [0, 2]
    assert [r.number for r in ensemble_members(records, best, 3)] == [0, 2, 4]
    assert [r.number for r in ensemble_members(records, best, 10)] == [0, 2, 4]


def test_default_size_follows_the_validation_split():
    config = RunConfig(dataset="d.npz")
    assert config.ensemble_size(14) == 3 and config.ensemble_size(99) == 3
    assert config.ensemble_size(100) == 1 and config.ensemble_size(5000) == 1
    assert RunConfig(dataset="d.npz", ensemble=1).ensemble_size(14) == 1
    assert RunConfig(dataset="d.npz", ensemble=5).ensemble_size(5000) == 5
    # A multi-objective study exports one Pareto member.
    assert RunConfig(dataset="d.npz", objectives=["val_loss", "params"]).ensemble_size(14) == 1
    with pytest.raises(SeqsearchError, match="multi-objective study exports one Pareto member"):
        RunConfig(dataset="d.npz", objectives=["val_loss", "params"], ensemble=3)
    with pytest.raises(SeqsearchError, match=r"--ensemble must be an integer in \[1, 20\], got 0"):
        RunConfig(dataset="d.npz", ensemble=0)


def test_bad_ensemble_option_is_one_line(tmp_path):
    X, y = make_classification(n=20, t=6, f=1)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    r = seqsearch("run", tmp_path / "d.npz", "--workdir", tmp_path / "runs", "--ensemble", "21")
    assert r.returncode == 2 and r.stderr.strip() == "error: --ensemble must be an integer in [1, 20], got 21"
    assert not (tmp_path / "runs").exists()


CLF = frame_task(RawArrays(*make_classification(n=30, t=12, f=2)), name="waves", source="generated")
REG = frame_task(RawArrays(*make_regression(n=30, t=8, f=1)), name="level", source="generated")


def _records(ds, members):
    space = SearchSpace(data_spec=ds.data_spec(), task_spec=ds.task_spec)
    return [TrialRecord(number=i, state="complete", value=0.1 * (i + 1),
                        spec=space.default_spec(family, overrides), attrs={"best_epoch": 1})
            for i, (family, overrides) in enumerate(members)]


@pytest.mark.slow
def test_an_average_of_families_saves_loads_and_exports_every_format(tmp_path):
    from seqsearch import load_model

    records = _records(CLF, [("transformer", {"transformer.d_model": 16, "transformer.heads": 2}),
                             ("rnn", {"rnn.cell": "gru", "rnn.units": 16}),
                             ("tlb", {"tlb.chunk_size": 4, "tlb.dim": 16})])
    _, metrics = export_best(records, CLF, seed=0, best_dir=tmp_path / "best", study="t")
    assert [m["trial"] for m in metrics["ensemble"]] == [0, 1, 2]
    assert metrics["trial"] == 0 and metrics["summary"].startswith("average of 3: ")
    specs = json.loads((tmp_path / "best" / "spec.json").read_text())
    assert [s["family"] for s in specs] == ["transformer", "rnn", "tlb"]

    model = load_model(tmp_path / "best" / "model.keras")
    X = CLF.X_test
    pred = model.predict(X, verbose=0)
    parts = [model.get_layer(f"member_{i}").predict(X, verbose=0) for i in range(3)]
    np.testing.assert_allclose(pred, np.mean(parts, axis=0), atol=1e-6)
    np.testing.assert_allclose(pred.sum(axis=1), 1.0, atol=1e-5)  # still class probabilities
    # The members differ (three families), so the average is not any one of them.
    assert min(np.abs(pred - p).max() for p in parts) > 1e-4
    assert metrics["test"]["accuracy"] == pytest.approx(float(np.mean(pred.argmax(1) == CLF.y_test)))

    manifest = export_formats(tmp_path / "best", tmp_path / "export", FORMATS)
    assert all(info["max_abs_diff"] <= 1e-4 for info in manifest["formats"].values())
    assert manifest["architecture"] == metrics["summary"]


@pytest.mark.slow
def test_a_regression_average_is_in_the_targets_units(tmp_path):
    from seqsearch import load_model

    records = _records(REG, [("rnn", {"rnn.units": 16}), ("rnn", {"rnn.units": 16, "rnn.cell": "gru"})])
    export_best(records, REG, seed=0, best_dir=tmp_path / "best", study="t")
    model = load_model(tmp_path / "best" / "model.keras")
    parts = [model.get_layer(f"member_{i}").predict(REG.X_test, verbose=0) for i in range(2)]
    pred = model.predict(REG.X_test, verbose=0)
    np.testing.assert_allclose(pred, (parts[0] + parts[1]) / 2, rtol=1e-6)
    assert 80 < float(np.mean(pred)) < 120  # targets around 100: each member de-standardises its own output


@pytest.mark.slow
def test_ensemble_end_to_end_run_resume_predict_export(tmp_path):
    """On a split with 6 validation sequences the default export averages the best trials:
    both candidates here fit it (val_loss ~0.001-0.005), so both join. --folds 1 ranks them on
    that split alone (what this test is about is the average, not cross-validation)."""
    from test_end_to_end import _runs

    X, y = make_classification(n=40, t=8, f=1, classes=("lo", "hi"))
    np.savez(tmp_path / "d.npz", X=X, y=y)
    specs = [{"family": "rnn", "rnn.cell": cell, "rnn.units": 16, "train.learning_rate": 0.01,
              "train.batch_size": 16} for cell in ("gru", "lstm")]
    (tmp_path / "specs.json").write_text(json.dumps(specs))
    wd = tmp_path / "runs"
    cmd = ["run", tmp_path / "d.npz", "--workdir", wd, "--specs", tmp_path / "specs.json", "--no-warm-start",
           "--trials", 2, "--max-epochs", 15, "--pruner", "none", "--folds", 1, "--json"]
    r = seqsearch(*cmd)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout)
    best = wd / "d" / "best"
    metrics = json.loads((best / "metrics.json").read_text())
    assert sorted(result["ensemble"]) == [0, 1] and result["ensemble"][0] == result["best_trial"]
    assert [m["trial"] for m in metrics["ensemble"]] == result["ensemble"]
    assert [s["rnn.cell"] for s in json.loads((best / "spec.json").read_text())] == \
        [specs[n]["rnn.cell"] for n in result["ensemble"]]
    _, parents, _ = _runs(wd / "d", "d")
    assert parents[0].data.tags["seqsearch.logged_model_members"] == ",".join(map(str, result["ensemble"]))

    r = seqsearch("status", "d", "--workdir", wd)
    assert "best model: trials " + ", ".join(f"#{n}" for n in result["ensemble"]) + " (average of 2: " in r.stdout

    # The same command again: same members, the export is kept, not retrained.
    r = seqsearch(*cmd[:-1])
    assert r.returncode == 0 and "unchanged; keeping the export" in r.stdout, r.stdout[-2000:]

    # The averaged model predicts and exports like a single one.
    r = seqsearch("predict", best, tmp_path / "d.npz", "--out", tmp_path / "pred.csv")
    assert r.returncode == 0, r.stderr[-2000:]
    assert len((tmp_path / "pred.csv").read_text().splitlines()) == 41
    r = seqsearch("export", "d", "--workdir", wd, "--format", "onnx,savedmodel", "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr[-2000:]

    # --ensemble 1: the best trial alone, re-exported and re-logged.
    r = seqsearch(*cmd[:-1], "--ensemble", 1)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "retraining trial #" in r.stdout
    metrics = json.loads((best / "metrics.json").read_text())
    assert "ensemble" not in metrics and metrics["trial"] == result["best_trial"]
    assert json.loads((best / "spec.json").read_text())["rnn.cell"] == specs[result["best_trial"]]["rnn.cell"]
    _, parents, _ = _runs(wd / "d", "d")
    assert parents[0].data.tags["seqsearch.logged_model_members"] == str(result["best_trial"])
