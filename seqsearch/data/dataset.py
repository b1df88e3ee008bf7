"""The Dataset: train / validation / test arrays plus the DataSpec and TaskSpec built from the
training split only (no statistics leak from validation or test)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np

from search_spaces.specs import DataSpec, TaskSpec

from ..config import FILLNA  # how missing values may be filled: within one sequence and channel
from ..errors import DataError

__all__ = ["Dataset", "frame_task", "RawArrays", "pack_static", "fill_missing", "channel_moments", "masked_array",
           "repad", "with_lengths"]

MAX_CLASSES = 1000
# Integer-valued targets with at most this many distinct values are read as class labels.
INFER_CLASSIFICATION_MAX = 20


@dataclass
class RawArrays:
    """What a loader hands over: features and targets, with the test split if the file has one."""

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    feature_names: list = field(default_factory=list)
    target_names: list = field(default_factory=list)
    # True when y holds one target *sequence* per input sequence (seq2seq).
    sequence_target: bool = False
    ids: list = field(default_factory=list)
    # Static (per-sequence) features, (n, s) per split; frame_task packs them into the last
    # channels of X, constant over time (the model splits them off again).
    static: np.ndarray | None = None
    static_test: np.ndarray | None = None
    static_val: np.ndarray | None = None
    static_names: list = field(default_factory=list)
    # How many of X's last channels are static features already (CSV --static-cols).
    n_static: int = 0
    # Variable-length sequences: X is right-padded and its very last channel is 1 at observed
    # steps, 0 at padding (``masked_array``); static channels go before it.
    masked: bool = False


@dataclass
class Dataset:
    name: str
    source: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task_spec: TaskSpec
    feature_names: list
    test_given: bool = False
    n_static: int = 0  # the last n_static features are static (constant within a sequence)
    fillna: str | None = None  # how missing values were filled (--fillna), None: there were none allowed
    masked: bool = False  # variable-length: the last channel of X marks observed steps (1) and padding (0)
    n_filled: int = 0  # values filled (or, with drop, sequences dropped)
    # How a forecasting table was cut into windows (lookback, horizon, season, columns); None
    # for datasets whose sequences are given as they are.
    framing: dict | None = None
    # Text tables: the TextVectorization vocabulary fitted on the training texts, what was
    # done (column, sequence length, ...), and the raw test texts (the export's parity sample).
    vocabulary: list | None = None
    text: dict | None = None
    test_texts: np.ndarray | None = None
    # Seq2seq pairs: how each side was tokenised and the lengths (the source vocabulary is
    # ``vocabulary``, the target's is ``task_spec.classes``).
    pairs: dict | None = None

    def data_spec(self, X: np.ndarray | None = None) -> DataSpec:
        """Input statistics of ``X`` (default: the training split) for the model's scaling layer.
        Every trial asks for the training split's: they are computed once (a pass over X)."""
        cached = self.__dict__.get("_train_moments")
        if X is None and cached is not None and cached[0] is self.X_train:
            X, (mean, var) = self.X_train, cached[1]
        else:
            default, X = X is None, self.X_train if X is None else X
            if self.masked:  # statistics of the observed steps; the mask channel itself is left alone
                mean, var = channel_moments(X[:, :, :-1], X[:, :, -1] > 0.5)
                mean, var = np.append(mean, 0.0), np.append(var, 1.0)
            else:
                mean, var = channel_moments(X)
            if default:
                self.__dict__["_train_moments"] = (X, (mean, var))
        return DataSpec(
            timesteps=int(X.shape[1]),
            n_features=int(X.shape[2]),
            feature_names=list(self.feature_names),
            feature_mean=[float(v) for v in mean],
            feature_var=[float(max(v, 1e-12)) for v in var],
            n_static=self.n_static,
            masked=self.masked,
            vocabulary=list(self.vocabulary or []),
        )

    def task_spec_for(self, y: np.ndarray, X: np.ndarray | None = None) -> TaskSpec:
        """The task spec with target statistics of ``y`` (regression de-standardises with them;
        forecasting: of the change from each window's last value, so ``X`` is needed too)."""
        ts = TaskSpec(**self.task_spec.to_dict())
        if ts.kind == "forecasting":
            if X is None:
                raise ValueError("forecasting target statistics need the windows X beside y")
            change = (y - X[:, -1:, :ts.n_outputs]).reshape(len(y), -1).astype(np.float64)
            ts.target_mean = [float(v) for v in change.mean(axis=0)]
            ts.target_var = [float(max(v, 1e-12)) for v in change.var(axis=0)]
        elif not ts.categorical:
            y2 = y.reshape(-1, ts.n_outputs).astype(np.float64)
            ts.target_mean = [float(v) for v in y2.mean(axis=0)]
            ts.target_var = [float(max(v, 1e-12)) for v in y2.var(axis=0)]
        return ts

    def length_range(self) -> str:
        """'min-max' observed steps over every split (variable-length data)."""
        lengths = np.concatenate([(X[:, :, -1] > 0.5).sum(axis=1) for X in (self.X_train, self.X_val, self.X_test)])
        return f"{int(lengths.min())}-{int(lengths.max())}"

    @property
    def train_val(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate([self.X_train, self.X_val]), np.concatenate([self.y_train, self.y_val])

    def check_folds(self, k: int):
        """Every one of the k-1 folds :meth:`fold` deals the training split to needs a sequence."""
        if k > 1 and len(self.X_train) < k - 1:
            raise DataError(f"--folds {k} needs at least {k - 1} training sequences, the training split has "
                            f"{len(self.X_train)}; pass a smaller --folds")

    def fold(self, f: int, k: int, seed: int = 0) -> "Dataset":
        """Fold ``f`` (0 <= f < k) of k-fold cross-validation over train+validation, as a dataset.

        Fold 0 is this dataset (its validation split, unchanged); the training split is dealt to
        the k-1 further validation folds (stratified for classification), so every
        train+validation sequence is validated exactly once over the k folds. A fold's scaling
        and target statistics come from its own training part. Built on demand, so memory holds
        one fold at a time. Forecasting windows overlap in time: RunConfig never folds them."""
        if f == 0:
            return self
        self.check_folds(k)
        hold, keep = self._fold_split(f, k, seed)
        X_tr = np.concatenate([self.X_train[keep], self.X_val])
        y_tr = np.concatenate([self.y_train[keep], self.y_val])
        out = replace(self, X_train=X_tr, y_train=y_tr, X_val=self.X_train[hold], y_val=self.y_train[hold])
        out.task_spec = self.task_spec_for(y_tr, X_tr)
        return out

    def _fold_split(self, f: int, k: int, seed: int):
        """(held-out, kept) indices into the training split for fold ``f`` >= 1 of ``k``."""
        n = len(self.X_train)
        rng = np.random.default_rng(seed)
        # Deal the training sequences round-robin to k-1 folds, shuffled within each class.
        classes = self.y_train if self.task_spec.kind == "classification" else np.zeros(n, dtype=int)
        order = np.concatenate([rng.permutation(np.flatnonzero(classes == c)) for c in np.unique(classes)])
        which = np.empty(n, dtype=int)
        which[order] = np.arange(n) % (k - 1)
        return np.flatnonzero(which == f - 1), np.flatnonzero(which != f - 1)

    def fold_rows(self, f: int, k: int, seed: int = 0) -> np.ndarray:
        """The rows of train+validation (the training split, then the validation split) that
        fold ``f`` of ``k`` validates on, in the order of that fold's ``X_val``."""
        if f == 0:
            return np.arange(len(self.X_train), len(self.X_train) + len(self.X_val))
        return self._fold_split(f, k, seed)[0]

    def nbytes(self) -> int:
        """Bytes the splits' arrays hold (what each process that loads the dataset holds)."""
        return int(sum(np.asarray(a).nbytes for a in (self.X_train, self.y_train, self.X_val, self.y_val,
                                                       self.X_test, self.y_test) if a is not None))

    def fingerprint(self) -> str:
        """SHA-256 over every split (shapes, dtypes, bytes); computed once, the splits never change."""
        cached = self.__dict__.get("_fingerprint")
        if cached is not None:
            return cached
        h = hashlib.sha256()
        for a in (self.X_train, self.y_train, self.X_val, self.y_val, self.X_test, self.y_test):
            a = np.ascontiguousarray(a)
            h.update(str((a.shape, a.dtype.str)).encode())
            h.update(memoryview(a).cast("B"))
        self.__dict__["_fingerprint"] = h.hexdigest()[:16]
        return self.__dict__["_fingerprint"]

    def describe(self) -> dict:
        d = {
            "name": self.name,
            "source": self.source,
            "task": self.task_spec.kind,
            "timesteps": int(self.X_train.shape[1]),
            "features": int(self.X_train.shape[2]) - int(self.masked),
            "static_features": self.n_static,
            **({"lengths": self.length_range()} if self.masked else {}),
            "n_train": len(self.X_train),
            "n_val": len(self.X_val),
            "n_test": len(self.X_test),
            "test_split": "given" if self.test_given else "held out",
            "fingerprint": self.fingerprint(),
        }
        if self.fillna:
            what = "sequence(s) dropped" if self.fillna == "drop" else "value(s) filled"
            d["missing"] = f"{self.n_filled} {what} (--fillna {self.fillna})"
        if self.task_spec.kind == "classification":
            counts = np.bincount(self.y_train, minlength=len(self.task_spec.classes))
            d["classes"] = {c: int(n) for c, n in zip(self.task_spec.classes, counts)}
        if self.text:
            d["text"] = dict(self.text)
        if self.pairs:
            d["pairs"] = dict(self.pairs)
        if self.framing:
            d.update({k: self.framing[k] for k in ("lookback", "horizon", "season", "series")})
            d["targets"] = list(self.task_spec.target_names)
        if self.task_spec.kind == "seq2seq":
            d["output_steps"] = self.task_spec.output_steps
            d["vocabulary"] = len(self.task_spec.classes) if self.task_spec.classes else 0
        return d


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


def _first_bad(X):
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


def _check_X(X, name):
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
    total, seqs, first = _first_bad(X)
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


def _fill_raw(raw, method):
    """Apply ``fill_missing`` to every split of ``raw`` (targets, ids and static rows follow a drop)."""
    total = 0
    for split in ("", "_test", "_val"):
        X = getattr(raw, f"X{split}")
        if X is None:
            continue
        X = np.asarray(X)
        if X.dtype == object or not np.issubdtype(X.dtype, np.number):
            continue  # _check_X says what is wrong with it
        X, keep, n = fill_missing(X, method, masked=raw.masked)
        total += n
        setattr(raw, f"X{split}", X)
        if not keep.all():
            for attr in (f"y{split}", f"static{split}"):
                v = getattr(raw, attr)
                if v is not None:
                    setattr(raw, attr, np.asarray(v)[keep])
            if not split and raw.ids:
                raw.ids = [i for i, k in zip(raw.ids, keep) if k]
    return total


def _check_y(y, n, name):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim not in (1, 2):
        raise DataError(f"{name} has shape {y.shape}; expected (n,) or (n, outputs)")
    if len(y) != n:
        xname = name.replace("y", "X", 1)
        raise DataError(f"{xname} has {n} sequences but {name} has {len(y)} targets; they must match")
    if y.dtype == object:
        y = y.astype(str)
    return y


def _is_integer_valued(y):
    if y.dtype.kind in "iub":
        return True
    if y.dtype.kind == "f":
        return bool(np.all(np.isfinite(y))) and bool(np.all(np.mod(y, 1) == 0))
    return False


def _infer_task(y, task):
    if task is not None:
        return task
    if y.ndim == 2:
        return "regression"
    if y.dtype.kind in "USb":
        return "classification"
    n_unique = len(np.unique(y))
    if _is_integer_valued(y):
        if n_unique <= INFER_CLASSIFICATION_MAX:
            return "classification"
        raise DataError(
            f"cannot tell the task: the target has {n_unique} distinct integer values, which may be "
            "class labels or counts; pass --task classification or --task regression"
        )
    return "regression"


def _sort_key(values):
    try:
        return sorted(values, key=float)
    except (TypeError, ValueError):
        return sorted(values)


def _stratified_split(y_codes, fraction, rng, stratify=True):
    """Indices (keep, hold) with ``fraction`` held out, per class when stratified; every class
    keeps at least one member on the kept side."""
    n = len(y_codes)
    if not stratify:
        order = rng.permutation(n)
        n_hold = int(round(fraction * n))
        n_hold = min(max(n_hold, 1), n - 1)
        return np.sort(order[n_hold:]), np.sort(order[:n_hold])
    keep, hold = [], []
    for c in np.unique(y_codes):
        idx = rng.permutation(np.flatnonzero(y_codes == c))
        k = min(int(round(fraction * len(idx))), len(idx) - 1)
        hold.extend(idx[:k])
        keep.extend(idx[k:])
    if not hold:  # every class a singleton: hold out one sequence of the largest class
        counts = {c: np.sum(y_codes[keep] == c) for c in np.unique(y_codes)}
        big = max(counts, key=counts.get)
        j = next(i for i in keep if y_codes[i] == big)
        keep.remove(j)
        hold.append(j)
    return np.sort(np.array(keep, dtype=int)), np.sort(np.array(hold, dtype=int))


def _check_Y(Y, n, name):
    Y = np.asarray(Y)
    if Y.dtype == object:
        raise DataError(f"{name} is ragged (object dtype); pad every target sequence to one length")
    if Y.ndim not in (2, 3):
        raise DataError(f"{name} has shape {Y.shape}; target sequences need (n, steps) or (n, steps, values)")
    if len(Y) != n:
        raise DataError(f"{name.replace('Y', 'X', 1)} has {n} sequences but {name} has {len(Y)}; they must match")
    if not np.issubdtype(Y.dtype, np.number):
        raise DataError(f"{name} has dtype {Y.dtype}; target sequences must be numbers (token ids or values)")
    if not np.all(np.isfinite(Y)):
        raise DataError(f"{name} has {int((~np.isfinite(Y)).sum())} NaN or infinite value(s)")
    return Y


def _frame_seq2seq(raw, X, parts, name, source, task, rng, test_size, val_size) -> Dataset:
    if task not in (None, "seq2seq"):
        raise DataError(f"the file holds target sequences (Y), which is a seq2seq task, not {task}")
    n_name = "Y" if raw.X_test is None else "Y_train"
    Y = _check_Y(raw.y, len(X), n_name)
    parts = {k: (Xs, _check_Y(ys, len(Xs), f"Y_{k}")) for k, (Xs, ys) in parts.items()}
    for k, (_, ys) in parts.items():
        if ys.shape[1:] != Y.shape[1:]:
            raise DataError(f"Y_{k} has target sequences of shape {ys.shape[1:]} but {n_name} has {Y.shape[1:]}")
    if Y.ndim == 2 and _is_integer_valued(Y):
        vocab = np.unique(Y).astype(np.int64)
        lookup = {int(v): i for i, v in enumerate(vocab)}

        def encode(arr, split):
            unknown = sorted(set(np.unique(arr).astype(np.int64).tolist()) - set(lookup))
            if unknown:
                raise DataError(f"the {split} split has token(s) {unknown[:5]} that the training split lacks")
            return np.vectorize(lookup.__getitem__, otypes=[np.int32])(arr.astype(np.int64))

        Y = encode(Y, "training")
        parts = {k: (Xs, encode(ys, k)) for k, (Xs, ys) in parts.items()}
        task_spec = TaskSpec(kind="seq2seq", n_outputs=len(vocab), classes=[str(v) for v in vocab],
                             output_steps=int(Y.shape[1]))
    else:
        Y = Y.astype(np.float32)
        if Y.ndim == 2:
            Y = Y[:, :, None]
            parts = {k: (Xs, ys.astype(np.float32)[:, :, None]) for k, (Xs, ys) in parts.items()}
        task_spec = TaskSpec(kind="seq2seq", n_outputs=int(Y.shape[2]), output_steps=int(Y.shape[1]),
                             target_names=[f"y{i}" for i in range(Y.shape[2])])
    return _split(raw, X, Y, parts, task_spec, name, source, rng, test_size, val_size, stratify=False)


def _check_static(S, n, name):
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


def _pack_static(raw: RawArrays):
    """Move static arrays into X's last channels (every split, validated); sets raw.n_static."""
    if raw.static is None:
        for split in ("test", "val"):
            if getattr(raw, f"static_{split}") is not None:
                raise DataError(f"static_{split} is given without static features for training; add them")
        return
    train_name = "static" if raw.X_test is None else "static_train"
    width = None
    for split, x_attr in (("", "X"), ("test", "X_test"), ("val", "X_val")):
        X = getattr(raw, x_attr)
        if X is None:
            continue
        s_attr = f"static_{split}" if split else "static"
        s_name = f"static_{split}" if split else train_name
        x_name = x_attr if split else ("X" if raw.X_test is None else "X_train")
        S = getattr(raw, s_attr)
        if S is None:
            raise DataError(f"{x_name} has no static features beside it; add {s_name} (one row per sequence)")
        X = _check_X(X, x_name)
        S = _check_static(S, len(X), s_name)
        if width is not None and S.shape[1] != width:
            raise DataError(f"{s_name} has {S.shape[1]} static features but {train_name} has {width}")
        width = S.shape[1]
        if raw.masked:  # static channels go before the mask channel, which stays last
            packed = np.concatenate([pack_static(X[:, :, :-1], S), X[:, :, -1:]], axis=2)
        else:
            packed = pack_static(X, S)
        setattr(raw, x_attr, packed)
        setattr(raw, s_attr, None)
    names = list(raw.static_names) or [f"s{i}" for i in range(width)]
    if len(names) != width:
        raise DataError(f"static_names has {len(names)} names for {width} static features")
    if raw.feature_names:
        raw.feature_names = list(raw.feature_names) + names
    else:
        raw.feature_names = [f"f{i}" for i in range(raw.X.shape[2] - width - int(raw.masked))] + names
    raw.n_static = width


def frame_task(raw: RawArrays, *, name, source, task=None, seed=0, test_size=0.2, val_size=0.2,
               fillna: str | None = None) -> Dataset:
    """Validate arrays, infer/apply the task, encode labels, and split train/val/test.
    ``fillna``: fill missing feature values (see ``fill_missing``) instead of refusing them."""
    n_filled = _fill_raw(raw, fillna) if fillna else 0
    ds = _frame_task(raw, name=name, source=source, task=task, seed=seed, test_size=test_size, val_size=val_size)
    ds.fillna, ds.n_filled = fillna, n_filled
    return ds


def _frame_task(raw: RawArrays, *, name, source, task, seed, test_size, val_size) -> Dataset:
    _pack_static(raw)
    X = _check_X(raw.X, "X" if raw.X_test is None else "X_train")
    if raw.sequence_target and raw.masked:
        raise DataError("seq2seq with variable-length inputs is not supported yet; pad the sources to one length")
    if raw.sequence_target:
        parts = {}
        for split in ("test", "val"):
            Xs, ys = getattr(raw, f"X_{split}"), getattr(raw, f"y_{split}")
            if Xs is not None:
                Xs = _check_X(Xs, f"X_{split}")
                if Xs.shape[1:] != X.shape[1:]:
                    raise DataError(f"X_{split} has sequences of shape {Xs.shape[1:]} but X_train has {X.shape[1:]}")
                parts[split] = (Xs, ys)
        return _frame_seq2seq(raw, X, parts, name, source, task, np.random.default_rng(seed), test_size, val_size)
    if task == "seq2seq":
        raise DataError("seq2seq needs target sequences: store them as Y (capital) beside X in the .npz")
    y = _check_y(raw.y, len(X), "y" if raw.X_test is None else "y_train")
    parts = {}
    for split in ("test", "val"):
        Xs, ys = getattr(raw, f"X_{split}"), getattr(raw, f"y_{split}")
        if (Xs is None) != (ys is None):
            raise DataError(f"X_{split} and y_{split} must be given together")
        if Xs is not None:
            Xs = _check_X(Xs, f"X_{split}")
            ys = _check_y(ys, len(Xs), f"y_{split}")
            if Xs.shape[1:] != X.shape[1:]:
                raise DataError(
                    f"X_{split} has sequences of shape {Xs.shape[1:]} but X_train has {X.shape[1:]}; "
                    "every split needs the same timesteps and features"
                )
            parts[split] = (Xs, ys)

    task = _infer_task(y, task)
    rng = np.random.default_rng(seed)
    if task == "classification":
        if y.ndim != 1:
            raise DataError(f"classification needs one label per sequence; y has shape {y.shape}")
        y_str = _as_label_strings(y)
        labels = _sort_key(np.unique(y_str).tolist())
        if len(labels) < 2:
            raise DataError(
                f"the training data has only one class ({labels[0]!r}); classification needs at least two"
            )
        if len(labels) > MAX_CLASSES:
            raise DataError(
                f"the target has {len(labels)} distinct values, too many for classes; "
                "pass --task regression if it is a quantity"
            )
        lookup = {lab: i for i, lab in enumerate(labels)}

        def encode(strs, split):
            unknown = sorted(set(strs.tolist()) - set(lookup))
            if unknown:
                raise DataError(
                    f"the {split} split has label(s) {unknown[:5]} that the training split lacks; "
                    "every class must appear in training"
                )
            return np.array([lookup[s] for s in strs], dtype=np.int32)

        y = encode(y_str, "training")
        parts = {k: (Xs, encode(_as_label_strings(ys), k)) for k, (Xs, ys) in parts.items()}
        task_spec = TaskSpec(kind="classification", n_outputs=len(labels), classes=labels)
    else:
        if y.dtype.kind not in "iuf":
            raise DataError(f"regression needs numeric targets; y has dtype {y.dtype}")
        y = y.astype(np.float32)
        for k, (Xs, ys) in list(parts.items()):
            parts[k] = (Xs, ys.astype(np.float32))
        for arr, nm in [(y, "y")] + [(ys, f"y_{k}") for k, (_, ys) in parts.items()]:
            if not np.all(np.isfinite(arr)):
                raise DataError(f"{nm} has {int((~np.isfinite(arr)).sum())} NaN or infinite target(s); drop those sequences")
        n_out = 1 if y.ndim == 1 else y.shape[1]
        task_spec = TaskSpec(
            kind="regression",
            n_outputs=n_out,
            target_names=list(raw.target_names) or [f"y{i}" for i in range(n_out)],
        )

    return _split(raw, X, y, parts, task_spec, name, source, rng, test_size, val_size,
                  stratify=task == "classification")


def _take(X, idx=None):
    """Rows ``idx`` of X in memory (one copy; a memory-mapped file is read once here)."""
    if idx is None:
        return np.array(X) if isinstance(X, np.memmap) else X
    return np.asarray(X[idx])


def _split(raw, X, y, parts, task_spec, name, source, rng, test_size, val_size, stratify) -> Dataset:
    """Train/val/test: given splits kept, the rest carved (stratified for classification). X is
    indexed once per split, so a large X costs one copy beside itself, never two."""
    strat = stratify
    codes = y if strat else np.zeros(len(y), dtype=int)
    test_given = "test" in parts
    pool = np.arange(len(X))
    if test_given:
        X_test, y_test = _take(parts["test"][0]), parts["test"][1]
    else:
        if len(X) < 3:
            raise DataError(f"the data has {len(X)} sequence(s); train, validation and test need at least 3")
        keep, hold = _stratified_split(codes, test_size, rng, strat)
        pool = keep
        X_test, y_test = _take(X, hold), y[hold]
    y_pool = y[pool]
    if "val" in parts:
        X_train, y_train = _take(X, None if test_given else pool), y_pool
        X_val, y_val = _take(parts["val"][0]), parts["val"][1]
    else:
        if len(pool) < 2:
            raise DataError(
                f"the training split has {len(pool)} sequence(s); carving a validation split needs at least 2"
            )
        codes_pool = y_pool if strat else np.zeros(len(y_pool), dtype=int)
        keep, hold = _stratified_split(codes_pool, val_size, rng, strat)
        X_train, y_train, X_val, y_val = _take(X, pool[keep]), y_pool[keep], _take(X, pool[hold]), y_pool[hold]
    if len(X_test) == 0:
        raise DataError("the test split is empty; give X_test with at least one sequence")

    ds = Dataset(
        name=name,
        source=source,
        X_train=X_train,
        y_train=y_train,
        X_val=X_val,
        y_val=y_val,
        X_test=X_test,
        y_test=y_test,
        task_spec=task_spec,
        feature_names=list(raw.feature_names) or [f"f{i}" for i in range(X.shape[2] - int(raw.masked))],
        test_given=test_given,
        n_static=int(raw.n_static),
        masked=bool(raw.masked),
    )
    ds.task_spec = ds.task_spec_for(y_train)
    return ds


def _as_label_strings(y):
    """Labels as strings; whole-number floats read as '1', not '1.0' (UCR stores labels as floats)."""
    if y.dtype.kind == "f" and _is_integer_valued(y):
        return y.astype(np.int64).astype(str)
    return y.astype(str)
