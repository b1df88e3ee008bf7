"""Search quality per wall-clock budget on the tuning suite's UCR/UEA classification sets,
seqsearch beside a hand-written KerasTuner baseline and AutoKeras 3, given the same budget.

    python benchmarks/ucr_search.py --budget 300            # 5 minutes per dataset and tool
    python benchmarks/ucr_search.py --budget 300 --tools seqsearch --no-alone \
        --datasets ItalyPowerDemand,BasicMotions,OSULeaf,ACSF1,PickupGestureWiimoteZ   # how the budget is spent
    python benchmarks/ucr_search.py --budget 900 --datasets ItalyPowerDemand
    python benchmarks/ucr_search.py --budget 300 --tools seqsearch --pruner sha   # multi-fidelity
    python benchmarks/ucr_search.py --budget 900 --tools seqsearch --folds 1      # no cross-validation
    python benchmarks/ucr_search.py --budget 300 --tools seqsearch --no-alone --compare-selection \
        --datasets ...   # greedy ensemble selection against the best-N rule, on the same searches
    python benchmarks/ucr_search.py --budget 300 --tools seqsearch --no-alone --compare-final \
        --datasets ...   # the exported fold models against a retrain of the same members
    pip install -e ".[bench]"
    python benchmarks/ucr_search.py --budget 300 --tools seqsearch,autokeras --no-alone \
        --datasets ItalyPowerDemand,BasicMotions,OSULeaf,ACSF1,PickupGestureWiimoteZ   # beside AutoKeras

For each dataset (the archive's own train/test split, read from the ``.ts`` files the ``aeon``
package ships, so nothing is downloaded):

* seqsearch: ``seqsearch.run`` with default options, ``--timeout BUDGET`` and an unbounded trial
  count; on these small validation splits each completed trial is cross-validated on 3 folds
  of train+validation by default (``--folds``) and the exported model (on these small
  validation splits by default an average of up to three distinct trials, chosen and weighed
  by greedy selection on the finalists' out-of-fold predictions, see ``--ensemble`` and
  ``--ensemble-selection``; each member the average of its fold models, ``--final``) is scored
  on the test split. The best trial alone is also exported and scored, outside the budget, so
  the table can show what the average adds; with ``--compare-selection``, so are the greedy
  average and the best-N rule's average of the same search (each retrained for its members'
  full epochs); with ``--compare-final``, the exported members retrained on train+validation.
* baseline: KerasTuner Hyperband (``max_epochs=100, factor=3``, early stopping on val_loss with
  patience 10) over the hypermodel a user would write by hand: a Normalization layer adapted on
  the training split, 1-3 LSTM or GRU layers of 32/64/128 units, optionally bidirectional,
  dropout 0-0.5, Adam with a log-uniform learning rate in [1e-4, 1e-2], batch 32. Same training
  and validation splits as seqsearch's. When the budget runs out the trial in progress stops
  after its current batch and no new trial starts; the best model KerasTuner kept (trained on
  the training split) is scored on the test split.
* AutoKeras 3.0.0 (``--tools autokeras``, the ``bench`` extra): an ``AutoModel`` with its
  ``ConvBlock`` before its ``RNNBlock`` and a ``ClassificationHead``, every block's
  hyperparameters left to AutoKeras, its default greedy tuner, the same train/validation split.
  When the budget runs out its trial in progress stops after the current batch and no new trial
  starts; AutoKeras then refits its best trial on the training split for that trial's best
  epoch count (its own last step, after the budget: its wall time says by how much), and that
  model is scored on the test split.

Each seqsearch row also records how the budget was spent: trials started (queued warm-start
specs, and the sampler's), trials that reached the last rung (completed, on every fold when
cross-validated), seconds from the start to the first completed trial, and wall time / budget.

The tools run in this process, one after the other, with the same seed. Wall times include
everything each tool does (seqsearch's MLflow logging, retrain and export). Published
accuracies of DTW-1NN, ResNet, InceptionTime and ROCKET are listed beside them (not re-run here). Results go
to ``benchmarks/results/ucr_search.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

# Test accuracy on the archive's default split, as published (not re-run here): resample 0 (the
# archive's own train/test split) of the tsml-eval project's per-dataset result tables,
# results/classification/{Univariate,Multivariate}/*_accuracy.csv (multivariate: DTW_D and
# InceptionT). PickupGestureWiimoteZ (variable length) is in none of those tables.
PUBLISHED = {
    "ItalyPowerDemand": {"DTW-1NN": 0.950, "ResNet": 0.965, "InceptionTime": 0.966, "ROCKET": 0.970},
    "BasicMotions": {"DTW-1NN": 0.975, "ResNet": 1.000, "InceptionTime": 1.000, "ROCKET": 1.000},
    "OSULeaf": {"DTW-1NN": 0.591, "ResNet": 0.979, "InceptionTime": 0.921, "ROCKET": 0.942},
    "ACSF1": {"DTW-1NN": 0.640, "ResNet": 0.930, "InceptionTime": 0.910, "ROCKET": 0.880},
}


# The classification sets of the tuning suite (all shipped by aeon). Every other archive set is
# kept for independent evaluation of the search and is not run here.
SUITE = ("ItalyPowerDemand", "BasicMotions", "OSULeaf", "ACSF1", "PickupGestureWiimoteZ")
# Generated sets (examples/data/make_long_series.py): 1,000-step series, four event shapes.
GENERATED = ("LongSeries",)


def ts_path(name: str) -> Path:
    if name in GENERATED:
        return long_series_path()
    if name not in SUITE:
        raise SystemExit(f"{name} is not in the tuning suite ({', '.join(SUITE + GENERATED)}); other archive sets "
                         "are kept for independent evaluation")
    import aeon

    return Path(aeon.__file__).parent / "datasets" / "data" / name / f"{name}_TRAIN.ts"


def long_series_path() -> Path:
    """The generated long-series set (240 train, 240 test series of 1,000 steps), written once."""
    import importlib.util

    import numpy as np

    out = Path(tempfile.gettempdir()) / "seqsearch-bench-LongSeries.npz"
    if not out.is_file():
        spec = importlib.util.spec_from_file_location("make_long_series", HERE.parent / "examples" / "data" / "make_long_series.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        np.savez_compressed(out, **module.make())
    return out


def budget_use(study_path: Path, study: str, started_at: float) -> dict:
    """How the budget was spent, from the study's Optuna journal: processes training trials
    (``--jobs``, as the run resolved it), trials started (queued
    warm-start specs vs. the sampler's), how many reached the last rung (completed, with every
    fold when cross-validated), and the seconds from the command's start to the first completed
    trial."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(study_path / "optuna.journal")))
    trials = [t for t in optuna.load_study(study_name=study, storage=storage).trials if t.datetime_start is not None]
    meta = json.loads((study_path / "study.json").read_text())
    folds = int(meta.get("folds", 1))
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    last_rung = [t for t in complete if folds == 1 or len(t.user_attrs.get("fold_values", [])) == folds]
    first = min((t.datetime_complete.timestamp() for t in complete), default=None)
    run_config = study_path / "run_config.json"
    return {
        "jobs": json.loads(run_config.read_text()).get("jobs", 1) if run_config.is_file() else 1,
        "trials_started": len(trials),
        "trials_queued": sum("fixed_params" in t.system_attrs for t in trials),
        "trials_sampled": sum("fixed_params" not in t.system_attrs for t in trials),
        "trials_last_rung": len(last_rung),
        "first_complete_s": round(first - started_at, 1) if first is not None else None,
    }


