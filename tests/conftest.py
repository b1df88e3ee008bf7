import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The suite runs one test file per core (pytest -n auto) and many tests start the CLI or worker
# processes beside their worker: one TensorFlow thread each keeps them from fighting over the
# cores (the tests' models are tiny: a second thread buys them nothing). Inherited by every
# process a test starts.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The empty MLflow store every new study copies (seqsearch.local_store): built once for the
# suite's processes, outside the user's own cache.
os.environ.setdefault("SEQSEARCH_CACHE", os.path.join(__import__("tempfile").gettempdir(),
                                                      f"seqsearch-tests-cache-{os.getuid()}"))

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "data"


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker per core, at most 4 (each holds a TensorFlow of its own)."""
    return max(1, min(os.cpu_count() or 1, 4))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=90.0, proc=None):
    """GET ``url`` until it answers (returns the body) or ``timeout`` passes (returns None)."""
    import time
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline and (proc is None or proc.poll() is None):
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read()
        except OSError:
            time.sleep(1)
    return None


def make_classification(n=60, t=12, f=2, classes=("a", "b", "c"), seed=0):
    """Classes differ in the frequency of a sine: learnable in a couple of epochs."""
    rng = np.random.default_rng(seed)
    y = np.array([classes[i % len(classes)] for i in range(n)])
    freq = np.array([1 + classes.index(c) for c in y], dtype=np.float32)
    time = np.linspace(0, 2 * np.pi, t, dtype=np.float32)
    X = np.sin(freq[:, None] * time[None, :])[:, :, None] + 0.1 * rng.normal(size=(n, t, f))
    return X.astype(np.float32), y


def two_cell_study(tmp_path, max_epochs: int, folds: int):
    """A two-class set (40 series of 8 steps, 6 validation sequences) and two replayed specs (a
    GRU and an LSTM): the ``seqsearch run`` arguments of a 2-trial search over them, and the specs."""
    import json

    X, y = make_classification(n=40, t=8, f=1, classes=("lo", "hi"))
    np.savez(tmp_path / "d.npz", X=X, y=y)
    specs = [{"family": "rnn", "rnn.cell": cell, "rnn.units": 16, "train.learning_rate": 0.01,
              "train.batch_size": 16} for cell in ("gru", "lstm")]
    (tmp_path / "specs.json").write_text(json.dumps(specs))
    cmd = ["run", tmp_path / "d.npz", "--workdir", tmp_path / "runs", "--specs", tmp_path / "specs.json",
           "--no-warm-start", "--trials", 2, "--max-epochs", max_epochs, "--pruner", "none", "--folds", folds]
    return cmd, specs


def make_regression(n=60, t=10, f=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, t, f)).astype(np.float32)
    y = (100.0 + 10.0 * X[:, :, 0].mean(axis=1)).astype(np.float32)
    return X, y


@pytest.fixture
def clf_npz(tmp_path):
    X, y = make_classification()
    path = tmp_path / "clf.npz"
    np.savez(path, X=X, y=y)
    return path


@pytest.fixture
def reg_npz(tmp_path):
    X, y = make_regression()
    path = tmp_path / "reg.npz"
    np.savez(path, X=X, y=y)
    return path


def write_long_csv(path, X, y, id_col="id", time_col="time", target="label", extra=None):
    import pandas as pd

    rows = []
    for i in range(len(X)):
        for t in range(X.shape[1]):
            row = {id_col: f"s{i}", time_col: t, target: y[i]}
            row.update({f"x{k}": float(X[i, t, k]) for k in range(X.shape[2])})
            if extra:
                row.update(extra(i, t))
            rows.append(row)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def clf_csv(tmp_path):
    X, y = make_classification(n=30, t=8, f=2, classes=("up", "down"))
    return write_long_csv(tmp_path / "clf.csv", X, y)


def _pg_bin(name):
    import glob
    import shutil

    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        pytest.fail(f"PostgreSQL's {name} is not installed (apt-get install postgresql; .ci/run does it)")
    return found


@pytest.fixture
def postgres_url():
    """A throwaway PostgreSQL server on a free local port, its data in a temporary folder."""
    import os
    import shutil
    import subprocess

    import tempfile
    from pathlib import Path

    # Not under tmp_path: pytest's base folder is private to this user, and the server may run
    # as another.
    root = Path(tempfile.mkdtemp(prefix="seqsearch-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    prefix = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as its own user
        import pwd

        user = pwd.getpwnam("postgres")
        for p in (root, sock):
            shutil.chown(p, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    run = lambda *cmd: subprocess.run([*prefix, *cmd], check=True, capture_output=True, text=True)  # noqa: E731
    run(_pg_bin("initdb"), "-D", str(data), "-U", "seqsearch", "--auth=trust", "-E", "UTF8")
    run(_pg_bin("pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60",
        "-o", f"-p {port} -h 127.0.0.1 -k {sock}", "start")
    try:
        run(_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "seqsearch", "seqsearch")
        yield f"postgresql://seqsearch@127.0.0.1:{port}/seqsearch"
    finally:
        subprocess.run([*prefix, _pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
