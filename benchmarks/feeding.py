"""How training data is fed (issue 7, speed work).

    python benchmarks/feeding.py --epochs 10

Per dataset (ItalyPowerDemand, BasicMotions, and a generated 4,000-sequence set that has about
75 batches an epoch where the archives have 2 or 3) and per family default, the same model is
fitted from the same seed with per-epoch validation, fed four ways:

* ``arrays``: NumPy arrays straight to ``fit`` (what seqsearch did before: Keras converts them
  to tensors once per fit and, every epoch, starts a parallel autotuned pipeline that shuffles
  indices and gathers batches);
* ``tf_data``: the textbook ``tf.data`` pipeline, built once (``from_tensor_slices``, ``cache``,
  ``shuffle`` over all sequences each epoch, ``batch``, ``prefetch(AUTOTUNE)``), train and
  validation alike; its shuffle buffer holds a second copy of the data;
* ``seqsearch``: ``seqsearch.feeding.batches``, what trials use now: sliced once per fit,
  shuffled in a buffer each epoch (no cache), batched, prefetching 2 (splits over 256 MiB
  shuffle indices and gather batches instead, to keep one copy of the data);
* ``spe4``: arrays, compiled with ``steps_per_execution=4`` (four batches inside one traced
  call, so Python and dispatch overhead is paid once per group).

Reported: the median epoch after the first (the first traces the graphs) and the whole fit.
Results go to ``benchmarks/results/feeding.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
DATA = HERE.parent / "examples" / "data"
FAMILIES = ["rnn", "transformer", "rnn_bottleneck", "tlb"]
MODES = ("arrays", "tf_data", "seqsearch", "spe4")


def generated(path, n=4_000, steps=64, channels=3, seed=0):
    """Noisy sines whose class is the frequency band (``n`` sequences, 4 classes)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    t = np.arange(steps)[None, :, None]
    freq = (0.05 + 0.04 * y)[:, None, None] * rng.uniform(0.9, 1.1, (n, 1, channels))
    X = np.sin(2 * np.pi * freq * t + rng.uniform(0, 6.3, (n, 1, channels))) + 0.3 * rng.normal(size=(n, steps, channels))
    np.savez(path, X=X.astype("float32"), y=y)
    return path


def timed_fit(model, *args, **kw):
    """``model.fit(*args, **kw)`` timed: ``{"fit_s", "first_epoch_s", "later_epoch_s"}`` (the
    median epoch after the first, which traces the graphs), plus the last ``val_loss``."""
    import keras

    ends = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            ends.append(time.perf_counter())

    t0 = time.perf_counter()
    history = model.fit(*args, verbose=0, callbacks=[Clock()], **kw)
    total = time.perf_counter() - t0
    epochs_s = [b - a for a, b in zip([t0] + ends[:-1], ends)]
    return {"fit_s": total, "first_epoch_s": epochs_s[0], "later_epoch_s": statistics.median(epochs_s[1:]),
            "val_loss": float(history.history["val_loss"][-1])}


def fit_once(spec, ds, epochs, mode, seed):
    import keras
    import tensorflow as tf

    from search_spaces import build_models, compile_model

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model, _ = build_models(spec, ds.data_spec(), ds.task_spec)
    compile_model(model, spec, ds.task_spec, steps_per_execution=int(mode[3:]) if mode.startswith("spe") else 1)
    batch = int(spec["train.batch_size"])
    if mode == "seqsearch":
        from seqsearch.feeding import batches

        got = timed_fit(model, batches(ds.X_train, ds.y_train, batch, shuffle=True),
                        validation_data=batches(ds.X_val, ds.y_val, batch, shuffle=False), epochs=epochs)
    elif mode == "tf_data":
        auto = tf.data.AUTOTUNE
        train = (tf.data.Dataset.from_tensor_slices((ds.X_train, ds.y_train)).cache()
                 .shuffle(len(ds.X_train), reshuffle_each_iteration=True).batch(batch).prefetch(auto))
        val = tf.data.Dataset.from_tensor_slices((ds.X_val, ds.y_val)).cache().batch(batch).prefetch(auto)
        got = timed_fit(model, train, validation_data=val, epochs=epochs)
    else:
        got = timed_fit(model, ds.X_train, ds.y_train, validation_data=(ds.X_val, ds.y_val), epochs=epochs,
                        batch_size=batch)
    return {k: round(v, 4) for k, v in got.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results" / "feeding.json"))
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tempfile

    from search_spaces import SearchSpace
    from seqsearch._backend import load_keras
    from seqsearch.data import load_dataset

    load_keras()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"ItalyPowerDemand": DATA / "ItalyPowerDemand.npz", "BasicMotions": DATA / "BasicMotions.npz",
                 "generated4k": generated(Path(tmp) / "generated.npz")}
        for name, path in paths.items():
            ds = load_dataset(path)
            space = SearchSpace(FAMILIES, data_spec=ds.data_spec(), task_spec=ds.task_spec)
            for i, family in enumerate(space.families):
                spec = space.default_spec(family)
                spec["train.patience"] = 40
                if not rows:
                    fit_once(spec, ds, 2, "arrays", 0)  # warm-up: TensorFlow's one-off start-up
                order = MODES if i % 2 == 0 else MODES[::-1]
                runs = {mode: fit_once(spec, ds, args.epochs, mode, args.seed) for mode in order}
                row = {"dataset": name, "family": family, "train_rows": len(ds.X_train),
                       "batch_size": int(spec["train.batch_size"]), **{m: runs[m] for m in MODES}}
                row["epoch_speedup_vs_arrays"] = {
                    m: round(runs["arrays"]["later_epoch_s"] / runs[m]["later_epoch_s"], 3) for m in MODES[1:]}
                rows.append(row)
                print(json.dumps({k: row[k] for k in ("dataset", "family", "epoch_speedup_vs_arrays")}), flush=True)
    summary = {}
    for m in MODES[1:]:
        for name in paths:
            got = [r["epoch_speedup_vs_arrays"][m] for r in rows if r["dataset"] == name]
            summary.setdefault(m, {})[name] = round(statistics.median(got), 3)
    report = {
        "command": f"python benchmarks/feeding.py --epochs {args.epochs}",
        "epochs": args.epochs,
        "median_epoch_speedup_vs_arrays": summary,
        "rows": rows,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
