"""The export as an average of the best trials: who joins, when by default, and that the averaged
model is one model that saves, loads, exports and serves like a single one."""

import json

import numpy as np
import pytest

from conftest import make_classification, make_regression, two_cell_study
from search_spaces import SearchSpace
from seqsearch.config import RunConfig
from seqsearch.data.dataset import RawArrays
from seqsearch.data.framing import frame_task
from seqsearch.engines import TrialRecord
from seqsearch.errors import SeqsearchError
from seqsearch.ensemble import ensemble_members, greedy_selection, save_predictions, select_members, selection_loss
from seqsearch.export import average_model, export_best
from seqsearch.formats import FORMATS, export_formats
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


# Three models' class probabilities on six out-of-fold rows (two per class). TWIN is a little
# worse copy of BEST (the same mistakes on class 2); OTHER is the weakest alone but the only
# one right on class 2.
Y6 = np.array([0, 0, 1, 1, 2, 2])
BEST = np.array([[.85, .1, .05]] * 2 + [[.1, .85, .05]] * 2 + [[.45, .4, .15]] * 2, dtype=np.float32)
TWIN = np.array([[.9, .05, .05]] * 2 + [[.05, .9, .05]] * 2 + [[.45, .45, .1]] * 2, dtype=np.float32)
OTHER = np.array([[.3, .35, .35]] * 2 + [[.35, .3, .35]] * 2 + [[.1, .1, .8]] * 2, dtype=np.float32)


def test_greedy_selection_picks_the_complementary_member_not_the_next_best():
    losses = [selection_loss(p, Y6, True) for p in (BEST, TWIN, OTHER)]
    assert losses[0] < losses[1] < losses[2]  # the best-N rule would average BEST and TWIN
    counts, loss = greedy_selection({0: BEST, 1: TWIN, 2: OTHER}, Y6, categorical=True, size=2)
    # BEST twice, OTHER once: (2 x BEST + OTHER) / 3 beats every average with TWIN in it.
    assert counts == {0: 2, 2: 1}
    assert loss == pytest.approx(selection_loss((2 * BEST + OTHER) / 3, Y6, True))
    assert loss < losses[0] and loss < selection_loss((BEST + TWIN) / 2, Y6, True)
    # The twin adds nothing: the best alone.
    assert greedy_selection({0: BEST, 1: TWIN}, Y6, categorical=True, size=3)[0] == {0: 1}
    # At most `size` distinct members, however many rounds.
    assert len(greedy_selection({0: BEST, 1: TWIN, 2: OTHER}, Y6, categorical=True, size=1)[0]) == 1


def test_greedy_selection_for_regression_scales_each_target():
    y = np.array([[0.0, 100.0], [1.0, 300.0], [2.0, 200.0], [3.0, 400.0]])
    low = y + np.array([0.5, 0.0])  # off by half a unit on the small target
    high = y + np.array([-0.5, 0.0])  # off the other way: the average is exact
    counts, loss = greedy_selection({0: low, 1: high}, y, categorical=False, size=2)
    assert counts == {0: 1, 1: 1} and loss == pytest.approx(0.0)


def test_select_members_reads_the_kept_predictions_and_falls_back_to_the_best(tmp_path):
    records = [_rec(0, 0.70, units=16), _rec(1, 0.72, units=32), _rec(2, 0.74, units=8), _rec(3, 0.75, units=4)]
    best = records[0]
    y = np.concatenate([np.zeros(4, dtype=int), Y6])  # rows 0-3: not reached by any fold
    covered = np.array([False] * 4 + [True] * 6)
    for number, pred in zip((0, 1, 2), (BEST, TWIN, OTHER)):
        save_predictions(tmp_path, number, np.concatenate([np.full((4, 3), 1 / 3), pred]), covered, "fp")
    members, weights, how = select_members(records, best, 2, study_path=tmp_path, y=y, categorical=True,
                                           fingerprint="fp")
    assert how == "greedy" and [r.number for r in members] == [0, 2] and weights == pytest.approx([2 / 3, 1 / 3])
    # Trial 3 kept nothing; "best", another dataset, or no kept outputs for the best: the rule.
    for kwargs in ({"method": "best"}, {"fingerprint": "other"}):
        members, weights, how = select_members(records, best, 2, **{"study_path": tmp_path, "y": y,
                                                                     "categorical": True, "fingerprint": "fp", **kwargs})
        assert how == "best" and [r.number for r in members] == [0, 1] and weights == [0.5, 0.5]
    (tmp_path / "predictions" / "trial-0.npz").unlink()
    assert select_members(records, best, 2, study_path=tmp_path, y=y, categorical=True, fingerprint="fp")[2] == "best"


