"""Variable-length sequences: right-padded, a mask channel last, and masks that reach every
layer that reads time (padding never changes a prediction)."""

import csv
import io

import numpy as np
import pandas as pd
import pytest

from seqsearch.data import load_dataset, load_inputs
from seqsearch.data.arrays import fill_missing, masked_array
from seqsearch.errors import DataError
from test_cli import seqsearch
from test_formats import write_ts


def _ragged_rows(n=40, lengths=(5, 12), seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        c = i % 2
        for t in range(int(rng.integers(*lengths))):
            rows.append({"id": f"s{i:02d}", "time": t, "x0": np.sin((1 + 2 * c) * t / 3) + 0.1 * rng.normal(),
                         "x1": float(rng.normal()), "label": "ab"[c]})
    return pd.DataFrame(rows)


def _specs():
    from search_spaces.specs import DataSpec, TaskSpec

    return (DataSpec(timesteps=7, n_features=3, feature_mean=[0.5, -1.0, 0.0], feature_var=[2.0, 3.0, 1.0], masked=True),
            TaskSpec(kind="classification", n_outputs=2, classes=["a", "b"]))


@pytest.mark.parametrize("family, overrides", [
    ("rnn", {}),
    ("rnn", {"rnn.pooling": "mean", "rnn.cell": "gru"}),
    ("rnn", {"rnn.pooling": "attention", "rnn.bidirectional": True, "rnn.layers": 2}),
    ("rnn", {"train.scaling": "per_series", "rnn.cell": "simple_rnn"}),
    ("transformer", {}),
    ("transformer", {"transformer.pooling": "last"}),
    ("transformer", {"transformer.pooling": "attention", "transformer.causal": True, "transformer.norm": "post"}),
    ("transformer", {"train.scaling": "per_series"}),
    ("conv", {}),
    ("conv", {"conv.arch": "resnet", "conv.blocks": 2, "conv.rnn_branch": "lstm", "conv.shuffle": False}),
    ("conv", {"conv.arch": "inception", "conv.rnn_branch": "gru", "train.scaling": "per_series"}),
])
def test_padding_never_changes_a_prediction(family, overrides):
    from search_spaces import SearchSpace, build_model

    data_spec, task_spec = _specs()
    space = SearchSpace(data_spec=data_spec, task_spec=task_spec)
    model = build_model(space.default_spec(family, overrides), data_spec, task_spec)
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(n, 2)).astype(np.float32) for n in (7, 5, 3, 1, 6)]
    X = masked_array(seqs)
    garbage = X.copy()
    garbage[X[:, :, -1] == 0] = [50.0, -50.0, 0.0]  # wild values at the padded steps, mask 0
    assert np.array_equal(model.predict(X, verbose=0), model.predict(garbage, verbose=0))
    # ... and a sequence alone, unpadded to its own length, gets the same answer as in the batch.
    alone = masked_array([seqs[2]], timesteps=7)
    assert np.allclose(model.predict(alone, verbose=0)[0], model.predict(X, verbose=0)[2], atol=1e-6)


def test_families_without_masks_and_the_conv_front_are_left_out():
    from search_spaces import SearchSpace

    data_spec, task_spec = _specs()
    space = SearchSpace(data_spec=data_spec, task_spec=task_spec)
    assert space.families == ["rnn", "conv", "transformer"]
    assert [p.options for p in space.params("front") if p.name == "kind"] == [("none",)]
    with pytest.raises(ValueError, match="family 'tlb' cannot serve .* variable-length"):
        SearchSpace(["tlb"], data_spec=data_spec, task_spec=task_spec)


def test_ragged_csv_is_padded_masked_and_summarised_on_observed_steps_only(tmp_path):
    df = _ragged_rows()
    df.to_csv(tmp_path / "r.csv", index=False)
    ds = load_dataset(tmp_path / "r.csv")
    lengths = df.groupby("id").size()
    assert ds.masked and ds.X_train.shape[1:] == (int(lengths.max()), 3)  # x0, x1, then the mask
    info = ds.describe()
    assert info["lengths"] == f"{lengths.min()}-{lengths.max()}" and info["features"] == 2
    spec = ds.data_spec()
    assert spec.masked and spec.feature_names == ["x0", "x1"]
    observed = ds.X_train[ds.X_train[:, :, -1] > 0.5][:, :2]
    assert np.allclose(spec.feature_mean[:2], observed.mean(axis=0), atol=1e-5)
    assert np.allclose(spec.feature_var[:2], observed.var(axis=0), atol=1e-5)
    # Padding is zeros after each sequence's own steps.
    for X in (ds.X_train, ds.X_test):
        m = X[:, :, -1]
        assert np.all(np.diff(m, axis=1) <= 0) and np.all(X[m == 0] == 0)


def test_unequal_length_ts_files_are_padded_together_unless_the_header_says_equal(tmp_path):
    X = np.random.default_rng(0).normal(size=(6, 9, 2)).astype(np.float32)
    labels = ["a", "b"] * 3

    def write(path, cut, equal):
        write_ts(path, X, labels)
        text = path.read_text().replace("@equalLength true", f"@equalLength {str(equal).lower()}")
        out = []
        for line in text.splitlines():
            if line and not line.startswith(("@", "#")) and cut:
                dims, label = line.split(":")[:-1], line.split(":")[-1]
                line = ":".join([",".join(d.split(",")[:-cut]) for d in dims] + [label])
                cut -= 1
            out.append(line)
        path.write_text("\n".join(out) + "\n")

    write(tmp_path / "U_TRAIN.ts", 3, False)
    write(tmp_path / "U_TEST.ts", 0, True)  # equal length: padded to match, every step observed
    ds = load_dataset(tmp_path / "U_TRAIN.ts")
    assert ds.masked and ds.X_train.shape[1:] == (9, 3) and ds.describe()["lengths"] == "6-9"
    assert np.all(ds.X_test[:, :, -1] == 1)
    write(tmp_path / "E_TRAIN.ts", 2, True)
    with pytest.raises(DataError, match=r"declares @equalLength true but holds series of different lengths \(7 to 9"):
        load_dataset(tmp_path / "E_TRAIN.ts")


