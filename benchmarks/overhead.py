"""Overhead of seqsearch over plain Keras (issue 7, benchmark 1).

    python benchmarks/overhead.py --specs 8 --epochs 10

N architectures are drawn once (random, fixed seed) from the space and trained twice, in this
one process, on the same data (ItalyPowerDemand, seqsearch's splits) for the same epochs:

* plain Keras: a hand-written loop that builds each model with the same builder, compiles it
  with the same optimiser, loss and metric as the Keras guides write them, and ``fit``s the
  NumPy arrays with per-epoch validation, calling ``keras.backend.clear_session()`` between
  models, as a careful script would;
* seqsearch: ``seqsearch.run`` on a fresh study that replays the same N specs (``--specs``),
  no pruning, with everything a search does per trial: Optuna storage, MLflow runs with
  parameters, per-epoch metrics and model summaries, early-stopping callbacks, memory
  records.

Patience is set above the epoch count, so every model trains every epoch on both sides.
overhead_ratio = seqsearch's wall time from the call up to the end of the last trial (study
set-up included) / the plain loop's wall time (below 1: seqsearch trains the same models faster
than the plain loop, which traces each train step twice and feeds arrays the way ``fit`` does by
default; see ``seqsearch.training``), the mean of one plain run before and one after
seqsearch's (the order matters a little: later runs find warmer caches). seqsearch's time is
split into set-up (loading the data, creating the MLflow store and the study: up to the first
trial's start), training (the trials' own ``seconds``: build, fit, model summary, release) and
the bookkeeping between and around trials (the rest). The final retrain and export that seqsearch then
does (work the plain loop does not do) is reported beside it, not in the ratio. A warm-up fit
runs first so neither side pays TensorFlow's one-off start-up. Results go to
``benchmarks/results/overhead.json``.
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
DATA = HERE.parent / "examples" / "data" / "ItalyPowerDemand.npz"
FAMILIES = ["rnn", "transformer", "rnn_bottleneck", "tlb"]


def draw_specs(space, n, seed, epochs):
    import optuna

    from search_spaces import OptunaHP

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    specs = []
    while len(specs) < n:
        spec = space.sample(OptunaHP(study.ask()))
        spec["train.patience"] = max(int(spec.get("train.patience", 0)), epochs + 1)
        try:
            specs.append(space.validate_spec(spec))
        except ValueError:  # the patience choice list may not reach: keep the largest
            spec["train.patience"] = 40
            specs.append(space.validate_spec(spec))
    return specs


def plain_keras(specs, ds, epochs):
    import keras

    from search_spaces import build_models

    started = time.perf_counter()
    for i, spec in enumerate(specs):
        keras.backend.clear_session()
        keras.utils.set_random_seed(i)
        model, _ = build_models(spec, ds.data_spec(), ds.task_spec)
        # The same recipe, compiled as the Keras guides write it (a string metric).
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=spec["train.learning_rate"], clipnorm=1.0),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(ds.X_train, ds.y_train, validation_data=(ds.X_val, ds.y_val), epochs=epochs,
                  batch_size=int(spec["train.batch_size"]), verbose=0)
    return time.perf_counter() - started


def with_seqsearch(specs, epochs, workdir):
    import seqsearch.api as api
    from seqsearch.progress import Console

    marks = {}
    finish = api.finish_run

    def timed_finish(*a, **k):
        marks["search_done"] = time.perf_counter()
        return finish(*a, **k)

    api.finish_run = timed_finish
    specs_file = Path(workdir) / "specs.json"
    specs_file.write_text(json.dumps(specs))
    started, started_wall = time.perf_counter(), time.time()
    try:
        result = api.run(DATA, console=Console(quiet=True), trials=len(specs), max_epochs=epochs, families=FAMILIES,
                         sampler="random", pruner="none", workdir=str(workdir), study="overhead",
                         folds=1,  # the same N trainings as the plain-Keras side (no cross-validation)
                         specs_file=str(specs_file))
    finally:
        api.finish_run = finish
    ended = time.perf_counter()
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(Path(workdir) / "overhead" / "optuna.journal")))
    trials = optuna.load_study(study_name="overhead", storage=storage).trials
    first_start = min(t.datetime_start for t in trials).timestamp()
    parts = {
        "setup_s": first_start - started_wall,
        "training_s": sum(t.user_attrs["seconds"] for t in trials),
    }
    parts["bookkeeping_s"] = marks["search_done"] - started - parts["setup_s"] - parts["training_s"]
    return marks["search_done"] - started, ended - marks["search_done"], result, parts


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--specs", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results" / "overhead.json"))
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from search_spaces import SearchSpace
    from seqsearch._backend import load_keras
    from seqsearch.data import load_dataset

    load_keras()
    ds = load_dataset(DATA)
    space = SearchSpace(FAMILIES, data_spec=ds.data_spec(), task_spec=ds.task_spec)
    specs = draw_specs(space, args.specs, args.seed, args.epochs)
    plain_keras(specs[:1], ds, 1)  # warm-up: TensorFlow's one-off start-up is nobody's overhead

    plain_before = plain_keras(specs, ds, args.epochs)
    with tempfile.TemporaryDirectory() as wd:
        search_s, export_s, result, parts = with_seqsearch(specs, args.epochs, wd)
    plain_after = plain_keras(specs, ds, args.epochs)
    plain_s = (plain_before + plain_after) / 2
    ran = [row for row in result.leaderboard]
    report = {
        "command": f"python benchmarks/overhead.py --specs {args.specs} --epochs {args.epochs}",
        "dataset": "ItalyPowerDemand",
        "epochs": args.epochs,
        "specs": [row["architecture"] for row in sorted(ran, key=lambda r: r["trial"])],
        "trials_completed": len(ran),
        "plain_keras_s": round(plain_s, 2),
        "plain_keras_runs_s": [round(plain_before, 2), round(plain_after, 2)],
        "seqsearch_search_s": round(search_s, 2),
        "seqsearch_parts_s": {k: round(v, 2) for k, v in parts.items()},
        "overhead_ratio": round(search_s / plain_s, 3),
        "seqsearch_retrain_and_export_s": round(export_s, 2),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
