"""Reading files and framing the task: formats, inference, honest splits, clear errors."""

import numpy as np
import pytest

from conftest import EXAMPLES, make_classification, make_regression, write_long_csv
from seqsearch.data import load_dataset
from seqsearch.data.dataset import RawArrays
from seqsearch.data.framing import frame_task
from seqsearch.errors import DataError


def test_npz_xy_classification_is_split_stratified_and_reproducible(clf_npz):
    a = load_dataset(clf_npz, seed=3)
    b = load_dataset(clf_npz, seed=3)
    assert a.task_spec.kind == "classification"
    assert a.task_spec.classes == ["a", "b", "c"]
    assert len(a.X_train) + len(a.X_val) + len(a.X_test) == 60
    np.testing.assert_array_equal(a.y_test, b.y_test)
    # Stratified: every class in every split, in the original proportion (20 each).
    for y in (a.y_train, a.y_val, a.y_test):
        assert set(y.tolist()) == {0, 1, 2}
    assert np.bincount(a.y_test).tolist() == [4, 4, 4]
    assert a.X_train.dtype == np.float32 and a.X_train.ndim == 3


def test_explicit_test_split_is_respected_and_statistics_come_from_train_only(tmp_path):
    X, y = make_classification(n=40)
    Xt = X[:10] + 1000.0  # a test split far away: must not move the scaling statistics
    np.savez(tmp_path / "d.npz", X_train=X, y_train=y, X_test=Xt, y_test=y[:10])
    ds = load_dataset(tmp_path / "d.npz")
    assert ds.test_given and len(ds.X_test) == 10
    np.testing.assert_array_equal(ds.X_test, Xt)
    spec = ds.data_spec()
    assert abs(spec.feature_mean[0]) < 5
    np.testing.assert_allclose(spec.feature_mean, ds.X_train.reshape(-1, 2).mean(axis=0), rtol=1e-5)


def test_ucr_example_ships_and_loads():
    ds = load_dataset(EXAMPLES / "ItalyPowerDemand.npz")
    assert ds.task_spec.classes == ["1", "2"]
    assert len(ds.X_test) == 1029 and ds.X_train.shape[1:] == (24, 1)
    bm = load_dataset(EXAMPLES / "BasicMotions.npz")
    assert bm.X_train.shape[1:] == (100, 6) and len(bm.task_spec.classes) == 4


def test_an_npz_classes_array_names_the_labels(tmp_path):
    X, y = make_classification(n=40, classes=("a", "b", "c"))
    index = np.searchsorted(["a", "b", "c"], y)
    names = np.array(["walk", "run", "sit"])
    np.savez(tmp_path / "d.npz", X_train=X, y_train=index, X_test=X[:9], y_test=index[:9], classes=names)
    ds = load_dataset(tmp_path / "d.npz")
    assert sorted(ds.task_spec.classes) == ["run", "sit", "walk"]
    assert set(ds.task_spec.classes[i] for i in ds.y_test) == {"walk", "run", "sit"}
    np.savez(tmp_path / "bad.npz", X=X, y=index + 1, classes=names)
    with pytest.raises(DataError, match=r"bad.npz: with 'classes' \(3 names\) y must hold label indices 0..2; .* from 1 to 3"):
        load_dataset(tmp_path / "bad.npz")
    np.savez(tmp_path / "dup.npz", X=X, y=index, classes=np.array(["a", "a", "b"]))
    with pytest.raises(DataError, match="distinct names"):
        load_dataset(tmp_path / "dup.npz")
    np.savez(tmp_path / "names.npz", X=X, y=y, classes=names)
    with pytest.raises(DataError, match="it holds <U1 values. Store the names in y"):
        load_dataset(tmp_path / "names.npz")


def test_univariate_2d_X_becomes_one_feature(tmp_path):
    X, y = make_classification(f=1)
    np.savez(tmp_path / "u.npz", X=X[:, :, 0], y=y)
    assert load_dataset(tmp_path / "u.npz").X_train.shape[2] == 1


