"""Reproduce each seed tutorial's model through seqsearch, on real or seed-faithful data.

    python examples/seed_models.py                 # all seeds, 30 epochs each
    python examples/seed_models.py --epochs 5 --only seed001_encdec

Seed 000's three models (SimpleRNN, transformer block, RNN bottleneck) and the Keras TLB
example run on ItalyPowerDemand (UCR, shipped in examples/data); seed 001's LSTM, BiLSTM and
LSTM encoder-decoder run on the sequence-reversal task the seed generates
(examples/data/reversal.npz). Each is one trial whose every parameter is fixed to the seed's
spec (``seqsearch spaces --seeds`` lists them), so the search machinery — tracking, retrain,
export — is exactly what a search uses. Results go to ./seqsearch-runs/seeds-<name>/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import seqsearch
from search_spaces import SEED_SPECS, SearchSpace
from seqsearch.progress import Console

DATA = Path(__file__).resolve().parent / "data"
ON = {"seed001_lstm": "reversal", "seed001_bilstm": "reversal", "seed001_encdec": "reversal",
      "gru_attention_encdec": "reversal", "keras_transformer_encdec": "reversal"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--only", help="one seed spec name")
    ap.add_argument("--workdir", default="seqsearch-runs")
    args = ap.parse_args()
    rows = []
    for name, (family, values, *_) in SEED_SPECS.items():
        if args.only and name != args.only:
            continue
        dataset = DATA / f"{ON.get(name, 'ItalyPowerDemand')}.npz"
        # Every parameter fixed: the seed's values, defaults for the rest (recipe included).
        spec = SearchSpace().default_spec(family, {k if "." in k else f"{family}.{k}": v for k, v in values.items()})
        fixed = {k: v for k, v in spec.items() if k != "family"}
        r = seqsearch.run(dataset, trials=1, max_epochs=args.epochs, families=[family], fixed=fixed,
                          study=f"seeds-{name}", workdir=args.workdir, pruner="none", console=Console(quiet=True))
        rows.append((name, dataset.stem, r.best_summary, r.test_metrics))
        print(f"{name:<20} {dataset.stem:<17} {r.best_summary:<40} test {r.test_metrics}")


if __name__ == "__main__":
    main()
