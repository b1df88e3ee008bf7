"""Generate the sequence-reversal seq2seq task of seed 001 (``reversal.npz``).

Sequences of 1-5 random digits 1-9, right-padded with 0 to length 5; the target is the
reversed sequence, padded the same way (``[3, 7, 2, 0, 0] -> [2, 7, 3, 0, 0]``), exactly as the
seed builds it with ``pad_sequences(..., padding='post')``. Run:
``python examples/data/make_reversal.py``.
"""

from pathlib import Path

import numpy as np


def make(n=1000, max_len=5, seed=42):
    rng = np.random.default_rng(seed)
    X = np.zeros((n, max_len), dtype=np.int64)
    Y = np.zeros((n, max_len), dtype=np.int64)
    for i in range(n):
        length = rng.integers(1, max_len + 1)
        seq = rng.integers(1, 10, size=length)
        X[i, :length] = seq
        Y[i, :length] = seq[::-1]
    return X[:, :, None].astype(np.float32), Y


if __name__ == "__main__":
    X, Y = make()
    out = Path(__file__).with_name("reversal.npz")
    np.savez_compressed(out, X=X, Y=Y)
    print(out, X.shape, Y.shape)