def test_regression_inferred_with_target_statistics(reg_npz):
    ds = load_dataset(reg_npz)
    assert ds.task_spec.kind == "regression" and ds.task_spec.n_outputs == 1
    assert ds.task_spec.target_mean[0] == pytest.approx(float(ds.y_train.mean()), rel=1e-5)


def test_float_labels_that_are_whole_numbers_read_as_classes(tmp_path):
    X, _ = make_classification(n=30)
    np.savez(tmp_path / "f.npz", X=X, y=np.array([1.0, 2.0] * 15))
    assert load_dataset(tmp_path / "f.npz").task_spec.classes == ["1", "2"]


def test_many_integer_values_need_an_explicit_task(tmp_path):
    X, _ = make_regression(n=60)
    np.savez(tmp_path / "c.npz", X=X, y=np.arange(60))
    with pytest.raises(DataError, match="pass --task classification or --task regression"):
        load_dataset(tmp_path / "c.npz")
    assert load_dataset(tmp_path / "c.npz", task="regression").task_spec.kind == "regression"


def test_csv_long_format(clf_csv):
    ds = load_dataset(clf_csv)
    assert ds.X_train.shape[1:] == (8, 2)
    assert ds.task_spec.classes == ["down", "up"]
    assert ds.feature_names == ["x0", "x1"]


def test_csv_rows_in_any_order_are_sorted_by_time(tmp_path):
    import pandas as pd

    X, y = make_classification(n=12, t=5, f=1, classes=("p", "q"))
    path = write_long_csv(tmp_path / "o.csv", X, y)
    df = pd.read_csv(path).sample(frac=1.0, random_state=0)
    df.to_csv(path, index=False)
    ds = load_dataset(path, task="classification")
    allX = np.concatenate([ds.X_train, ds.X_val, ds.X_test])
    # Every sequence is one of the originals, timesteps in order.
    for seq in allX:
        assert any(np.allclose(seq, x, atol=1e-6) for x in X)


def test_csv_split_column_gives_the_test_split(tmp_path):
    X, y = make_classification(n=20, t=4, f=1, classes=("p", "q"))
    path = write_long_csv(tmp_path / "s.csv", X, y, extra=lambda i, t: {"split": "test" if i >= 16 else "train"})
    ds = load_dataset(path)
    assert ds.test_given and len(ds.X_test) == 4


# ---- bad input: one clear message each ---------------------------------------------------

def _file(path, data: bytes):
    path.write_bytes(data)
    return path


def _npz(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing.npz", "does not exist"),
        (lambda p: _file(p / "d.parquet2", b"x"), "extension '.parquet2'; supported: .npz, .csv"),
        (lambda p: _file(p / "e.npz", b""), "is an empty file"),
        (lambda p: _file(p / "t.npz", b"PK\x03\x04garbage"), "not a readable .npz archive"),
        (lambda p: _npz(p, X=np.zeros((4, 3, 2, 2)), y=np.zeros(4)), "rank 4"),
        (lambda p: _npz(p, X=np.zeros(4), y=np.zeros(4)), "rank 1"),
        (lambda p: _npz(p, X=np.zeros((5, 3, 1)), y=np.array([0, 1, 0, 1])), "X has 5 sequences but y has 4"),
        (lambda p: _npz(p, X=np.full((6, 3, 1), np.nan), y=np.array([0, 1] * 3)), "18 NaN or infinite value\\(s\\) in 6 sequence\\(s\\) \\(first at sequence 0.*--fillna"),
        (lambda p: _npz(p, features=np.zeros((4, 3))), "expected X and y"),
        (lambda p: _npz(p, X=np.zeros((6, 3, 1)), y=np.zeros(6)), "only one class"),
        (lambda p: _npz(p, X=np.array(["a"] * 12).reshape(4, 3), y=np.array([0, 1, 0, 1])), "dtype <U1; features must be real numbers"),
        (lambda p: _npz(p, X_train=np.zeros((4, 3)), y_train=np.zeros(4)), "not both X_test and y_test"),
    ],
    ids=["missing", "extension", "empty", "truncated", "rank4", "rank1", "length", "nan", "keys", "one-class", "strings", "half-split"],
)
def test_bad_npz_input(tmp_path, make, message):
    with pytest.raises(DataError, match=message):
        load_dataset(make(tmp_path))


