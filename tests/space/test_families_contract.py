"""The contract every family must pass: at the low and the high end of every range, for every
head, the model builds, trains a step, round-trips through .keras with identical predictions,
and its spec round-trips through JSON and replays through the space."""

import json

import numpy as np
import pytest

import keras
import search_spaces
from search_spaces import DataSpec, SearchSpace, TaskSpec, build_model, build_models, compile_model, family_names

BUILTIN_FAMILIES = ["rnn", "conv", "transformer", "rnn_bottleneck", "tlb", "encdec", "transformer_encdec", "mlp",
                    "patchtst"]
BUILTIN_CELLS = ["lstm", "gru", "simple_rnn"]
DATA = DataSpec(timesteps=9, n_features=2, feature_mean=[0.0, 1.0], feature_var=[1.0, 4.0])
HEADS = {
    "classification": TaskSpec(kind="classification", n_outputs=3, classes=["a", "b", "c"]),
    "regression": TaskSpec(kind="regression", n_outputs=2, target_mean=[10.0, 0.0], target_var=[4.0, 1.0]),
    # seq2seq with one output step per input step (aligned families and encoder-decoder) ...
    "seq2seq_tokens": TaskSpec(kind="seq2seq", n_outputs=3, classes=["0", "1", "2"], output_steps=9),
    # ... and with an output length of its own (encoder-decoder only), real values per step.
    "seq2seq_values": TaskSpec(kind="seq2seq", n_outputs=2, output_steps=4, target_mean=[1.0, 0.0], target_var=[1.0, 9.0]),
    # Forecasting the first channel 3 steps ahead (a change from its last value).
    "forecasting": TaskSpec(kind="forecasting", n_outputs=1, output_steps=3, target_names=["y"],
                            target_mean=[0.0, 0.5, 1.0], target_var=[1.0, 2.0, 3.0]),
}


def _targets(task, rng):
    if task.kind == "classification":
        return np.array([0, 1, 2] * 2)
    if task.kind == "regression":
        return rng.normal(size=(6, 2)).astype("float32")
    if task.categorical:
        return rng.integers(0, 3, size=(6, task.output_steps))
    return rng.normal(size=(6, task.output_steps, task.n_outputs)).astype("float32")


# Every (family, head) pair the family declares it supports; the rest must be refused.
CASES = [(f, h) for f in BUILTIN_FAMILIES for h in HEADS
         if search_spaces.get_family(f).unsupported(DATA, HEADS[h]) is None]


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


def test_every_builtin_family_is_registered_and_every_head_is_served():
    assert set(BUILTIN_FAMILIES) <= set(family_names())
    assert {h for _, h in CASES} == set(HEADS)
    assert ("encdec", "classification") not in CASES and ("rnn", "seq2seq_values") not in CASES
    assert ("rnn_bottleneck", "seq2seq_tokens") not in CASES and ("encdec", "seq2seq_values") in CASES
    # Every family but the token decoder forecasts; the window-only ones (mlp, patchtst) do
    # nothing else, the transformer encoder-decoder nothing but token seq2seq.
    assert {f for f, h in CASES if h == "forecasting"} == set(BUILTIN_FAMILIES) - {"transformer_encdec"}
    assert {h for f, h in CASES if f in ("mlp", "patchtst")} == {"forecasting"}
    assert {h for f, h in CASES if f == "transformer_encdec"} == {"seq2seq_tokens"}
    with pytest.raises(ValueError, match="cannot serve this seq2seq task"):
        SearchSpace(families=["rnn"], data_spec=DATA, task_spec=HEADS["seq2seq_values"])


@pytest.mark.parametrize("end", ["low", "high"])
@pytest.mark.parametrize("family, head", CASES)
def test_family_contract(family, end, head, tmp_path):
    fam = search_spaces.get_family(family)
    fixed = {f"{family}.cell": BUILTIN_CELLS} if any(p.name == "cell" for p in fam.params) else {}
    space = SearchSpace(families=[family], fixed=fixed, data_spec=DATA, task_spec=HEADS[head])
    spec = space.sample(EndsHP(end))
    assert json.loads(json.dumps(spec)) == spec
    assert space.validate_spec(spec) == spec

    task = HEADS[head]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, DATA.timesteps, DATA.n_features)).astype("float32")
    y = _targets(task, rng)
    keras.utils.set_random_seed(0)
    model, trainer = build_models(spec, DATA, task)
    spec_copy = json.loads(json.dumps(spec))
    assert build_model(spec_copy, DATA, task).count_params() == model.count_params()
    fitter, X_fit = model, X
    if trainer is not None:  # a teacher-forced decoder trains on [sequences, targets]
        assert trainer.count_params() == model.count_params()  # one set of weights, shared
        fitter, X_fit = compile_model(trainer, spec, task), [X, y]
    compile_model(model, spec, task, optimizer=fitter.optimizer if trainer is not None else None)
    # One eager step: tracing a graph for a single batch would cost more than it saves.
    fitter.run_eagerly = True
    history = fitter.fit(X_fit, y, epochs=1, batch_size=6, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    pred = keras.ops.convert_to_numpy(model(X, training=False))
    expected = (6, task.n_outputs) if task.kind not in ("seq2seq", "forecasting") else (6, task.output_steps, task.n_outputs)
    assert pred.shape == expected and np.all(np.isfinite(pred))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(X, training=False)), pred, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family, head", CASES)
