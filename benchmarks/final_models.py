"""What the export should hand over for a cross-validated trial: the average of its fold models
(``--final folds``) or one retrain on train+validation (``--final retrain``)?

    python benchmarks/final_models.py                          # 6 sets x 2 specs x 2 seeds: ~35 min
    python benchmarks/final_models.py --datasets OSULeaf --seeds 0,1,2 --cap 20

The retrain has no rows left to pick its epoch on: it trains for the folds' mean best epoch
count and keeps whatever its last step left. Each fold model stopped at the epoch its own
held-out fold found best, on rows it did not train on. For each set of the tuning suite and each
of the portfolio's two leading specs (``fcn_fast``, ``inception_fast``), one trial the search's
way: the first fold on the validation split within a leader's share (``--cap`` seconds of
training), the later folds reusing its model (``TrialModel``) within the same share each, 3
folds. Then, scored on the test split (cross-entropy, accuracy):

- ``folds``: the average of the 3 fold models, rebuilt from their weights
  (``seqsearch.fold_models``), as the export builds it;
- ``retrain``: the spec retrained on train+validation for the folds' mean best epoch count, as
  the export does with ``--final retrain`` (its seed as the export's);
- ``fold0``: the first fold's model alone (trained on the training split only).

The test split is the tuning suite's own; no other archive set is read. Results:
``benchmarks/results/final_models.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from ucr_search import ts_path  # noqa: E402 - the tuning suite's paths, and its refusal of other sets

OUT = HERE / "results" / "final_models.json"
DATASETS = ("ItalyPowerDemand", "BasicMotions", "OSULeaf", "ACSF1", "PickupGestureWiimoteZ", "LongSeries")
SPECS = ("fcn_fast", "inception_fast")
FOLDS = 3
ARMS = ("folds", "retrain", "fold0")


def one(spec, ds, seed: int, cap: float) -> dict:
    """One trial of ``spec`` cross-validated the search's way, and the three finals scored."""
    from seqsearch.candidate import TrialModel
    from seqsearch.export import average_model
    from seqsearch.fold_models import build_fold_model
    from seqsearch.training import cross_validate, fit_candidate, retrain, score

    models = TrialModel()
    started = time.perf_counter()
    try:
        first = fit_candidate(spec, ds, max_epochs=500, seed=seed, share=cap, min_epochs=1, models=models,
                              predict_val=lambda v: True)
        out = cross_validate(first, spec, ds, FOLDS, max_epochs=500, seed=seed, fold_seed=seed,
                             fold_share=cap, models=models)
    finally:
        models.release()
    cv_s = time.perf_counter() - started
    if out.state != "complete" or not out.fold_weights:
        return {"state": out.state, "reason": out.reason}
    row = {"cv_val_loss": out.value, "fold_values": out.fold_values, "fold_epochs": out.fold_epochs,
           "cv_seconds": round(cv_s, 1)}
    X, y = ds.train_val
    task = ds.task_spec_for(y, X)
    t0 = time.perf_counter()
    fold_models = [build_fold_model(spec, ds, f, FOLDS, seed, w, seed + 100) for f, w in enumerate(out.fold_weights)]
    row["folds"] = score(average_model(fold_models), ds.X_test, ds.y_test, task)
    row["folds"]["seconds"] = round(time.perf_counter() - t0, 1)
    row["fold0"] = score(fold_models[0], ds.X_test, ds.y_test, task)
    t0 = time.perf_counter()
    epochs = out.best_epoch + 1
    row["retrain"] = score(retrain(spec, ds, epochs=epochs, seed=seed + 100), ds.X_test, ds.y_test, task)
    row["retrain"]["seconds"], row["retrain_epochs"] = round(time.perf_counter() - t0, 1), epochs
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--specs", default=",".join(SPECS))
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--cap", type=float, default=20.0, help="seconds each fold may train (a leader's share)")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()

    from search_spaces import warm_start_specs
    from seqsearch._backend import load_keras
    from seqsearch.config import RunConfig
    from seqsearch.parts import load_run_dataset, search_space

    load_keras(lean=True)
    started = time.perf_counter()
    rows = []
    for name in args.datasets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            config = RunConfig(dataset=str(ts_path(name)), trials=10, seed=seed, workdir=tempfile.mkdtemp())
            ds = load_run_dataset(config)
            portfolio = warm_start_specs(search_space(config, ds), config.warm_start, ds.task_spec.kind)
            for spec_name in args.specs.split(","):
                row = {"dataset": name, "seed": seed, "spec": spec_name,
                       **one(portfolio[spec_name], ds, seed, args.cap)}
                rows.append(row)
                if "folds" not in row:
                    print(f"{name:<22} seed {seed} {spec_name:<15} {row.get('state')}: {row.get('reason')}", flush=True)
                    continue
                print(f"{name:<22} seed {seed} {spec_name:<15} cv {row['cv_val_loss']:.3f} epochs {row['fold_epochs']} | "
                      + " | ".join(f"{a} {row[a]['loss']:.3f} ({100 * row[a]['accuracy']:.1f}%)" for a in ARMS), flush=True)
    done = [r for r in rows if "folds" in r]
    summary = {}
    for a in ARMS:
        summary[a] = {
            "mean_accuracy": sum(r[a]["accuracy"] for r in done) / max(len(done), 1),
            "geometric_mean_loss": math.exp(sum(math.log(max(r[a]["loss"], 1e-9)) for r in done) / max(len(done), 1)),
        }
    summary["folds_beat_retrain"] = {
        "loss": sum(r["folds"]["loss"] < r["retrain"]["loss"] for r in done),
        "accuracy_higher": sum(r["folds"]["accuracy"] > r["retrain"]["accuracy"] for r in done),
        "accuracy_lower": sum(r["folds"]["accuracy"] < r["retrain"]["accuracy"] for r in done),
        "of": len(done),
    }
    print("\n" + json.dumps(summary, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "command": "python benchmarks/final_models.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU",
        "date": time.strftime("%Y-%m-%d"), "cap_s": args.cap, "folds": FOLDS, "rows": rows, "summary": summary,
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
