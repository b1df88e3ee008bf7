"""Data formats beyond .npz and CSV: UCR/UEA .ts files, Parquet, and missing values (--fillna)."""

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, make_classification, write_long_csv
from seqsearch.data import load_dataset, load_inputs
from seqsearch.data.arrays import fill_missing
from seqsearch.data.tsfile import read_ts
from seqsearch.errors import DataError
from test_cli import seqsearch


DATA = REPO / "tests" / "files"
EXAMPLES = REPO / "examples" / "data"
# Which series of the archive's file tests/files keeps (see tests/files/README.md).
KEPT = {("ItalyPowerDemand", "TRAIN"): slice(None), ("ItalyPowerDemand", "TEST"): slice(0, 100),
        ("BasicMotions", "TRAIN"): slice(None, None, 4), ("BasicMotions", "TEST"): slice(None, None, 4)}


def _archive_ts(name, split="TRAIN") -> Path:
    return DATA / f"{name}_{split}.ts"


def write_ts(path, X, labels=None, *, header=None, regression=False, missing=()):
    """A .ts file of series X (n, t, d); ``missing``: (i, t, d) cells written as '?'."""
    n, t, d = X.shape
    lines = header or [
        "# written by the tests", "@problemName gen", "@timeStamps false", f"@missing {str(bool(missing)).lower()}",
        f"@univariate {str(d == 1).lower()}", f"@dimensions {d}", "@equalLength true", f"@seriesLength {t}",
    ]
    lines = list(lines)
    if labels is not None and not header:
        lines.append("@targetLabel true" if regression else f"@classLabel true {' '.join(sorted(set(map(str, labels))))}")
    elif not header:
        lines.append("@classLabel false")
    lines.append("@data")
    holes = set(missing)
    for i in range(n):
        dims = [",".join("?" if (i, s, k) in holes else f"{X[i, s, k]:.6g}" for s in range(t)) for k in range(d)]
        lines.append(":".join(dims + ([str(labels[i])] if labels is not None else [])))
    Path(path).write_text("\n".join(lines) + "\n")
    return path


# -- .ts ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["BasicMotions", "ItalyPowerDemand"])
def test_ts_reader_matches_aeon_on_the_archive_files(name):
    """The archive's own files read as aeon reads them: examples/data's .npz copies were written
    from aeon's reader (make_ucr_npz.py, float32)."""
    arrays = np.load(EXAMPLES / f"{name}.npz")
    for split in ("TRAIN", "TEST"):
        ours = read_ts(_archive_ts(name, split))
        keep = KEPT[(name, split)]
        X, y = arrays[f"X_{split.lower()}"][keep], arrays[f"y_{split.lower()}"][keep]
        assert ours.X.shape == X.shape
        np.testing.assert_allclose(ours.X, X, rtol=1e-6, atol=1e-6)
        # aeon lower-cases class names; seqsearch keeps them as the file writes them.
        assert [v.lower() for v in ours.y.tolist()] == [str(v).lower() for v in y]


def test_train_ts_brings_its_test_file_and_the_problem_name():
    ds = load_dataset(_archive_ts("BasicMotions"))
    info = ds.describe()
    assert info["name"] == "BasicMotions" and info["test_split"] == "given"
    assert (info["timesteps"], info["features"], info["n_test"]) == (100, 6, 10)
    assert ds.task_spec.classes == ["Badminton", "Running", "Standing", "Walking"]
    assert info["n_train"] + info["n_val"] == 10


def test_ts_regression_target_and_held_out_test(tmp_path):
    X, _ = make_classification(n=30, t=6, f=2)
    y = X[:, :, 0].sum(axis=1)
    ds = load_dataset(write_ts(tmp_path / "reg.ts", X, y, regression=True))
    assert ds.task_spec.kind == "regression" and ds.describe()["test_split"] == "held out"
    assert len(ds.X_train) + len(ds.X_val) + len(ds.X_test) == 30