def compare_selection(study_path: Path) -> dict:
    """Outside the budget and the wall time, on the same finished search: the test accuracy of
    the average greedy selection chooses and of the best-N rule's, each retrained on
    train+validation for its members' full best epoch counts (a paired comparison: same
    trials, same retrain seeds)."""
    from seqsearch.parts import load_study_dataset
    from seqsearch.engines import OptunaEngine
    from seqsearch.ensemble import select_members
    from seqsearch.export import export_best

    config, ds = load_study_dataset(study_path)
    engine = OptunaEngine(config.study, study_path).load()
    records, best = engine.records(), engine.best()
    _, y = ds.train_val
    out = {}
    done = {}
    for method in ("greedy", "best"):
        members, weights, how = select_members(records, best, config.ensemble_size(len(ds.X_val)), method=method,
                                               study_path=study_path, y=y, categorical=True,
                                               fingerprint=ds.fingerprint())
        key = tuple((r.number, round(w, 4)) for r, w in zip(members, weights))
        if key not in done:
            _, metrics = export_best(members, ds, seed=config.seed, best_dir=study_path / f"compare-{method}",
                                     study=config.study, weights=weights if len(members) > 1 else None)
            done[key] = metrics["test"]["accuracy"]
        out[f"{method}_selection"] = {"chosen_by": how, "members": [list(k) for k in key], "test_accuracy": done[key]}
    return out


