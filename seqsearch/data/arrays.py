"""Array utilities of the data layer: padded arrays with a mask channel from ragged sequences
(and back to another length), input checks that name the first bad value, filling missing
values within a sequence, static features packed beside the sequence, and channel statistics
computed a chunk at a time (a large X is never copied whole for them)."""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .tables import FILLNA

__all__ = ["channel_moments", "input_moments", "masked_array", "with_lengths", "repad", "check_X", "fill_missing", "check_static",
           "pack_static", "first_bad"]


CHUNK = 1 << 22  # values per chunk when a pass over X must not copy it whole


def _row_chunks(X):
    step = max(1, CHUNK // max(1, int(np.prod(X.shape[1:]))))
    for i in range(0, len(X), step):
        yield i, X[i:i + step]


def channel_moments(X, observed=None):
    """Per-channel mean and variance of (n, t, f) in float64, a chunk of sequences at a time
    (Chan et al.'s pairwise update), so a large X is never copied as a whole. ``observed``
    (n, t) bool: only those steps count (variable-length data)."""
    f = X.shape[-1]
    count, mean, m2 = 0, np.zeros(f), np.zeros(f)
    for i, chunk in _row_chunks(X):
        if observed is not None:
            c = chunk[observed[i:i + len(chunk)]].astype(np.float64)
        else:
            c = chunk.reshape(-1, f).astype(np.float64)
        if not len(c):
            continue
        n_c, mean_c = len(c), c.mean(axis=0)
        m2_c = ((c - mean_c) ** 2).sum(axis=0)
        delta, total = mean_c - mean, count + n_c
        mean = mean + delta * n_c / total
        m2 = m2 + m2_c + delta**2 * count * n_c / total
        count = total
    return mean, m2 / max(count, 1)


def masked_array(seqs, timesteps=None, name="X") -> np.ndarray:
    """Variable-length sequences, each (t_i, f), as one (n, T, f + 1) float32 array: right-padded
    with zeros to ``timesteps`` (default: the longest), the last channel 1 at observed steps."""
    lengths = [len(s) for s in seqs]
    if min(lengths) == 0:
        raise DataError(f"{name}: sequence {lengths.index(0)} has no timesteps; drop it")
    T = max(lengths) if timesteps is None else int(timesteps)
    if max(lengths) > T:
        i = int(np.argmax(lengths))
        raise DataError(f"{name}: sequence {i} has {lengths[i]} timesteps; the model reads at most {T}")
    f = seqs[0].shape[1]
    out = np.zeros((len(seqs), T, f + 1), dtype=np.float32)
    for i, s in enumerate(seqs):
        out[i, :len(s), :f] = s
        out[i, :len(s), f] = 1.0
    return out


def with_lengths(X, lengths, name="X", lengths_name="lengths") -> np.ndarray:
    """(n, T, f) padded sequences and their true lengths as a masked array (n, T, f + 1); the
    values past each length are set to 0."""
    X = np.asarray(X)
    lengths = np.asarray(lengths)
    if X.ndim == 2:
        X = X[:, :, None]
    if X.ndim != 3 or lengths.shape != (len(X),) or lengths.dtype.kind not in "iu":
        raise DataError(f"{lengths_name} must hold one whole number per sequence of {name} ({len(X)}), "
                        f"got shape {lengths.shape} and dtype {lengths.dtype}")
    bad = np.flatnonzero((lengths < 1) | (lengths > X.shape[1]))
    if len(bad):
        raise DataError(f"{lengths_name}[{bad[0]}] is {lengths[bad[0]]}; each length must be within 1..{X.shape[1]} "
                        f"(the timesteps of {name})")
    observed = np.arange(X.shape[1])[None, :] < lengths[:, None]
    out = np.where(observed[:, :, None], X, 0).astype(np.float32)
    return np.concatenate([out, observed[:, :, None].astype(np.float32)], axis=2)


def repad(X, timesteps, name="X") -> np.ndarray:
    """A masked array (last channel = observed) right-padded or cut to ``timesteps`` steps;
    cutting may only drop padding."""
    t = X.shape[1]
    if t == timesteps:
        return X
    if t < timesteps:
        return np.concatenate([X, np.zeros((len(X), timesteps - t, X.shape[2]), X.dtype)], axis=1)
    longest = int((X[:, :, -1] > 0.5).sum(axis=1).max())
    if longest > timesteps:
        raise DataError(f"{name} has sequences of up to {longest} timesteps; the model reads at most {timesteps}")
    return X[:, :timesteps]


def first_bad(X):
    """(count of non-finite values, sequences holding them, first (i, t, f)) without a
    full-size mask; (0, 0, None) when X is clean."""
    total, seqs, first = 0, 0, None
    for i, chunk in _row_chunks(X):
        bad = ~np.isfinite(chunk)
        if bad.any():
            total += int(bad.sum())
            seqs += int(bad.any(axis=(1, 2)).sum())
            if first is None:
                j, t, f = np.argwhere(bad)[0]
                first = (i + j, t, f)
    return total, seqs, first


def check_X(X, name):
    if not isinstance(X, np.ndarray):
        X = np.asarray(X)
    if X.dtype == object:
        raise DataError(
            f"{name} holds ragged or mixed-type values (object array); pad every sequence to one "
            "length and store a numeric array of shape (n, timesteps, features)"
        )
    if X.ndim == 2:
        X = X[:, :, None]  # (n, timesteps): a univariate series per row
    if X.ndim != 3:
        raise DataError(
            f"{name} has shape {X.shape} (rank {X.ndim}); expected (n, timesteps, features) "
            "or (n, timesteps) for univariate series"
        )
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise DataError(f"{name} has dtype {X.dtype}; features must be real numbers")
    if X.shape[0] == 0 or X.shape[1] == 0 or X.shape[2] == 0:
        raise DataError(f"{name} is empty (shape {X.shape}); it needs sequences, timesteps and features")
    total, seqs, first = first_bad(X)
    if total:
        i, t, f = first
        raise DataError(
            f"{name} has {total} NaN or infinite value(s) in {seqs} sequence(s) (first at sequence {i}, "
            f"timestep {t}, feature {f}); pass --fillna {'|'.join(FILLNA)} or fix the file"
        )
    _check_magnitude(X, name)
    return X.astype(np.float32, copy=False)


# Beyond this the squares that standardisation sums overflow float32 (max ~3.4e38) and the model
# silently learns nothing; real measurements are far below it.
MAX_ABS_FEATURE = 1e18


def _check_magnitude(X, name):
    """Refuse features whose standardisation would overflow float32, naming the feature and its range."""
    if np.issubdtype(X.dtype, np.integer) and np.iinfo(X.dtype).max <= MAX_ABS_FEATURE:
        return
    for f in range(X.shape[2]):
        column = X[:, :, f]
        low, high = float(column.min()), float(column.max())
        if max(abs(low), abs(high)) > MAX_ABS_FEATURE:
            raise DataError(
                f"{name} feature {f} ranges from {low:.3g} to {high:.3g}: values beyond +-{MAX_ABS_FEATURE:.0e} overflow "
                "float32 when standardised; rescale that feature (e.g. divide it by a power of ten)"
            )


def fill_missing(X: np.ndarray, method: str, masked: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """``(X filled, kept sequences mask, count)`` for ``X`` of shape (n, t, f).

    interpolate: linear in time between the neighbouring known values (the nearest known value
    before the first / after the last); ffill: the last known value (the first known one before
    it); zero: 0; drop: the sequences with any missing value are left out (count = dropped).
    A channel with no known value in a sequence becomes 0 (interpolate, ffill). ``masked``: X's
    last channel marks observed steps (variable-length data); only those are read and filled."""
    if method not in FILLNA:
        raise DataError(f"--fillna must be one of {', '.join(FILLNA)}, got {method!r}")
    X = np.array(X, dtype=np.float32)  # a copy: the caller's array is left alone
    bad = ~np.isfinite(X)
    keep = np.ones(len(X), dtype=bool)
    if not bad.any():
        return X, keep, 0
    if method == "drop":
        keep = ~bad.any(axis=(1, 2))
        return X[keep], keep, int((~keep).sum())
    count = int(bad.sum())
    if method == "zero":
        X[bad] = 0.0
        return X, keep, count
    lengths = (X[:, :, -1] > 0.5).sum(axis=1) if masked else np.full(len(X), X.shape[1])
    for i, f in zip(*np.nonzero(bad.any(axis=1))):
        n = int(lengths[i])
        t = np.arange(n)
        row, known = X[i, :n, f], ~bad[i, :n, f]
        if not known.any():
            row[:] = 0.0
        elif method == "interpolate":
            row[~known] = np.interp(t[~known], t[known], row[known])
        else:  # ffill: index of the last known value at or before each step
            last = np.maximum.accumulate(np.where(known, t, -1))
            last[last < 0] = t[known][0]
            X[i, :n, f] = row[last]
    return X, keep, count


def check_static(S, n, name):
    S = np.asarray(S)
    if S.dtype == object or not np.issubdtype(S.dtype, np.number) or np.issubdtype(S.dtype, np.complexfloating):
        raise DataError(f"{name} has dtype {S.dtype}; static features must be real numbers")
    if S.ndim == 1:
        S = S[:, None]
    if S.ndim != 2:
        raise DataError(f"{name} has shape {S.shape}; static features need (n, features), one row per sequence")
    if len(S) != n:
        raise DataError(f"{name} has {len(S)} rows but there are {n} sequences; give one row per sequence")
    if S.shape[1] == 0:
        raise DataError(f"{name} has no columns; drop it or give at least one static feature")
    bad = ~np.isfinite(S)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError(f"{name} has {int(bad.sum())} NaN or infinite value(s) (first at sequence {i}, feature {j})")
    return S.astype(np.float32)


def pack_static(X, S):
    """Static features as constant channels after the sequence's own: (n, t, f + s)."""
    return np.concatenate([X, np.repeat(S[:, None, :], X.shape[1], axis=1)], axis=2)


def boxcox_lambda(values, low: float = -1.0, high: float = 2.0, steps: int = 301) -> float:
    """The Box-Cox exponent that maximises the profile log-likelihood of positive ``values``
    (a grid over [low, high]; numpy only): (y^l - 1) / l, log y at l = 0."""
    y = np.asarray(values, dtype=np.float64)
    y = y[np.isfinite(y) & (y > 0)]
    if len(y) < 3:
        return 1.0
    logs = np.log(y)
    best, best_llf = 1.0, -np.inf
    for lam in np.linspace(low, high, steps):
        z = logs if abs(lam) < 1e-9 else np.expm1(lam * logs) / lam
        var = z.var()
        if not np.isfinite(var) or var <= 0:
            continue
        llf = -0.5 * len(y) * np.log(var) + (lam - 1.0) * logs.sum()
        if llf > best_llf:
            best, best_llf = float(lam), llf
    return round(best, 4)


def input_moments(X: np.ndarray, layout: list):
    """Per-channel mean and variance of packed ``X``, each input over its own steps (its
    observed ones when it has lengths; its mask channel 0 and 1)."""
    means, variances = [], []
    for info in layout:
        block = X[:, :info["timesteps"], info["offset"]:info["offset"] + info["n_features"]]
        if info["masked"]:
            mean, var = channel_moments(block[:, :, :-1], block[:, :, -1] > 0.5)
            mean, var = np.append(mean, 0.0), np.append(var, 1.0)
        else:
            mean, var = channel_moments(block)
        means.append(mean)
        variances.append(var)
    return np.concatenate(means), np.concatenate(variances)
