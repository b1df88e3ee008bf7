"""The search space and the hp protocol: declarations, sampling, replay, narrowing."""

import json
import sys

import pytest

from search_spaces import (
    Boolean,
    Choice,
    Float,
    FixedParams,
    Int,
    OptunaHP,
    SearchSpace,
    family_names,
    register_family,
)
from search_spaces.family import Family


def test_declarations_are_validated_when_declared():
    with pytest.raises(ValueError, match="low 5 must not exceed high 1"):
        Int("layers", 5, 1)
    with pytest.raises(ValueError, match="log range needs low > 0"):
        Float("lr", 0.0, 1.0, log=True)
    with pytest.raises(ValueError, match="default 7 is not one of"):
        Choice("units", (16, 32), default=7)
    with pytest.raises(ValueError, match="options must be str, int, float, bool or None"):
        Choice("units", ([1, 2],))
    with pytest.raises(ValueError, match="without dots"):
        Boolean("a.b")


def test_family_with_duplicate_parameter_fails_at_registration():
    with pytest.raises(ValueError, match="declares parameter\\(s\\) twice"):

        @register_family("broken_dup")
        class Broken(Family):
            params = (Int("n", 1, 2), Int("n", 1, 3))


def test_sample_is_conditional_and_prefixed():
    import optuna

    space = SearchSpace()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    specs = []
    for _ in range(5):
        trial = study.ask()
        spec = space.sample(OptunaHP(trial))
        study.tell(trial, 0.0)
        specs.append(spec)
    for spec in specs:
        fam = spec["family"]
        assert all(k == "family" or k.startswith((fam + ".", "front.", "train.")) for k in spec)
        assert json.loads(json.dumps(spec)) == spec
    # The trial's params are the spec: replaying them gives the same dict.
    assert space.validate_spec(specs[0]) == specs[0]


def test_fixed_params_replay_rejects_out_of_range_values():
    space = SearchSpace()
    spec = space.default_spec()
    spec["rnn.layers"] = 9
    with pytest.raises(ValueError, match="rnn.layers=9 is outside \\[1, 4\\]"):
        space.validate_spec(spec)
    spec = space.default_spec()
    del spec["rnn.units"]
    with pytest.raises(ValueError, match="no value for parameter 'rnn.units'"):
        space.sample(FixedParams(spec))


def test_narrowing_and_fixing():
    space = SearchSpace(fixed={"rnn.cell": "gru", "rnn.units": [16, 32], "train.learning_rate": [0.001, 0.002]})
    spec = space.default_spec()
    assert spec["rnn.cell"] == "gru"
    assert spec["rnn.units"] in (16, 32)
    assert 0.001 <= spec["train.learning_rate"] <= 0.002
    with pytest.raises(ValueError, match="not among"):
        SearchSpace(fixed={"rnn.cell": "transformerish"})
    with pytest.raises(ValueError, match="has no parameter 'width'"):
        SearchSpace(fixed={"rnn.width": 3})
    with pytest.raises(ValueError, match="a range is \\[low, high\\] with two numbers"):
        SearchSpace(fixed={"rnn.layers": [1, 2, 3]})
    with pytest.raises(ValueError, match="takes integers"):
        SearchSpace(fixed={"rnn.layers": 1.5})
    with pytest.raises(ValueError, match="expected true or false"):
        SearchSpace(fixed={"rnn.bidirectional": "yes"})
    with pytest.raises(ValueError, match="unknown family 'nope'"):
        SearchSpace(families=["nope"])


def test_importing_the_space_does_not_load_keras():
    import subprocess

    code = "import search_spaces, sys; search_spaces.SearchSpace().default_spec(); print('keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_builtin_families_registered():
    assert "rnn" in family_names()


def test_the_same_space_samples_through_keras_tuner():
    """One space, every engine: KerasTuner's HyperParameters answer the same protocol."""
    import keras_tuner

    from search_spaces import KerasTunerHP

    space = SearchSpace(families=["rnn"], fixed={"rnn.units": [16, 32]})
    hp = keras_tuner.HyperParameters()
    spec = space.sample(KerasTunerHP(hp))
    assert spec["family"] == "rnn" and spec["rnn.units"] in (16, 32)
    assert space.validate_spec(spec) == spec
    assert {p.name for p in hp.space} >= {"family", "rnn.cell", "rnn.units", "train.learning_rate"}
