"""Static (per-sequence) features, seed 003's constant input: read from .npz ('static') or CSV
(--static-cols), packed as constant channels, and used by the space either concatenated at
every timestep or as the first recurrent layer's initial states."""

import numpy as np
import pytest

import keras
from conftest import make_classification, write_long_csv
from search_spaces import DataSpec, SearchSpace, TaskSpec, build_models, compile_model, get_family
from seqsearch.data import load_dataset, load_inputs
from seqsearch.errors import DataError
from test_cli import seqsearch

DATA = DataSpec(timesteps=9, n_features=4, feature_mean=[0.0, 1.0, 5.0, -1.0], feature_var=[1.0, 4.0, 9.0, 1.0],
                n_static=2)
CLF = TaskSpec(kind="classification", n_outputs=3, classes=["a", "b", "c"])
S2S = TaskSpec(kind="seq2seq", n_outputs=3, classes=["0", "1", "2"], output_steps=4)


def _static_npz(path, n=40, **extra):
    X, y = make_classification(n=n, t=10, f=1)
    S = np.random.default_rng(1).normal(size=(n, 2)).astype("float32")
    np.savez(path, X=X, y=y, static=S, static_names=np.array(["age", "site"]), **extra)
    return X, y, S


def test_npz_static_features_are_packed_as_constant_channels(tmp_path):
    X, y, S = _static_npz(tmp_path / "s.npz")
    ds = load_dataset(tmp_path / "s.npz")
    assert ds.n_static == 2 and ds.X_train.shape[1:] == (10, 3)
    assert ds.feature_names == ["f0", "age", "site"] and ds.describe()["static_features"] == 2
    assert ds.data_spec().n_static == 2
    # Static channels are constant over time and carry each sequence's own row.
    np.testing.assert_array_equal(ds.X_train[:, 0, 1:], ds.X_train[:, -1, 1:])
    all_static = np.concatenate([ds.X_train, ds.X_val, ds.X_test])[:, 0, 1:]
    assert sorted(map(tuple, all_static.round(5))) == sorted(map(tuple, S.round(5)))
    Xp, _ = load_inputs(tmp_path / "s.npz")  # prediction input packs them the same way
    np.testing.assert_array_equal(Xp[:, 0, 1:], S)


@pytest.mark.parametrize(
    "arrays, message",
    [
        (dict(static=np.zeros((5, 2))), "static has 5 rows but there are 4 sequences"),
        (dict(static=np.full((4, 2), np.nan)), "static has 8 NaN or infinite value\\(s\\)"),
        (dict(static=np.zeros((4, 2, 2))), "static has shape \\(4, 2, 2\\); static features need \\(n, features\\)"),
        (dict(static=np.array(["a", "b", "c", "d"])), "static has dtype <U1; static features must be real numbers"),
        (dict(static_train=np.zeros((4, 2))), "has 'static_train'; with X the static features are 'static'"),
    ],
    ids=["rows", "nan", "rank", "strings", "wrong-key"],
)
def test_bad_static_npz(tmp_path, arrays, message):
    np.savez(tmp_path / "b.npz", X=np.zeros((4, 3, 1)), y=np.array([0, 1, 0, 1]), **arrays)
    with pytest.raises(DataError, match=message):
        load_dataset(tmp_path / "b.npz")


def test_split_layout_needs_static_for_every_split(tmp_path):
    X, y = make_classification(n=20, t=5, f=1)
    np.savez(tmp_path / "s.npz", X_train=X, y_train=y, X_test=X[:6], y_test=y[:6], static_train=np.zeros((20, 1)))
    with pytest.raises(DataError, match="X_test has no static features beside it; add static_test"):
        load_dataset(tmp_path / "s.npz")
    np.savez(tmp_path / "s.npz", X_train=X, y_train=y, X_test=X[:6], y_test=y[:6], static_train=np.zeros((20, 1)),
             static_test=np.zeros((6, 2)))
    with pytest.raises(DataError, match="static_test has 2 static features but static_train has 1"):
        load_dataset(tmp_path / "s.npz")


def test_csv_static_columns_go_last_and_must_be_constant(tmp_path):
    X, y = make_classification(n=20, t=6, f=2, classes=("p", "q"))
    path = write_long_csv(tmp_path / "c.csv", X, y, extra=lambda i, t: {"dose": float(i % 3)})
    import pandas as pd

    df = pd.read_csv(path)
    df = df[["id", "time", "dose", "label", "x0", "x1"]]  # static column first in the file
    df.to_csv(path, index=False)
    ds = load_dataset(path, static_cols=["dose"])
    assert ds.feature_names == ["x0", "x1", "dose"] and ds.n_static == 1
    with pytest.raises(DataError, match="--static-cols 'weight' is not a feature column of c.csv; feature columns: dose, x0, x1"):
        load_dataset(path, static_cols=["weight"])
    with pytest.raises(DataError, match="static column 'x0' changes within sequence 's0'"):
        load_dataset(path, static_cols=["x0"])
    with pytest.raises(DataError, match="--static-cols names CSV/Parquet columns"):
        _static_npz(tmp_path / "s.npz")
        load_dataset(tmp_path / "s.npz", static_cols=["a"])