def test_ts_missing_values_need_fillna_then_are_filled_within_each_series(tmp_path):
    X, y = make_classification(n=20, t=6, f=1, classes=("a", "b"))
    path = write_ts(tmp_path / "gaps.ts", X, y, missing=[(0, 2, 0), (3, 0, 0), (3, 5, 0)])
    with pytest.raises(DataError, match=r"3 NaN or infinite value\(s\) in 2 sequence\(s\).*--fillna interpolate"):
        load_dataset(path)
    ds = load_dataset(path, fillna="interpolate")
    assert ds.describe()["missing"] == "3 value(s) filled (--fillna interpolate)"
    assert all(np.isfinite(a).all() for a in (ds.X_train, ds.X_val, ds.X_test))
    dropped = load_dataset(path, fillna="drop")
    assert dropped.describe()["missing"] == "2 sequence(s) dropped (--fillna drop)"
    assert len(dropped.X_train) + len(dropped.X_val) + len(dropped.X_test) == 18


@pytest.mark.parametrize("body, message", [
    (["@problemName x", "@classLabel true a b"], "has no @data line"),
    (["@problemName x", "@timeStamps true", "@classLabel true a", "@data", "(0,1):a"], "@timeStamps true"),
    (["@equalLength true", "@classLabel true a b", "@data", "1,2,3:a", "1,2:b"],
     "declares @equalLength true but holds series of different lengths (2 to 3 timesteps, e.g. lines 5 and 4)"),
    (["@equalLength false", "@classLabel true a b", "@data", "1,2,3:a", "1,2:b"], None),  # padded and masked
    (["@classLabel true a b", "@data", "1,2,3:a", "1,x,3:b"], "line 4, dimension 1: 'x' is not a number"),
    (["@dimensions 2", "@classLabel true a b", "@data", "1,2:3,4:a", "1,2:b"], "line 5: 1 dimension(s), the file has 2"),
    (["@classLabel true a b", "@data", "1,2:a", "1,2:c"], "class 'c' is not among those @classLabel declares (a, b)"),
    (["@classLabel true a b", "@data", "1,2:3,4:a", "3,4:5,6:b"], None),  # fine: two dimensions
    (["@classLabel true a b", "@data", "1,2:3:a"], "line 3: its dimensions have different lengths (1 to 2 values)"),
    (["@classLabel false", "@data", "1,2", "3,4"], "has no labels"),
    (["@targetLabel true", "@data", "1,2:0.5", "3,4:high"], "line 4: target 'high' is not a number"),
    (["@classLabel maybe", "@data", "1,2:a"], "@classlabel must be true or false"),
    (["1,2,3:a"], "expected a @header or @data before the values"),
])
def test_bad_ts_files_say_what_and_where(tmp_path, body, message):
    path = tmp_path / "bad.ts"
    path.write_text("\n".join(body) + "\n")
    if message is None:
        assert read_ts(path).X.shape in ((2, 2, 2), (2, 3, 2))  # two dimensions; or padded + mask
        return
    with pytest.raises(DataError, match=None) as e:
        load_dataset(path)
    assert message in str(e.value)


# -- Parquet ----------------------------------------------------------------------------------

def test_parquet_long_format_is_read_like_the_csv(tmp_path):
    import pandas as pd

    X, y = make_classification(n=24, t=5, f=2, classes=("up", "down"))
    write_long_csv(tmp_path / "d.csv", X, y)
    pd.read_csv(tmp_path / "d.csv").to_parquet(tmp_path / "d.parquet")
    a, b = load_dataset(tmp_path / "d.csv"), load_dataset(tmp_path / "d.parquet")
    assert a.fingerprint() == b.fingerprint() and a.feature_names == b.feature_names == ["x0", "x1"]
    Xp, ids = load_inputs(tmp_path / "d.parquet")
    assert Xp.shape == (24, 5, 2) and ids[:2] == ["s0", "s1"]
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="junk.parquet is not a readable Parquet file"):
        load_dataset(tmp_path / "junk.parquet")


# -- --fillna -----------------------------------------------------------------------------------

