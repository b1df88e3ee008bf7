"""Models built from specs: every cell and head trains a step and survives .keras save/load."""

import numpy as np
import pytest

import keras
from search_spaces import DataSpec, SearchSpace, TaskSpec, build_model, compile_model, register_cell, unregister_cell
from search_spaces.scaling import series_standardize

DATA = DataSpec(timesteps=7, n_features=2, feature_mean=[0.5, -1.0], feature_var=[2.0, 0.5])
CLF = TaskSpec(kind="classification", n_outputs=3, classes=["a", "b", "c"])
REG = TaskSpec(kind="regression", n_outputs=2, target_mean=[100.0, -3.0], target_var=[25.0, 1.0])


@keras.saving.register_keras_serializable(package="seqsearch_tests")
class MinimalRNNCell(keras.layers.Layer):
    """The custom cell of the Keras RNN guide."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform", name="rk")

    def call(self, inputs, states):
        prev = states[0] if isinstance(states, (list, tuple)) else states
        h = keras.ops.matmul(inputs, self.kernel) + keras.ops.matmul(prev, self.recurrent_kernel)
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@pytest.fixture(autouse=True, scope="module")
def minimal_cell():
    register_cell("minimal", lambda units: MinimalRNNCell(units), replace=True)
    yield
    unregister_cell("minimal")


def _train_and_roundtrip(spec, task, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, DATA.timesteps, DATA.n_features)).astype("float32")
    y = rng.integers(0, 3, 8) if task.kind == "classification" else rng.normal(size=(8, 2)).astype("float32")
    keras.utils.set_random_seed(0)
    model = compile_model(build_model(spec, DATA, task), spec, task)
    model.fit(X, y, epochs=1, batch_size=4, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(model.predict(X, verbose=0), loaded.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    return model, loaded, X


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn", "minimal"])
@pytest.mark.parametrize("task", [CLF, REG], ids=["classification", "regression"])
def test_cells_and_heads_train_and_roundtrip(cell, task, tmp_path):
    space = SearchSpace()
    spec = space.default_spec(overrides={"rnn.cell": cell, "rnn.layers": 2, "rnn.units": 16,
                                         "rnn.bidirectional": cell != "minimal", "rnn.dropout": 0.1,
                                         "train.scaling": "per_series"})
    model, _, X = _train_and_roundtrip(spec, task, tmp_path)
    out = model.predict(X, verbose=0)
    assert out.shape == (8, 3 if task.kind == "classification" else 2)
    if task.kind == "classification":
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("scaling", ["global", "per_series", "none"])
def test_scalings_roundtrip(scaling, tmp_path):
    spec = SearchSpace().default_spec(overrides={"train.scaling": scaling, "rnn.units": 16})
    _train_and_roundtrip(spec, CLF, tmp_path)


def test_regression_head_answers_in_target_units():
    spec = SearchSpace().default_spec(overrides={"rnn.units": 16})
    keras.utils.set_random_seed(0)
    model = build_model(spec, DATA, REG)
    # Zero the last dense layer: the model must then predict the training mean exactly.
    dense = model.get_layer("standardised_target")
    dense.set_weights([np.zeros_like(w) for w in dense.get_weights()])
    pred = model.predict(np.zeros((2, 7, 2), "float32"), verbose=0)
    np.testing.assert_allclose(pred, [[100.0, -3.0]] * 2, rtol=1e-6)


def test_series_standardize_normalises_each_series_and_channel():
    x = np.stack([np.linspace(0, 10, 20), np.linspace(5, 7, 20)], axis=-1)[None].astype("float32")
    out = keras.ops.convert_to_numpy(series_standardize(x))
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=1), 1.0, atol=1e-3)


def test_builtin_models_load_with_stock_keras_only(tmp_path):
    """A deployer needs Keras, not seqsearch: load the saved file in a fresh interpreter."""
    import subprocess
    import sys

    spec = SearchSpace().default_spec(overrides={"train.scaling": "per_series", "rnn.units": 16, "rnn.cell": "gru"})
    model = build_model(spec, DATA, CLF)
    model.save(tmp_path / "m.keras")
    code = (
        "import sys, numpy as np, keras; m = keras.saving.load_model(sys.argv[1]); "
        "print(m.predict(np.zeros((2, 7, 2), 'float32'), verbose=0).shape); "
        "print(any(k.startswith(('seqsearch', 'search_spaces')) for k in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.keras")], capture_output=True, text=True,
                         cwd=tmp_path, check=True)
    assert out.stdout.split() == ["(2,", "3)", "False"]


def test_build_is_deterministic_from_spec():
    spec = SearchSpace().default_spec(overrides={"rnn.layers": 2})
    a, b = build_model(spec, DATA, CLF), build_model(spec, DATA, CLF)
    assert [l.__class__.__name__ for l in a.layers] == [l.__class__.__name__ for l in b.layers]
    assert a.count_params() == b.count_params()
