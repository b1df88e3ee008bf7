"""Search quality per wall-clock budget on the two UCR/UEA datasets we tune on.

    python benchmarks/ucr_search.py --budget 300            # 5 minutes per dataset
    python benchmarks/ucr_search.py --budget 900 --datasets ItalyPowerDemand

Runs `seqsearch.run` with default options, ``--timeout BUDGET`` and an unbounded trial count
on each dataset (the archive's own train/test split), and writes the best test accuracy, the
number of trials and the wall time to ``benchmarks/results/ucr_search.json``. The timeout stops
new trials from starting; the wall time includes the trial running at the deadline and the
retrain of the best model, so it exceeds the budget a little.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "examples" / "data"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=300, help="search seconds per dataset")
    ap.add_argument("--datasets", default="ItalyPowerDemand,BasicMotions")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results" / "ucr_search.json"))
    args = ap.parse_args()

    import seqsearch
    from seqsearch.progress import Console

    results = []
    for name in args.datasets.split(","):
        with tempfile.TemporaryDirectory() as wd:
            started = time.perf_counter()
            r = seqsearch.run(DATA / f"{name}.npz", trials=100_000, timeout=args.budget, seed=args.seed,
                              workdir=wd, console=Console())
            wall = time.perf_counter() - started
        row = {
            "dataset": name,
            "budget_s": args.budget,
            "wall_s": round(wall, 1),
            "trials": r.n_trials,
            "states": r.states,
            "best_trial": r.best_trial,
            "best_summary": r.best_summary,
            "best_spec": r.best_spec,
            "val_loss": r.val_loss,
            "test_accuracy": r.test_metrics["accuracy"],
        }
        print(json.dumps(row))
        results.append(row)
    out = {
        "command": f"python benchmarks/ucr_search.py --budget {args.budget:g} --datasets {args.datasets} --seed {args.seed}",
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, no GPU",
        "date": time.strftime("%Y-%m-%d"),
        "results": results,
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
