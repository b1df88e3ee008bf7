"""RunConfig, the run's options resolved once: defaults filled in, every bad value refused in one
line that names the option, and the dict a --jobs worker and a later export rebuild it from."""

import pytest

from seqsearch.config import RunConfig
from seqsearch.errors import SeqsearchError


def test_defaults_are_resolved_once_and_survive_the_round_trip():
    config = RunConfig(dataset="data/ItalyPowerDemand_TRAIN.ts")
    assert config.study == "ItalyPowerDemand"  # the archive's name, not its _TRAIN file
    assert (config.engine, config.sampler, config.pruner, config.ensemble_selection) == ("optuna", "tpe", "sha", "greedy")
    assert config.warm_start == "portfolio"
    again = RunConfig(**config.to_dict())
    assert again == config
    assert RunConfig(dataset="x.npz", warm_start=False).warm_start == "none"  # an older run_config.json
    assert RunConfig(dataset="my data (v2).csv").study == "my_data__v2"
    assert RunConfig(dataset="x.npz", engine="kerastuner").pruner == "none"
    assert RunConfig(dataset="x.npz", objectives=["val_loss", "params"]).pruner == "none"


@pytest.mark.parametrize("options, message", [
    ({"trials": 0}, "--trials must be an integer in [1, 1000000], got 0"),
    ({"trials": True}, "--trials must be an integer"),
    ({"max_epochs": 2.5}, "--max-epochs must be an integer"),
    ({"timeout": -1}, "--timeout must be a positive number of seconds"),
    ({"jobs": 65}, "--jobs must be an integer in [1, 64]"),
    ({"folds": 21}, "--folds must be an integer in [1, 20]"),
    ({"study": "../x"}, "is not a valid study name"),
    ({"warm_start": "all"}, "--warm-start must be one of portfolio, seeds, none"),
    ({"ensemble_selection": "vote"}, "--ensemble-selection must be one of"),
    ({"trial_timeout": 0}, "--trial-timeout must be a positive number"),
    ({"fillna": "mean"}, "--fillna must be one of"),
    ({"task": "ranking"}, "--task must be one of"),
    ({"task": "forecasting"}, "forecasting needs --horizon"),
    ({"engine": "ray"}, "--engine must be one of"),
    ({"sampler": "cmaes", "engine": "kerastuner"}, "is not available with --engine kerastuner"),
    ({"objectives": ["params"]}, "start with val_loss"),
    ({"objectives": ["val_loss", "params"], "engine": "kerastuner"}, "needs --engine optuna"),
    ({"objectives": ["val_loss", "params"], "pruner": "sha"}, "--pruner cannot stop multi-objective trials"),
    ({"objectives": ["val_loss", "params"], "ensemble": 3}, "exports one Pareto member"),
    ({"sampler": "nsga2"}, "--sampler nsga2 is a multi-objective sampler"),
    ({"engine": "kerastuner", "pruner": "sha"}, "--pruner applies to --engine optuna"),
    ({"engine": "kerastuner", "jobs": 2}, "--jobs needs --engine optuna"),
    ({"pruner": "median-ish"}, "--pruner must be one of"),
    ({"val_size": 1.0}, "--val-size must be a fraction in (0, 1)"),
    ({"seed": -1}, "--seed must be an integer in [0, 2^31)"),
])
def test_each_bad_option_is_one_line_naming_it(options, message):
    with pytest.raises(SeqsearchError) as e:
        RunConfig(dataset="x.npz", **options)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_ensemble_size_follows_the_validation_split():
    assert RunConfig(dataset="x.npz").ensemble_size(14) > 1  # a small split: an average of finalists
    assert RunConfig(dataset="x.npz").ensemble_size(500) == 1
    assert RunConfig(dataset="x.npz", ensemble=2).ensemble_size(500) == 2
    assert RunConfig(dataset="x.npz", objectives=["val_loss", "params"]).ensemble_size(14) == 1