def test_a_weighted_average_weighs_each_member():
    import keras

    members = []
    for i in range(2):
        inp = keras.Input((4, 1))
        out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inp))
        members.append(keras.Model(inp, out, name=f"m{i}"))
    X = np.random.default_rng(0).normal(size=(5, 4, 1)).astype("float32")
    parts = [m.predict(X, verbose=0) for m in members]
    model = average_model(members, [0.75, 0.25])
    np.testing.assert_allclose(model.predict(X, verbose=0), 0.75 * parts[0] + 0.25 * parts[1], atol=1e-6)
    assert average_model(members, [0.5, 0.5]).get_layer("average").__class__.__name__ == "Average"


def test_out_of_fold_rows_cover_train_and_validation_once():
    ds = CLF
    k = 3
    rows = np.concatenate([ds.fold_rows(f, k, seed=7) for f in range(k)])
    assert sorted(rows.tolist()) == list(range(len(ds.X_train) + len(ds.X_val)))
    X_pool, y_pool = ds.train_val
    for f in range(k):
        fold = ds.fold(f, k, seed=7)
        np.testing.assert_array_equal(fold.X_val, X_pool[ds.fold_rows(f, k, seed=7)])
        np.testing.assert_array_equal(fold.y_val, y_pool[ds.fold_rows(f, k, seed=7)])


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
    assert [m["trial"] for m in manifest["ensemble"]] == [0, 1, 2]  # the manifest names the members


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
    """On a split with 6 validation sequences the default export is an average: greedy selection
    chooses from the trials' validation outputs; with the best-N rule both candidates here fit
    the split (val_loss ~0.001-0.005), so both join. --folds 1 ranks them on that split alone
    (what this test is about is the average, not cross-validation)."""
    from test_end_to_end import _runs

    cmd, specs = two_cell_study(tmp_path, max_epochs=15, folds=1)
    wd = tmp_path / "runs"
    # By default greedy selection chooses from the trials' kept validation outputs.
    r = seqsearch(*cmd, "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout)
    best = wd / "d" / "best"
    metrics = json.loads((best / "metrics.json").read_text())
    assert metrics["ensemble_selection"] == "greedy"
    assert {p.name for p in (wd / "d" / "predictions").iterdir()} == {"trial-0.npz", "trial-1.npz"}
    kept = np.load(wd / "d" / "predictions" / f"trial-{result['best_trial']}.npz")
    # Rows of train+validation; with --folds 1 only the 6 validation rows are covered.
    assert kept["pred"].shape[1] == 2 and kept["pred"].shape[0] > 6 and kept["covered"].sum() == 6
    weights = [m["weight"] for m in metrics["ensemble"]] if "ensemble" in metrics else [1.0]
    assert set(result["ensemble"]) <= {0, 1} and sum(weights) == pytest.approx(1.0)

    # The best-N rule: both trials fit the split, both join with equal weights.
    cmd = [*cmd, "--ensemble-selection", "best"]
    r = seqsearch(*cmd, "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout)
    metrics = json.loads((best / "metrics.json").read_text())
    assert metrics["ensemble_selection"] == "best"
    assert sorted(result["ensemble"]) == [0, 1] and result["ensemble"][0] == result["best_trial"]
    assert [m["trial"] for m in metrics["ensemble"]] == result["ensemble"]
    assert [s["rnn.cell"] for s in json.loads((best / "spec.json").read_text())] == \
        [specs[n]["rnn.cell"] for n in result["ensemble"]]
    _, parents, _ = _runs(wd / "d", "d")
    assert parents[0].data.tags["seqsearch.logged_model_members"] == ",".join(map(str, result["ensemble"]))

    r = seqsearch("status", "d", "--workdir", wd)
    assert "best model: trials " + ", ".join(f"#{n}" for n in result["ensemble"]) + " (average of 2: " in r.stdout

    # The same command again: same members, the export is kept, not retrained.
    r = seqsearch(*cmd)
    assert r.returncode == 0 and "unchanged; keeping the export" in r.stdout, r.stdout[-2000:]

    # The averaged model predicts and exports like a single one.
    r = seqsearch("predict", best, tmp_path / "d.npz", "--out", tmp_path / "pred.csv")
    assert r.returncode == 0, r.stderr[-2000:]
    assert len((tmp_path / "pred.csv").read_text().splitlines()) == 41
    r = seqsearch("export", "d", "--workdir", wd, "--format", "onnx,savedmodel", "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr[-2000:]

    # --ensemble 1: the best trial alone, re-exported and re-logged.
    r = seqsearch(*cmd, "--ensemble", 1)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "retraining trial #" in r.stdout
    metrics = json.loads((best / "metrics.json").read_text())
    assert "ensemble" not in metrics and metrics["trial"] == result["best_trial"]
    assert json.loads((best / "spec.json").read_text())["rnn.cell"] == specs[result["best_trial"]]["rnn.cell"]
    _, parents, _ = _runs(wd / "d", "d")
    assert parents[0].data.tags["seqsearch.logged_model_members"] == str(result["best_trial"])
