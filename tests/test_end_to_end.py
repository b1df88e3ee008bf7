"""`seqsearch run` from data file to exported model, tracked in MLflow, resumable."""

import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import free_port, make_classification, wait_http
from test_cli import seqsearch

pytestmark = pytest.mark.slow


def _client(study_path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{study_path / 'mlflow.db'}")


def _runs(study_path, study):
    c = _client(study_path)
    exp = c.get_experiment_by_name(study)
    runs = c.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("seqsearch.role") == "study"]
    children = [r for r in runs if r.data.tags.get("seqsearch.role") == "trial"]
    return c, parents, children


def _optuna_trials(study_path, study):
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(study_path / "optuna.journal")))
    return optuna.load_study(study_name=study, storage=storage).trials


def test_run_tracks_exports_and_resumes(tmp_path):
    X, y = make_classification(n=48, t=10, f=2)
    X_test, y_test = make_classification(n=15, t=10, f=2, seed=1)
    np.savez(tmp_path / "waves.npz", X_train=X, y_train=y, X_test=X_test, y_test=y_test)
    wd = tmp_path / "runs"
    args = ["run", tmp_path / "waves.npz", "--workdir", wd, "--max-epochs", 2, "--seed", 1, "--families", "rnn",
            "--set", "rnn.units=[16,32]"]
    r = seqsearch(*args, "--trials", 3)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    out = r.stdout
    assert "study 'waves'" in out and "leaderboard" in out and "test (15 sequences): accuracy" in out
    assert "#0" in out and "#2" in out and "best #" in out
    # 10 validation sequences: by default completed trials are cross-validated on 3 folds.
    assert "cross-validated on 3 folds of train+val" in out
    # Not a terminal: each finished fold, each exported member and the test scoring get a line.
    done = [line for line in out.splitlines() if " complete " in line and line.strip().startswith("#")]
    for line in done:
        n = line.split()[0]
        assert all(f"{n}     fold {k}/3" in out for k in (1, 2, 3)), out
    # Cross-validated members are exported as their fold models, nothing retrained.
    assert " fold models rebuilt in " in out and "retraining" not in out
    assert "scoring on the test split (15 sequences)" in out

    study_path = wd / "waves"
    best = study_path / "best"
    for name in ("model.keras", "spec.json", "metrics.json"):
        assert (best / name).is_file(), name
    metrics = json.loads((best / "metrics.json").read_text())
    spec = json.loads((best / "spec.json").read_text())
    assert metrics["classes"] == ["a", "b", "c"] and 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert spec["family"] == "rnn" and spec["rnn.units"] in (16, 32)

    import keras

    model = keras.saving.load_model(best / "model.keras")
    pred = model.predict(X_test, verbose=0)
    assert pred.shape == (15, 3)
    # The test score in metrics.json is the exported model's own on the raw test data.
    assert np.mean(pred.argmax(1) == np.searchsorted(["a", "b", "c"], y_test)) == pytest.approx(metrics["test"]["accuracy"])

    c, parents, children = _runs(study_path, "waves")
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert all(ch.data.tags["mlflow.parentRunId"] == parent.info.run_id for ch in children)
    assert {ch.data.tags["seqsearch.trial"] for ch in children} == {"0", "1", "2"}
    for ch in children:
        assert ch.data.params["family"] == "rnn"
        assert ch.data.tags["seqsearch.state"] in ("complete", "pruned", "failed")
        assert ch.info.status in ("FINISHED", "KILLED", "FAILED")
        if ch.data.tags["seqsearch.state"] == "complete":
            hist = c.get_metric_history(ch.info.run_id, "val_loss")
            assert 1 <= len(hist) <= 2 and [m.step for m in hist] == list(range(1, len(hist) + 1))  # epochs from 1
            assert "n_params" in ch.data.metrics
    assert "test_accuracy" in parent.data.metrics
    plots = {a.path for a in c.list_artifacts(parent.info.run_id, "plots")}
    assert {"plots/optimisation_history.png", "plots/score_by_family.png", "plots/learning_curves.png"} <= plots
    assert "leaderboard.csv" in {a.path for a in c.list_artifacts(parent.info.run_id)}
    # The best model is a LoggedModel the parent run outputs: the spec its params, the test
    # scores its metrics, MLmodel and input example among its files.
    (logged,) = c.search_logged_models([parent.info.experiment_id])
    assert logged.name == "best_model" and logged.source_run_id == parent.info.run_id
    assert str(logged.status).endswith("READY") and logged.params["family"] == "rnn"
    assert {m.key for m in logged.metrics} >= {"test_accuracy", "test_loss"}
    assert [o.model_id for o in c.get_run(parent.info.run_id).outputs.model_outputs] == [logged.model_id]
    files = {a.path for a in c.list_logged_model_artifacts(logged.model_id)}
    assert {"MLmodel", "input_example.json", "classes.json", "code"} <= files, files
    for ch in children:
        assert ch.data.tags["seqsearch.cell"] in ("lstm", "gru", "simple_rnn")
        assert ch.data.tags["seqsearch.bidirectional"] in ("true", "false")
        assert "model_summary.txt" in {a.path for a in c.list_artifacts(ch.info.run_id)}
    assert parent.data.tags["seqsearch.logged_model_trial"] == str(metrics["trial"])
    model_uri = parent.data.tags["seqsearch.best_model_uri"]
    # Recurrent cells are Keras' own layers: the model is logged as it is, not traced.
    assert parent.data.tags["seqsearch.best_model_format"] == "keras"
    import mlflow.pyfunc

    mlflow.set_tracking_uri(f"sqlite:///{study_path / 'mlflow.db'}")
    assert model_uri == f"models:/{logged.model_id}"
    # The pyfunc answers the class names, then each class's probability.
    served = mlflow.pyfunc.load_model(model_uri).predict(X_test[:4])
    assert list(served.columns) == ["label", "probability_a", "probability_b", "probability_c"]
    np.testing.assert_allclose(served.iloc[:, 1:].to_numpy(), pred[:4], rtol=1e-4, atol=1e-5)
    assert list(served["label"]) == list(np.array(["a", "b", "c"])[pred[:4].argmax(1)])

    # Resume: the same study with a higher target adds trials, numbering continues.
    r = seqsearch(*args, "--trials", 5)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming: 3 finished trial(s) kept" in r.stdout
    # New trials #3 and #4 run; #0-#2 are not run again (they may still be named as members
    # of the exported average).
    ran = re.findall(r"^  #(\d+)  ", r.stdout, flags=re.M)  # trial rows, not the member list
    assert {"3", "4"} <= set(ran) and not {"0", "1", "2"} & set(ran), ran
    trials = _optuna_trials(study_path, "waves")
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    _, parents, children = _runs(study_path, "waves")
    assert len(parents) == 1
    assert sorted(int(ch.data.tags["seqsearch.trial"]) for ch in children) == [0, 1, 2, 3, 4]

    # The same command once more trains nothing.
    r = seqsearch(*args, "--trials", 5)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming: 5 finished trial(s) kept" in r.stdout
    assert "unchanged; keeping the export" in r.stdout
    assert len(_optuna_trials(study_path, "waves")) == 5

    # The MLflow UI serves the study's store.
    port = free_port()
    ui = subprocess.Popen([sys.executable, "-m", "seqsearch", "ui", "--workdir", str(wd), "--port", str(port)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True)
    try:
        raw = wait_http(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=waves", proc=ui)
        assert raw is not None, "MLflow UI did not answer"
        assert json.loads(raw)["experiment"]["name"] == "waves"
    finally:
        # The UI server starts workers of its own: stop the whole process group.
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=30)


def test_python_api_regression(tmp_path, reg_npz):
    import seqsearch
    from seqsearch.progress import Console

    result = seqsearch.run(reg_npz, trials=2, max_epochs=2, workdir=tmp_path / "runs", seed=0, families=["rnn"],
                           fixed={"rnn.units": 16, "train.scaling": "global"}, console=Console(quiet=True))
    assert isinstance(result, seqsearch.RunResult)
    assert result.study == "reg" and result.n_trials == 2
    assert set(result.test_metrics) == {"mse", "rmse", "mae", "r2"}
    assert result.best_spec["rnn.units"] == 16
    import keras

    model = keras.saving.load_model(result.model_path)
    pred = model.predict(np.zeros((3, 10, 1), "float32"), verbose=0)
    # The head de-standardises: predictions come out in target units (around 100), not z-scores.
    assert pred.shape == (3, 1) and 50 < float(pred.mean()) < 150
    assert json.loads(json.dumps(result.to_dict(), default=str))["best_trial"] == result.best_trial


def test_cli_long_csv_with_json_result(tmp_path, clf_csv):
    # --timeout ends the search after the trial that crosses it: 1 of the 50 requested.
    r = seqsearch("run", clf_csv, "--workdir", tmp_path / "runs", "--trials", 50, "--timeout", 0.5,
                  "--max-epochs", 1, "--set", "rnn.units=16", "--json",
                  # The recipe's augmentation and label smoothing, through training, retrain and export.
                  "--set", "train.augment=slicing", "--set", "train.label_smoothing=0.1")
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout)
    assert result["study"] == "clf" and result["n_trials"] == 1
    assert (result["best_spec"]["train.augment"], result["best_spec"]["train.label_smoothing"]) == ("slicing", 0.1)
    assert set(result["test_metrics"]) == {"accuracy", "loss"}
    metrics = json.loads((tmp_path / "runs" / "clf" / "best" / "metrics.json").read_text())
    assert metrics["classes"] == ["down", "up"] and metrics["input_shape"] == [None, 8, 2]