def compare_final(study_path: Path) -> dict:
    """Outside the budget and the wall time, on the same finished search: the exported members
    (same trials, same weights) retrained on train+validation for their full best epoch counts,
    as ``--final retrain`` would export them, scored on the test split beside the export of
    their fold models (a paired comparison). Empty when no member was exported as fold models."""
    from seqsearch.engines import OptunaEngine
    from seqsearch.export import export_best
    from seqsearch.parts import load_study_dataset
    from seqsearch.study import exported_fold_models, exported_trials, exported_weights, read_export

    metrics = read_export(study_path / "best")
    if not metrics or not any(exported_fold_models(metrics)):
        return {}
    config, ds = load_study_dataset(study_path)
    records = {r.number: r for r in OptunaEngine(config.study, study_path).load().records()}
    members = [records[n] for n in exported_trials(metrics)]
    started = time.perf_counter()
    _, retrained = export_best(members, ds, seed=config.seed, best_dir=study_path / "compare-retrain",
                               study=config.study, weights=exported_weights(metrics) if len(members) > 1 else None)
    return {"final_folds_test_accuracy": metrics["test"]["accuracy"],
            "final_retrain_test_accuracy": retrained["test"]["accuracy"],
            "final_retrain_seconds": round(time.perf_counter() - started, 1)}


def run_seqsearch(name, budget, seed, pruner=None, folds=None, alone=True, compare=False, compare_final_models=False):
    import seqsearch
    from seqsearch.progress import Console

    with tempfile.TemporaryDirectory() as wd:
        started_at = time.time()
        started = time.perf_counter()
        r = seqsearch.run(ts_path(name), trials=100_000, timeout=budget, seed=seed, workdir=wd, console=Console(),
                          pruner=pruner, folds=folds)
        wall = time.perf_counter() - started
        use = budget_use(r.study_path, r.study, started_at)
        single = None
        if alone and len(r.ensemble) > 1:
            # What the best trial alone scores (retrained and tested the same way), outside the
            # budget and the wall time: the average's gain over betting on one model.
            from seqsearch.finish import export_trial

            single = json.loads((export_trial(r.study_path, r.best_trial) / "metrics.json").read_text())
        paired = compare_selection(r.study_path) if compare and len(r.leaderboard) > 1 else {}
        if compare_final_models:
            paired.update(compare_final(r.study_path))
    return {
        "tool": "seqsearch" + (f" --pruner {pruner}" if pruner else "") + (f" --folds {folds}" if folds else ""),
        "folds": r.folds,
        "wall_s": round(wall, 1),
        "wall_over_budget": round(wall / budget, 2),
        "trials": r.n_trials,
        **use,
        "states": r.states,
        "best_trial": r.best_trial,
        "best_summary": r.best_summary,
        "best_spec": r.best_spec,
        "val_loss": r.val_loss,
        "ensemble": r.ensemble,
        "ensemble_summaries": [row["architecture"] for n in r.ensemble for row in r.leaderboard if row["trial"] == n],
        "test_accuracy": r.test_metrics["accuracy"],
        "best_trial_alone_test_accuracy": (single["test"]["accuracy"] if single
                                           else r.test_metrics["accuracy"] if len(r.ensemble) <= 1 else None),
        **paired,
    }


