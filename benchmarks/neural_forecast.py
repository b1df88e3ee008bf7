"""A deep-learning AutoML peer on the forecasting suite: neuralforecast's AutoNHITS (or AutoLSTM)
with Optuna, on PyTorch, given the same wall-clock budget as seqsearch and scored on the same
test windows.

    python benchmarks/neural_forecast.py --budget 180 [--model AutoNHITS] [--datasets Lynx,...]

Runs in an environment of its own (PyTorch beside TensorFlow is not needed for seqsearch):

    python -m venv /tmp/nf && . /tmp/nf/bin/activate
    pip install torch --index-url https://download.pytorch.org/whl/cpu   # a CPU build
    pip install neuralforecast aeon pandas
    PYTHONPATH=. python benchmarks/neural_forecast.py --budget 180

The datasets and their framing are ``benchmarks/forecast.py``'s; each is read by seqsearch's own
loader (pandas only), so the split is the one seqsearch searched on: per series, the rows before
the test period are what the peer trains on (its last validation rows, as many as seqsearch's
validation period, pick its configuration), and every test window's origin is forecast from the
history up to it with the fitted model, as AutoETS and AutoARIMA are. Only the first target is
forecast (the suite has one per set). The Optuna study gets the budget (``time_budget``) and
an unbounded trial count, then the best configuration is refitted, as the Auto models do; the
row records the wall time it took in all. The peer reads the target alone (no covariates). Results go to
``benchmarks/results/neural_forecast.json``, keyed like ``forecast.json``.
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

from forecast import _mase_scale, datasets  # noqa: E402 - the suite, framed the same way


def series_frames(ds):
    """(training frame, [(origin index j, history frame up to each series' j-th test origin)],
    the true targets per (series, origin), validation rows) from a seqsearch forecasting dataset."""
    import numpy as np
    import pandas as pd

    train, cuts = [], []
    for i, (values, origins) in enumerate(ds.history):
        y = values[:, 0]
        start = int(origins[0])
        train.append(pd.DataFrame({"unique_id": str(i), "ds": np.arange(start), "y": y[:start]}))
        cuts.append((str(i), y, [int(o) for o in origins]))
    val_rows = int(np.min(ds.rolling["period"]))
    return pd.concat(train, ignore_index=True), cuts, val_rows


def run_one(name, opts, model_name, budget, seed):
    import numpy as np
    import pandas as pd
    from neuralforecast import NeuralForecast
    from neuralforecast import auto

    from seqsearch.data import load_dataset
    from seqsearch.data.forecast import forecast_metrics

    path = opts.pop("path")
    ds = load_dataset(path, **opts)
    horizon = int(ds.about["horizon"])
    train, cuts, val_rows = series_frames(ds)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cls = getattr(auto, model_name)
    default = cls.get_default_config(h=horizon, backend="optuna")

    def config(trial):  # the Auto model's own space, without Lightning's progress bars
        return {**default(trial), "enable_progress_bar": False, "enable_model_summary": False}

    model = cls(h=horizon, backend="optuna", config=config, num_samples=100_000, time_budget=int(budget),
                search_alg=optuna.samplers.TPESampler(seed=seed))
    nf = NeuralForecast(models=[model], freq=1)
    started = time.perf_counter()
    nf.fit(df=train, val_size=val_rows)
    fitted = time.perf_counter() - started
    pred, true = [], []
    for j in range(max(len(o) for _, _, o in cuts)):  # the j-th test origin of every series that has one
        history = [pd.DataFrame({"unique_id": sid, "ds": np.arange(o[j]), "y": y[:o[j]]})
                   for sid, y, o in cuts if j < len(o)]
        out = nf.predict(df=pd.concat(history, ignore_index=True))
        out = out.reset_index() if "unique_id" not in out.columns else out
        for sid, y, o in cuts:
            if j < len(o):
                pred.append(out[out.unique_id == sid][model_name].to_numpy()[:horizon])
                true.append(y[o[j]:o[j] + horizon])
    wall = time.perf_counter() - started
    scores = forecast_metrics(np.asarray(pred)[:, :, None], np.asarray(true)[:, :, None])
    trials = len(nf.models[0].results.trials)  # the fitted copy NeuralForecast keeps
    return {"dataset": name, "model": model_name, "budget_s": budget, "wall_s": round(wall, 1),
            "fit_s": round(fitted, 1), "trials": trials, "test": scores, "windows": len(pred),
            "mase": round(scores["mae"] / _mase_scale(path, opts), 4),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "seed": seed}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=180, help="seconds of Optuna search per dataset")
    ap.add_argument("--datasets", default="demand,Lynx,ShampooSales,Uschange,PBS_dataset,m1_yearly",
                    help="demand_future is demand for the peer, which reads the target alone")
    ap.add_argument("--model", default="AutoNHITS", choices=("AutoNHITS", "AutoLSTM"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = HERE / "results" / "neural_forecast.json"
    results = json.loads(out.read_text()) if out.is_file() else {}
    table = datasets()
    for name in args.datasets.split(","):
        key = f"{name}/{int(args.budget)}/{args.model}"
        try:
            results[key] = run_one(name, dict(table[name]), args.model, args.budget, args.seed)
        except Exception as e:  # a peer that cannot fit a set is a result too
            results[key] = {"dataset": name, "model": args.model, "error": f"{type(e).__name__}: {e}"[:500]}
        print(json.dumps(results[key], indent=2), flush=True)
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
