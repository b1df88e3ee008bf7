"""Seq2seq search per wall-clock budget on a generated pairs table of 12,000 date pairs.

    python benchmarks/seq2seq.py --budget 300

The pairs come from ``examples/data/make_dates.py`` (``make(n=12000)``: dates written eight
ways, lower-cased 30% of the time, paired with ISO 8601), written to a temporary ``.tsv``. The
run is ``seqsearch.run`` with default options, ``--timeout BUDGET`` and an unbounded trial count;
the best model is retrained on train+validation and scored on the test split (token accuracy,
whole-sequence accuracy, token error rate). Each row records how the budget was spent (trials
started, queued and sampled, trials that reached the last rung, seconds to the first completed
trial, wall time / budget). Results go to ``benchmarks/results/seq2seq.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ucr_search import budget_use  # noqa: E402


def dates_tsv(n: int) -> Path:
    spec = importlib.util.spec_from_file_location("make_dates", HERE.parent / "examples" / "data" / "make_dates.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = Path(tempfile.gettempdir()) / f"seqsearch-bench-dates-{n}.tsv"
    out.write_text("\n".join(module.make(n=n)) + "\n")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=300, help="seconds of search")
    ap.add_argument("--pairs", type=int, default=12_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import seqsearch
    from seqsearch.progress import Console

    path = dates_tsv(args.pairs)
    with tempfile.TemporaryDirectory() as wd:
        started_at = time.time()
        started = time.perf_counter()
        r = seqsearch.run(path, trials=100_000, timeout=args.budget, seed=args.seed, workdir=wd, console=Console())
        wall = time.perf_counter() - started
        use = budget_use(r.study_path, r.study, started_at)
    row = {
        "dataset": f"dates ({args.pairs} pairs)", "budget_s": args.budget, "wall_s": round(wall, 1),
        "wall_over_budget": round(wall / args.budget, 2), "trials": r.n_trials, **use, "states": r.states,
        "best_summary": r.best_summary, "test": r.test_metrics,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    print(json.dumps(row, indent=2))
    out = HERE / "results" / "seq2seq.json"
    results = json.loads(out.read_text()) if out.is_file() else {}
    results[f"dates-{args.pairs}/{int(args.budget)}"] = row
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
