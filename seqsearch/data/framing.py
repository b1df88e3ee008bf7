"""Framing the task from raw arrays (``frame_task``): the task inferred from the targets unless
given, labels encoded, missing values filled as asked, static features packed, and the
train / validation / test splits carved (stratified for classes, reproducible for a seed)
into a :class:`Dataset`; sequence-to-sequence targets too."""

from __future__ import annotations

import numpy as np

from search_spaces.specs import TaskSpec

from ..errors import DataError
from .arrays import check_static, check_X, fill_missing, pack_static
from .dataset import Dataset, RawArrays

__all__ = ["frame_task", "stratified_split", "is_integer_valued", "MAX_CLASSES", "INFER_CLASSIFICATION_MAX"]


MAX_CLASSES = 1000
# Integer-valued targets with at most this many distinct values are read as class labels.
INFER_CLASSIFICATION_MAX = 20


def _fill_raw(raw, method):
    """Apply ``fill_missing`` to every split of ``raw`` (targets, ids and static rows follow a drop)."""
    total = 0
    for split in ("", "_test", "_val"):
        X = getattr(raw, f"X{split}")
        if X is None:
            continue
        X = np.asarray(X)
        if X.dtype == object or not np.issubdtype(X.dtype, np.number):
            continue  # check_X says what is wrong with it
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


def is_integer_valued(y):
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
    if is_integer_valued(y):
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


def stratified_split(y_codes, fraction, rng, stratify=True):
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
    if Y.ndim == 2 and is_integer_valued(Y):
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
        X = check_X(X, x_name)
        S = check_static(S, len(X), s_name)
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
    X = check_X(raw.X, "X" if raw.X_test is None else "X_train")
    if raw.sequence_target and raw.masked:
        raise DataError("seq2seq with variable-length inputs is not supported yet; pad the sources to one length")
    if raw.sequence_target:
        parts = {}
        for split in ("test", "val"):
            Xs, ys = getattr(raw, f"X_{split}"), getattr(raw, f"y_{split}")
            if Xs is not None:
                Xs = check_X(Xs, f"X_{split}")
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
            Xs = check_X(Xs, f"X_{split}")
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
        y, parts, task_spec = _classes(y, parts)
    else:
        y, parts, task_spec = _regression_targets(y, parts, raw.target_names)
    return _split(raw, X, y, parts, task_spec, name, source, rng, test_size, val_size,
                  stratify=task == "classification")


def _classes(y, parts):
    """Labels encoded as class indices (classes sorted, from the training split: every class of
    another split must appear in it): (y, parts, task spec)."""
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

    parts = {k: (Xs, encode(_as_label_strings(ys), k)) for k, (Xs, ys) in parts.items()}
    return encode(y_str, "training"), parts, TaskSpec(kind="classification", n_outputs=len(labels), classes=labels)


def _regression_targets(y, parts, target_names):
    """Numeric, finite targets as float32: (y, parts, task spec)."""
    if y.dtype.kind not in "iuf":
        raise DataError(f"regression needs numeric targets; y has dtype {y.dtype}")
    y = y.astype(np.float32)
    parts = {k: (Xs, ys.astype(np.float32)) for k, (Xs, ys) in parts.items()}
    for arr, nm in [(y, "y")] + [(ys, f"y_{k}") for k, (_, ys) in parts.items()]:
        if not np.all(np.isfinite(arr)):
            raise DataError(f"{nm} has {int((~np.isfinite(arr)).sum())} NaN or infinite target(s); drop those sequences")
    n_out = 1 if y.ndim == 1 else y.shape[1]
    return y, parts, TaskSpec(kind="regression", n_outputs=n_out,
                              target_names=list(target_names) or [f"y{i}" for i in range(n_out)])


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
        keep, hold = stratified_split(codes, test_size, rng, strat)
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
        keep, hold = stratified_split(codes_pool, val_size, rng, strat)
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
    if y.dtype.kind == "f" and is_integer_valued(y):
        return y.astype(np.int64).astype(str)
    return y.astype(str)