def test_fill_missing_methods_stay_inside_each_series():
    X = np.array([[[np.nan, 1], [2, np.nan], [np.nan, np.inf], [4, 5]],
                  [[7, 7], [7, 7], [7, 7], [7, 7]]], dtype=np.float32)
    interp, keep, n = fill_missing(X, "interpolate")
    assert n == 4 and keep.all()
    np.testing.assert_allclose(interp[0], [[2, 1], [2, 7 / 3], [3, 11 / 3], [4, 5]], rtol=1e-6)
    ffill, _, _ = fill_missing(X, "ffill")
    np.testing.assert_allclose(ffill[0], [[2, 1], [2, 1], [2, 1], [4, 5]])
    zero, _, _ = fill_missing(X, "zero")
    np.testing.assert_allclose(zero[0], [[0, 1], [2, 0], [0, 0], [4, 5]])
    dropped, keep, n = fill_missing(X, "drop")
    assert n == 1 and keep.tolist() == [False, True] and dropped.shape == (1, 4, 2)
    for m in ("interpolate", "ffill", "zero"):  # the second series is never touched
        np.testing.assert_array_equal(fill_missing(X, m)[0][1], X[1])
    assert np.isnan(X[0, 0, 0])  # the input is left alone
    allnan = np.full((1, 3, 1), np.nan, dtype=np.float32)
    assert fill_missing(allnan, "interpolate")[0].tolist() == [[[0.0], [0.0], [0.0]]]


def test_csv_with_gaps_needs_fillna_and_drop_keeps_targets_aligned(tmp_path):
    X, y = make_classification(n=30, t=6, f=1, classes=("a", "b"))
    X[4, 2, 0] = np.nan
    X[9, :, 0] = np.nan  # a whole sequence missing
    write_long_csv(tmp_path / "g.csv", X, y)
    with pytest.raises(DataError, match=r"7 row\(s\) have NaN or infinite features .*--fillna"):
        load_dataset(tmp_path / "g.csv")
    ds = load_dataset(tmp_path / "g.csv", fillna="drop")
    kept = [i for i in range(30) if i not in (4, 9)]
    got = np.concatenate([ds.X_train, ds.X_val, ds.X_test])
    want = {tuple(np.round(X[i].ravel(), 5)) for i in kept}
    assert {tuple(np.round(r.ravel(), 5)) for r in got} == want
    # each kept sequence kept its own label
    label = {tuple(np.round(X[i].ravel(), 5)): y[i] for i in kept}
    classes = ds.task_spec.classes
    for Xs, ys in ((ds.X_train, ds.y_train), (ds.X_val, ds.y_val), (ds.X_test, ds.y_test)):
        for r, c in zip(Xs, ys):
            assert classes[c] == label[tuple(np.round(r.ravel(), 5))]


def test_npz_nan_message_counts_and_offers_fillna(tmp_path):
    X, y = make_classification(n=12, t=4, f=1)
    X[3, 1, 0] = np.inf
    np.savez(tmp_path / "n.npz", X=X, y=y)
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path / "n.npz")
    assert str(e.value) == ("X has 1 NaN or infinite value(s) in 1 sequence(s) (first at sequence 3, timestep 1, "
                            "feature 0); pass --fillna interpolate|ffill|zero|drop or fix the file")


# -- end to end ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_ts_end_to_end_with_missing_values_run_and_predict(tmp_path):
    """`seqsearch run X_TRAIN.ts --fillna ...` then `seqsearch predict` on the raw _TEST.ts file:
    the study fills the test file's gaps the way it filled training's."""
    X, y = make_classification(n=40, t=8, f=2, classes=("a", "b"))
    Xt, yt = make_classification(n=10, t=8, f=2, classes=("a", "b"), seed=3)
    write_ts(tmp_path / "Gappy_TRAIN.ts", X, y, missing=[(1, 1, 0), (2, 7, 1)])
    write_ts(tmp_path / "Gappy_TEST.ts", Xt, yt, missing=[(0, 0, 1)])
    wd = tmp_path / "runs"
    common = ["--trials", 1, "--max-epochs", 1, "--folds", 1, "--families", "rnn", "--set", "rnn.units=16", "--workdir", wd]
    r = seqsearch("run", tmp_path / "Gappy_TRAIN.ts", *common)
    assert r.returncode == 2 and "--fillna" in r.stderr and "Traceback" not in r.stderr
    assert not (wd / "Gappy").exists()
    r = seqsearch("run", tmp_path / "Gappy_TRAIN.ts", "--fillna", "interpolate", *common)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "3 value(s) filled (--fillna interpolate)" in r.stdout
    assert "test (10 sequences)" in r.stdout  # the archive's own test split
    r = seqsearch("predict", wd / "Gappy" / "best", tmp_path / "Gappy_TEST.ts")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0][:2] == ["id", "prediction"] and len(rows) == 11
    assert {row[1] for row in rows[1:]} <= {"a", "b"}