def run_kerastuner(name, budget, seed, pruner=None, folds=None, alone=True, compare=False, compare_final_models=False):
    import keras
    import keras_tuner as kt
    import numpy as np

    from seqsearch.data import load_dataset

    ds = load_dataset(ts_path(name), seed=seed)  # the same splits seqsearch searched on
    n_classes = len(ds.task_spec.classes)
    deadline = time.perf_counter() + budget

    def build(hp):
        norm = keras.layers.Normalization(axis=-1)
        norm.adapt(ds.X_train.reshape(-1, ds.X_train.shape[-1]))
        cell = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[hp.Choice("cell", ["lstm", "gru"])]
        layers = hp.Int("layers", 1, 3)
        units = hp.Choice("units", [32, 64, 128])
        bidirectional = hp.Boolean("bidirectional")
        dropout = hp.Float("dropout", 0.0, 0.5, step=0.1)
        inputs = keras.Input(shape=ds.X_train.shape[1:])
        x = norm(inputs)
        for i in range(layers):
            layer = cell(units, return_sequences=i < layers - 1, dropout=dropout)
            x = keras.layers.Bidirectional(layer)(x) if bidirectional else layer(x)
        outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
        model = keras.Model(inputs, outputs)
        lr = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
        model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    class Deadline(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if time.perf_counter() > deadline:
                self.model.stop_training = True

    class BudgetedHyperband(kt.Hyperband):
        def run_trial(self, trial, *args, **kwargs):
            if time.perf_counter() > deadline:
                raise kt.errors.FatalError("budget spent")
            return super().run_trial(trial, *args, **kwargs)

    with tempfile.TemporaryDirectory() as wd:
        keras.utils.set_random_seed(seed)
        tuner = BudgetedHyperband(build, objective="val_loss", max_epochs=100, factor=3, seed=seed,
                                  directory=wd, project_name=name, overwrite=True)
        started = time.perf_counter()
        try:
            tuner.search(ds.X_train, ds.y_train, validation_data=(ds.X_val, ds.y_val), batch_size=32, verbose=0,
                         callbacks=[keras.callbacks.EarlyStopping(patience=10), Deadline()])
        except kt.errors.FatalError:
            pass
        best = tuner.get_best_models(1)[0]
        pred = np.asarray(best.predict(ds.X_test, verbose=0)).argmax(axis=-1)
        wall = time.perf_counter() - started
        best_trial = tuner.oracle.get_best_trials(1)[0]
        n_trials = len(tuner.oracle.trials)
    return {
        "tool": "kerastuner",
        "description": "KerasTuner Hyperband over a hand-written LSTM/GRU hypermodel",
        "wall_s": round(wall, 1),
        "trials": n_trials,
        "best_hyperparameters": best_trial.hyperparameters.values,
        "val_loss": best_trial.score,
        "test_accuracy": float(np.mean(pred == ds.y_test)),
    }


def run_autokeras(name, budget, seed, pruner=None, folds=None, alone=True, compare=False, compare_final_models=False):
    """AutoKeras 3 (``pip install -e ".[bench]"``): convolutional blocks before its RNN block and a
    classification head, its default greedy tuner, the same train/validation split as seqsearch.
    Its trials stop at the budget; its final fit of the best trial (AutoKeras' own last step) runs
    after it and counts in the wall time."""
    import autokeras as ak
    import keras
    import numpy as np

    from seqsearch.data import load_dataset

    ds = load_dataset(ts_path(name), seed=seed)
    deadline = time.perf_counter() + budget
    searching = {"on": True}

    # AutoKeras 3.0.0 passes the hyperparameters' numpy integers (np.int64 from hp.Choice) as
    # layer sizes, which Keras 3.15's layers reject: cast them to int where layers are built.
    for cls in (keras.layers.Dense, keras.layers.LSTM, keras.layers.GRU):
        if not getattr(cls, "_bench_int_units", False):
            original = cls.__init__

            def init(self, units, *args, _original=original, **kwargs):
                _original(self, int(units), *args, **kwargs)

            cls.__init__, cls._bench_int_units = init, True
    for cls in (keras.layers.Conv1D, keras.layers.SeparableConv1D):
        if not getattr(cls, "_bench_int_units", False):
            original = cls.__init__

            def init(self, filters, kernel_size, *args, _original=original, **kwargs):
                _original(self, int(filters), int(np.asarray(kernel_size).ravel()[0]), *args, **kwargs)

            cls.__init__, cls._bench_int_units = init, True

    class Deadline(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if searching["on"] and time.perf_counter() > deadline:
                self.model.stop_training = True
                oracle = model.tuner.oracle
                oracle.max_trials = max(1, len(oracle.trials))  # no further trial starts

    with tempfile.TemporaryDirectory() as wd:
        keras.utils.set_random_seed(seed)
        node = ak.Input()
        x = ak.ConvBlock()(node)
        x = ak.RNNBlock()(x)
        model = ak.AutoModel(inputs=node, outputs=ak.ClassificationHead()(x), max_trials=10_000, seed=seed,
                             directory=wd, project_name=name, overwrite=True)
        final_fit = model.tuner.final_fit

        def timed_final_fit(**kwargs):
            searching["on"] = False
            return final_fit(**kwargs)

        model.tuner.final_fit = timed_final_fit
        started = time.perf_counter()
        model.fit(ds.X_train.astype("float32"), ds.y_train, validation_data=(ds.X_val.astype("float32"), ds.y_val),
                  batch_size=32, verbose=0, callbacks=[Deadline()])
        # AutoModel.predict decodes the head's outputs back to the labels it was given.
        pred = np.asarray(model.predict(ds.X_test.astype("float32"), verbose=0)).reshape(-1).astype(ds.y_test.dtype)
        wall = time.perf_counter() - started
        best_trial = model.tuner.oracle.get_best_trials(1)[0]
        n_trials = len(model.tuner.oracle.trials)
    return {
        "tool": "autokeras",
        "description": "AutoKeras 3 AutoModel: ConvBlock -> RNNBlock -> ClassificationHead, greedy tuner",
        "wall_s": round(wall, 1),
        "wall_over_budget": round(wall / budget, 2),
        "trials": n_trials,
        "best_hyperparameters": {k: (v.item() if hasattr(v, "item") else v) for k, v in best_trial.hyperparameters.values.items()},
        "val_loss": best_trial.score,
        "test_accuracy": float(np.mean(pred == ds.y_test)),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=300, help="search seconds per dataset and tool")
    ap.add_argument("--datasets", default="ItalyPowerDemand,BasicMotions",
                    help=f"comma-separated; the tuning suite's classification sets are {','.join(SUITE)}")
    ap.add_argument("--tools", default="seqsearch,kerastuner")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pruner", choices=["median", "sha", "hyperband", "none"],
                    help="seqsearch's --pruner (default: its default, median); the row is named after it")
    ap.add_argument("--folds", type=int,
                    help="seqsearch's --folds (default: its default, 3 on these small splits); the row is named after it")
    ap.add_argument("--no-alone", dest="alone", action="store_false",
                    help="skip retraining and scoring the best trial alone beside an exported average")
    ap.add_argument("--compare-selection", action="store_true",
                    help="after each seqsearch search, retrain and test both the greedy-selection average "
                         "and the best-N rule's on the same trials (outside the budget)")
    ap.add_argument("--compare-final", action="store_true",
                    help="after each seqsearch search, retrain its exported members on train+validation "
                         "(--final retrain) and test them beside the exported fold models (outside the budget)")
    ap.add_argument("--out", default=str(HERE / "results" / "ucr_search.json"))
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    runners = {"seqsearch": run_seqsearch, "kerastuner": run_kerastuner, "autokeras": run_autokeras}
    results = []
    for name in args.datasets.split(","):
        for tool in args.tools.split(","):
            row = {"dataset": name, "budget_s": args.budget, **runners[tool](name, args.budget, args.seed, args.pruner, args.folds,
                                                                         args.alone, args.compare_selection,
                                                                         args.compare_final)}
            print(json.dumps(row), flush=True)
            results.append(row)
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
    # Keep earlier results of other budgets, datasets or tools; this run replaces its own.
    ran = {(r["dataset"], r["tool"], r["budget_s"]) for r in results}
    runs = [r for r in previous.get("runs", []) if (r["dataset"], r["tool"], r["budget_s"]) not in ran]
    out = {
        "command": "python benchmarks/ucr_search.py --budget B [--datasets ...] [--tools ...]",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU",
        "date": time.strftime("%Y-%m-%d"),
        "published": PUBLISHED,
        "runs": runs + results,
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
