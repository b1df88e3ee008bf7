"""--tracking-uri sends the study to an MLflow tracking server instead of the local store."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from conftest import make_classification
from test_cli import seqsearch

pytestmark = pytest.mark.slow


def test_run_against_a_tracking_server(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read()
                break
            except OSError:
                time.sleep(1)
        X, y = make_classification(n=30, t=8, f=1, classes=("p", "q"))
        np.savez(tmp_path / "srv.npz", X=X, y=y)
        uri = f"http://127.0.0.1:{port}"
        r = seqsearch("run", tmp_path / "srv.npz", "--workdir", tmp_path / "runs", "--trials", 2, "--max-epochs", 1,
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
