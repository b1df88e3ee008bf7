"""What a trial costs on each Keras backend and precision, on whatever device this machine has.

    python benchmarks/backends.py [--backends tensorflow,jax] [--precisions float32,mixed]
                                  [--epochs 6] [--search 300] [--label NAME]

For every (backend, precision) pair a child process (a process runs one Keras backend) takes a
generated classification set (1,000 noisy multi-frequency sequences of 256 steps x 3 channels,
4 classes, 20% held out for validation) and fits each family's default spec from the same seed
exactly as a trial does (``seqsearch.candidate``: the same session, policy, model and feeding),
recording the first epoch (tracing or compiling included), the median later epoch, and the
validation accuracy after the last. With ``--search S``, the same child then runs
``seqsearch run`` on that set for S seconds (``--timeout S``) and reports trials, wall time and
test accuracy (a 20% test split of the generated set). With ``--memory N``, each backend runs
``cost_growth.py``'s long search (N same-sized recurrent trials in one process) and reports the
seconds and resident memory per trial: memory must stay flat over trials on every backend.

The per-epoch part needs only keras, numpy, the backend and this repository (no TensorFlow on a
JAX machine, no Optuna or MLflow); ``--search`` needs seqsearch's dependencies. Results go to
``benchmarks/results/backends.json`` under ``LABEL/backend/precision`` (default label: the
device).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
FAMILIES = ["conv", "rnn", "transformer", "rnn_bottleneck", "tlb"]
OUT = HERE / "results" / "backends.json"


def generated(path, n=1_000, steps=256, channels=3, seed=0):
    """Noisy sines whose class is the frequency band (4 classes)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    t = np.arange(steps)[None, :, None]
    freq = (0.02 + 0.015 * y)[:, None, None] * rng.uniform(0.9, 1.1, (n, 1, channels))
    X = np.sin(2 * np.pi * freq * t + rng.uniform(0, 6.3, (n, 1, channels))) + 0.5 * rng.normal(size=(n, steps, channels))
    np.savez(path, X=X.astype("float32"), y=y)
    return path


def epochs_of(spec, data, epochs, policy, seed=0):
    """One family default fitted as a trial is: first epoch, median later epoch, final val acc."""
    import keras

    from seqsearch.candidate import build_candidate, fresh_session

    X_train, y_train, X_val, y_val, data_spec, task_spec = data
    fresh_session(seed, policy)
    cand = build_candidate(spec, data_spec, task_spec, None)
    ends = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            ends.append(time.perf_counter())

    t0 = time.perf_counter()
    history = cand.fit(X_train, y_train, validation_data=(X_val, y_val), epochs=epochs, verbose=0,
                       batch_size=int(spec["train.batch_size"]), callbacks=[Clock()])
    times = [b - a for a, b in zip([t0] + ends[:-1], ends)]
    acc = history.history.get("val_accuracy", [float("nan")])[-1]
    return {"params": cand.n_params, "first_epoch_s": round(times[0], 3),
            "epoch_s": round(statistics.median(times[1:]), 3), "val_accuracy": round(float(acc), 4)}


def child(args):
    """Runs in a process whose KERAS_BACKEND is set: the per-epoch table, then the search."""
    from search_spaces import SearchSpace
    from seqsearch._backend import load_keras
    from seqsearch.budget import usable_cores
    from seqsearch.data import load_dataset
    from seqsearch.devices import describe, dtype_policy

    load_keras()
    device = describe(usable_cores(), args.precision)
    policy = dtype_policy(args.precision, on_gpu=device.startswith("devices: GPU"))
    ds = load_dataset(args.data, test_size=0.2, val_size=0.2, seed=0)
    data = (ds.X_train, ds.y_train, ds.X_val, ds.y_val, ds.data_spec(), ds.task_spec)
    space = SearchSpace(FAMILIES, data_spec=ds.data_spec(), task_spec=ds.task_spec)
    rows = {}
    for family in FAMILIES:
        spec = space.default_spec(family)
        spec["train.patience"] = 10 * args.epochs  # every epoch runs
        try:
            rows[family] = epochs_of(spec, data, args.epochs, policy)
        except Exception as e:  # noqa: BLE001 - a family a backend cannot run is a result too
            rows[family] = {"error": (str(e).splitlines() or [type(e).__name__])[0][:200]}
        print(json.dumps({"family": family, **rows[family]}), file=sys.stderr, flush=True)
    out = {"device": device, "policy": policy, "families": rows}
    if args.search:
        out["search"] = search(args)
    print(json.dumps(out))


def search(args):
    import seqsearch
    from seqsearch.progress import Console

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        r = seqsearch.run(args.data, workdir=Path(tmp) / "runs", console=Console(quiet=True), timeout=args.search,
                          trials=1000, precision=args.precision, test_size=0.2, val_size=0.2, seed=0)
        wall = time.perf_counter() - t0
        return {"budget_s": args.search, "wall_s": round(wall, 1), "trials": r.n_trials, "states": r.states,
                "test_accuracy": round(float(r.test_metrics.get("accuracy", float("nan"))), 4),
                "best": r.best_summary}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="tensorflow,jax")
    ap.add_argument("--precisions", default="float32,mixed")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--search", type=float, default=0.0, help="seconds of `seqsearch run` per pair (0: none)")
    ap.add_argument("--memory", type=int, default=0, help="trials of the flat-memory search per backend (0: none)")
    ap.add_argument("--label", help="results key (default: the device line)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--precision", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    results = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
    if args.memory:
        from cost_growth import long_search

        for backend in args.backends.split(","):
            os.environ["KERAS_BACKEND"] = backend  # the search's process inherits it
            got = {k: v for k, v in long_search(args.memory).items() if not isinstance(v, list)}
            results.setdefault(args.label or "memory", {}).setdefault(backend, {})["memory"] = got
            Path(args.out).write_text(json.dumps(results, indent=1))
            print(backend, json.dumps(got), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = generated(Path(tmp) / "generated.npz")
        for backend in args.backends.split(","):
            for precision in filter(None, args.precisions.split(",")):
                env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
                cmd = [sys.executable, __file__, "--child", "--precision", precision, "--data", str(data),
                       "--epochs", str(args.epochs), "--search", str(args.search)]
                print(f"== {backend} {precision}", flush=True)
                p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
                if p.returncode != 0:
                    print(f"   failed (exit {p.returncode})", flush=True)
                    continue
                got = json.loads(p.stdout.strip().splitlines()[-1])
                label = args.label or got["device"]
                results.setdefault(label, {}).setdefault(backend, {})[precision] = got
                Path(args.out).write_text(json.dumps(results, indent=1))
                print(json.dumps(got, indent=None), flush=True)


if __name__ == "__main__":
    main()