def test_ragged_npz_is_named(tmp_path):
    ragged = np.empty(3, dtype=object)
    ragged[:] = [np.zeros(3), np.zeros(4), np.zeros(5)]
    np.savez(tmp_path / "r.npz", X=ragged, y=np.array([0, 1, 0]))
    with pytest.raises(DataError, match="ragged"):
        load_dataset(tmp_path / "r.npz")


def test_bad_csv_input(tmp_path, clf_csv):
    with pytest.raises(DataError, match="--target 'kind' is not a column.*columns: id, time, label, x0, x1"):
        load_dataset(clf_csv, target="kind")
    import pandas as pd

    df = pd.read_csv(clf_csv)
    df.loc[3, "x1"] = np.nan
    df.to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(DataError, match="1 row\\(s\\) have NaN or infinite features"):
        load_dataset(tmp_path / "nan.csv")
    df = pd.read_csv(clf_csv)
    df["x1"] = df["x1"].astype(str)
    df.loc[0, "x1"] = "abc"
    df.to_csv(tmp_path / "str.csv", index=False)
    with pytest.raises(DataError, match="feature column 'x1' is not numeric \\(e.g. 'abc'\\)"):
        load_dataset(tmp_path / "str.csv")
    df = pd.read_csv(clf_csv).rename(columns={"label": "outcome"})
    df.to_csv(tmp_path / "nolabel.csv", index=False)
    with pytest.raises(DataError, match="cannot find the target column .* pass --target"):
        load_dataset(tmp_path / "nolabel.csv")
    df = pd.read_csv(clf_csv)
    df = df[~((df["id"] == "s0") & (df["time"] == 7))]
    df.to_csv(tmp_path / "ragged.csv", index=False)
    assert load_dataset(tmp_path / "ragged.csv").describe()["lengths"] == "7-8"  # padded and masked
    (tmp_path / "head.csv").write_text("id,time,label,x0\n")
    with pytest.raises(DataError, match="header but no rows"):
        load_dataset(tmp_path / "head.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81\x00garbage\n\x00\x01")
    with pytest.raises(DataError):
        load_dataset(tmp_path / "bin.csv")


def test_seq2seq_tokens_from_npz():
    ds = load_dataset(EXAMPLES / "reversal.npz")
    ts = ds.task_spec
    assert ts.kind == "seq2seq" and ts.categorical and ts.output_steps == 5
    assert ts.classes == [str(i) for i in range(10)]
    assert ds.y_train.shape[1:] == (5,) and ds.y_train.dtype == np.int32
    assert len(ds.X_train) + len(ds.X_val) + len(ds.X_test) == 1000


def test_seq2seq_values_with_own_output_length(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 8, 2)).astype("float32")
    Y = rng.normal(size=(30, 3)).astype("float32") * 5 + 10
    np.savez(tmp_path / "s.npz", X=X, Y=Y)
    ds = load_dataset(tmp_path / "s.npz")
    assert ds.task_spec.kind == "seq2seq" and not ds.task_spec.categorical
    assert ds.task_spec.output_steps == 3 and ds.task_spec.n_outputs == 1 and ds.y_train.shape[1:] == (3, 1)
    assert ds.task_spec.target_mean[0] == pytest.approx(float(ds.y_train.mean()), rel=1e-5)


