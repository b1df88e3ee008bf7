"""Hostile input: broken files, odd encodings, absurd option values, path tricks, an unwritable
or full disk. Every case ends with one line and exit code 2, never a traceback, and the studies
already in the work directory stay readable and unchanged."""

import resource
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import make_classification, write_long_csv
from seqsearch.status import study_status
from test_engine import _fake_search


def _snapshot(path):
    return sorted((str(p.relative_to(path)), p.read_bytes()) for p in path.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    X, y = make_classification(n=12, t=4, f=1, classes=("p", "q"))
    np.savez(d / "good.npz", X=X, y=y)
    raw = (d / "good.npz").read_bytes()
    (d / "truncated.npz").write_bytes(raw[: len(raw) // 2])
    (d / "noise.npz").write_bytes(np.random.default_rng(0).bytes(4096))
    write_long_csv(d / "good.csv", X, y)
    text = (d / "good.csv").read_text()
    (d / "utf16.csv").write_bytes(text.encode("utf-16"))
    (d / "latin1.csv").write_bytes(text.replace("x0", "caf\u00e9", 1).encode("latin-1"))
    (d / "nul.csv").write_bytes(b"id,time,label,x0\n" + b"\x00" * 64)
    (d / "unequal.ts").write_text("@problemName u\n@equalLength true\n@classLabel true p q\n@data\n1,2,3:p\n1,2:q\n1,2,3:q\n")
    Xn = X.copy()
    Xn[2, 1, 0] = np.nan
    np.savez(d / "gaps.npz", X=Xn, y=y)
    (d / "bad.toml").write_text("families = [rnn\n")
    (d / "afile").write_text("not a folder")
    # 355 bytes of nested YAML aliases expand to 387,420,489 strings ("billion laughs").
    bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        bomb.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    (d / "bomb.yaml").write_text("\n".join(bomb + ["families: *i"]) + "\n")
    Xo = np.empty((12, 4, 1), dtype=object)
    Xo[:] = 1.0
    np.savez(d / "object.npz", X=Xo, y=y)
    Xb = X.astype(np.float64)
    Xb[0, 0, 0] = 1e25
    np.savez(d / "overflow.npz", X=Xb, y=y)
    return d


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


CASES = [
    ("truncated.npz", [], None, "not a readable .npz archive"),
    ("noise.npz", [], None, "not a readable .npz archive"),
    ("utf16.csv", [], None, "utf16.csv is not UTF-8 text"),
    ("latin1.csv", [], None, "latin1.csv is not UTF-8 text"),
    ("nul.csv", [], None, "nul.csv is not a text CSV file: it has a NUL byte at byte 17"),
    ("unequal.ts", [], None, "unequal.ts declares @equalLength true but holds series of different lengths (2 to 3"),
    ("gaps.npz", [], None, "X has 1 NaN or infinite value(s) in 1 sequence(s)"),
    ("good.npz", ["--fillna", "mean"], None, "Invalid value for '--fillna'"),
    ("good.npz", ["--trials", str(10**12)], None, "--trials must be an integer in [1, 1000000]"),
    ("good.npz", ["--max-epochs", "-5"], None, "--max-epochs must be an integer in [1, 100000], got -5"),
    ("good.npz", ["--timeout", "-1"], None, "--timeout must be a positive number of seconds"),
    ("good.npz", ["--timeout", "nan"], None, "--timeout must be a positive number of seconds"),
    ("good.npz", ["--max-params", "0"], None, "--max-params must be an integer"),
    ("good.npz", ["--jobs", "1000"], None, "--jobs must be an integer in [1, 64]"),
    ("good.npz", ["--seed", "-1"], None, "--seed must be an integer in [0, 2^31)"),
    ("good.npz", ["--study", "../../etc"], None, "is not a valid study name"),
    ("good.npz", ["--study", "a/b"], None, "is not a valid study name"),
    ("good.npz", ["--study", ".."], None, "is not a valid study name"),
    ("good.npz", ["--set", "rnn.units=[16,"], None, "not among [16, 32, 64, 128]"),
    ("good.npz", ["--space", "{dir}/bad.toml"], None, "bad.toml"),
    ("good.npz", ["--workdir", "{dir}/afile"], None, "cannot write to the work directory"),
    ("good.npz", ["--study", "fresh"], _limit_file_size, "the disk refused a write"),
    ("good.npz", ["--study", "abc\n"], None, "is not a valid study name"),
    ("good.npz", ["--set", "rnn.units=[]"], None, "an empty list of choices"),
    ("good.npz", ["--families", ","], None, "--families ',' names nothing"),
    ("good.npz", ["--static-cols", " , "], None, "--static-cols ' , ' names nothing"),
    ("good.npz", ["--space", "{dir}/bomb.yaml"], None, "uses YAML aliases"),
    ("object.npz", [], None, "holds Python objects (object dtype"),
    ("overflow.npz", [], None, "feature 0 ranges from"),
]


@pytest.mark.parametrize("name, extra, preexec, message", CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_hostile_input_is_one_line_and_keeps_existing_studies(files, tmp_path, name, extra, preexec, message):
    wd = tmp_path / "runs"
    wd.mkdir()
    _fake_search(wd, "median", n_trials=3)  # an existing study "s", readable without TensorFlow
    before = _snapshot(wd / "s")
    extra = [a.replace("{dir}", str(files)) for a in extra]
    workdir = [] if "--workdir" in extra else ["--workdir", str(wd)]
    # Defaults first: a case's own value of an option comes later and wins.
    args = ["--trials", "1", "--max-epochs", "1", "--families", "rnn", *workdir, *extra]
    r = subprocess.run([sys.executable, "-m", "seqsearch", "run", str(files / name), *args],
                       capture_output=True, text=True, timeout=600, preexec_fn=preexec)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr + r.stdout
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-2000:]
    assert message in lines[0], lines[0]
    assert _snapshot(wd / "s") == before
    assert study_status("s", wd)["counts"]["complete"] + study_status("s", wd)["counts"]["pruned"] == 3