def test_specs_file_replays_architectures_first(tmp_path):
    """--specs FILE: complete or partial specs run first, exactly as given (defaults fill the rest)."""
    X, y = make_classification(n=30, t=6, f=1)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    specs = [{"family": "rnn", "rnn.cell": "gru", "rnn.units": 16},
             {"family": "transformer", "transformer.d_model": 16, "transformer.blocks": 1}]
    (tmp_path / "specs.json").write_text(json.dumps(specs))
    wd = tmp_path / "runs"
    r = seqsearch("run", tmp_path / "d.npz", "--specs", tmp_path / "specs.json", "--trials", 2, "--max-epochs", 1,
                  "--pruner", "none", "--workdir", wd)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "queued spec-0, spec-1" in r.stdout
    trials = sorted(_optuna_trials(wd / "d", "d"), key=lambda t: t.number)
    assert [t.params["family"] for t in trials] == ["rnn", "transformer"]
    assert (trials[0].params["rnn.cell"], trials[0].params["rnn.units"], trials[0].params["rnn.layers"]) == ("gru", 16, 1)
    assert (trials[1].params["transformer.d_model"], trials[1].params["transformer.blocks"]) == (16, 1)
    assert [t.user_attrs["warm_start"] for t in trials] == ["spec-0", "spec-1"]


