"""Reliability: export writes only what it owns, damaged state files heal, and every command
ends a failure with one line (never a traceback) while the stored study stays as it was."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import make_classification
from seqsearch.cli import main
from seqsearch.engines import KerasTunerEngine, OptunaEngine
from seqsearch.engines.heal import complete_prefix, heal_journal
from test_engine import _fake_search


def _snapshot(path):
    return sorted((str(p.relative_to(path)), p.read_bytes()) for p in path.rglob("*") if p.is_file())


def _one_line_error(r, code=2):
    out = r.output + (r.stderr if r.stderr_bytes is not None else "")
    assert r.exit_code == code, (r.exit_code, out[-3000:])
    assert "Traceback" not in out
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-2000:]
    return lines[0]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One tiny real study with a best model, shared by the predict and export cases."""
    d = tmp_path_factory.mktemp("reliable")
    X, y = make_classification(n=30, t=8, f=1, classes=("p", "q"))
    np.savez(d / "data.npz", X=X, y=y)
    r = CliRunner().invoke(main, ["run", str(d / "data.npz"), "--study", "s", "--workdir", str(d / "runs"), "--trials", "1",
                                  "--max-epochs", "1", "--folds", "1", "--ensemble", "1", "--no-warm-start",
                                  "--families", "rnn", "--set", "rnn.units=16", "-q"])
    assert r.exit_code == 0, r.output
    return d


