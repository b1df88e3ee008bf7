"""The Temporal Latent Bottleneck's cost against the sequence length.

    python benchmarks/tlb_loop.py --label after

For 64, 256 and 1024 steps (``--lengths``), a generated univariate classification set (160
sequences: 128 train, 32 validation) is searched with the ``tlb`` family's default spec (chunks of
8 steps: 8, 32 and 128 chunks), built and fitted for ``--epochs`` epochs in a fresh process per
length, fed as a trial is. Recorded: seconds to build the model, the first epoch (tracing the
train and validation graphs) and the median later epoch. ``--label`` names the run in
``benchmarks/results/tlb_loop.json`` (kept beside earlier labels, e.g. ``before``).
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
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
RESULTS = HERE / "results" / "tlb_loop.json"


def one_length(length: int, epochs: int, seed: int = 0) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    rng = np.random.default_rng(seed)
    n = 160
    y = np.array(["a", "b"] * (n // 2))
    t = np.linspace(0, 8 * np.pi, length, dtype=np.float32)
    freq = np.where(y == "a", 1.0, 1.5).astype(np.float32)
    X = (np.sin(freq[:, None] * t[None, :]) + 0.3 * rng.normal(size=(n, length))).astype(np.float32)[:, :, None]
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "gen.npz", X=X, y=y)
        from seqsearch.data import load_dataset

        ds = load_dataset(Path(tmp) / "gen.npz", test_size=0.01, val_size=0.2, seed=seed)
    import keras

    from feeding import timed_fit
    from search_spaces import SearchSpace, build_models, compile_model
    from seqsearch.feeding import batches

    space = SearchSpace(["tlb"], data_spec=ds.data_spec(), task_spec=ds.task_spec)
    spec = space.default_spec("tlb")
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    model, _ = build_models(spec, ds.data_spec(), ds.task_spec)
    compile_model(model, spec, ds.task_spec)
    build_s = time.perf_counter() - started
    batch = int(spec["train.batch_size"])
    got = timed_fit(model, batches(ds.X_train, ds.y_train, batch, shuffle=True),
                    validation_data=batches(ds.X_val, ds.y_val, batch, shuffle=False), epochs=epochs)
    return {"length": length, "chunks": -(-length // int(spec["tlb.chunk_size"])), "batch": batch,
            "train": len(ds.X_train), "build_s": round(build_s, 2), "first_epoch_s": round(got["first_epoch_s"], 2),
            "later_epoch_s": round(got["later_epoch_s"], 3), "params": model.count_params()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True)
    parser.add_argument("--lengths", default="64,256,1024")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: one length, JSON on stdout
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_length(args.one, args.epochs)))
        return
    rows = []
    for length in [int(v) for v in args.lengths.split(",")]:
        out = subprocess.run([sys.executable, __file__, "--label", args.label, "--one", str(length),
                              "--epochs", str(args.epochs)], capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[args.label] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "epochs": args.epochs, "rows": rows}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
