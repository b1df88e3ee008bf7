"""The contract every family must pass: at the low and the high end of every range, for every
head, the model builds, trains a step, round-trips through .keras with identical predictions,
and its spec round-trips through JSON and replays through the space."""

import json

import numpy as np
import pytest

import keras
import search_spaces
from search_spaces import DataSpec, SearchSpace, TaskSpec, build_model, compile_model, family_names

BUILTIN_FAMILIES = ["rnn", "transformer", "rnn_bottleneck", "tlb"]
BUILTIN_CELLS = ["lstm", "gru", "simple_rnn"]
DATA = DataSpec(timesteps=9, n_features=2, feature_mean=[0.0, 1.0], feature_var=[1.0, 4.0])
HEADS = {
    "classification": TaskSpec(kind="classification", n_outputs=3, classes=["a", "b", "c"]),
    "regression": TaskSpec(kind="regression", n_outputs=2, target_mean=[10.0, 0.0], target_var=[4.0, 1.0]),
}


class EndsHP:
    """An hp sampler that answers every question with the low or the high end of its range."""

    def __init__(self, end):
        self.high = end == "high"

    def choice(self, name, options):
        return list(options)[-1 if self.high else 0]

    def int(self, name, low, high, step=1, log=False):
        return high if self.high else low

    def float(self, name, low, high, log=False):
        return high if self.high else low

    def boolean(self, name):
        return self.high


def test_every_builtin_family_is_registered():
    assert set(BUILTIN_FAMILIES) <= set(family_names())


@pytest.mark.parametrize("head", list(HEADS))
@pytest.mark.parametrize("end", ["low", "high"])
@pytest.mark.parametrize("family", BUILTIN_FAMILIES)
def test_family_contract(family, end, head, tmp_path):
    fam = search_spaces.get_family(family)
    fixed = {f"{family}.cell": BUILTIN_CELLS} if any(p.name == "cell" for p in fam.params) else {}
    space = SearchSpace(families=[family], fixed=fixed)
    spec = space.sample(EndsHP(end))
    assert json.loads(json.dumps(spec)) == spec
    assert space.validate_spec(spec) == spec

    task = HEADS[head]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, DATA.timesteps, DATA.n_features)).astype("float32")
    y = np.array([0, 1, 2] * 2) if head == "classification" else rng.normal(size=(6, 2)).astype("float32")
    keras.utils.set_random_seed(0)
    model = compile_model(build_model(spec, DATA, task), spec, task)
    # One eager step: tracing a graph for a single batch would cost more than it saves.
    model.run_eagerly = True
    spec_copy = json.loads(json.dumps(spec))
    assert build_model(spec_copy, DATA, task).count_params() == model.count_params()
    history = model.fit(X, y, epochs=1, batch_size=6, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    pred = keras.ops.convert_to_numpy(model(X, training=False))
    assert pred.shape == (6, task.n_outputs) and np.all(np.isfinite(pred))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(X, training=False)), pred, rtol=1e-5, atol=1e-5)
