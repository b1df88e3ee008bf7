"""How far does the architecture a 5-minute search exports go when it is trained as long as the
published networks are? Test accuracy against training time, on the sets where seqsearch stays
under the published ResNet.

    python benchmarks/long_training.py                      # OSULeaf, ACSF1: ~10 min
    python benchmarks/long_training.py --datasets OSULeaf --epochs 400

The 5-minute search on OSULeaf and ACSF1 exports the portfolio's InceptionTime
(``inception_fast``: 3 modules, kernels 40-20-10, batch 16, learning rate 0.003) trained for
tens of epochs. The published InceptionTime and ResNet are trained for 1,500 epochs on the whole
training split with the learning rate halved on plateaus of the training loss, and their last
epoch is scored. This script trains the same spec that way (train + validation, which together
are the archive's training split; ``ReduceLROnPlateau`` on the training loss, factor 0.5,
patience ``--patience``) for ``--epochs`` epochs, and scores the test split at a few epoch
counts along the way. Nothing is chosen on the test scores: they say what more training
buys, and at what cost in CPU time on this machine. Results:
``benchmarks/results/long_training.json``.
"""

from __future__ import annotations

import argparse
import json
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

OUT = HERE / "results" / "long_training.json"
BASE = "inception_fast"
CHECKPOINTS = (10, 25, 50, 100, 200, 400, 800, 1500)


def train_long(spec, ds, epochs: int, seed: int, patience: int) -> dict:
    """``spec`` trained from scratch on train + validation for ``epochs`` epochs, the learning
    rate halved when the training loss has not improved for ``patience`` epochs; the test split
    scored at each checkpoint epoch (seconds of training so far beside it)."""
    import keras

    from seqsearch.candidate import build_candidate, fresh_session
    from seqsearch.training import score

    X, y = ds.train_val
    task_spec = ds.task_spec_for(y, X)
    fresh_session(seed)
    cand = build_candidate(spec, ds.data_spec(X), task_spec, None)
    marks, trained = [], {"seconds": 0.0}

    class Checkpoints(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            trained["seconds"] += time.perf_counter() - self.began
            if epoch + 1 in CHECKPOINTS or epoch + 1 == epochs:
                test = score(cand.model, ds.X_test, ds.y_test, task_spec)
                marks.append({"epoch": epoch + 1, "train_seconds": round(trained["seconds"], 1),
                              "train_loss": float(logs.get("loss", float("nan"))),
                              "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
                              "test_accuracy": test["accuracy"], "test_loss": test["loss"]})
                print(f"  epoch {epoch + 1:>4}  {trained['seconds']:7.1f} s  train loss {marks[-1]['train_loss']:.4f}  "
                      f"test accuracy {100 * test['accuracy']:.1f}%", flush=True)

    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=patience, min_lr=1e-4)
    cand.fit(X, y, epochs=epochs, batch_size=int(spec["train.batch_size"]), verbose=0,
             callbacks=[plateau, Checkpoints()])
    return {"checkpoints": marks, "seconds_per_epoch": round(trained["seconds"] / max(epochs, 1), 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="OSULeaf,ACSF1")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--patience", type=int, default=20,
                    help="epochs without a lower training loss before the learning rate is halved (published: 50 "
                         "of 1,500)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()

    from search_spaces import SearchSpace
    from seqsearch.data import load_dataset

    started = time.perf_counter()
    rows = []
    family, values = CANDIDATES[BASE]
    for name in args.datasets.split(","):
        ds = load_dataset(_dataset_path(name), seed=args.seed)
        spec = SearchSpace(data_spec=ds.data_spec(), task_spec=ds.task_spec).default_spec(family, values)
        print(f"{name}: {len(ds.X_train) + len(ds.X_val)} training series of {ds.X_train.shape[1]} steps, "
              f"{len(ds.X_test)} test", flush=True)
        rows.append({"dataset": name, "spec": spec, **train_long(spec, ds, args.epochs, args.seed, args.patience)})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "command": "python benchmarks/long_training.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU",
        "date": time.strftime("%Y-%m-%d"), "base": BASE, "epochs": args.epochs,
        "patience": args.patience, "seed": args.seed, "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
