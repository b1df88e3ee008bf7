"""Rebuild the warm-start portfolio (``search_spaces/portfolio.json``) by greedy portfolio
selection over the tuning suite (the approach of Auto-sklearn 2.0, Feurer et al. 2022).

    python benchmarks/build_portfolio.py                 # fit every candidate, select, write both files
    python benchmarks/build_portfolio.py --reuse         # select again from the stored matrix, no fitting

1. Every candidate spec below (the literature's convolutional classifiers at a few sizes, LSTM-FCN,
   conv front ends before recurrent and attention families, and the seed tutorials' models) is
   trained on every dataset of the classification tuning suite (ItalyPowerDemand, BasicMotions,
   OSULeaf, ACSF1, PickupGestureWiimoteZ, shipped by ``aeon``) and on three generated sets of
   other lengths, channel and class counts. Each fit is the search's own (``fit_candidate``: the
   search's split of the archive's training set, early stopping on patience) with at most
   ``--cap`` seconds of training, as a short budget would give it. Only the validation split is
   read: the archive's test split plays no part in the choice.
2. Per dataset, each candidate's best validation loss is normalised: 0 for the best candidate,
   1 for the median one, or for the best + ``--min-span`` (0.1) if that is further (clipped to
   [0, 2]; a failed fit counts 2). The floor keeps a set that most candidates solve (losses of
   0.0001-0.005 on BasicMotions) from weighing as much as one where they differ by a whole nat.
3. Greedy selection: start empty; repeatedly add the candidate that most lowers the mean over
   datasets of the best normalised loss in the portfolio; stop at ``--size`` members or when no
   candidate lowers it by ``--min-gain``. The order is the selection order, so the most useful
   member runs first when the budget is short.

The fit matrix goes to ``benchmarks/results/portfolio/matrix.json``, the portfolio to
``search_spaces/portfolio.json`` (validated against the space by the tests).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from search_spaces.portfolio import greedy_portfolio, normalised_losses  # noqa: E402

MATRIX = HERE / "results" / "portfolio" / "matrix.json"
PORTFOLIO = HERE.parent / "search_spaces" / "portfolio.json"
SUITE = ("ItalyPowerDemand", "BasicMotions", "OSULeaf", "ACSF1", "PickupGestureWiimoteZ")
GENERATED = ("LongSeries", "ShortEvents", "Multichannel")

# name -> (family, values that differ from the space's defaults)
CANDIDATES = {
    "fcn": ("conv", {}),
    "fcn_wide": ("conv", {"conv.filters": 128}),
    "fcn_k16": ("conv", {"conv.kernel": 16}),
    "fcn_per_series": ("conv", {"train.scaling": "per_series"}),
    "resnet": ("conv", {"conv.arch": "resnet"}),
    "resnet_small": ("conv", {"conv.arch": "resnet", "conv.filters": 32, "conv.blocks": 2}),
    "inception": ("conv", {"conv.arch": "inception"}),
    "inception_time": ("conv", {"conv.arch": "inception", "conv.modules": 6, "conv.branch_filters": 32}),
    # The same with more and larger steps: on a training set of 50-200 series an epoch is a
    # few batches, and batch-normalised conv nets are still improving after 100 epochs of 32.
    "fcn_fast": ("conv", {"train.batch_size": 16, "train.learning_rate": 0.003}),
    "resnet_fast": ("conv", {"conv.arch": "resnet", "train.batch_size": 16, "train.learning_rate": 0.003}),
    "inception_fast": ("conv", {"conv.arch": "inception", "train.batch_size": 16, "train.learning_rate": 0.003}),
    "lstm_fcn": ("conv", {"conv.filters": 128, "conv.rnn_branch": "lstm", "conv.rnn_units": 8, "conv.dropout": 0.5}),
    "conv_gru": ("rnn", {"rnn.cell": "gru", "rnn.units": 64, "front.kind": "conv", "front.layers": 2,
                         "front.filters": 64, "front.kernel": 7}),
    "conv_transformer": ("transformer", {"transformer.d_model": 32, "transformer.blocks": 1, "front.kind": "conv",
                                         "front.layers": 2, "front.filters": 32}),
}


def _seed_candidates():
    from search_spaces.seeds import SEED_SPECS

    # Not the TLB example: it never led a suite run, and its traced graph grows with the
    # length (a first epoch of 116 s on 251 steps), which no cap can stop mid-trace.
    return {name: (family, {k if "." in k else f"{family}.{k}": v for k, v in values.items()})
            for name, (family, values, *_) in SEED_SPECS.items() if family != "tlb"}


def _dataset_path(name: str) -> Path:
    import numpy as np

    from ucr_search import ts_path  # the archive sets and LongSeries, as the search benchmark reads them

    if name in SUITE or name == "LongSeries":
        return ts_path(name)
    out = Path(tempfile.gettempdir()) / f"seqsearch-portfolio-{name}.npz"
    if out.is_file():
        return out
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_long_series", HERE.parent / "examples" / "data" / "make_long_series.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    rng = np.random.default_rng(7)
    if name == "ShortEvents":  # 150 steps, 4 classes, 120 training series
        arrays = gen.make(n_train=120, n_test=120, length=150, seed=3)
    else:  # Multichannel: 3 channels of 80 steps, 6 classes = event shape (3) x channel pair (2)
        n, length = 300, 80
        labels = rng.integers(0, 6, size=n)
        X = rng.normal(0.0, 0.4, size=(n, length, 3)).astype("float32")
        for i, c in enumerate(labels):
            shape, k = gen.CLASSES[c % 3], int(c // 3)
            width = int(rng.integers(15, 31))
            start = int(rng.integers(0, length - width))
            event = rng.uniform(1.5, 2.5) * gen._event(shape, width, rng)
            X[i, start:start + width, k] += event
            X[i, start:start + width, k + 1] -= 0.5 * event
        y = np.array([f"{gen.CLASSES[c % 3]}-{c // 3}" for c in labels])
        arrays = {"X_train": X[:150], "y_train": y[:150], "X_test": X[150:], "y_test": y[150:]}
    np.savez_compressed(out, **arrays)
    return out


def fit_matrix(datasets, candidates, cap: float, max_epochs: int, seed: int, fixed=None) -> dict:
    """``fixed(data_spec)``: what ``--set`` would fix or widen in each dataset's space (None: the defaults)."""
    from search_spaces import SearchSpace, spec_summary
    from seqsearch.data import load_dataset
    from seqsearch.training import fit_candidate

    rows = {}
    for dname in datasets:
        ds = load_dataset(_dataset_path(dname), seed=seed)
        space = SearchSpace(data_spec=ds.data_spec(), task_spec=ds.task_spec,
                            fixed=fixed(ds.data_spec()) if fixed else None)
        rows[dname] = {}
        for cname, (family, values) in candidates.items():
            try:
                spec = space.default_spec(family, values)
            except ValueError as e:  # a candidate this data's space cannot ask (text, masks)
                rows[dname][cname] = {"state": "skipped", "reason": str(e)}
                continue
            started = time.perf_counter()
            out = fit_candidate(spec, ds, max_epochs=max_epochs, seed=seed, deadline=started + cap)
            row = {"state": out.state, "val_loss": out.value, "val_accuracy": out.metrics.get("val_accuracy"),
                   "train_accuracy": out.metrics.get("accuracy"),
                   "epochs": out.epochs_run, "seconds": round(time.perf_counter() - started, 1),
                   "stopped_by": out.budget_stop, "summary": spec_summary(spec)}
            rows[dname][cname] = row
            print(f"{dname:<22} {cname:<20} {row['state']:<9} val_loss {row['val_loss']:.4f} "
                  f"val acc {row['val_accuracy']} epochs {row['epochs']} {row['seconds']}s", flush=True)
    return rows