def test_space_offers_static_modes_only_with_static_data():
    plain = DataSpec(timesteps=9, n_features=2, feature_mean=[0.0, 0.0], feature_var=[1.0, 1.0])
    assert "static" not in [p.name for p in SearchSpace(data_spec=plain, task_spec=CLF).params("rnn")]
    space = SearchSpace(data_spec=DATA, task_spec=CLF)
    modes = {f: next(p for p in space.params(f) if p.name == "static").options for f in space.families}
    assert modes["rnn"] == ("concat", "init_state") and modes["rnn_bottleneck"] == ("concat", "init_state")
    assert modes["transformer"] == ("concat",) and modes["tlb"] == ("concat",)
    assert get_family("encdec").static_modes == ("concat", "init_state")


def _fit_roundtrip(spec, task, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 9, 4)).astype("float32")
    X[:, :, 2:] = rng.normal(size=(6, 1, 2))  # static channels: constant over time
    y = np.array([0, 1, 2] * 2) if task.kind == "classification" else rng.integers(0, 3, size=(6, task.output_steps))
    keras.utils.set_random_seed(0)
    model, trainer = build_models(spec, DATA, task)
    fitter = compile_model(trainer, spec, task) if trainer is not None else model
    compile_model(model, spec, task, optimizer=fitter.optimizer if trainer is not None else None)
    fitter.fit([X, y] if trainer is not None else X, y, epochs=1, batch_size=6, verbose=0)
    pred = model.predict(X, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(X, verbose=0), pred, atol=1e-5)
    X2 = X.copy()
    X2[:, :, 2:] += 2.0  # other static features: other predictions
    assert np.abs(model.predict(X2, verbose=0) - pred).max() > 1e-4
    return model


@pytest.mark.parametrize(
    "family, mode, task, overrides",
    [
        ("rnn", "concat", CLF, {"rnn.units": 16}),
        ("rnn", "init_state", CLF, {"rnn.units": 16, "rnn.cell": "lstm", "rnn.bidirectional": True,
                                    "train.scaling": "per_series"}),
        ("rnn", "init_state", CLF, {"rnn.units": 16, "rnn.cell": "gru", "rnn.layers": 2}),
        ("rnn_bottleneck", "init_state", CLF, {"rnn_bottleneck.rnn_units": 16}),
        ("transformer", "concat", CLF, {"transformer.d_model": 16, "transformer.blocks": 1}),
        ("tlb", "concat", CLF, {"tlb.chunk_size": 4, "tlb.dim": 16}),
        ("encdec", "init_state", S2S, {"encdec.units": 16, "encdec.bidirectional": True, "encdec.decoder": "teacher"}),
        ("encdec", "concat", S2S, {"encdec.units": 16}),
    ],
)
def test_families_take_static_features(family, mode, task, overrides, tmp_path):
    space = SearchSpace(families=[family], data_spec=DATA, task_spec=task)
    spec = space.default_spec(overrides={**overrides, f"{family}.static": mode})
    model = _fit_roundtrip(spec, task, tmp_path)
    names = [layer.name for layer in model.layers]
    # init_state: learned projections start the recurrence; concat: no such layers.
    assert any("static_state" in n for n in names) == (mode == "init_state")


@pytest.mark.slow
def test_static_features_end_to_end(tmp_path):
    _static_npz(tmp_path / "s.npz", n=60)
    wd = tmp_path / "runs"
    r = seqsearch("run", tmp_path / "s.npz", "--workdir", wd, "--trials", 2, "--max-epochs", 2, "--folds", 1, "--families", "rnn",
                  "--set", "rnn.static=init_state", "--set", "rnn.units=16", "-q", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "+static:init" in r.stdout
    r = seqsearch("predict", wd / "s" / "best", tmp_path / "s.npz")
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(r.stdout.strip().splitlines()) == 61
    np.savez(tmp_path / "nostatic.npz", X=np.load(tmp_path / "s.npz")["X"])
    r = seqsearch("predict", wd / "s" / "best", tmp_path / "nostatic.npz")
    assert r.returncode == 2 and "2 of them static: store them as 'static'" in r.stderr
