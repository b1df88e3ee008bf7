"""Streaming: a recurrent model rebuilt to read a stream chunk by chunk, its state carried
between calls in one flat tensor. Processed chunk by chunk, a sequence ends where the trained
model answers on the whole sequence at once: per cell (built-in and registered), pooling,
padded sequences and static features, and after export in every format."""

import json
import subprocess
import sys

import numpy as np
import pytest

import keras
from conftest import REPO
from search_spaces import DataSpec, SearchSpace, TaskSpec, build_model, register_cell, unregister_cell
from search_spaces.streaming import build_streaming, state_sizes, streamable_space, streaming_unsupported
from seqsearch.data.arrays import masked_array
from test_cli import seqsearch

CLF = TaskSpec(kind="classification", n_outputs=3, classes=["a", "b", "c"])
REG = TaskSpec(kind="regression", n_outputs=2, target_mean=[5.0, -1.0], target_var=[4.0, 9.0])


def data_spec(masked=False, n_static=0):
    n = 3 + n_static + int(masked)
    return DataSpec(timesteps=12, n_features=n, feature_mean=[1.0, 2.0, 3.0] + [0.5] * n_static + [0.0] * masked,
                    feature_var=[4.0, 1.0, 2.0] + [2.0] * n_static + [1.0] * masked, masked=masked, n_static=n_static)


def sequences(ds, seed=0):
    rng = np.random.default_rng(seed)
    n_static = ds.n_static
    if ds.masked:
        seqs = [rng.normal(size=(n, 3 + n_static)).astype("float32") for n in (12, 7, 3, 9)]
        X = masked_array(seqs)
    else:
        X = rng.normal(size=(4, 12, 3 + n_static)).astype("float32")
    if n_static:  # constant over each sequence's steps
        X[:, :, 3:3 + n_static] = rng.normal(size=(4, 1, n_static))
        if ds.masked:
            X[:, :, 3:3 + n_static] *= X[:, :, -1:]
    return X


def streamed(model, X, chunk, size):
    state = np.zeros((len(X), size), "float32")
    for start in range(0, X.shape[1], chunk):
        answer = model({"chunk": X[:, start:start + chunk], "state": state})
        state = np.asarray(answer["next_state"])
    return np.asarray(answer["output"])