def test_run_status_and_mlflow_show_the_same_numbers(tmp_path):
    """One meaning per number: a trial's val_loss and epoch counts read the same in the live
    view, `seqsearch status`, the leaderboards and MLflow, pruned trials included (Optuna keeps
    a pruned trial's last reported loss; the live view prints its best)."""
    X, y = make_classification(n=48, t=10, f=1)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    wd = tmp_path / "runs"
    r = seqsearch("run", tmp_path / "d.npz", "--workdir", wd, "--no-warm-start", "--trials", 6, "--max-epochs", 12,
                  "--families", "rnn", "--folds", 1, "--ensemble", 1, "--set", "train.patience=10")
    assert r.returncode == 0, r.stderr[-3000:]
    live = {int(m[1]): (m[2], m[3], int(m[4])) for m in re.finditer(
        r"^\s+#(\d+)\s+(complete|pruned)\s+(\S+)\s+\S+\s+(\d+)\s", r.stdout, re.M)}
    assert "pruned" in {s for s, _, _ in live.values()}, r.stdout
    assert re.search(r"\[pruned after epoch 4 \(sha", r.stdout), r.stdout
    st = json.loads(seqsearch("status", "d", "--workdir", wd, "--json").stdout)
    shown = {t["trial"]: (t["state"], f"{t['val_loss']:.4f}", t["epochs"]) for t in st["trials"]}
    assert shown == live
    # The leaderboards: best epoch counted from 1 in run's and status's alike.
    board = re.search(r"^leaderboard .*\n.*\n-.*\n((?:\d+ .*\n)+)", r.stdout, re.M)[1].splitlines()
    run_best = {int(line.split()[0]): int(line.split()[3]) for line in board}
    status_best = {t["trial"]: t["best_epoch"] for t in st["trials"] if t["trial"] in run_best}
    assert run_best == status_best and all(1 <= e <= 12 for e in run_best.values())
    _, _, children = _runs(wd / "d", "d")
    for c in children:
        n = int(c.data.tags["seqsearch.trial"])
        if n in run_best:
            assert c.data.metrics["best_epoch"] == run_best[n]
        if c.data.tags["seqsearch.state"] == "pruned":
            assert int(c.data.tags["seqsearch.pruned_at_epoch"]) == live[n][2]
