"""UCR/UEA ``.ts`` files, the time-series classification archive's own format (univariate and
multivariate, a class label or a numeric target), read without aeon or any download.

A ``*_TRAIN.ts`` file with a ``*_TEST.ts`` beside it (the archive's layout) brings the
archive's test split along, so results compare with published ones."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["read_ts", "load_ts", "test_file_beside"]

_MISSING = ("?", "", "nan", "NaN")


@dataclass
class TsFile:
    X: np.ndarray  # (n, timesteps, dimensions), NaN where the file has '?'
    y: np.ndarray | None  # class labels (str) or targets (float); None when the file has none
    classes: list = field(default_factory=list)  # as declared by @classLabel
    regression: bool = False
    # Unequal lengths (@equalLength false): X is right-padded and its last channel is 1 at the
    # observed steps (seqsearch.data.dataset.masked_array).
    masked: bool = False


def _header(lines, path):
    head = {}
    for number, line in lines:
        if not line.startswith("@"):
            raise DataError(f"{path.name} line {number}: expected a @header or @data before the values; is it a .ts file?")
        key, _, value = line[1:].partition(" ")
        key = key.lower()
        if key == "data":
            return head
        head[key] = (value.strip(), number)
    raise DataError(f"{path.name} has no @data line; a .ts file lists its @headers, then @data, then one series per line")


def _flag(head, key, path):
    value = head.get(key, ("false", 0))[0].split()
    word = value[0].lower() if value else ""
    if word not in ("true", "false"):
        raise DataError(f"{path.name} line {head[key][1]}: @{key} must be true or false, not {' '.join(value)!r}")
    return word == "true", value[1:]


def _values(text, path, number, dim):
    parts = text.split(",")
    try:
        return np.array([math.nan if v.strip() in _MISSING else float(v) for v in parts], dtype=np.float64)
    except ValueError:
        bad = next(v for v in parts if v.strip() not in _MISSING and not _is_float(v))
        raise DataError(
            f"{path.name} line {number}, dimension {dim + 1}: {bad.strip()[:30]!r} is not a number "
            "('?' marks a missing value)"
        ) from None


def _is_float(v):
    try:
        float(v)
        return True
    except ValueError:
        return False


def read_ts(path: Path) -> TsFile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path.name} is not UTF-8 text ({str(e)[:120]}); save it as UTF-8") from None
    # Comments start with '#'; blank lines carry nothing.
    lines = ((i, ln.strip()) for i, ln in enumerate(text.splitlines(), 1))
    lines = ((i, ln) for i, ln in lines if ln and not ln.startswith("#"))
    head = _header(lines, path)
    if _flag(head, "timestamps", path)[0]:
        raise DataError(f"{path.name} has @timeStamps true ((time, value) pairs); seqsearch reads value lists: "
                        "write the series without timestamps")
    has_class, classes = _flag(head, "classlabel", path)
    has_target, _ = _flag(head, "targetlabel", path)
    if has_class and has_target:
        raise DataError(f"{path.name} declares both @classLabel and @targetLabel; keep one")
    has_label = has_class or has_target
    dims = None
    if "dimensions" in head:
        try:
            dims = int(head["dimensions"][0])
        except ValueError:
            raise DataError(f"{path.name} line {head['dimensions'][1]}: @dimensions must be a whole number") from None
    elif _flag(head, "univariate", path)[0]:
        dims = 1
    series, labels, lengths = _series(lines, path, has_label, dims)
    masked = len(lengths) > 1
    if masked and "equallength" in head and _flag(head, "equallength", path)[0]:
        short, long_ = min(lengths), max(lengths)
        raise DataError(
            f"{path.name} declares @equalLength true but holds series of different lengths ({short} to {long_} "
            f"timesteps, e.g. lines {lengths[short]} and {lengths[long_]}); fix the header to @equalLength false "
            "(they are then padded and masked) or the series"
        )
    if masked:
        from .arrays import masked_array

        X = masked_array(series, name=path.name)
    else:
        X = np.stack(series)
    y = _labels(labels, path, has_class, has_target, classes)
    return TsFile(X=X, y=y, classes=list(classes), regression=has_target, masked=masked)


def _series(lines, path, has_label, dims):
    """The series after @data, one per line (dimensions split by ':', the label last): the
    (steps, dimensions) arrays, the (label, line number) pairs, and {length: first line}."""
    series, labels, lengths = [], [], {}
    for number, line in lines:
        fields = line.split(":")
        if has_label:
            if len(fields) < 2:
                raise DataError(f"{path.name} line {number}: no label after the values (the header declares one)")
            labels.append((fields[-1].strip(), number))
            fields = fields[:-1]
        if dims is None:
            dims = len(fields)
        if len(fields) != dims:
            raise DataError(f"{path.name} line {number}: {len(fields)} dimension(s), the file has {dims}")
        values = [_values(f, path, number, d) for d, f in enumerate(fields)]
        length = {len(v) for v in values}
        if len(length) > 1:
            raise DataError(f"{path.name} line {number}: its dimensions have different lengths "
                            f"({min(length)} to {max(length)} values)")
        lengths.setdefault(length.pop(), number)
        series.append(np.stack(values, axis=1))
    if not series:
        raise DataError(f"{path.name} has no series after @data")
    return series, labels, lengths


def _labels(labels, path, has_class, has_target, classes):
    """Class labels (each among those the header declares, if it lists them) or numeric targets."""
    if has_class:
        y = np.array([lab for lab, _ in labels])
        if classes:
            declared = set(classes)
            odd = next(((lab, n) for lab, n in labels if lab not in declared), None)
            if odd:
                raise DataError(f"{path.name} line {odd[1]}: class {odd[0]!r} is not among those @classLabel "
                                f"declares ({', '.join(classes)})")
        return y
    if has_target:
        try:
            return np.array([float(lab) for lab, _ in labels], dtype=np.float64)
        except ValueError:
            lab, n = next((lab, n) for lab, n in labels if not _is_float(lab))
            raise DataError(f"{path.name} line {n}: target {lab!r} is not a number (@targetLabel true)") from None
    return None


def test_file_beside(path: Path) -> Path | None:
    """``Name_TEST.ts`` beside ``Name_TRAIN.ts`` (any case), or None."""
    m = re.match(r"^(.*)_train$", path.stem, flags=re.IGNORECASE)
    if not m:
        return None
    for name in (f"{m.group(1)}_TEST{path.suffix}", f"{m.group(1)}_test{path.suffix}", f"{m.group(1)}_Test{path.suffix}"):
        candidate = path.with_name(name)
        if candidate.is_file():
            return candidate
    return None


def load_ts(path: Path, *, target=None, **_):
    from .dataset import RawArrays

    if target is not None:
        raise DataError("--target names a column of a CSV or Parquet file; a .ts file carries its label after the values")
    train = read_ts(path)
    if train.y is None:
        raise DataError(f"{path.name} has no labels (@classLabel false, no @targetLabel); training needs them")
    dims = train.X.shape[2] - int(train.masked)
    raw = RawArrays(X=train.X, y=train.y, feature_names=[f"dim_{i}" for i in range(dims)], masked=train.masked)
    test_path = test_file_beside(path)
    if test_path is not None:
        test = read_ts(test_path)
        if test.y is None:
            raise DataError(f"{test_path.name} has no labels; the test split needs them")
        if (test.masked or train.masked) and test.X.shape[2] - int(test.masked) == dims:
            # Either file of unequal length: both padded to the longer one, both masked.
            from .arrays import repad, with_lengths

            Xs = [with_lengths(t.X, np.full(len(t.X), t.X.shape[1])) if not t.masked else t.X for t in (train, test)]
            T = max(X.shape[1] for X in Xs)
            train.X, test.X = (repad(X, T) for X in Xs)
            raw.X, raw.masked = train.X, True
        if test.X.shape[1:] != train.X.shape[1:]:
            raise DataError(f"{test_path.name} has series of {test.X.shape[1]} steps x {test.X.shape[2]} dimensions "
                            f"but {path.name} has {train.X.shape[1]} x {train.X.shape[2]}")
        if test.regression != train.regression:
            raise DataError(f"{path.name} and {test_path.name} disagree on the target (class label or number)")
        raw.X_test, raw.y_test = test.X, test.y
    return raw

