"""Several processes on one study (--jobs, or separate `seqsearch run` commands) against the
same storage: no trial lost or duplicated, one MLflow parent run, no "database is locked"."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import make_classification
from test_cli import seqsearch
from test_end_to_end import _optuna_trials, _runs

pytestmark = pytest.mark.slow

SURPLUS = "not run: the study had reached --trials"
# --folds 1: with folds only the best three first-fold trials would complete (the others end pruned).
SMALL = ["--families", "rnn", "--set", "rnn.units=16", "--set", "rnn.layers=1", "--pruner", "none", "--folds", "1"]


def _check_study(study_path, study, n):
    trials = _optuna_trials(study_path, study)
    # A worker that asked for a trial just as the others filled --trials gives it up untrained.
    ran = [t for t in trials if t.user_attrs.get("reason") != SURPLUS]
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    assert len(ran) == n and all(t.state.name == "COMPLETE" for t in ran)
    _, parents, children = _runs(study_path, study)
    assert len(parents) == 1
    assert sorted(int(c.data.tags["seqsearch.trial"]) for c in children) == sorted(t.number for t in ran)
    assert all(c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for c in children)
    assert (study_path / "best" / "metrics.json").is_file()
    return ran


@pytest.fixture
def data(tmp_path):
    X, y = make_classification(n=40, t=8, f=1)
    np.savez(tmp_path / "w.npz", X=X, y=y)
    return tmp_path / "w.npz"


def test_jobs_share_one_study_without_losing_or_duplicating_trials(data, tmp_path):
    wd = tmp_path / "runs"
    # Enough work that the first process cannot finish it alone while the second one is still
    # importing TensorFlow (CI once saw 5 two-epoch trials done before the worker started).
    r = seqsearch("run", data, "--workdir", wd, "--trials", 8, "--max-epochs", 8, "--jobs", 2, *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "locked" not in r.stderr + r.stdout
    assert "parallel: 2 processes train trials at once" in r.stdout
    ran = _check_study(wd / "w", "w", 8)
    # Two workers really ran trials (the worker token names the process).
    assert len({t.user_attrs["worker"] for t in ran}) == 2


def test_two_separate_commands_on_one_study(data, tmp_path):
    wd = tmp_path / "runs"
    cmd = [sys.executable, "-m", "seqsearch", "run", str(data), "--workdir", str(wd), "--trials", "6",
           "--max-epochs", "2", *SMALL, "-q"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        assert "locked" not in out + err
    ran = _check_study(wd / "w", "w", 6)
    assert len({t.user_attrs["worker"] for t in ran}) == 2


def test_workers_join_one_study_through_postgresql(data, tmp_path, postgres_url):
    """Several machines: workers that share nothing but the database URL (and, here, the MLflow
    store) join one study; results are the same in kind as on one machine."""
    wd = tmp_path / "runs"
    cmd = [sys.executable, "-m", "seqsearch", "run", str(data), "--workdir", str(wd), "--trials", "5",
           "--max-epochs", "2", "--storage", postgres_url, *SMALL, "-q"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    import optuna

    trials = optuna.load_study(study_name="w", storage=postgres_url).trials
    ran = [t for t in trials if t.user_attrs.get("reason") != SURPLUS]
    assert len(ran) == 5 and all(t.state.name == "COMPLETE" for t in ran)
    assert len({t.user_attrs["worker"] for t in ran}) == 2
    assert not (wd / "w" / "optuna.journal").exists()  # the database is the only trial store
    _, parents, children = _runs(wd / "w", "w")
    assert len(parents) == 1 and sorted(int(c.data.tags["seqsearch.trial"]) for c in children) == sorted(t.number for t in ran)
    st = seqsearch("status", "w", "--workdir", wd, "--storage", postgres_url)
    assert st.returncode == 0 and "5 complete" in st.stdout, st.stderr


def _open_engine(url, path, barrier):
    from seqsearch.engines import OptunaEngine

    barrier.wait()
    OptunaEngine("race", path, storage=url).open()


def test_workers_opening_a_new_database_at_once(tmp_path, postgres_url):
    """The first workers on an empty database race to create its tables; none may fail."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_open_engine, args=(postgres_url, tmp_path, barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]


def test_a_worker_spawned_for_a_finished_study_exits_without_touching_it(data, tmp_path):
    """Workers are spawned before the study is opened; when it turns out to have no trials left
    they exit untouched and the run goes on to its finish alone."""
    wd = tmp_path / "runs"
    first = seqsearch("run", data, "--workdir", wd, "--trials", 2, "--max-epochs", 2, "--jobs", 1, *SMALL)
    assert first.returncode == 0, first.stderr[-3000:]
    before = [(t.number, t.state, t.datetime_start) for t in _optuna_trials(wd / "w", "w")]
    again = seqsearch("run", data, "--workdir", wd, "--trials", 2, "--max-epochs", 2, "--jobs", 2, *SMALL)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "parallel:" not in again.stdout  # one process: nothing was left to search
    # No worker asked for a trial (not even one given up as surplus).
    assert [(t.number, t.state, t.datetime_start) for t in _optuna_trials(wd / "w", "w")] == before
    _check_study(wd / "w", "w", 2)


def test_each_worker_trains_on_its_own_gpu(data, tmp_path):
    """gpus=[0, 1] with two processes: each starts its backend with its own CUDA_VISIBLE_DEVICES
    (the main process GPU 0, the worker GPU 1) and every trial records the device it ran on;
    this machine has no GPU, so each says which GPU it was given and that its backend found
    none there. `seqsearch status` shows the column."""
    wd = tmp_path / "runs"
    script = (f"import seqsearch; seqsearch.run({str(data)!r}, workdir={str(wd)!r}, trials=8, max_epochs=8, jobs=2, "
              f"gpus=[0, 1], families=['rnn'], fixed={{'rnn.units': 16, 'rnn.layers': 1}}, pruner='none', folds=1)")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    ran = _check_study(wd / "w", "w", 8)
    by_worker = {}
    for t in ran:
        by_worker.setdefault(t.user_attrs["worker"], set()).add(t.user_attrs["device"])
    assert sorted(d for devices in by_worker.values() for d in devices) == [
        "CPU (GPU 0 not found by tensorflow)", "CPU (GPU 1 not found by tensorflow)"]
    status = seqsearch("status", "w", "--workdir", wd)
    assert status.returncode == 0 and "device" in status.stdout and "CPU (GPU 1 not found" in status.stdout
