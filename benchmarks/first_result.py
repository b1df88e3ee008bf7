"""How soon a user sees a first result: `seqsearch run DATASET --timeout 300` as a fresh command
(TensorFlow, MLflow and the study's stores all start inside the timing), stopped once its first
trial completes. Each output line is timestamped from the command's start, so the run shows
where the seconds went: the header (start-up done), each fold of trial #0, its completion.

    python benchmarks/first_result.py --dataset OSULeaf --runs 3

Writes ``results/first_result.json`` (one entry per dataset and commit). Run it alone on the
machine: the command itself starts two processes on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ucr_search import ts_path  # noqa: E402 - the tuning suite's paths, and its refusal of other sets


def one_run(path: Path, budget: float, cap: float) -> dict:
    """One fresh `seqsearch run`, stopped at its first completed trial (or after ``cap`` s)."""
    with tempfile.TemporaryDirectory() as wd:
        cmd = [sys.executable, "-m", "seqsearch", "run", str(path), "--timeout", str(budget), "--workdir", wd,
               "--seed", "0"]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        lines, header, folds, first = [], None, [], None
        try:
            for line in proc.stdout:
                t = round(time.perf_counter() - started, 1)
                lines.append(f"{t:6.1f} {line.rstrip()}")
                if header is None and line.startswith("seqsearch: study"):
                    header = t
                if re.match(r"\s*#\d+\s+fold \d+/\d+", line) and first is None:
                    folds.append(t)
                if re.match(r"\s*#\d+\s+complete\b", line):
                    first = t
                    break
                if t > cap:
                    break
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return {"header_s": header, "fold_lines_s": folds, "first_complete_s": first, "timeline": lines}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="OSULeaf")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--budget", type=float, default=300)
    ap.add_argument("--cap", type=float, default=90, help="stop a run that has no completed trial after this many s")
    args = ap.parse_args()
    path = ts_path(args.dataset)
    import importlib.util

    # The commit of the seqsearch the command runs (PYTHONPATH may point at another worktree).
    package = Path(importlib.util.find_spec("seqsearch").origin).parent
    commit = subprocess.run(["git", "-C", str(package), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    runs = [one_run(path, args.budget, args.cap) for _ in range(args.runs)]
    firsts = [r["first_complete_s"] for r in runs if r["first_complete_s"] is not None]
    row = {
        "commit": commit,
        "budget": args.budget,
        "header_s": [r["header_s"] for r in runs],
        "first_complete_s": [r["first_complete_s"] for r in runs],
        "median_first_complete_s": statistics.median(firsts) if firsts else None,
        "runs": runs,
    }
    for r in runs:
        print("\n".join(r["timeline"][:12]), "\n")
    print(json.dumps({k: v for k, v in row.items() if k != "runs"}, indent=2))
    out = HERE / "results" / "first_result.json"
    results = json.loads(out.read_text()) if out.is_file() else {}
    results[f"{args.dataset}/{commit}"] = row
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
