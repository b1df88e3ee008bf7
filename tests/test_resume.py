"""A killed search resumes: finished trials kept, the interrupted one failed and retried."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import make_classification
from test_end_to_end import _optuna_trials, _runs

pytestmark = pytest.mark.slow


def _states(study_path, study):
    try:
        return [t.state.name for t in _optuna_trials(study_path, study)]
    except Exception:  # noqa: BLE001 - the study may not exist yet
        return []


def test_kill_9_mid_trial_then_rerun(tmp_path):
    X, y = make_classification(n=60, t=16, f=1)
    np.savez(tmp_path / "k.npz", X=X, y=y)
    wd = tmp_path / "runs"
    args = [sys.executable, "-m", "seqsearch", "run", str(tmp_path / "k.npz"), "--workdir", str(wd),
            "--trials", "3", "--pruner", "none", "--folds", "1", "--families", "rnn", "--set", "train.patience=40", "--set", "rnn.units=16",
            "--set", "rnn.layers=1", "--set", "train.batch_size=16"]
    study_path = wd / "k"
    proc = subprocess.Popen(args + ["--max-epochs", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            states = _states(study_path, "k")
            if states.count("COMPLETE") >= 1 and states[-1] == "RUNNING":
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.5)
        else:
            pytest.fail(f"no trial was running in time: {states}")
        time.sleep(1.0)  # well inside the running trial (each trial trains 60 epochs)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = len(states) - 1
    _, _, children = _runs(study_path, "k")
    assert any(ch.data.tags["seqsearch.state"] == "running" for ch in children)

    r = subprocess.run(args + ["--max-epochs", "3"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    trials = _optuna_trials(study_path, "k")
    dead = trials[killed]
    assert dead.state.name == "FAIL" and dead.user_attrs["reason"] == "worker process died"
    # Completed trials are kept, the dead one's spec runs again, numbering continues.
    assert [t.number for t in trials] == list(range(len(trials)))
    retries = [t for t in trials if t.user_attrs.get("retry_of") == killed]
    assert len(retries) == 1 and retries[0].params == dead.params
    counted = [t for t in trials if t.state.name != "FAIL"]
    assert len(counted) == 3
    assert not [t for t in trials if t.state.name == "RUNNING"]
    # MLflow agrees: the dead trial's run is closed as failed, one child run per trial.
    _, parents, children = _runs(study_path, "k")
    assert len(children) == len(trials) and len(parents) == 1
    by_trial = {int(ch.data.tags["seqsearch.trial"]): ch for ch in children}
    assert by_trial[killed].data.tags["seqsearch.state"] == "failed"
    assert by_trial[killed].info.status == "FAILED"
    assert (study_path / "best" / "model.keras").is_file()