class MinimalRNNCell(keras.layers.Layer):
    """The Keras RNN guide's minimal cell (one state), as a user would register it."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units, self.state_size = units, units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.recurrent = self.add_weight(shape=(self.units, self.units), initializer="orthogonal")

    def call(self, inputs, states):
        h = keras.ops.tanh(keras.ops.matmul(inputs, self.kernel) + keras.ops.matmul(states[0], self.recurrent))
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@pytest.fixture
def user_cell():
    register_cell("minimal", MinimalRNNCell)
    yield "minimal"
    unregister_cell("minimal")


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn", "user"])
@pytest.mark.parametrize("pooling", ["last", "mean", "attention"])
@pytest.mark.parametrize("masked", [False, True], ids=["fixed", "padded"])
def test_chunk_by_chunk_equals_the_whole_sequence(cell, pooling, masked, request):
    if cell == "user":
        cell = request.getfixturevalue("user_cell")
    ds = data_spec(masked)
    spec = SearchSpace(families=["rnn"], data_spec=ds, task_spec=REG).default_spec(
        "rnn", {"rnn.cell": cell, "rnn.layers": 2, "rnn.units": 16, "rnn.pooling": pooling, "rnn.norm": "layer",
                "rnn.residual": True, "rnn.dropout": 0.2})
    trained = build_model(spec, ds, REG)
    X = sequences(ds)
    whole = trained.predict(X, verbose=0)
    model, size = build_streaming(spec, ds, REG)
    assert size == sum(state_sizes(spec, ds))
    model.set_weights(trained.get_weights())
    for chunk in (1, 5, 12):  # 5: a last chunk of 2 steps; padded sequences end inside chunks
        np.testing.assert_allclose(streamed(model, X, chunk, size), whole, atol=2e-5, rtol=1e-5)


def test_static_features_stream_with_every_chunk():
    ds = data_spec(n_static=2)
    spec = SearchSpace(families=["rnn"], data_spec=ds, task_spec=CLF).default_spec(
        "rnn", {"rnn.units": 16, "rnn.static": "concat", "train.scaling": "none"})
    trained = build_model(spec, ds, CLF)
    X = sequences(ds)
    model, size = build_streaming(spec, ds, CLF)
    model.set_weights(trained.get_weights())
    np.testing.assert_allclose(streamed(model, X, 4, size), trained.predict(X, verbose=0), atol=1e-5)


@pytest.mark.parametrize("overrides, reason", [
    ({"rnn.bidirectional": True}, "reads its sequence backwards too"),
    ({"front.kind": "conv"}, "has a conv front end"),
    ({"train.scaling": "per_series"}, "z-normalises each series over its whole length"),
])
def test_what_cannot_stream_says_why(overrides, reason):
    ds = data_spec()
    spec = SearchSpace(data_spec=ds, task_spec=CLF).default_spec("rnn", overrides)
    assert reason in streaming_unsupported(spec, ds, CLF)
    with pytest.raises(ValueError, match="this model cannot stream: it " + reason):
        build_streaming(spec, ds, CLF)
    transformer = SearchSpace(data_spec=ds, task_spec=CLF).default_spec("transformer")
    assert "reads its whole window at once" in streaming_unsupported(transformer, ds, CLF)


def test_streamable_narrows_the_space_and_refuses_contradictions():
    ds = data_spec(n_static=1)
    families, fixed = streamable_space(None, {"rnn.cell": "gru"}, ds, CLF)
    assert families == ["rnn"] and fixed["rnn.bidirectional"] is False and fixed["rnn.static"] == "concat"
    space = SearchSpace(families, fixed, data_spec=ds, task_spec=CLF)
    import optuna

    from search_spaces.hp import OptunaHP

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        assert streaming_unsupported(space.sample(OptunaHP(study.ask())), ds, CLF) is None
    with pytest.raises(ValueError, match="--streamable fixes train.scaling"):
        streamable_space(None, {"train.scaling": "per_series"}, ds, CLF)
    with pytest.raises(ValueError, match="searches the rnn family; --families names conv"):
        streamable_space(["conv"], {}, ds, CLF)


@pytest.mark.slow
def test_streaming_export_every_format_and_the_onnx_example(tmp_path, clf_npz):
    wd = tmp_path / "runs"
    r = seqsearch("run", clf_npz, "--workdir", wd, "--study", "s", "--trials", 2, "--max-epochs", 2, "--folds", 1,
                  "--ensemble", 1, "--set", "rnn.units=16", "--streamable", "-q")
    assert r.returncode == 0, r.stderr[-3000:]
    r = seqsearch("export", "s", "--workdir", wd, "--streaming", "--chunk", 5)
    assert r.returncode == 2 and r.stderr.startswith("error: --chunk 5 does not divide the model's 12 steps")
    r = seqsearch("export", "s", "--workdir", wd, "--streaming", "--chunk", 4)
    assert r.returncode == 0, r.stderr[-3000:]
    out = wd / "s" / "export-streaming"
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["formats"]) == {"keras", "savedmodel", "onnx", "tflite"}
    assert all(f["max_abs_diff"] <= 1e-4 for f in manifest["formats"].values())
    assert manifest["formats"]["tflite"]["chunk_steps"] == 4 and manifest["parity"]["chunk_steps"] == 4
    size = sum(p["size"] for p in manifest["streaming"]["state_parts"])
    # The ONNX model streams a whole test sequence to the whole-sequence model's answer.
    import onnxruntime as ort

    from seqsearch.model_file import load_model

    X = np.load(wd / "s" / "best" / "sample_input.npy")[:3].astype("float32")
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    state = np.zeros((3, size), "float32")
    for start in range(0, 12, 3):  # any chunk length but TFLite's
        output, state = session.run(["output", "next_state"], {"chunk": X[:, start:start + 3], "state": state})
    whole = load_model(wd / "s" / "best" / "model.keras").predict(X, verbose=0)
    np.testing.assert_allclose(output, whole, atol=1e-5)
    example = subprocess.run([sys.executable, str(REPO / "examples" / "stream_onnx.py"), str(out), str(clf_npz), "--chunk", "4",
                              "--series", "1"], capture_output=True, text=True, timeout=120)
    assert example.returncode == 0, example.stderr
    assert example.stdout.splitlines()[-1].startswith("  after    12 steps: ")


@pytest.mark.slow
def test_a_model_that_cannot_stream_is_refused_in_one_line(tmp_path, clf_npz):
    wd = tmp_path / "runs"
    r = seqsearch("run", clf_npz, "--workdir", wd, "--study", "s", "--trials", 1, "--max-epochs", 1, "--folds", 1,
                  "--ensemble", 1, "--families", "transformer", "--no-warm-start", "-q")
    assert r.returncode == 0, r.stderr[-3000:]
    r = seqsearch("export", "s", "--workdir", wd, "--streaming")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "cannot stream: it is a transformer model, which reads its whole window at once" in r.stderr and "seqsearch run --streamable" in r.stderr
    assert not (wd / "s" / "export-streaming").exists()