def markdown_table(rows: dict, norm: dict, chosen: list) -> str:
    """Candidates x datasets: best validation loss (and validation accuracy at that epoch) and the
    candidate's mean normalised loss alone; the portfolio's members in bold, with their rank."""
    import statistics

    datasets = list(norm)
    names = sorted({c for d in datasets for c in rows[d]},
                   key=lambda c: statistics.mean(norm[d].get(c, 2.0) for d in datasets))
    lines = ["| candidate | " + " | ".join(datasets) + " | mean normalised |",
             "| --- |" + " --- |" * (len(datasets) + 1)]
    for c in names:
        cells = []
        for d in datasets:
            r = rows[d].get(c, {})
            ok = r.get("state") in ("complete", "pruned") and r.get("val_loss") == r.get("val_loss")
            acc = r.get("val_accuracy")
            if not ok:
                cells.append(r.get("state", "-"))
            else:
                cells.append(f"{r['val_loss']:.3f}" + (f" ({100 * acc:.0f}%)" if acc is not None else ""))
        label = f"**{c}** ({chosen.index(c) + 1})" if c in chosen else c
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {statistics.mean(norm[d].get(c, 2.0) for d in datasets):.2f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reuse", action="store_true", help="select from the stored matrix, fit nothing")
    ap.add_argument("--cap", type=float, default=20.0, help="seconds of training per fit (default 20)")
    ap.add_argument("--max-epochs", type=int, default=100)
    ap.add_argument("--size", type=int, default=8)
    ap.add_argument("--min-gain", type=float, default=0.01)
    ap.add_argument("--min-span", type=float, default=0.1, help="validation loss that counts as a whole step (nats)")
    ap.add_argument("--datasets", default=",".join(SUITE + GENERATED))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--candidates", help="fit only these (comma-separated) and merge them into the stored matrix")
    args = ap.parse_args()
    candidates = {**CANDIDATES, **_seed_candidates()}
    if args.reuse:
        stored = json.loads(MATRIX.read_text())
        rows = stored["rows"]
    else:
        datasets = [d for d in args.datasets.split(",") if d]
        bad = [d for d in datasets if d not in SUITE + GENERATED]
        if bad:
            raise SystemExit(f"{', '.join(bad)}: not in the tuning suite ({', '.join(SUITE + GENERATED)}); other "
                             "archive sets are kept for independent evaluation")
        started = time.time()
        only = candidates
        if args.candidates:
            only = {c: candidates[c] for c in args.candidates.split(",") if c}
        rows = fit_matrix(datasets, only, args.cap, args.max_epochs, args.seed)
        minutes = round((time.time() - started) / 60, 1)
        commands = []
        if args.candidates:
            previous = json.loads(MATRIX.read_text())
            for dname, cands in rows.items():
                previous["rows"].setdefault(dname, {}).update(cands)
            rows, minutes = previous["rows"], previous["minutes"] + minutes
            commands = previous.get("commands") or [previous["command"]]
        commands.append("python " + " ".join(["benchmarks/build_portfolio.py", *sys.argv[1:]]))
        stored = {"commands": commands, "cap_s": args.cap, "max_epochs": args.max_epochs, "seed": args.seed,
                  "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "minutes": minutes, "rows": rows}
        MATRIX.parent.mkdir(parents=True, exist_ok=True)
        MATRIX.write_text(json.dumps(stored, indent=1))
    losses = {d: {c: (r["val_loss"] if r.get("state") in ("complete", "pruned") else None) for c, r in cands.items()}
              for d, cands in rows.items()}
    norm = normalised_losses(losses, args.min_span)
    chosen = greedy_portfolio(norm, args.size, args.min_gain)
    for name, mean in chosen:
        print(f"  + {name:<20} mean normalised loss {mean}")
    print(markdown_table(rows, norm, [n for n, _ in chosen]))
    portfolio = {
        "about": "The default warm start (--warm-start portfolio): specs chosen by greedy portfolio selection "
                 "over the classification tuning suite, in selection order. Rebuild with "
                 "`python benchmarks/build_portfolio.py`.",
        "datasets": sorted(norm),
        "tasks": {"classification": [
            {"name": name, "family": candidates[name][0], "values": candidates[name][1], "mean_normalised_loss": mean}
            for name, mean in chosen]},
    }
    PORTFOLIO.write_text(json.dumps(portfolio, indent=1) + "\n")
    print(f"wrote {PORTFOLIO.relative_to(HERE.parent)} ({len(chosen)} specs)")


if __name__ == "__main__":
    main()
