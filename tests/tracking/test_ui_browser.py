"""The MLflow UI that `seqsearch ui` serves, looked at in a real headless browser."""

import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import free_port, make_classification, wait_http
from test_cli import seqsearch
from test_end_to_end import _runs

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_ui_lists_the_study_runs_and_best_metrics(tmp_path):
    X, y = make_classification(n=30, t=8, f=1, classes=("p", "q"))
    np.savez(tmp_path / "ui.npz", X=X, y=y)
    wd = tmp_path / "runs"
    r = seqsearch("run", tmp_path / "ui.npz", "--workdir", wd, "--trials", 2, "--max-epochs", 1, "--folds", 1, "--families", "rnn", "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    _, parents, _ = _runs(wd / "ui", "ui")
    parent = parents[0]
    port = free_port()
    ui = subprocess.Popen([sys.executable, "-m", "seqsearch", "ui", "--workdir", str(wd), "--port", str(port)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True)
    try:
        assert wait_http(f"http://127.0.0.1:{port}/health", proc=ui) is not None, "MLflow UI did not start"
        printed = ui.stdout.readline()  # the link `seqsearch ui` prints: the study's runs table
        link = printed.split(": ", 1)[1].split()[0]
        parent_page = f"http://127.0.0.1:{port}/#/experiments/{parent.info.experiment_id}/runs/{parent.info.run_id}"
        models_page = f"http://127.0.0.1:{port}/#/experiments/{parent.info.experiment_id}/models"
        table, dom, models = (_dump_dom(u, tmp_path / f"chromium-{i}")
                              for i, u in enumerate((link, parent_page, models_page)))
    finally:
        # The UI server starts workers of its own: stop the whole process group.
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=30)
    assert f"#/experiments/{parent.info.experiment_id}/runs?workflowType=machine_learning" in link
    assert "ranking_val_loss" in link and "orderByAsc=true" in link
    # The printed link lands on the runs table (not the GenAI overview), trials named by architecture.
    assert "#000 " in table and "#001 " in table, table[-3000:]
    assert "Detect Issues" not in table
    # The parent run's page: its child runs (one per trial) and the best model's test metrics.
    assert "#000 " in dom and "#001 " in dom
    assert "test_accuracy" in dom and "best_val_loss" in dom
    # The Models tab lists the best model as a LoggedModel, ready.
    assert "best_model" in models and "Ready" in models, models[-3000:]


def _dump_dom(url, profile):
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    ).stdout
