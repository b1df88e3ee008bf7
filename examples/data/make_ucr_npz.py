"""Rebuild the .npz copies of the UCR/UEA datasets that ship in this folder.

Source: the copies of ItalyPowerDemand and BasicMotions that the ``aeon`` package ships inside
its wheel (``aeon/datasets/data``), read offline. Run: ``python examples/data/make_ucr_npz.py``
(needs ``pip install aeon``). The archive's own train/test split is kept.
"""

from pathlib import Path

import numpy as np
from aeon.datasets import load_classification

HERE = Path(__file__).parent

for name in ("ItalyPowerDemand", "BasicMotions"):
    X_train, y_train = load_classification(name, split="train")
    X_test, y_test = load_classification(name, split="test")
    # aeon stores (n, channels, timesteps); seqsearch takes (n, timesteps, features).
    np.savez_compressed(
        HERE / f"{name}.npz",
        X_train=np.transpose(X_train, (0, 2, 1)).astype(np.float32),
        y_train=np.asarray(y_train).astype(str),
        X_test=np.transpose(X_test, (0, 2, 1)).astype(np.float32),
        y_test=np.asarray(y_test).astype(str),
    )
    print(name, X_train.shape, X_test.shape, sorted(set(y_train)))
