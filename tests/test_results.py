"""A study reopened from Python (``seqsearch.load_study``) and the run's result as a model."""

import numpy as np
import pytest

import seqsearch
from conftest import two_cell_study
from test_cli import seqsearch as cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A finished 2-trial study (a GRU and an LSTM, 3 folds, so both keep their fold models)."""
    tmp = tmp_path_factory.mktemp("results")
    cmd, _ = two_cell_study(tmp, max_epochs=3, folds=3)
    r = cli(*cmd, "--ensemble", "1", "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    return tmp


def test_load_study_gives_the_leaderboard_models_and_predictions(study):
    res = seqsearch.load_study("d", workdir=study / "runs")
    board = res.leaderboard
    assert list(board.columns) == ["rank", "trial", "val_loss", "val_accuracy", "best_epoch", "params", "seconds",
                                   "architecture"]
    # The LSTM may end pruned (not a finalist): the leaderboard holds the completed trials only.
    assert len(board) >= 1 and list(board["rank"]) == list(range(1, len(board) + 1))
    assert board["val_loss"].is_monotonic_increasing
    assert sorted(t["trial"] for t in res.trials) == [0, 1]
    X = np.load(study / "d.npz")["X"][:5]
    best = res.best_model()
    np.testing.assert_allclose(res.predict(X), best.predict(X, verbose=0), atol=1e-6)
    # Each trial on its own, best first: its fold models averaged (no training), kept on disk.
    models = res.get_best_models(2)
    assert len(models) == min(2, len(board))
    assert (study / "runs" / "d" / f"trial-{board['trial'][0]}" / "model.keras").is_file()
    assert all(m.predict(X, verbose=0).shape == (5, 2) for m in models)
    np.testing.assert_allclose(models[0].predict(X, verbose=0), best.predict(X, verbose=0), atol=1e-5)  # --ensemble 1
    assert len(res.optuna_study.trials) == 2 and res.optuna_study.metric_names == ["val_loss"]
    with pytest.raises(seqsearch.SeqsearchError, match="n must be a positive integer"):
        res.get_best_models(0)


def test_load_study_refuses_an_unknown_study_in_one_line(study):
    with pytest.raises(seqsearch.SeqsearchError, match="no study 'nope' in .*; studies there: d"):
        seqsearch.load_study("nope", workdir=study / "runs")


def test_the_run_result_is_the_model(study, tmp_path):
    result = seqsearch.run(study / "d.npz", workdir=str(tmp_path), trials=1, max_epochs=2, folds=1,
                           families=["rnn"], fixed={"rnn.units": 16, "rnn.layers": 1}, warm_start="none")
    X = np.load(study / "d.npz")["X"][:4]
    assert result.predict(X).shape == (4, 2)
    assert result.model is result.model  # loaded once
    assert "_model" not in result.to_dict()


def test_callbacks_reach_every_fit_and_tensorboard_logs_each_trial(study, tmp_path):
    import keras

    class Count(keras.callbacks.Callback):
        epochs = 0

        def on_epoch_end(self, epoch, logs=None):
            Count.epochs += 1
            assert "val_loss" in logs

    seqsearch.run(study / "d.npz", workdir=str(tmp_path / "runs"), trials=2, max_epochs=2, folds=2, ensemble=1,
                  families=["rnn"], fixed={"rnn.units": 16, "rnn.layers": 1}, warm_start="none", pruner="none",
                  tensorboard=str(tmp_path / "tb"), callbacks=[Count()])
    assert Count.epochs >= 4  # two trials' first folds, and the finalists' second folds
    logged = sorted(p.relative_to(tmp_path / "tb").parts[:3] for p in (tmp_path / "tb").rglob("events.out.*"))
    assert ("d", "trial-000", "fold-1") in logged and ("d", "trial-001", "fold-1") in logged
    with pytest.raises(seqsearch.SeqsearchError, match="pass jobs=1"):
        seqsearch.run(study / "d.npz", workdir=str(tmp_path / "runs2"), trials=2, jobs=2, callbacks=[Count()])


def test_a_moved_study_opens_serves_its_best_model_and_exports(study, tmp_path):
    import shutil

    from mlflow import MlflowClient

    original = study / "runs" / "d"
    moved = tmp_path / "elsewhere"
    shutil.copytree(original, moved / "d")
    away = original.with_name("d.away")
    original.rename(away)  # the original is gone
    try:
        res = seqsearch.load_study("d", workdir=moved)  # finds the store's old locations and rewrites them
        uri = f"sqlite:///{moved / 'd' / 'mlflow.db'}"
        client = MlflowClient(tracking_uri=uri)
        assert client.get_model_version_by_alias("d", "best").name == "d"
        parent = client.search_runs([client.get_experiment_by_name("d").experiment_id],
                                    "tags.`seqsearch.role` = 'study'")[0]
        plots = [a.path for a in client.list_artifacts(parent.info.run_id, "plots")]
        assert "plots/optimisation_history.png" in plots
        local = client.download_artifacts(parent.info.run_id, "plots/optimisation_history.png", str(tmp_path))
        assert open(local, "rb").read(4) == b"\x89PNG"
        import mlflow

        mlflow.set_tracking_uri(uri)
        X = np.load(study / "d.npz")["X"][:3].astype("float32")
        served = mlflow.pyfunc.load_model("models:/d@best").predict(X)
        np.testing.assert_allclose(served.filter(like="probability_").to_numpy(), res.predict(X), atol=1e-5)
        r = cli("export", "d", "--workdir", moved, "--format", "keras")
        assert r.returncode == 0, r.stderr[-2000:]
    finally:
        away.rename(original)
