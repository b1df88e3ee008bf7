"""What a cross-validated trial's later folds cost when each builds and traces its own model
against training the first fold's model again (``seqsearch.candidate.TrialModel``).

    python benchmarks/fold_reuse.py --dataset OSULeaf --specs fcn_fast,inception_fast

For each warm-start spec, alternately without and with reuse (twice each), one trial of 3 folds
trained for at most 8 epochs a fold, alone in one process: the first fold's seconds, then each
later fold's seconds, its first epoch (tracing included when it builds), the median of its
later epochs, and its best validation loss. Writes ``results/fold_reuse.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ucr_search import ts_path  # noqa: E402 - the tuning suite's paths, and its refusal of other sets


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="OSULeaf")
    ap.add_argument("--specs", default="fcn_fast,inception_fast")
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args()

    import tempfile

    from search_spaces import warm_start_specs
    from seqsearch._backend import load_keras
    from seqsearch.candidate import TrialModel
    from seqsearch.config import RunConfig
    from seqsearch.parts import load_run_dataset, search_space
    from seqsearch.training import cross_validate, fit_candidate

    load_keras(lean=True)
    config = RunConfig(dataset=str(ts_path(args.dataset)), trials=10, seed=0, workdir=tempfile.mkdtemp())
    ds = load_run_dataset(config)
    space = search_space(config, ds)
    portfolio = warm_start_specs(space, config.warm_start, ds.task_spec.kind)
    rows = []
    for name in args.specs.split(","):
        spec = portfolio[name]
        for mode in ("rebuild", "reuse", "rebuild", "reuse"):
            models = TrialModel() if mode == "reuse" else None
            started = time.perf_counter()
            first = fit_candidate(spec, ds, max_epochs=args.epochs, seed=0, models=models)
            first_s = time.perf_counter() - started
            later = []

            def on_fold(f, o, later=later):
                later.append({"seconds": round(o.seconds, 2), "first_epoch_s": round(o.first_epoch_seconds, 2),
                              "later_epoch_s": round(o.epoch_seconds, 3), "val_loss": round(o.value, 4)})

            cross_validate(first, spec, ds, 3, max_epochs=args.epochs, seed=0, models=models, on_fold=on_fold)
            if models is not None:
                models.release()
            row = {"spec": name, "mode": mode, "first_fold_s": round(first_s, 2), "later_folds": later}
            print(json.dumps(row), flush=True)
            rows.append(row)
    commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    out = HERE / "results" / "fold_reuse.json"
    out.write_text(json.dumps({"command": "python benchmarks/fold_reuse.py " + " ".join(sys.argv[1:]),
                               "commit": commit, "dataset": args.dataset, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
