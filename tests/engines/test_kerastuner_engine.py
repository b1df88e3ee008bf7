"""--engine kerastuner: Hyperband, Bayesian and random oracles over the same space, tracked,
resumed and exported exactly like the Optuna engine's trials."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import keras
from conftest import make_classification
from search_spaces import Boolean, Family, register_family, unregister_family
from test_cli import seqsearch
from test_end_to_end import _runs

pytestmark = pytest.mark.slow

# --folds 1: these tests are about the engines; cross-validating the tiny split would triple them.
SMALL = ["--folds", "1", "--families", "rnn", "--set", "rnn.units=16", "--set", "rnn.layers=1", "--set", "train.batch_size=16"]


def _records(study_path):
    return [json.loads(p.read_text()) for p in sorted((study_path / "kerastuner" / "seqsearch").glob("trial_*.json"))]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("kt") / "w.npz"
    X, y = make_classification(n=40, t=8, f=1)
    np.savez(path, X=X, y=y)
    return path


def test_hyperband_schedule_tracking_and_export_match_optuna(data, tmp_path):
    wd = tmp_path / "runs"
    # --max-epochs 3: Hyperband's first bracket runs 3 candidates for 1 epoch and promotes the
    # best one to 3 epochs; the other two are stopped by the schedule.
    r = seqsearch("run", data, "--workdir", wd, "--study", "kt", "--engine", "kerastuner", "--trials", 4,
                  "--max-epochs", 3, *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    recs = _records(wd / "kt")
    assert [r["number"] for r in recs] == [0, 1, 2, 3]
    assert [r["attrs"]["epochs_budget"] for r in recs] == [1, 1, 1, 3]
    assert all(r["state"] == "complete" for r in recs)
    promoted = recs[3]["attrs"]["promoted_from"]
    assert recs[3]["spec"] == recs[promoted]["spec"]
    assert recs[promoted]["value"] == min(r["value"] for r in recs[:3])
    assert recs[3]["attrs"]["epochs_run"] >= 1
    # Same MLflow layout as Optuna's trials: one parent, one child per trial with its state.
    _, parents, children = _runs(wd / "kt", "kt")
    assert len(parents) == 1 and sorted(int(c.data.tags["seqsearch.trial"]) for c in children) == [0, 1, 2, 3]
    assert all(c.data.tags["seqsearch.state"] == "complete" for c in children)
    # status reads it too, without TensorFlow.
    st = seqsearch("status", "kt", "--workdir", wd, "--json")
    assert st.returncode == 0, st.stderr
    info = json.loads(st.stdout)
    assert info["counts"]["complete"] == 4 and info["leaderboard"][0] in (promoted, 3)
    # The export has the same form whichever engine found it.
    r = seqsearch("run", data, "--workdir", wd, "--study", "op", "--trials", 2, "--max-epochs", 2, *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    X = np.load(data)["X"][:3]
    shapes = []
    for study in ("kt", "op"):
        meta = json.loads((wd / study / "best" / "metrics.json").read_text())
        model = keras.saving.load_model(wd / study / "best" / "model.keras")
        shapes.append((meta["input_shape"], meta["classes"], model.predict(X, verbose=0).shape))
    assert shapes[0] == shapes[1]
    # A rerun with a larger target continues the schedule instead of repeating trials.
    r = seqsearch("run", data, "--workdir", wd, "--study", "kt", "--engine", "kerastuner", "--trials", 6,
                  "--max-epochs", 3, *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    recs = _records(wd / "kt")
    assert [r["number"] for r in recs] == list(range(6)) and "resuming: 4 finished trial(s) kept" in r.stdout


class Flaky(Family):
    """Builds a small GRU, or raises while building when ``boom`` is drawn."""

    params = (Boolean("boom", default=False),)

    def build(self, x, p, ctx):
        if p["boom"]:
            raise RuntimeError("boom: this candidate cannot be built")
        return keras.layers.GRU(8, name="flaky_gru")(x)


@pytest.mark.parametrize("engine, sampler", [("kerastuner", "bayesian"), ("optuna", "random")])
def test_failing_trials_do_not_end_the_study(data, tmp_path, engine, sampler):
    import seqsearch as ss
    from seqsearch.progress import Console
    from seqsearch.status import study_status

    register_family("flaky")(Flaky)
    try:
        r = ss.run(data, engine=engine, sampler=sampler, trials=6, max_epochs=1, workdir=tmp_path, folds=1,
                   families=["flaky"], seed=3, console=Console(quiet=True))
    finally:
        unregister_family("flaky")
    trials = study_status("w", tmp_path)["trials"]
    assert len(trials) == 6 and r.n_trials == 6
    failed = [t for t in trials if t["state"] == "failed"]
    assert failed and all("boom: this candidate cannot be built" in t["reason"] for t in failed)
    assert any(t["state"] == "complete" for t in trials)
    assert r.best_spec["flaky.boom"] is False
    # MLflow has the reason too, on each failed trial's run.
    _, _, children = _runs(tmp_path / "w", "w")
    reasons = [c.data.tags.get("seqsearch.reason", "") for c in children if c.data.tags["seqsearch.state"] == "failed"]
    assert len(reasons) == len(failed) and all("boom" in x for x in reasons)


def test_kill_9_then_rerun_keeps_finished_trials(data, tmp_path):
    wd = tmp_path / "runs"
    args = [sys.executable, "-m", "seqsearch", "run", str(data), "--workdir", str(wd), "--engine", "kerastuner",
            "--sampler", "random", "--trials", "3", *SMALL, "--set", "train.patience=40"]
    study_path = wd / "w"
    proc = subprocess.Popen(args + ["--max-epochs", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 300
        recs = []
        while time.time() < deadline:
            recs = _records(study_path) if (study_path / "kerastuner" / "seqsearch").is_dir() else []
            if sum(r["state"] == "complete" for r in recs) >= 1 and recs[-1]["state"] == "running":
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.5)
        else:
            pytest.fail(f"no trial was running in time: {recs}")
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = recs[-1]["number"]
    done_before = {r["number"]: r["value"] for r in recs if r["state"] == "complete"}

    r = subprocess.run(args + ["--max-epochs", "3"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    recs = _records(study_path)
    by_number = {x["number"]: x for x in recs}
    assert by_number[killed]["state"] == "failed" and by_number[killed]["attrs"]["reason"] == "worker process died"
    # Finished trials kept as they were; the dead trial's values run again under a new number.
    assert {n: by_number[n]["value"] for n in done_before} == done_before
    retries = [x for x in recs if x["attrs"].get("retry_of") == killed]
    assert len(retries) == 1 and retries[0]["spec"] == by_number[killed]["spec"]
    assert [x["number"] for x in recs] == list(range(len(recs)))
    assert sum(x["state"] != "failed" for x in recs) == 3 and not [x for x in recs if x["state"] == "running"]
    _, parents, children = _runs(study_path, "w")
    assert len(parents) == 1 and len(children) == len(recs)
    states = {int(c.data.tags["seqsearch.trial"]): (c.data.tags["seqsearch.state"], c.info.status) for c in children}
    assert states[killed] == ("failed", "FAILED")
    assert (study_path / "best" / "model.keras").is_file()
