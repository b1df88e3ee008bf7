"""Speed-up of ``--jobs`` on this machine: the same study of N trials with 1 and with J worker
processes.

    python benchmarks/jobs_speedup.py --trials 12 --jobs 2

Runs ``seqsearch run examples/data/ItalyPowerDemand.npz --families rnn --trials N
--max-epochs E --pruner none --sampler random`` once per job count (fresh work directory each
time, MLflow logging and the final retrain/export included) and writes wall times and the
speed-up to ``benchmarks/results/jobs_speedup.json``. Random sampling with a fixed seed keeps
the candidates comparable; with several workers each draws from its own stream, so the sets of
architectures differ and the result says so (total trained parameters per run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "examples" / "data" / "ItalyPowerDemand.npz"


def one(jobs, args):
    with tempfile.TemporaryDirectory() as wd:
        cmd = [sys.executable, "-m", "seqsearch", "run", str(DATA), "--families", "rnn", "--trials", str(args.trials),
               "--max-epochs", str(args.epochs), "--pruner", "none", "--sampler", "random", "--workdir", wd,
               "--folds", "1",  # as measured before --folds existed: one training per trial
               "--jobs", str(jobs), "--json"]
        started = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - started
        result = json.loads(out.stdout)
        params = sum(row.get("params") or 0 for row in result["leaderboard"])
        return {"jobs": jobs, "wall_s": round(wall, 1), "trials": result["n_trials"], "states": result["states"],
                "trained_params_total": params, "test_accuracy": result["test_metrics"].get("accuracy")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results" / "jobs_speedup.json"))
    args = ap.parse_args()
    runs = [one(1, args), one(args.jobs, args)]
    report = {
        "command": f"python benchmarks/jobs_speedup.py --trials {args.trials} --jobs {args.jobs}",
        "dataset": "ItalyPowerDemand", "epochs": args.epochs,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "runs": runs,
        "speedup": round(runs[0]["wall_s"] / runs[1]["wall_s"], 2),
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