def test_family_trains_at_mixed_precision(family, head):
    """--precision mixed (bfloat16 on this CPU): the body computes in bfloat16, the outputs and
    the loss stay float32, and the trained weights load into the all-float32 model an export
    builds, which answers within bfloat16's rounding of the mixed model."""
    from seqsearch.candidate import fresh_session

    fam = search_spaces.get_family(family)
    fixed = {f"{family}.cell": BUILTIN_CELLS} if any(p.name == "cell" for p in fam.params) else {}
    task = HEADS[head]
    spec = SearchSpace(families=[family], fixed=fixed, data_spec=DATA, task_spec=task).sample(EndsHP("high"))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, DATA.timesteps, DATA.n_features)).astype("float32")
    y = _targets(task, rng)
    try:
        fresh_session(0, "mixed_bfloat16")
        model, trainer = build_models(spec, DATA, task)
        compute = {layer.dtype_policy.compute_dtype for layer in model.layers}
        assert "bfloat16" in compute  # the body
        # The head's layers are float32; a decoder that owns its output projection (a family
        # that returns HeadValues) has its outputs cast to float32 instead.
        owns_projection = family in ("encdec", "transformer_encdec") and task.kind == "seq2seq"
        assert owns_projection or "float32" in compute
        fitter, X_fit = model, X
        if trainer is not None:
            fitter, X_fit = compile_model(trainer, spec, task), [X, y]
        compile_model(model, spec, task, optimizer=fitter.optimizer if trainer is not None else None)
        fitter.run_eagerly = True
        history = fitter.fit(X_fit, y, epochs=1, batch_size=6, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        out = model(X, training=False)
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        mixed = keras.ops.convert_to_numpy(out)
        weights = model.get_weights()
        assert all(w.dtype == np.float32 for w in weights)
    finally:
        fresh_session(0)  # back to float32 for the other tests in this process
    exported = build_model(spec, DATA, task)
    assert {layer.dtype_policy.name for layer in exported.layers} == {"float32"}
    exported.set_weights(weights)
    full = keras.ops.convert_to_numpy(exported(X, training=False))
    assert np.max(np.abs(full - mixed) / np.maximum(1.0, np.abs(full))) < 0.05  # bfloat16: 8 bits of mantissa


@pytest.mark.parametrize("family, head", [("encdec", "seq2seq_tokens"), ("encdec", "seq2seq_values"),
                                          ("transformer_encdec", "seq2seq_tokens")])
def test_teacher_forced_decoder_reads_targets_only_in_training(family, head):
    """Training sees the true previous target; inference (validation, test, export) its own
    prediction, so the exported model decodes from the input alone."""
    task = HEADS[head]
    space = SearchSpace(families=[family], data_spec=DATA, task_spec=task)
    overrides = ({"encdec.decoder": "teacher", "encdec.units": 16, "encdec.cell": "gru"} if family == "encdec"
                 else {"transformer_encdec.d_model": 32, "transformer_encdec.dropout": 0.0})
    spec = space.default_spec(overrides=overrides)
    keras.utils.set_random_seed(0)
    model, trainer = build_models(spec, DATA, task)
    assert [i.name for i in model.inputs] == ["sequence"] and len(trainer.inputs) == 2
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4, DATA.timesteps, DATA.n_features)).astype("float32")
    y1, y2 = _targets(task, rng)[:4], _targets(task, rng)[:4]

    def run(y, training):
        return keras.ops.convert_to_numpy(trainer([X, y], training=training))

    free = keras.ops.convert_to_numpy(model(X))
    # Inference ignores the targets and is the exported model's answer.
    np.testing.assert_allclose(run(y1, False), free, atol=1e-6)
    np.testing.assert_allclose(run(y2, False), free, atol=1e-6)
    # Training: step 0 reads the start vector either way; later steps read the given targets.
    forced1, forced2 = run(y1, True), run(y2, True)
    np.testing.assert_allclose(forced1[:, 0], forced2[:, 0], atol=1e-6)
    assert np.abs(forced1[:, 1:] - forced2[:, 1:]).max() > 1e-4


@pytest.mark.parametrize("overrides", [
    {"conv.arch": "resnet", "conv.blocks": 2, "conv.filters": 32, "conv.kernel": 3},
    {"conv.arch": "inception", "conv.modules": 4, "conv.max_kernel": 10},
    {"conv.rnn_branch": "gru", "conv.shuffle": False, "conv.rnn_units": 8},
])
def test_every_conv_architecture_trains_and_round_trips(overrides, tmp_path):
    """The contract's two ends visit FCN and Inception; ResNet, the residual inside Inception
    (every third module) and an unshuffled recurrent branch are checked here."""
    task = HEADS["classification"]
    space = SearchSpace(families=["conv"], data_spec=DATA, task_spec=task)
    spec = space.default_spec(overrides=overrides)
    assert space.validate_spec(spec) == spec and not any(k.startswith("front.") for k in spec)
    keras.utils.set_random_seed(0)
    model = build_model(spec, DATA, task)
    names = [layer.name for layer in model.layers]
    if spec["conv.arch"] == "resnet":
        assert "resnet_1_add" in names and "resnet_0_short_conv" in names
    if spec["conv.arch"] == "inception":
        assert "inception_2_add" in names and "inception_3_concat" in names and "inception_5_add" not in names
    if spec["conv.rnn_branch"] != "none":
        assert "conv_rnn_concat" in names and "conv_rnn_shuffle" not in names
    compile_model(model, spec, task)
    model.run_eagerly = True
    X = np.random.default_rng(0).normal(size=(6, DATA.timesteps, DATA.n_features)).astype("float32")
    model.fit(X, np.array([0, 1, 2] * 2), epochs=1, batch_size=6, verbose=0)
    pred = keras.ops.convert_to_numpy(model(X, training=False))
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.saving.load_model(tmp_path / "m.keras")(X)), pred,
                               rtol=1e-5, atol=1e-5)
