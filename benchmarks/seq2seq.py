"""Seq2seq search per wall-clock budget on the generated transduction tasks.

    python benchmarks/seq2seq.py --budget 600 [--tasks dates,numbers,translit] [--label NAME]

Tasks (each made by its script in ``examples/data/`` and written to a temporary ``.tsv``):

* ``dates``: 12,000 dates written eight ways, lower-cased 30% of the time, paired with ISO 8601
  (``make_dates.make(n=12000)``; characters in, characters out);
* ``numbers``: 8,000 numbers below a billion paired with their English words
  (``make_numbers.make()``; digits in, word tokens out); ``numbers6``, not run by default: the
  same below a million, which searches before and after the transformer both solved to 99.6%;
* ``translit``: 10,000 made-up words transliterated into Cyrillic by context-dependent rules
  (``make_translit.make()``; characters in, characters out).

Each run is ``seqsearch.run`` with default options, ``--timeout BUDGET`` and an unbounded trial
count; the best model is retrained on train+validation and scored on the test split (sequence
accuracy, token error rate, token accuracy). Each row records how the budget was spent (trials
started, completed, seconds to the first completed trial, wall time / budget) and the training
speed: the median seconds per epoch over the trials (after the first, tracing, epoch) and the
best trial's. Results go to ``benchmarks/results/seq2seq.json`` under ``TASK/BUDGET@LABEL``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ucr_search import budget_use  # noqa: E402

# name: (generator script, pairs, its other arguments)
TASKS = {"dates": ("make_dates", 12_000, {}), "numbers": ("make_numbers", 8_000, {}),
         "numbers6": ("make_numbers", 8_000, {"max_digits": 6}), "translit": ("make_translit", 10_000, {})}
DEFAULT_TASKS = ("dates", "numbers", "translit")


def task_tsv(task: str) -> Path:
    script, n, kwargs = TASKS[task]
    spec = importlib.util.spec_from_file_location(script, HERE.parent / "examples" / "data" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = Path(tempfile.gettempdir()) / f"seqsearch-bench-{task}-{n}.tsv"
    out.write_text("\n".join(module.make(n=n, **kwargs)) + "\n")
    return out


def epoch_speed(study_path: Path, study: str, best: int) -> dict:
    """Median seconds per epoch (tracing excluded) over the trials that ran two epochs or more,
    and the best trial's."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(study_path / "optuna.journal")))
    trials = optuna.load_study(study_name=study, storage=storage).trials
    per_trial = [t.user_attrs["epoch_seconds"] for t in trials if "epoch_seconds" in t.user_attrs]
    return {"median_epoch_s": round(statistics.median(per_trial), 2) if per_trial else None,
            "best_epoch_s": next((round(t.user_attrs["epoch_seconds"], 2) for t in trials
                                  if t.number == best and "epoch_seconds" in t.user_attrs), None),
            "epochs_run": sum(int(t.user_attrs.get("epochs_run", 0)) for t in trials)}


def run_task(task: str, budget: float, seed: int) -> dict:
    import seqsearch
    from seqsearch.progress import Console

    path = task_tsv(task)
    with tempfile.TemporaryDirectory() as wd:
        started_at = time.time()
        started = time.perf_counter()
        r = seqsearch.run(path, trials=100_000, timeout=budget, seed=seed, workdir=wd, console=Console())
        wall = time.perf_counter() - started
        use = budget_use(r.study_path, r.study, started_at)
        speed = epoch_speed(r.study_path, r.study, r.best_trial)
    return {
        "dataset": f"{task} ({TASKS[task][1]} pairs)", "budget_s": budget, "wall_s": round(wall, 1),
        "wall_over_budget": round(wall / budget, 2), "trials": r.n_trials, **use, **speed, "states": r.states,
        "best_summary": r.best_summary, "test": r.test_metrics,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=600, help="seconds of search per task")
    ap.add_argument("--tasks", default=",".join(DEFAULT_TASKS), help=f"comma-separated, from {', '.join(TASKS)}")
    ap.add_argument("--label", default="", help="suffix of the result keys (e.g. the commit)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out = HERE / "results" / "seq2seq.json"
    for task in args.tasks.split(","):
        row = run_task(task.strip(), args.budget, args.seed)
        print(json.dumps(row, indent=2), flush=True)
        results = json.loads(out.read_text()) if out.is_file() else {}
        results[f"{task}/{int(args.budget)}" + (f"@{args.label}" if args.label else "")] = row
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
