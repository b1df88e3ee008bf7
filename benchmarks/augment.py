"""Does the recipe's augmentation or label smoothing help on the tuning suite's tiny training sets?

    python benchmarks/augment.py                    # 8 recipes x 6 sets, at most 30 s of training each: ~18 min
    python benchmarks/augment.py --cap 20 --datasets ItalyPowerDemand,OSULeaf

The portfolio's InceptionTime (``inception_fast``, the model most 5-minute searches export) is
fitted the search's own way (``fit_candidate``: the search's train/validation split of the
archive's training set, early stopping on patience, at most ``--cap`` seconds of training, as a
leader's share of a short budget) with every combination of ``train.augment`` (none, jitter,
scaling, slicing; slicing where the series have a fixed length) and ``train.label_smoothing``
(0, 0.1), the same seed for all. Only the validation split is read, as in the search: the best
validation loss (the plain cross-entropy of the hard labels whatever the recipe) and the
validation accuracy at that epoch. Per set the losses are normalised as the portfolio's are (0 =
the best recipe, 1 = the median or best + 0.1, whichever is further); the recipes are ranked by
the mean. Results: ``benchmarks/results/augment/matrix.json``.
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

from build_portfolio import CANDIDATES, fit_matrix  # noqa: E402

from search_spaces.portfolio import normalised_losses  # noqa: E402
from search_spaces.recipe import AUGMENTATIONS  # noqa: E402

OUT = HERE / "results" / "augment" / "matrix.json"
DATASETS = ("ItalyPowerDemand", "BasicMotions", "OSULeaf", "ACSF1", "PickupGestureWiimoteZ", "LongSeries")
BASE = "inception_fast"


def recipes() -> dict:
    family, values = CANDIDATES[BASE]
    return {f"{aug}/ls{ls:g}": (family, {**values, "train.augment": aug, "train.label_smoothing": ls})
            for ls in (0.0, 0.1) for aug in AUGMENTATIONS}


def every_recipe(data_spec) -> dict:
    """The space widened to every recipe (the default space searches fewer), slicing only where
    the series have a fixed length."""
    augment = [a for a in AUGMENTATIONS if a != "slicing" or not data_spec.masked]
    return {"train.augment": augment, "train.label_smoothing": [0.0, 0.1]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--cap", type=float, default=30.0, help="seconds of training per fit at most")
    ap.add_argument("--max-epochs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    started = time.perf_counter()
    rows = fit_matrix(args.datasets.split(","), recipes(), args.cap, args.max_epochs, args.seed, fixed=every_recipe)
    losses = {d: {c: (r["val_loss"] if r["state"] == "complete" else None) for c, r in row.items()
                  if r["state"] != "skipped"} for d, row in rows.items()}
    norm = normalised_losses(losses)
    names = list(recipes())
    mean = {c: sum(norm[d][c] for d in norm if c in norm[d]) / max(1, sum(c in norm[d] for d in norm)) for c in names}
    print("\n| recipe | " + " | ".join(rows) + " | mean normalised |")
    print("| --- | " + " | ".join("---" for _ in rows) + " | --- |")
    for c in sorted(names, key=mean.get):
        cells = []
        for d in rows:
            r = rows[d][c]
            cells.append("skipped" if r["state"] == "skipped" else
                         f"{r['val_loss']:.3f} ({100 * (r['val_accuracy'] or 0):.0f}%, {r['epochs']} ep)")
        print(f"| {c} | " + " | ".join(cells) + f" | {mean[c]:.2f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "command": "python benchmarks/augment.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU",
        "date": time.strftime("%Y-%m-%d"), "base": BASE, "cap_s": args.cap,
        "rows": rows, "normalised": norm, "mean_normalised": mean,
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