def test_npz_lengths_and_their_errors(tmp_path):
    X = np.random.default_rng(1).normal(size=(30, 8, 1)).astype(np.float32)
    y = np.array(["a", "b"] * 15)
    lengths = np.arange(30) % 8 + 1
    np.savez(tmp_path / "l.npz", X=X, y=y, lengths=lengths)
    ds = load_dataset(tmp_path / "l.npz")
    assert ds.masked and ds.describe()["lengths"] == "1-8"
    np.savez(tmp_path / "bad.npz", X=X, y=y, lengths=lengths + 1)
    with pytest.raises(DataError, match=r"lengths\[7\] is 9; each length must be within 1..8"):
        load_dataset(tmp_path / "bad.npz")
    np.savez(tmp_path / "split.npz", X_train=X, y_train=y, X_test=X[:4], y_test=y[:4], lengths_train=lengths)
    with pytest.raises(DataError, match="has lengths_train but not lengths_test"):
        load_dataset(tmp_path / "split.npz")


def test_filling_reads_only_observed_steps():
    X = masked_array([np.array([[1.0], [2.0], [np.nan]]), np.array([[np.nan], [4.0], [6.0], [8.0]])])
    filled, _, n = fill_missing(X, "interpolate", masked=True)
    assert n == 2
    assert filled[0, :, 0].tolist() == [1.0, 2.0, 2.0, 0.0]  # the nearest known value, not the padding
    assert filled[1, :, 0].tolist() == [4.0, 4.0, 6.0, 8.0]
    assert filled[:, :, -1].tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]


def test_prediction_input_is_padded_to_the_model(tmp_path):
    _ragged_rows(n=4, lengths=(3, 6)).to_csv(tmp_path / "short.csv", index=False)
    X, ids = load_inputs(tmp_path / "short.csv", timesteps=10, masked=True)
    assert X.shape == (4, 10, 3) and ids == ["s00", "s01", "s02", "s03"]
    with pytest.raises(DataError, match="sequences of up to 5 timesteps; the model reads at most 4"):
        load_inputs(tmp_path / "short.csv", timesteps=4, masked=True)
    with pytest.raises(DataError, match=r"holds sequences of different lengths \(\d to 5 steps\); the model was trained on one length \(5\)"):
        load_inputs(tmp_path / "short.csv", timesteps=5, masked=False)
    equal = _ragged_rows(n=2, lengths=(4, 5))
    equal.to_csv(tmp_path / "equal.csv", index=False)
    X, _ = load_inputs(tmp_path / "equal.csv", timesteps=6, masked=True)
    assert X[:, :, -1].tolist() == [[1, 1, 1, 1, 0, 0]] * 2


@pytest.mark.slow
def test_ragged_csv_end_to_end_run_and_predict(tmp_path):
    _ragged_rows(n=60).to_csv(tmp_path / "ragged.csv", index=False)
    wd = tmp_path / "runs"
    r = seqsearch("run", tmp_path / "ragged.csv", "--trials", 2, "--max-epochs", 2, "--folds", 1, "--workdir", wd)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "steps (padded to 11 and masked)" in r.stdout
    _ragged_rows(n=5, lengths=(2, 4), seed=9).to_csv(tmp_path / "new.csv", index=False)
    r = seqsearch("predict", wd / "ragged" / "best", tmp_path / "new.csv")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0][:2] == ["id", "prediction"] and len(rows) == 6 and {row[1] for row in rows[1:]} <= {"a", "b"}


@pytest.mark.parametrize("family, overrides", [
    ("rnn", {"rnn.pooling": "attention", "rnn.bidirectional": True, "rnn.cell": "simple_rnn", "rnn.layers": 2}),
    ("rnn", {"rnn.pooling": "mean"}),
    ("transformer", {"transformer.pooling": "attention"}),
])
def test_masked_poolings_convert_to_tflite_and_onnx(family, overrides, tmp_path):
    """A padded sequence's pooling converts to TFLite's built-in ops and to an ONNX graph of one
    input (as the export converts them) and answers as the Keras model does."""
    import keras
    import onnxruntime as ort
    import tensorflow as tf

    from search_spaces import SearchSpace, build_model

    data_spec, task_spec = _specs()
    model = build_model(SearchSpace(data_spec=data_spec, task_spec=task_spec).default_spec(family, overrides),
                        data_spec, task_spec)
    X = masked_array([np.ones((n, 2), np.float32) * n for n in (7, 4, 2)])
    model.export(str(tmp_path / "sm"), format="tf_saved_model", verbose=False,
                 input_signature=[keras.InputSpec(shape=(1, 7, 3), dtype="float32")])
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "sm"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    for i, x in enumerate(X):
        interpreter.set_tensor(inp["index"], x[None])
        interpreter.invoke()
        np.testing.assert_allclose(interpreter.get_tensor(out["index"])[0], model.predict(X, verbose=0)[i], atol=1e-5)
    model.export(str(tmp_path / "m.onnx"), format="onnx", verbose=False)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert len(session.get_inputs()) == 1
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: X})[0], model.predict(X, verbose=0),
                               atol=1e-5)