def _hostile_files(d):
    np.savez(d / "object.npz", X=np.array([[1, "a"]], dtype=object), y=np.array([1]))
    (d / "damaged.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    # A 128-byte header that declares 3.2e18 bytes of float64: refused before any allocation.
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000, 1000000, 4), }"
    header = header.ljust(117) + "\n"
    (d / "huge.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
    with zipfile.ZipFile(d / "huge.npz", "w") as z:
        z.write(d / "huge.npy", "X.npy")
    (d / "notzip.keras").write_text("not a model")
    (d / "afolder").mkdir(exist_ok=True)


PREDICT_CASES = [
    ("best", "object.npz", [], "holds Python objects (object dtype"),
    ("best", "damaged.npz", [], "damaged.npz is not a readable .npz archive"),
    ("best", "huge.npz", [], "declares shape (100000000000, 1000000, 4)"),
    ("notzip.keras", "data.npz", [], "notzip.keras is not a Keras model file"),
    ("lambda.keras", "data.npz", [], "refused by Keras' safe mode"),
    ("best", "data.npz", ["--out", "{d}/missing/out.csv"], "folder"),
    ("best", "data.npz", ["--out", "{d}/afolder"], "is a directory"),
]


@pytest.mark.parametrize("model, data, extra, message", PREDICT_CASES, ids=[c[1] + "-" + c[0] for c in PREDICT_CASES])
def test_predict_failures_are_one_line(study, model, data, extra, message):
    d = study
    _hostile_files(d)
    if model == "lambda.keras" and not (d / model).exists():
        import keras

        m = keras.Sequential([keras.Input((8, 1)), keras.layers.Lambda(lambda x: x * 2)])
        m.save(d / model)
    before = _snapshot(d / "runs")
    model_path = d / "runs" / "s" / "best" if model == "best" else d / model
    args = ["predict", str(model_path), str(d / data), *[a.replace("{d}", str(d)) for a in extra]]
    line = _one_line_error(CliRunner().invoke(main, args))
    assert message in line, line
    assert _snapshot(d / "runs") == before
    assert not (d / "missing").exists()


def test_export_never_replaces_a_folder_it_did_not_write(study, tmp_path, monkeypatch):
    d = study
    runs = d / "runs"
    before = _snapshot(runs)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    monkeypatch.chdir(tmp_path)
    for out in (str(precious), ".", str(runs), str(runs / "s")):
        line = _one_line_error(CliRunner().invoke(main, ["export", "s", "--workdir", str(runs), "--format", "keras", "--out", out]))
        assert "holds files seqsearch did not write" in line, line
    assert (precious / "notes.txt").read_text() == "mine" and sorted(os.listdir(precious)) == ["notes.txt"]
    assert _snapshot(runs) == before
    for extra, message in ((["--tolerance", "nan"], "--tolerance must be a finite positive number"),
                           (["--tolerance", "-1"], "--tolerance must be a finite positive number"),
                           (["--format", "keras,zip"], "choose from keras")):
        line = _one_line_error(CliRunner().invoke(main, ["export", "s", "--workdir", str(runs), "--out", "new", *extra]))
        assert message in line, line
    assert not (tmp_path / "new").exists()


def test_export_replaces_its_own_export_and_removes_stale_temp_folders(study, tmp_path):
    runs = study / "runs"
    out = tmp_path / "exported"
    stale = tmp_path / ".export-999999999-abc"  # left by a killed export (no such process)
    stale.mkdir()
    (stale / "model.keras").write_text("half")
    live = tmp_path / f".export-{os.getpid()}-xyz"  # this process's own: never touched
    live.mkdir()
    keep = tmp_path / ".export-notes"  # not seqsearch's naming: never touched
    keep.mkdir()
    args = ["export", "s", "--workdir", str(runs), "--format", "keras", "--out", str(out)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == set(os.listdir(out))
    assert not stale.exists() and live.exists() and keep.exists()
    r = CliRunner().invoke(main, args)  # an earlier export of ours is replaced
    assert r.exit_code == 0, r.output
    (out / "mine.txt").write_text("a user's file inside the export")
    line = _one_line_error(CliRunner().invoke(main, args))
    assert "holds files seqsearch did not write" in line
    assert (out / "mine.txt").is_file() and (out / "model.keras").is_file()


def test_a_bug_is_one_line_with_the_traceback_in_the_study_folder(study, monkeypatch):
    import seqsearch.status

    def broken(*a, **k):
        raise TypeError("a bug")

    monkeypatch.setattr(seqsearch.status, "study_status", broken)
    runs = study / "runs"
    # A bug outside a known study: the temp folder gets the log.
    line = _one_line_error(CliRunner().invoke(main, ["status", "s", "--workdir", str(runs)]), code=1)
    assert "internal error in seqsearch (TypeError: a bug)" in line and "please report it" in line
    log = line.split("the traceback is in ")[1].split(";")[0]
    assert "Traceback" in open(log).read() and "TypeError: a bug" in open(log).read()

    import seqsearch.formats

    monkeypatch.setattr(seqsearch.formats, "check_export_target", broken)
    line = _one_line_error(CliRunner().invoke(main, ["export", "s", "--workdir", str(runs), "--format", "keras"]), code=1)
    assert str(runs / "s" / "seqsearch-error.log") in line
    assert "TypeError: a bug" in (runs / "s" / "seqsearch-error.log").read_text()
    (runs / "s" / "seqsearch-error.log").unlink()


def test_a_damaged_best_model_is_exported_again_on_resume(study):
    runs = study / "runs"
    best = runs / "s" / "best" / "model.keras"
    good = best.read_bytes()
    best.write_bytes(good[: len(good) // 2])
    args = ["run", str(study / "data.npz"), "--study", "s", "--workdir", str(runs), "--trials", "1", "--max-epochs", "1",
            "--folds", "1", "--ensemble", "1", "--no-warm-start", "--families", "rnn", "--set", "rnn.units=16", "-q"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    with zipfile.ZipFile(best) as z:
        assert z.testzip() is None
    from seqsearch import load_model

    load_model(best)


# -- the journal -------------------------------------------------------------------------------

def test_complete_prefix_keeps_whole_records_only():
    a, b = b'{"op_code": 0, "x": 1}\n', b'{"op_code": 5, "y": 2}\n'
    assert complete_prefix(a + b) == (len(a + b), 2)
    assert complete_prefix(a + b[:-1]) == (len(a), 1)  # no newline: torn
    assert complete_prefix(a + b'{"op_code": 5, "param_na{"op_code":1}\n' + b) == (len(a), 1)  # fused
    assert complete_prefix(a + b"[1, 2]\n" + b) == (len(a), 1)  # JSON, but not a record
    assert complete_prefix(b"") == (0, 0)


def test_journal_torn_at_every_offset_of_its_last_record_resumes_with_every_complete_trial(tmp_path):
    _fake_search(tmp_path, "none", n_trials=3, max_epochs=2)
    journal = tmp_path / "s" / "optuna.journal"
    whole = journal.read_bytes()
    lines = whole.splitlines(keepends=True)
    # The journal's last record, torn at many offsets (every one, for a short record).
    last = lines[-1]
    head = b"".join(lines[:-1])
    offsets = sorted(set(range(1, len(last))) if len(last) <= 200 else set(np.linspace(1, len(last) - 1, 120).astype(int)))
    for cut in offsets:
        journal.write_bytes(head + last[:cut])
        for p in journal.parent.glob("optuna.journal.torn-*"):
            p.unlink()
        engine = OptunaEngine("s", tmp_path / "s", sampler="random", max_epochs=2).open()
        assert engine.notices and "moved them to optuna.journal.torn-" in engine.notices[0]
        aside = list(journal.parent.glob("optuna.journal.torn-*"))
        assert len(aside) == 1 and aside[0].read_bytes() == last[:cut]
        assert journal.read_bytes().startswith(head)  # opening the study appends after the complete records
        assert complete_prefix(journal.read_bytes())[0] == len(journal.read_bytes())
        done = [r for r in engine.records() if r.state == "complete"]
        # The last record belongs to the third trial: at least the first two are complete.
        assert len(done) >= 2
        # The study continues: a new trial is appended after the complete records and read back.
        trial = engine.study.ask()
        engine.study.tell(trial, 1.0)
        again = OptunaEngine("s", tmp_path / "s", sampler="random").load()
        assert not again.notices and len(again.records()) == len(engine.records())
    journal.write_bytes(whole)


def test_status_and_run_heal_a_torn_journal_from_the_command_line(tmp_path):
    _fake_search(tmp_path, "none", n_trials=3, max_epochs=2)
    journal = tmp_path / "s" / "optuna.journal"
    whole = journal.read_bytes()
    with open(journal, "ab") as f:
        f.write(b'{"op_code": 5, "param_na')
    r = CliRunner().invoke(main, ["status", "s", "--workdir", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    info = json.loads(r.stdout)
    assert info["counts"]["complete"] == 3
    assert r.stderr.count("warning: optuna.journal ended in 24 bytes") == 1
    assert journal.read_bytes() == whole
    assert heal_journal(journal) is None  # whole now: nothing more to do


def test_damaged_kerastuner_state_files_are_moved_aside(tmp_path):
    from search_spaces import SearchSpace
    from seqsearch.training import TrialOutcome

    space = SearchSpace(families=["rnn"])

    def evaluate(ctx):
        ctx.spec = space.sample(ctx.hp)
        ctx.set_attr("summary", "fake")
        return TrialOutcome(state="complete", value=float(ctx.number + 1), best_epoch=0)

    path = tmp_path / "k"
    path.mkdir()
    KerasTunerEngine("k", path, space=space, sampler="random", trials=10).open().search(evaluate, 3)
    project = path / "kerastuner" / "k"
    torn = project / "trial_0001" / "trial.json"
    torn.write_bytes(torn.read_bytes()[:40])
    (path / "kerastuner" / "warm_start.json").write_text("[[\"seed\", {\"fam")
    engine = KerasTunerEngine("k", path, space=space, sampler="random", trials=10).open()
    assert any("trial_0001/trial.json was damaged" in n for n in engine.notices)
    assert any("warm_start.json was damaged" in n for n in engine.notices)
    assert list((project / "trial_0001").glob("trial.json.torn-*"))
    engine.search(evaluate, 1)
    assert sorted(p.name for p in project.glob("trial_*")) == ["trial_0000", "trial_0001", "trial_0002", "trial_0003"]
    oracle = project / "oracle.json"
    oracle.write_bytes(oracle.read_bytes()[:30])
    engine = KerasTunerEngine("k", path, space=space, sampler="random", trials=10).open()
    assert any("oracle.json was damaged" in n for n in engine.notices)
    engine.search(evaluate, 1)
    assert len([r for r in engine.records() if r.state == "complete"]) == 5
    assert (project / "trial_0004").is_dir()


# -- the rest of the boundary ----------------------------------------------------------------

def test_a_tracking_server_that_does_not_answer_fails_in_seconds_and_leaves_nothing(tmp_path):
    from conftest import free_port

    X, y = make_classification(n=20, t=4, f=1, classes=("p", "q"))
    np.savez(tmp_path / "d.npz", X=X, y=y)
    wd = tmp_path / "runs"
    started = time.time()
    marker = f"SEQSEARCH_TEST_MARK={os.getpid()}-{time.time_ns()}"
    r = subprocess.run([sys.executable, "-m", "seqsearch", "run", str(tmp_path / "d.npz"), "--workdir", str(wd),
                        "--tracking-uri", f"http://127.0.0.1:{free_port()}", "--trials", "2", "--jobs", "2"],
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, marker.split("=")[0]: marker.split("=")[1]})
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "does not answer" in lines[0], r.stderr[-2000:]
    assert "Max retries exceeded" in lines[0] or "Connection refused" in lines[0], lines[0]
    assert time.time() - started < 60
    assert list(wd.iterdir()) == []  # no study folder left behind by the failed start
    # The --jobs worker, spawned before the study was opened, was stopped with it.
    assert not _processes_with_env(marker), "a worker outlived the failed start"


def test_workers_stop_when_their_parent_dies(tmp_path):
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'from seqsearch.workers import exit_with_parent; "
        "exit_with_parent(0.1); import time; time.sleep(120)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    time.sleep(3)  # the child has imported seqsearch.workers and started watching
    assert _running(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 30
    while _running(child) and time.time() < deadline:
        time.sleep(0.2)
    assert not _running(child)


def _processes_with_env(marker):
    """Live processes whose environment holds ``marker`` (children inherit it)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if marker.encode() in (proc / "environ").read_bytes() and _running(int(proc.name)):
                found.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return found


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_inputs_that_overflow_float32_are_refused_with_the_feature_and_range(tmp_path):
    from seqsearch.data import load_dataset
    from seqsearch.errors import DataError

    X, y = make_classification(n=20, t=4, f=2, classes=("p", "q"))
    X = X.astype(np.float64)
    X[3, 1, 1] = 3e30
    np.savez(tmp_path / "big.npz", X=X, y=y)
    with pytest.raises(DataError, match=r"feature 1 ranges from .* to 3e\+30: values beyond"):
        load_dataset(tmp_path / "big.npz")
    X[3, 1, 1] = 1e300  # not even a float32: said the same way, not as 'infinite'
    np.savez(tmp_path / "big.npz", X=X, y=y)
    with pytest.raises(DataError, match="feature 1 ranges"):
        load_dataset(tmp_path / "big.npz")


def test_a_copied_study_writes_its_artifacts_into_the_copy(study, tmp_path):
    import shutil

    from mlflow import MlflowClient

    from seqsearch.local_store import local_tracking_uri, relocate_store

    original = study / "runs" / "s"
    copy = tmp_path / "elsewhere" / "s"
    shutil.copytree(original, copy)
    before = _snapshot(original)
    assert relocate_store(copy, "s") == (original / "mlartifacts").as_uri()
    client = MlflowClient(tracking_uri=local_tracking_uri(copy))
    exp = client.get_experiment_by_name("s")
    assert exp.artifact_location == (copy / "mlartifacts").as_uri()
    runs = client.search_runs([exp.experiment_id])
    assert runs and all(r.info.artifact_uri.startswith((copy / "mlartifacts").as_uri() + "/") for r in runs)
    models = client.search_logged_models([exp.experiment_id])
    assert models and all(m.artifact_location.startswith((copy / "mlartifacts").as_uri() + "/") for m in models)
    versions = client.search_model_versions("name = 's'")
    assert versions and all(v.source.startswith("models:/m-") for v in versions)
    import sqlite3

    with sqlite3.connect(copy / "mlflow.db") as con:
        places = [r[0] for r in con.execute("select storage_location from model_versions")]
    assert places and all(p.startswith((copy / "mlartifacts").as_uri() + "/") for p in places)
    parent = next(r for r in runs if r.data.tags.get("seqsearch.role") == "study")
    assert "best" in [a.path for a in client.list_artifacts(parent.info.run_id)]  # the copy's own files
    assert relocate_store(copy, "s") is None  # done once
    assert _snapshot(original) == before


def test_a_read_only_copy_of_a_study_still_opens(study, tmp_path, monkeypatch):
    import shutil
    import sqlite3

    import seqsearch
    from seqsearch import local_store

    copy = tmp_path / "archive" / "s"
    shutil.copytree(study / "runs" / "s", copy)
    before = _snapshot(copy)
    connect = sqlite3.connect

    def read_only(path, **kw):  # what a folder this user cannot write gives (tests may run as root)
        return connect(f"file:{path}?mode=ro", uri=True, **kw)

    monkeypatch.setattr(sqlite3, "connect", read_only)
    assert local_store.relocate_store(copy, "s") is None  # nothing rewritten, nothing raised
    res = seqsearch.load_study("s", workdir=copy.parent)
    assert len(res.leaderboard) >= 1 and res.best_model() is not None
    assert _snapshot(copy) == before


def test_a_damaged_tracking_store_is_one_line_and_the_study_is_kept(study, tmp_path):
    import shutil

    copy = tmp_path / "runs"
    shutil.copytree(study / "runs", copy)
    db = copy / "s" / "mlflow.db"
    db.write_bytes(db.read_bytes()[:3000])
    before = _snapshot(copy)
    for args in (["run", str(study / "data.npz"), "--study", "s", "--workdir", str(copy), "--trials", "2", "--folds", "1",
                  "--ensemble", "1", "-q"],
                 ["ui", "--study", "s", "--workdir", str(copy)]):
        line = _one_line_error(CliRunner().invoke(main, args))
        assert "tracking store" in line and "is damaged" in line, line
    assert _snapshot(copy) == before
