"""--tracking-uri sends the study to an MLflow tracking server instead of the local store."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import free_port, make_classification, wait_http
from test_cli import seqsearch

pytestmark = pytest.mark.slow


def test_run_against_a_tracking_server(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        assert wait_http(f"http://127.0.0.1:{port}/health", proc=server) is not None, "mlflow server did not start"
        X, y = make_classification(n=30, t=8, f=1, classes=("p", "q"))
        np.savez(tmp_path / "srv.npz", X=X, y=y)
        uri = f"http://127.0.0.1:{port}"
        r = seqsearch("run", tmp_path / "srv.npz", "--workdir", tmp_path / "runs", "--trials", 2, "--max-epochs", 1, "--folds", 1,
                      "--families", "rnn", "--tracking-uri", uri, "-q")
        assert r.returncode == 0, r.stderr[-3000:]
        from mlflow import MlflowClient

        c = MlflowClient(tracking_uri=uri)
        exp = c.get_experiment_by_name("srv")
        runs = c.search_runs([exp.experiment_id])
        assert sum(r.data.tags.get("seqsearch.role") == "trial" for r in runs) == 2
        assert c.get_model_version_by_alias("srv", "best").name == "srv"
        # Nothing went to a local store, and the artifacts went through the server.
        assert not (tmp_path / "runs" / "srv" / "mlflow.db").exists()
        assert any((tmp_path / "server-artifacts").rglob("MLmodel"))
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server's workers too
        server.wait(timeout=30)
