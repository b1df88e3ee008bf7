"""NumPy ``.npz`` archives: X and y (or Y for seq2seq targets), optionally pre-split
(X_train/y_train/X_test/y_test, X_val/y_val), with feature names, class names and each
sequence's length for right-padded variable-length data. Arrays are read without pickle."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .arrays import with_lengths
from .dataset import RawArrays
from .framing import is_integer_valued
from .tables import first_line

__all__ = ["load_npz", "npz_array", "open_npz"]


def open_npz(path: Path, *, target=None, arrays: str = "X and y"):
    """The archive at ``path``, opened without pickle, or a one-line error (``--target`` names
    a table's column: an archive has ``arrays`` instead)."""
    if target is not None:
        raise DataError(f"--target names a column of a CSV file; an .npz file has arrays {arrays} instead")
    try:
        return np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise DataError(f"{path.name} is not a readable .npz archive ({first_line(e)}); write it with numpy.savez") from None


def load_npz(path: Path, *, target=None, **_) -> RawArrays:
    with open_npz(path, target=target) as archive:
        keys = set(archive.files)

        def get(k):
            return npz_array(archive, k, path)

        raw = _splits(path, keys, get)
        if "feature_names" in keys:
            raw.feature_names = [str(v) for v in get("feature_names").tolist()]
        if "classes" in keys:
            name_classes(raw, get("classes"), path)
        _lengths(raw, path, keys, get)
        _static(raw, path, keys, get)
    return raw


def _splits(path, keys, get) -> RawArrays:
    """The arrays of the layout the archive uses: X and y (or Y, target sequences), or the
    explicit X_train/y_train/X_test/y_test (and _val) splits."""
    if {"X_train", "Y_train"} <= keys or {"X", "Y"} <= keys:
        if "y" in keys or "y_train" in keys:
            raise DataError(
                f"{path.name} holds both y and Y; keep y (one target per sequence) or Y "
                "(a target sequence per sequence, seq2seq), not both"
            )
        if "X_train" not in keys:
            return RawArrays(X=get("X"), y=get("Y"), sequence_target=True)
        if not {"X_test", "Y_test"} <= keys:
            raise DataError(f"{path.name} has X_train/Y_train but not both X_test and Y_test")
        raw = RawArrays(X=get("X_train"), y=get("Y_train"), X_test=get("X_test"), y_test=get("Y_test"),
                        sequence_target=True)
        if {"X_val", "Y_val"} <= keys:
            raw.X_val, raw.y_val = get("X_val"), get("Y_val")
        return raw
    if {"X_train", "y_train"} <= keys:
        if not {"X_test", "y_test"} <= keys:
            raise DataError(
                f"{path.name} has X_train/y_train but not both X_test and y_test "
                f"(found: {', '.join(sorted(keys))}); add them or store X and y instead"
            )
        raw = RawArrays(X=get("X_train"), y=get("y_train"), X_test=get("X_test"), y_test=get("y_test"))
        if {"X_val", "y_val"} <= keys:
            raw.X_val, raw.y_val = get("X_val"), get("y_val")
        return raw
    if {"X", "y"} <= keys:
        return RawArrays(X=get("X"), y=get("y"))
    raise DataError(
        f"{path.name} holds arrays {', '.join(sorted(keys)) or '(none)'}; expected X and y "
        "(or Y for seq2seq), or X_train, y_train, X_test and y_test"
    )


def _lengths(raw, path, keys, get) -> None:
    """Variable-length sequences: X right-padded, with each sequence's true length beside it
    (``lengths``, or one per split); the mask channel added."""
    split_names = (("X", "lengths"),) if raw.X_test is None else (
        ("X_train", "lengths_train"), ("X_test", "lengths_test"), ("X_val", "lengths_val"))
    given = [k for _, k in split_names if k in keys]
    if given:
        missing = [k for x, k in split_names if x in keys and k not in keys]
        if missing:
            raise DataError(f"{path.name} has {given[0]} but not {missing[0]}; give the lengths of every split")
        for x_key, l_key in split_names:
            attr = {"X": "X", "X_train": "X", "X_test": "X_test", "X_val": "X_val"}[x_key]
            if getattr(raw, attr) is not None:
                setattr(raw, attr, with_lengths(getattr(raw, attr), get(l_key), x_key, l_key))
        raw.masked = True
    elif "lengths" in keys or "lengths_train" in keys:
        raise DataError(f"{path.name}: with {'X_train/X_test' if raw.X_test is not None else 'X'} the lengths are "
                        f"{', '.join(k for _, k in split_names)}")


def _static(raw, path, keys, get) -> None:
    """Static (per-sequence) features: ``static`` beside X, or static_train/static_test(/_val)
    beside the explicit splits; frame_task checks them and packs them into X."""
    split_layout = raw.X_test is not None
    train_key, wrong = ("static_train", "static") if split_layout else ("static", "static_train")
    if wrong in keys:
        raise DataError(
            f"{path.name} has {wrong!r}; with {'X_train/X_test' if split_layout else 'X'} the static "
            f"features are {train_key!r}" + (", 'static_test' (and 'static_val')" if split_layout else "")
        )
    if train_key in keys:
        raw.static = get(train_key)
        for split in ("test", "val"):
            if f"static_{split}" in keys:
                setattr(raw, f"static_{split}", get(f"static_{split}"))
        if "static_names" in keys:
            raw.static_names = [str(v) for v in get("static_names").tolist()]


def name_classes(raw: RawArrays, classes: np.ndarray, path: Path) -> None:
    """An .npz ``classes`` array names the labels: y holds indices into it (as written by
    ``LabelEncoder``-style code); the study, its exports and ``predict`` then use the names."""
    names = [str(v) for v in np.asarray(classes).reshape(-1).tolist()]
    if raw.sequence_target:
        raise DataError(f"{path.name}: 'classes' names the labels of y (one per sequence); Y is a target sequence, "
                        "drop 'classes'")
    if len(set(names)) != len(names) or not names:
        raise DataError(f"{path.name}: 'classes' must list distinct names, one per label index (got {len(names)} "
                        f"names, {len(set(names))} distinct)")
    for key in ("y", "y_test", "y_val"):
        y = getattr(raw, key)
        if y is None:
            continue
        y = np.asarray(y)
        if not is_integer_valued(y) or (y.size and (y.min() < 0 or y.max() >= len(names))):
            shown = key if key != "y" else ("y_train" if raw.X_test is not None else "y")
            held = (f"{y.dtype} values from {y.min().item()} to {y.max().item()}"
                    if y.size and np.issubdtype(y.dtype, np.number) else f"{y.dtype} values")
            raise DataError(f"{path.name}: with 'classes' ({len(names)} names) {shown} must hold label indices "
                            f"0..{len(names) - 1}; it holds {held}. Store the names in y, or fix the indices")
        setattr(raw, key, np.asarray(names)[y.astype(np.int64)])


def npz_array(archive, key: str, path: Path) -> np.ndarray:
    """Array ``key`` of an open .npz archive, read only once its header is known good: object
    arrays (pickle) are refused, and a header declaring more data than the member holds (a
    damaged or hostile file: a few bytes can declare petabytes) is refused before any memory is
    allocated for it."""
    name = f"{key}.npy"
    try:
        info = archive.zip.getinfo(name) if name in archive.zip.namelist() else None
        if info is not None:
            with archive.zip.open(name) as handle:
                version = np.lib.format.read_magic(handle)
                reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)
                shape, _, dtype = reader(handle, max_header_size=100_000)
            if dtype.hasobject:
                raise DataError(
                    f"array {key!r} in {path.name} is ragged or holds Python objects (object dtype, which would "
                    "need pickle); pad every sequence to one length and save a numeric array of shape "
                    "(n, timesteps, features)"
                )
            declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if declared > info.file_size:
                raise DataError(
                    f"array {key!r} in {path.name} declares shape {tuple(shape)!s:.80} ({declared:.3g} bytes) but holds "
                    f"{info.file_size} bytes: the file is damaged; write it again with numpy.savez"
                )
        return archive[key]
    except DataError:
        raise
    except ValueError as e:  # object arrays need pickle: ragged sequences
        if "allow_pickle" in str(e):
            raise DataError(
                f"array {key!r} in {path.name} is ragged (object dtype); pad every sequence "
                "to one length and save a numeric array of shape (n, timesteps, features)"
            ) from None
        raise DataError(f"array {key!r} in {path.name} cannot be read: {first_line(e)}") from None
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError) as e:
        raise DataError(f"{path.name} is truncated or damaged ({first_line(e)})") from None
