"""Is the final retrain's last epoch a good model? Constant learning rate against a decay.

    python benchmarks/retrain_schedule.py                   # 6 sets x 2 seeds: ~25 min
    python benchmarks/retrain_schedule.py --datasets OSULeaf --seeds 0,1,2

The export retrains the winning spec on train+validation for the epochs its folds found best and
keeps the weights of the last epoch: no validation split is left to pick an epoch. With a
constant learning rate on 40-200 training series the last epoch's training loss still jumps
(on OSULeaf 0.024 at epoch 61 and 0.057 at epoch 71 of a 78-epoch retrain), so the exported
model is whatever state the last step left. Does a learning rate that decays over the retrain
(cosine, to zero at its last epoch) end in a better model?

Measured the search's way and on validation data only: for each set of the tuning suite the
portfolio's InceptionTime (``inception_fast``, what most short searches export) is fitted with
early stopping on the search's train/validation split (at most ``--cap`` seconds), which gives
the epoch count E; then it is trained again from scratch on the training split alone for E
epochs, once with the constant learning rate and once with the cosine decay, both with another
seed than the early-stopped fit (with its seed the constant arm would replay that fit and end
on the very epoch the validation split picked), and its last-epoch weights are scored on the
validation split (cross-entropy and accuracy). Both arms share the optimism of an E chosen on
that split. Results:
``benchmarks/results/retrain_schedule.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from build_portfolio import CANDIDATES, _dataset_path  # noqa: E402

OUT = HERE / "results" / "retrain_schedule.json"
DATASETS = ("ItalyPowerDemand", "BasicMotions", "OSULeaf", "ACSF1", "PickupGestureWiimoteZ", "LongSeries")
BASE = "inception_fast"
SCHEDULES = ("constant", "cosine")
# The retrains' seed offset: another initialisation and batch order than the early-stopped fit's.
RETRAIN_SEED = 1000


def cosine(lr0: float, epochs: int):
    """The learning rate of epoch ``e`` (from 0): lr0 at the first, falling to 0 after the last."""
    return lambda e, lr=None: lr0 * 0.5 * (1.0 + math.cos(math.pi * e / max(epochs, 1)))


def train_for(spec, ds, epochs: int, seed: int, schedule: str) -> dict:
    """Train ``spec`` from scratch on the training split alone for ``epochs`` epochs and score
    its last-epoch weights on the validation split."""
    import keras

    from seqsearch.candidate import build_candidate, fresh_session
    from seqsearch.training import score

    fresh_session(seed)
    cand = build_candidate(spec, ds.data_spec(), ds.task_spec, None)
    model, fit = cand.model, cand.fit
    callbacks = []
    if schedule == "cosine":
        callbacks.append(keras.callbacks.LearningRateScheduler(cosine(float(spec["train.learning_rate"]), epochs)))
    started = time.perf_counter()
    fit(ds.X_train, ds.y_train, epochs=epochs, batch_size=int(spec["train.batch_size"]), verbose=0,
        callbacks=callbacks)
    out = score(model, ds.X_val, ds.y_val, ds.task_spec)
    return {"val_loss": out["loss"], "val_accuracy": out["accuracy"], "seconds": round(time.perf_counter() - started, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--cap", type=float, default=30.0, help="seconds of the early-stopped fit at most")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()

    from search_spaces import SearchSpace
    from seqsearch.data import load_dataset
    from seqsearch.training import fit_candidate

    started = time.perf_counter()
    rows = []
    family, values = CANDIDATES[BASE]
    for name in args.datasets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            ds = load_dataset(_dataset_path(name), seed=seed)
            spec = SearchSpace(data_spec=ds.data_spec(), task_spec=ds.task_spec).default_spec(family, values)
            t0 = time.perf_counter()
            es = fit_candidate(spec, ds, max_epochs=200, seed=seed, deadline=t0 + args.cap)
            epochs = es.best_epoch + 1
            row = {"dataset": name, "seed": seed, "epochs": epochs, "early_stopped_val_loss": es.value,
                   "early_stopped_val_accuracy": es.metrics.get("val_accuracy")}
            for schedule in SCHEDULES:
                row[schedule] = train_for(spec, ds, epochs, seed + RETRAIN_SEED, schedule)
            rows.append(row)
            print(f"{name:<22} seed {seed} E={epochs:<3} early-stopped {es.value:.3f} | " + " | ".join(
                f"{s} {row[s]['val_loss']:.3f} ({100 * row[s]['val_accuracy']:.0f}%)" for s in SCHEDULES), flush=True)
    wins = sum(r["cosine"]["val_loss"] < r["constant"]["val_loss"] for r in rows)
    ratio = [r["cosine"]["val_loss"] / r["constant"]["val_loss"] for r in rows if r["constant"]["val_loss"] > 0]
    geo = math.exp(sum(math.log(x) for x in ratio) / len(ratio)) if ratio else float("nan")
    print(f"\ncosine lower than constant in {wins} of {len(rows)} fits; geometric mean loss ratio {geo:.3f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "command": "python benchmarks/retrain_schedule.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU",
        "date": time.strftime("%Y-%m-%d"), "base": BASE, "cap_s": args.cap, "rows": rows,
        "cosine_wins": wins, "geometric_mean_loss_ratio": geo,
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
