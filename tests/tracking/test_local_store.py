"""The study's own MLflow store: a new one starts as a copy of the empty store MLflow built
once for its version, and behaves as one MLflow built itself."""

import sqlite3
import subprocess
import sys

from mlflow import MlflowClient

from seqsearch.local_store import local_tracking_uri, start_local_store, template_path
from seqsearch.tracking import Tracker


def _artifact_location(db, experiment_id):
    with sqlite3.connect(db) as con:
        return con.execute("select artifact_location from experiments where experiment_id = ?",
                           (experiment_id,)).fetchone()[0]


def test_a_new_store_is_a_copy_of_the_versions_template(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQSEARCH_CACHE", str(tmp_path / "cache"))
    template = template_path()
    assert not template.exists()
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    assert start_local_store(first)  # builds the template, then copies it
    built = template.stat().st_mtime_ns
    assert start_local_store(second)
    assert template.stat().st_mtime_ns == built  # built once
    assert not start_local_store(second)  # a study that has its store keeps it
    # The default experiment's artifacts are in the study, not wherever the template was built.
    assert _artifact_location(second / "mlflow.db", 0) == (second / "mlartifacts" / "0").as_uri()
    tracker = Tracker("s", second)
    tracker.open_study({"seed": 0}, {"task": "classification"})
    run = tracker.start_trial(0, {"family": "rnn"}, {})
    client = MlflowClient(tracking_uri=local_tracking_uri(second))
    assert client.get_run(run).data.params == {"family": "rnn"}
    assert client.get_experiment_by_name("s").artifact_location == (second / "mlartifacts").as_uri()
    assert [p.name for p in second.iterdir() if p.name.endswith(".part")] == []


def test_a_damaged_template_is_rebuilt_and_an_unwritable_cache_leaves_it_to_mlflow(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQSEARCH_CACHE", str(tmp_path / "cache"))
    template = template_path()
    template.parent.mkdir(parents=True)
    template.write_bytes(b"not a database")
    (tmp_path / "a").mkdir()
    assert start_local_store(tmp_path / "a")
    with sqlite3.connect(template) as con:
        assert con.execute("select version_num from alembic_version").fetchone()
    # A cache folder that cannot be made (a file is in the way): MLflow builds the store itself.
    (tmp_path / "blocked").write_text("")
    monkeypatch.setenv("SEQSEARCH_CACHE", str(tmp_path / "blocked" / "cache"))
    study = tmp_path / "b"
    study.mkdir()
    assert not start_local_store(study)
    assert not (study / "mlflow.db").exists()
    Tracker("s", study).open_study({"seed": 0}, {"task": "classification"})
    assert MlflowClient(tracking_uri=local_tracking_uri(study)).get_experiment_by_name("s") is not None


def test_a_search_loads_keras_without_its_optional_integrations_which_import_later():
    code = (
        "import sys\n"
        "from seqsearch._backend import load_keras, DEFERRED\n"
        "keras = load_keras(lean=True)\n"
        "assert not any(m in sys.modules for m in DEFERRED), [m for m in DEFERRED if m in sys.modules]\n"
        "assert not any(type(f).__name__ == '_Deferred' for f in sys.meta_path)\n"
        "import sklearn.base, matplotlib.pyplot\n"
        "print('ok', keras.backend.backend())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok tensorflow"
