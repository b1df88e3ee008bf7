"""The Optuna engine without TensorFlow: pruners fed per epoch, status read from storage."""

import math

import pytest

from search_spaces import SearchSpace
from seqsearch.engines import OptunaEngine
from seqsearch.errors import SeqsearchError, TrialPruned
from seqsearch.status import format_status, study_status
from seqsearch.training import TrialOutcome


def _fake_search(tmp_path, pruner, n_trials=12, max_epochs=9, storage=None):
    """Trials whose loss curve is set by their learning rate: 1/(epoch+1) + |log10(lr) + 3|."""
    (tmp_path / "s").mkdir(exist_ok=True)
    engine = OptunaEngine("s", tmp_path / "s", pruner=pruner, max_epochs=max_epochs, sampler="random",
                          storage=storage).open()
    # Only the learning rate matters here: the rest of the space is fixed, so the random draws
    # of the learning rate do not move when the space gains a parameter elsewhere.
    space = SearchSpace(families=["rnn"], fixed={"front.kind": "none", "rnn.cell": "gru", "rnn.layers": 1,
                                                  "train.batch_size": 32, "train.patience": 10})

    def evaluate(ctx):
        spec = space.sample(ctx.hp)
        ctx.set_attr("summary", "fake")
        gap = abs(math.log10(spec["train.learning_rate"]) + 3)
        losses = []
        try:
            for epoch in range(max_epochs):
                losses.append(1 / (epoch + 1) + gap)
                ctx.report(epoch, losses[-1])
        except TrialPruned as e:
            return TrialOutcome(state="pruned", value=min(losses), reason=f"pruned at epoch {e.epoch}")
        ctx.set_attr("epochs_run", len(losses))
        ctx.set_attr("metrics", {"val_accuracy": 1 - gap / 3})
        return TrialOutcome(state="complete", value=min(losses), best_epoch=len(losses) - 1)

    engine.search(evaluate, n_trials=n_trials)
    return engine


@pytest.mark.parametrize("pruner", ["median", "sha", "hyperband"])
def test_pruners_stop_the_worse_trials(tmp_path, pruner):
    engine = _fake_search(tmp_path, pruner)
    states = [r.state for r in engine.records()]
    assert states.count("pruned") >= 2 and states.count("complete") >= 2, states
    # The best trial is never one that was pruned.
    best = engine.best()
    assert best is not None and best.state == "complete"


def test_no_pruner_prunes_nothing(tmp_path):
    engine = _fake_search(tmp_path, "none", n_trials=5)
    assert {r.state for r in engine.records()} == {"complete"}


def test_status_reads_storage_without_creating_studies(tmp_path):
    _fake_search(tmp_path, "sha", n_trials=6)
    info = study_status("s", tmp_path)
    assert info["counts"]["complete"] + info["counts"]["pruned"] == 6
    assert info["score_key"] == "val_accuracy" and len(info["leaderboard"]) == info["counts"]["complete"]
    text = format_status(info)
    assert "leaderboard" in text and "pruned at epoch" in text
    with pytest.raises(SeqsearchError, match="no study 'other' in .*; studies there: s"):
        study_status("other", tmp_path)
    assert not (tmp_path / "other").exists()


def test_status_command_does_not_import_tensorflow(tmp_path):
    import subprocess
    import sys

    _fake_search(tmp_path, "median", n_trials=4)
    code = (
        "import sys; from click.testing import CliRunner; from seqsearch.cli import main; "
        f"r = CliRunner().invoke(main, ['status', 's', '--workdir', {str(tmp_path)!r}]); "
        "assert r.exit_code == 0, r.output; assert 'leaderboard' in r.output, r.output; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'mlflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_database_storage_with_heartbeat_and_bad_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    engine = _fake_search(tmp_path, "median", n_trials=4, storage=url)
    assert engine.study._storage.get_heartbeat_interval() == 60  # dead remote workers get failed and retried
    info = study_status("s", tmp_path, storage=url)
    assert info["counts"]["complete"] + info["counts"]["pruned"] == 4
    with pytest.raises(SeqsearchError, match="--storage 'nosuchdb://x' cannot be opened"):
        OptunaEngine("s", tmp_path / "s", storage="nosuchdb://x").open()


def test_every_engine_answers_the_base_class_and_one_place_picks_it(tmp_path):
    """The run, status and export ask engines through ``Engine``; ``get_engine`` picks the class
    by --engine's name and ``engine_in`` by what a study folder holds."""
    import inspect

    from seqsearch.config import ENGINES, SAMPLERS
    from seqsearch.engines import ENGINES as CLASSES
    from seqsearch.engines import Engine, KerasTunerEngine, engine_in, get_engine

    assert tuple(CLASSES) == ENGINES == ("optuna", "kerastuner")
    for name, cls in CLASSES.items():
        assert issubclass(cls, Engine) and not inspect.isabstract(cls) and cls.name == name
        assert get_engine(name) is cls and SAMPLERS[name] == cls.samplers and cls.samplers
    with pytest.raises(SeqsearchError, match="--engine must be one of optuna, kerastuner, got 'nevergrad'"):
        get_engine("nevergrad")

    class Half(Engine):  # an engine that cannot search is refused at once
        def records(self):
            return []

    with pytest.raises(TypeError, match="abstract"):
        Half()

    engine = _fake_search(tmp_path, "none", n_trials=3)
    assert engine_in(tmp_path / "s") == "optuna" and engine_in(tmp_path) is None
    read = get_engine("optuna").for_reading("s", tmp_path / "s")
    assert [r.number for r in read.records()] == [0, 1, 2] and read.pareto_front() == []
    (tmp_path / "kt" / "kerastuner" / "seqsearch").mkdir(parents=True)
    assert engine_in(tmp_path / "kt") == "kerastuner"
    kt = KerasTunerEngine.for_reading("kt", tmp_path / "kt")
    assert kt.records() == [] and kt.best() is None and kt.pareto_front() == []


def test_the_kerastuner_oracle_finds_its_project_folder(tmp_path):
    # The one private KerasTuner call (engines/kt_internals.py): if KerasTuner moves or renames
    # it, this fails here rather than as a study that writes its oracle somewhere else.
    import keras_tuner as kt

    from seqsearch.engines.kt_internals import set_project_dir

    hp = kt.HyperParameters()
    hp.Int("units", 1, 4)
    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_loss", "min"), max_trials=1,
                                           hyperparameters=hp)
    set_project_dir(oracle, str(tmp_path), "study")
    oracle.save()
    assert (tmp_path / "study" / "oracle.json").is_file()
    with pytest.raises(RuntimeError, match="has no Oracle._set_project_dir"):
        set_project_dir(object(), str(tmp_path), "study")
