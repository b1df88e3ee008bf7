"""The registered best model serves predictions over REST: class names, and probabilities equal to
the Keras model's."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from conftest import free_port, make_classification
from test_cli import seqsearch

pytestmark = pytest.mark.slow


def test_registered_model_alias_best_serves(tmp_path):
    X, y = make_classification(n=30, t=8, f=1, classes=("p", "q"))
    np.savez(tmp_path / "srv.npz", X=X, y=y)
    wd = tmp_path / "runs"
    # A transformer: its custom layers (position code) must not be needed to serve it.
    r = seqsearch("run", tmp_path / "srv.npz", "--workdir", wd, "--trials", 1, "--max-epochs", 1, "--folds", 1,
                  "--families", "transformer", "--set", "transformer.positional=sinusoidal", "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    uri = f"sqlite:///{wd / 'srv' / 'mlflow.db'}"
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    version = client.get_model_version_by_alias("srv", "best")
    assert version.name == "srv"
    # The version says what it is: architecture, test scores, the data; tags for each.
    assert "transformer" in version.description and "Test (" in version.description
    assert "fingerprint" in version.description and version.tags["seqsearch.task"] == "classification"
    assert version.tags["seqsearch.trials"] == "0" and "test_accuracy" in version.tags
    assert client.get_run(version.run_id).data.tags["seqsearch.best_model_format"] == "savedmodel"

    import seqsearch as ss

    expected = ss.load_model(wd / "srv" / "best" / "model.keras").predict(X[:3], verbose=0)
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/srv@best", "--env-manager", "local",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        body = json.dumps({"inputs": X[:3].tolist()}).encode()
        deadline, answer = time.time() + 120, None
        while time.time() < deadline and server.poll() is None:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=10) as resp:
                    answer = json.loads(resp.read())
                break
            except OSError:
                time.sleep(1)
        assert answer is not None, server.stdout.read()[-3000:] if server.poll() is not None else "no answer"
        # Records: the class name, then each class's probability.
        rows = answer["predictions"]
        assert [r["label"] for r in rows] == list(np.array(["p", "q"])[expected.argmax(1)])
        served = np.array([[r["probability_p"], r["probability_q"]] for r in rows])
        np.testing.assert_allclose(served, expected, rtol=1e-4, atol=1e-5)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server's workers too
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
