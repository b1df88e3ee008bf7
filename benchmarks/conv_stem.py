"""How far the ``conv`` family should shorten a long series before its convolutions
(``conv.stem``: average pooling by 1, 2, 4 or 8): FCN and InceptionTime, with the portfolio's
recipe (batch 16, learning rate 0.003), are fitted the search's way (``fit_candidate``: the
search's split of the training set, early stopping) with at most ``--cap`` seconds of training,
as a leading trial's share of a 5-minute budget gives it, on the tuning suite's long
fixed-length series. Only validation losses are read.

    python benchmarks/conv_stem.py --cap 30

Results: ``benchmarks/results/conv_stem.json``. The default stem (``search_spaces.conv.stem_default``)
was chosen from them.
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
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

LONG = ("OSULeaf", "ACSF1", "LongSeries")  # PickupGestureWiimoteZ is variable-length: stem 1 only


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cap", type=float, default=30.0, help="seconds of training per fit")
    ap.add_argument("--datasets", default=",".join(LONG))
    ap.add_argument("--stems", default="1,2,4,8")
    ap.add_argument("--out", default=str(HERE / "results" / "conv_stem.json"))
    args = ap.parse_args()

    from build_portfolio import _dataset_path
    from search_spaces import SearchSpace
    from seqsearch.data import load_dataset
    from seqsearch.training import fit_candidate

    rows = []
    for name in args.datasets.split(","):
        ds = load_dataset(_dataset_path(name), seed=0)
        space = SearchSpace(data_spec=ds.data_spec(), task_spec=ds.task_spec)
        for arch in ("inception", "fcn"):
            for stem in (int(s) for s in args.stems.split(",")):
                spec = space.default_spec("conv", {"conv.arch": arch, "conv.stem": stem, "train.batch_size": 16,
                                                   "train.learning_rate": 0.003})
                started = time.perf_counter()
                out = fit_candidate(spec, ds, max_epochs=100, seed=0, deadline=started + args.cap)
                row = {"dataset": name, "steps": ds.data_spec().timesteps, "arch": arch, "stem": stem,
                       "val_loss": round(out.value, 4), "val_accuracy": out.metrics.get("val_accuracy"),
                       "epochs": out.epochs_run, "seconds": round(time.perf_counter() - started, 1),
                       "stopped_by": out.budget_stop or "early stopping"}
                print(json.dumps(row), flush=True)
                rows.append(row)
    Path(args.out).write_text(json.dumps({
        "command": "python " + " ".join(["benchmarks/conv_stem.py", *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "cap_s": args.cap, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