@pytest.mark.parametrize(
    "arrays, kwargs, message",
    [
        (dict(X=np.zeros((4, 3, 1)), y=np.zeros(4), Y=np.zeros((4, 3))), {}, "holds both y and Y"),
        (dict(X=np.zeros((4, 3, 1)), Y=np.zeros(4)), {}, "target sequences need \\(n, steps\\)"),
        (dict(X=np.zeros((4, 3, 1)), Y=np.zeros((5, 3))), {}, "X has 4 sequences but Y has 5"),
        (dict(X=np.zeros((4, 3, 1)), Y=np.zeros((4, 3))), {"task": "classification"}, "seq2seq task, not classification"),
        (dict(X=np.zeros((4, 3, 1)), y=np.array([0, 1, 0, 1])), {"task": "seq2seq"}, "store them as Y"),
    ],
    ids=["y-and-Y", "Y-rank", "Y-length", "task-mismatch", "seq2seq-without-Y"],
)
def test_bad_seq2seq_input(tmp_path, arrays, kwargs, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_dataset(tmp_path / "bad.npz", **kwargs)


def test_large_arrays_are_checked_and_summarised_a_chunk_at_a_time(monkeypatch):
    """Input statistics and the NaN report stream over X in chunks (a 1 GB X is never copied
    whole for them) and give the same numbers as the whole-array computation."""
    from seqsearch.data import arrays as dmod

    monkeypatch.setattr(dmod, "CHUNK", 50)  # a handful of sequences per chunk
    rng = np.random.default_rng(1)
    X = (rng.normal(size=(37, 6, 3)) * [1.0, 100.0, 1e-3] + [5.0, -2e4, 0.0]).astype(np.float32)
    mean, var = dmod.channel_moments(X)
    flat = X.reshape(-1, 3).astype(np.float64)
    assert np.allclose(mean, flat.mean(axis=0), rtol=1e-12) and np.allclose(var, flat.var(axis=0), rtol=1e-9)
    X[20, 4, 1] = np.nan
    X[31, 0, 2] = np.inf
    X[31, 1, 2] = np.nan
    assert dmod.first_bad(X) == (3, 2, (20, 4, 1))
    with pytest.raises(DataError, match=r"X has 3 NaN or infinite value\(s\) in 2 sequence\(s\) \(first at sequence 20, timestep 4, feature 1\)"):
        dmod.check_X(X, "X")


def test_splits_index_the_data_once_and_stay_reproducible():
    """The carved splits are disjoint, cover every sequence, and repeat for one seed."""
    X, y = make_classification(n=50, t=4, f=1)
    X[:, 0, 0] = np.arange(50)  # the first step names the sequence
    a = frame_task(RawArrays(X=X.copy(), y=y), name="d", source="mem", seed=3)
    b = frame_task(RawArrays(X=X.copy(), y=y), name="d", source="mem", seed=3)
    ids = [set(s[:, 0, 0].astype(int)) for s in (a.X_train, a.X_val, a.X_test)]
    assert sum(map(len, ids)) == 50 and set().union(*ids) == set(range(50))
    assert a.fingerprint() == b.fingerprint()
    for Xs, ys in ((a.X_train, a.y_train), (a.X_val, a.y_val), (a.X_test, a.y_test)):
        assert [a.task_spec.classes[c] for c in ys] == [y[int(i)] for i in Xs[:, 0, 0]]


def test_training_statistics_are_computed_once_per_dataset(monkeypatch):
    """Every trial asks for the training split's DataSpec: one pass over X serves them all."""
    from seqsearch.data import dataset as dmod

    X, y = make_classification(n=30, t=5, f=2)
    ds = frame_task(RawArrays(X=X, y=y), name="d", source="mem")
    calls = []
    real = dmod.channel_moments
    monkeypatch.setattr(dmod, "channel_moments", lambda *a: calls.append(1) or real(*a))
    first, second = ds.data_spec(), ds.data_spec()
    assert first.feature_mean == second.feature_mean and len(calls) == 1
    ds.data_spec(ds.X_val)  # another array: computed for it, the cache untouched
    ds.X_train = ds.X_train.copy()  # a replaced split is recomputed
    ds.data_spec()
    assert len(calls) == 3
