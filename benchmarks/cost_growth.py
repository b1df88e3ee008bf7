"""How the cost of a search grows (issue 7, benchmark 3).

    python benchmarks/cost_growth.py --trials 50

1. Per trial over a long search in one process: ``seqsearch run`` on ItalyPowerDemand with
   ``--trials N`` same-sized candidates (one-layer recurrent networks of 32 units; cell, learning
   rate and the rest of the recipe drawn at random, no pruning, 3 epochs), then each trial's
   seconds and the process's resident memory after it (``rss_mb``), as recorded on the
   trials. Flat means: the last ten trials take no longer and hold no more memory than
   trials 11-20 (the first ten include one-off warm-up).
2. Per epoch as the sequence length doubles, for each family with its default architecture:
   256 random sequences of 1 feature, batch 32, lengths 32 to 512; the median of epochs 2-4
   (epoch 1 includes tracing). Recurrent families should grow about linearly (x2 per
   doubling), attention quadratically in the attention part.

Results go to ``benchmarks/results/cost_growth.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
DATA = HERE.parent / "examples" / "data" / "ItalyPowerDemand.npz"


def long_search(trials: int) -> dict:
    import numpy as np

    with tempfile.TemporaryDirectory() as wd:
        cmd = [sys.executable, "-m", "seqsearch", "run", str(DATA), "--trials", str(trials), "--max-epochs", "3",
               "--families", "rnn", "--set", "rnn.units=32", "--set", "rnn.layers=1", "--set", "front.kind=none",
               "--set", "rnn.bidirectional=false", "--sampler", "random", "--pruner", "none", "--workdir", wd,
               "--folds", "1",  # one training per trial: the cost of a trial, not of cross-validation
               "--study", "growth", "-q"]
        started = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - started
        import optuna
        from optuna.storages.journal import JournalFileBackend

        storage = optuna.storages.JournalStorage(JournalFileBackend(str(Path(wd) / "growth" / "optuna.journal")))
        trials_ = sorted(optuna.load_study(study_name="growth", storage=storage).trials, key=lambda t: t.number)
    secs = [t.user_attrs["seconds"] for t in trials_]
    rss = [t.user_attrs["rss_mb"] for t in trials_]
    x = np.arange(10, len(rss))
    return {
        "trials": len(trials_),
        "wall_s": round(wall, 1),
        "seconds_per_trial": [round(s, 2) for s in secs],
        "rss_mb_per_trial": [round(r, 1) for r in rss],
        "seconds_trials_11_20": round(statistics.mean(secs[10:20]), 2),
        "seconds_last_10": round(statistics.mean(secs[-10:]), 2),
        "rss_mb_after_trial_10": round(rss[9], 1),
        "rss_mb_max_after_10": round(max(rss[10:]), 1),
        "rss_mb_last": round(rss[-1], 1),
        "rss_slope_mb_per_trial": round(float(np.polyfit(x, rss[10:], 1)[0]), 3),
        "seconds_slope_per_trial": round(float(np.polyfit(x, secs[10:], 1)[0]), 4),
    }


def epoch_times(lengths, n=256, batch=32) -> dict:
    import numpy as np

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from search_spaces import SearchSpace, build_models, compile_model
    from seqsearch._backend import load_keras
    from seqsearch.data.dataset import RawArrays
    from seqsearch.data.framing import frame_task

    keras = load_keras()

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.t0)

    out = {}
    rng = np.random.default_rng(0)
    for family in ("rnn", "transformer", "rnn_bottleneck", "tlb"):
        rows = {}
        for t in lengths:
            X = rng.normal(size=(n, t, 1)).astype("float32")
            y = (X[:, :, 0].mean(axis=1) > 0).astype(int)
            ds = frame_task(RawArrays(X=X, y=y), name="len", source="generated", test_size=0.1, val_size=0.1)
            space = SearchSpace([family], data_spec=ds.data_spec(), task_spec=ds.task_spec)
            spec = space.default_spec(family, overrides={"train.batch_size": batch})
            keras.backend.clear_session()
            model, _ = build_models(spec, ds.data_spec(), ds.task_spec)
            compile_model(model, spec, ds.task_spec)
            timer = Timer()
            timer.times = []
            model.fit(ds.X_train, ds.y_train, epochs=4, batch_size=batch, verbose=0, callbacks=[timer])
            rows[t] = round(statistics.median(timer.times[1:]), 4)
        growth = [round(rows[b] / rows[a], 2) for a, b in zip(lengths, lengths[1:])]
        out[family] = {"seconds_per_epoch": rows, "growth_per_doubling": growth}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--lengths", default="32,64,128,256,512")
    ap.add_argument("--out", default=str(HERE / "results" / "cost_growth.json"))
    args = ap.parse_args()
    lengths = [int(v) for v in args.lengths.split(",")]
    report = {
        "command": f"python benchmarks/cost_growth.py --trials {args.trials}",
        "long_search": long_search(args.trials),
        "epoch_time_vs_length": epoch_times(lengths),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    summary = {k: v for k, v in report["long_search"].items() if not k.endswith("per_trial")}
    print(json.dumps({"long_search": summary, "epoch_time_vs_length": report["epoch_time_vs_length"]}, indent=2))


if __name__ == "__main__":
    main()
