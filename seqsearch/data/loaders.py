"""File formats. Each loader turns a file into ``RawArrays``; ``frame_task`` does the rest."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..config import FILLNA, archive_name
from ..errors import DataError
from .dataset import Dataset, RawArrays, _is_integer_valued, fill_missing, frame_task, masked_array, repad, with_lengths
from .tsfile import load_ts, read_ts

__all__ = ["load_dataset", "load_inputs", "LOADERS"]

ID_CANDIDATES = ("id", "series_id", "sequence_id", "sample_id", "sample")
TIME_CANDIDATES = ("time", "timestep", "t", "step", "timestamp")
TARGET_CANDIDATES = ("label", "target", "y", "class")
SPLIT_COLUMN = "split"


def load_npz(path: Path, *, target=None, **_) -> RawArrays:
    if target is not None:
        raise DataError("--target names a column of a CSV file; an .npz file has arrays X and y instead")
    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise DataError(f"{path.name} is not a readable .npz archive ({_first_line(e)}); write it with numpy.savez") from None
    with archive:
        keys = set(archive.files)

        def get(k):
            return npz_array(archive, k, path)

        if {"X_train", "Y_train"} <= keys or {"X", "Y"} <= keys:
            if "y" in keys or "y_train" in keys:
                raise DataError(
                    f"{path.name} holds both y and Y; keep y (one target per sequence) or Y "
                    "(a target sequence per sequence, seq2seq), not both"
                )
            if "X_train" in keys:
                if not {"X_test", "Y_test"} <= keys:
                    raise DataError(f"{path.name} has X_train/Y_train but not both X_test and Y_test")
                raw = RawArrays(X=get("X_train"), y=get("Y_train"), X_test=get("X_test"), y_test=get("Y_test"),
                                sequence_target=True)
                if {"X_val", "Y_val"} <= keys:
                    raw.X_val, raw.y_val = get("X_val"), get("Y_val")
            else:
                raw = RawArrays(X=get("X"), y=get("Y"), sequence_target=True)
        elif {"X_train", "y_train"} <= keys:
            if not {"X_test", "y_test"} <= keys:
                raise DataError(
                    f"{path.name} has X_train/y_train but not both X_test and y_test "
                    f"(found: {', '.join(sorted(keys))}); add them or store X and y instead"
                )
            raw = RawArrays(X=get("X_train"), y=get("y_train"), X_test=get("X_test"), y_test=get("y_test"))
            if {"X_val", "y_val"} <= keys:
                raw.X_val, raw.y_val = get("X_val"), get("y_val")
        elif {"X", "y"} <= keys:
            raw = RawArrays(X=get("X"), y=get("y"))
        else:
            raise DataError(
                f"{path.name} holds arrays {', '.join(sorted(keys)) or '(none)'}; expected X and y "
                "(or Y for seq2seq), or X_train, y_train, X_test and y_test"
            )
        if "feature_names" in keys:
            raw.feature_names = [str(v) for v in get("feature_names").tolist()]
        if "classes" in keys:
            _name_classes(raw, get("classes"), path)
        # Variable-length sequences: X right-padded, with each sequence's true length beside it.
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
        # Static (per-sequence) features: `static` beside X, or static_train/static_test(/_val)
        # beside the explicit splits; frame_task checks them and packs them into X.
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
    return raw


def _name_classes(raw: RawArrays, classes: np.ndarray, path: Path) -> None:
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
        if not _is_integer_valued(y) or (y.size and (y.min() < 0 or y.max() >= len(names))):
            shown = key if key != "y" else ("y_train" if raw.X_test is not None else "y")
            held = (f"{y.dtype} values from {y.min().item()} to {y.max().item()}"
                    if y.size and np.issubdtype(y.dtype, np.number) else f"{y.dtype} values")
            raise DataError(f"{path.name}: with 'classes' ({len(names)} names) {shown} must hold label indices "
                            f"0..{len(names) - 1}; it holds {held}. Store the names in y, or fix the indices")
        setattr(raw, key, np.asarray(names)[y.astype(np.int64)])


def _pick(columns, given, candidates, option, what, required=True):
    """A column: ``given`` (must exist) or the first candidate name present, compared
    case-blind; None when there is none and it is not ``required``."""
    if given is not None:
        if given not in columns:
            raise DataError(
                f"{option} {given!r} is not a column of the file; columns: {', '.join(map(str, columns))}"
            )
        return given
    lower = {str(c).lower(): c for c in columns}
    for c in candidates:
        if c in lower:
            return lower[c]
    if not required:
        return None
    raise DataError(
        f"cannot find the {what} column (looked for {', '.join(candidates)}); pass {option}. "
        f"Columns: {', '.join(map(str, columns))}"
    )


def check_text(path: Path, kind: str = "CSV") -> None:
    """A clear error for a binary (or corrupted) file given as text: a NUL byte never occurs
    in UTF-8 text, and pandas versions disagree on what a NUL byte becomes (NaN or a string of
    NULs), so the file is rejected before parsing, with where the first one is."""
    offset = 0
    with open(path, "rb") as f:
        head = f.read(4096)
        f.seek(0)
        wide = _wide_encoding(head)
        if wide:
            raise DataError(f"{path.name} is not UTF-8 text (it is {wide}); save it as UTF-8 {kind}")
        while chunk := f.read(1 << 20):
            i = chunk.find(b"\x00")
            if i >= 0:
                raise DataError(
                    f"{path.name} is not a text {kind} file: it has a NUL byte at byte {offset + i}; "
                    f"save it as UTF-8 text (a binary or half-written file cannot be read)"
                )
            offset += len(chunk)


def _wide_encoding(head: bytes) -> str | None:
    """'UTF-16' or 'UTF-32' when the first bytes are text in one of them (a byte-order mark,
    or ASCII with a NUL beside every character), else None."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    if len(head) >= 8:
        even, odd = head[0::2].count(0) / len(head[0::2]), head[1::2].count(0) / len(head[1::2])
        if max(even, odd) > 0.4 and min(even, odd) < 0.05:
            return "UTF-16"
    return None


def _read_table(path: Path):
    """A CSV or Parquet file as a DataFrame (same columns and rules for both)."""
    import pandas as pd

    if path.suffix.lower() == ".parquet":
        try:
            df = pd.read_parquet(path)
        except ImportError as e:
            raise DataError(f"reading Parquet needs pyarrow ({_first_line(e)}); pip install pyarrow") from None
        except Exception as e:  # noqa: BLE001 - pyarrow raises its own error types for bad files
            raise DataError(f"{path.name} is not a readable Parquet file ({_first_line(e)})") from None
        if df.empty:
            raise DataError(f"{path.name} has columns but no rows")
        if not all(isinstance(c, str) for c in df.columns):
            df.columns = [str(c) for c in df.columns]
        return df
    check_text(path)
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name} is empty; it needs a header row and one row per timestep") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path.name} is not UTF-8 text ({_first_line(e)}); save it as UTF-8 CSV") from None
    except (pd.errors.ParserError, ValueError) as e:
        raise DataError(f"{path.name} is not a readable CSV file ({_first_line(e)})") from None
    if df.empty:
        raise DataError(f"{path.name} has a header but no rows")
    return df


def _check_features(df, path, features, id_c, time_c, fillna=None):
    import pandas as pd

    if not features:
        raise DataError(f"{path.name} has no feature columns besides the id, time and target columns")
    for c in features:
        if not pd.api.types.is_numeric_dtype(df[c]):
            sample = df[c][pd.to_numeric(df[c], errors="coerce").isna() & df[c].notna()].iloc[:1].tolist()
            raise DataError(
                f"feature column {c!r} is not numeric (e.g. {sample[0]!r}); convert it or drop the column"
                if sample else f"feature column {c!r} is not numeric; convert it or drop the column"
            )
    bad_rows = df[features].isna().any(axis=1) | ~np.isfinite(df[features].to_numpy(dtype=np.float64)).all(axis=1)
    if bad_rows.any() and not fillna:
        first = df[bad_rows].iloc[0]
        raise DataError(
            f"{int(bad_rows.sum())} row(s) have NaN or infinite features (first: {id_c}={_plain(first[id_c])!r}, "
            f"{time_c}={_plain(first[time_c])!r}); "
            f"pass --fillna {'|'.join(FILLNA)} or fix the file"
        )
    if df.duplicated([id_c, time_c]).any():
        d = df[df.duplicated([id_c, time_c])].iloc[0]
        raise DataError(f"sequence {d[id_c]!r} has two rows at {time_c}={d[time_c]!r}; each timestep must appear once")


def _to_sequences(df, id_c, time_c, features):
    """Rows sorted into sequences: (X, the groupby, the sequence ids, masked). X is (n, t, f)
    when every sequence has t rows; otherwise the sequences are right-padded to the longest
    and a last channel marks the observed steps (``masked_array``), and masked is True."""
    df = df.sort_values([id_c, time_c], kind="stable")
    groups = df.groupby(id_c, sort=False)
    lengths = groups.size()
    values = df[features].to_numpy(dtype=np.float32)
    ids = [str(i) for i in lengths.index]
    if lengths.nunique() > 1:
        ends = np.cumsum(lengths.to_numpy())
        return masked_array(np.split(values, ends[:-1])), groups, ids, True
    n, t = len(lengths), int(lengths.iloc[0])
    return values.reshape(n, t, len(features)), groups, ids, False


def load_csv_long(path: Path, *, target=None, id_col=None, time_col=None, require_target=True, static_cols=None,
                  feature_order=None, fillna=None, df=None, **_) -> RawArrays:
    """Long format: one row per timestep with a sequence id, a time order, features and a label
    (constant within a sequence). An optional ``split`` column (train/val/test) fixes the splits.
    ``static_cols``: feature columns constant within each sequence, used as static features
    (they go last). ``feature_order``: the feature columns a trained model takes, in its order
    (prediction input). With ``require_target=False`` a missing target column is fine.
    ``fillna``: missing feature values are left as NaN for ``fill_missing`` instead of refused.
    Parquet files follow the same rules. ``df``: the table, when the caller has read it."""
    df = _read_table(path) if df is None else df
    cols = list(df.columns)
    id_c = _pick(cols, id_col, ID_CANDIDATES, "--id-col", "sequence id")
    time_c = _pick(cols, time_col, TIME_CANDIDATES, "--time-col", "time order")
    has_target = require_target or target is not None or any(c in cols for c in TARGET_CANDIDATES)
    target_c = _pick(cols, target, TARGET_CANDIDATES, "--target", "target") if has_target else None
    if len({id_c, time_c, target_c}) < 3:
        raise DataError(f"id, time and target columns must differ; got {id_c!r}, {time_c!r}, {target_c!r}")
    split_c = SPLIT_COLUMN if SPLIT_COLUMN in cols and SPLIT_COLUMN not in (id_c, time_c, target_c) else None
    features = [c for c in cols if c not in (id_c, time_c, target_c, split_c)]
    static = list(static_cols or [])
    for c in static:
        if c not in features:
            raise DataError(
                f"--static-cols {c!r} is not a feature column of {path.name}; feature columns: {', '.join(map(str, features))}"
            )
    if static:
        features = [c for c in features if c not in static] + static
    if feature_order is not None and any(c in cols for c in feature_order):
        # Matched by name when the model's features are columns here (a model trained on an
        # .npz has no column names: then the file's own order is used).
        missing = [c for c in feature_order if c not in cols]
        if missing:
            raise DataError(
                f"{path.name} lacks the model's feature column(s) {', '.join(map(str, missing))}; "
                f"columns: {', '.join(map(str, cols))}"
            )
        features = list(feature_order)
    _check_features(df, path, features, id_c, time_c, fillna)
    if static:
        varying = df.groupby(id_c)[static].nunique(dropna=False).gt(1)
        if varying.to_numpy().any():
            c = varying.columns[varying.any(axis=0)][0]
            seq = varying.index[varying[c]][0]
            raise DataError(
                f"static column {c!r} changes within sequence {seq!r}; a static feature is constant per sequence"
            )
    if not require_target:
        X, _, ids, masked = _to_sequences(df, id_c, time_c, features)
        return RawArrays(X=X, y=None, feature_names=[str(f) for f in features], ids=ids, masked=masked)
    if df[target_c].isna().any():
        raise DataError(f"target column {target_c!r} has {int(df[target_c].isna().sum())} empty value(s)")
    X, groups, ids, masked = _to_sequences(df, id_c, time_c, features)
    labels = groups[target_c].nunique()
    if (labels > 1).any():
        raise DataError(
            f"sequence {labels[labels > 1].index[0]!r} has more than one value in {target_c!r}; "
            "the target must be constant within a sequence"
        )
    y = groups[target_c].first().to_numpy()
    raw = RawArrays(X=X, y=y, feature_names=[str(f) for f in features], target_names=[str(target_c)], ids=ids,
                    n_static=len(static), masked=masked)
    if split_c is not None:
        split = groups[split_c].first().astype(str).str.lower().to_numpy()
        unknown = sorted(set(split) - {"train", "val", "test"})
        if unknown:
            raise DataError(f"column 'split' has value(s) {unknown}; use train, val or test")
        if "test" in split:
            tr = split == "train"
            raw = RawArrays(
                X=X[tr], y=y[tr], X_test=X[split == "test"], y_test=y[split == "test"],
                feature_names=raw.feature_names, target_names=raw.target_names, n_static=len(static),
                masked=masked,
            )
            if "val" in split:
                raw.X_val, raw.y_val = X[split == "val"], y[split == "val"]
    return raw


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
        raise DataError(f"array {key!r} in {path.name} cannot be read: {_first_line(e)}") from None
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError) as e:
        raise DataError(f"{path.name} is truncated or damaged ({_first_line(e)})") from None


def load_inputs(path, *, id_col=None, time_col=None, target=None, feature_names=None, fillna=None,
                timesteps=None, masked=False):
    """Prediction input: the sequences of a data file (targets, if any, are ignored) and their
    ids (CSV/Parquet sequence ids, else row numbers). An .npz gives ``X``, else ``X_test``, with
    its static features (``static``/``static_test``) and lengths (``lengths``/``lengths_test``)
    packed in as the model takes them; a .ts file its series. ``feature_names``: the trained
    model's feature columns in order (CSV columns are matched by name). ``fillna``: fill missing
    values as the study did (with ``drop``, the sequences with missing values are left out of
    the ids too). ``masked``/``timesteps``: the model reads variable-length sequences padded to
    ``timesteps`` (a file of one length is padded too; a longer sequence is an error)."""
    from .dataset import _check_static, _check_X, pack_static

    p = _check_path(path)
    ext = p.suffix.lower()
    S, lengths = None, None
    if ext in (".csv", ".parquet"):
        raw = load_csv_long(p, target=target, id_col=id_col, time_col=time_col, require_target=False,
                            feature_order=feature_names, fillna=fillna)
        X, ids, file_masked = raw.X, raw.ids, raw.masked
    elif ext == ".ts":
        ts = read_ts(p)
        X, file_masked = ts.X, ts.masked
        ids = [str(i) for i in range(len(X))]
    else:
        try:
            archive = np.load(p, allow_pickle=False)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
            raise DataError(f"{p.name} is not a readable .npz archive ({_first_line(e)})") from None
        with archive:
            key = next((k for k in ("X", "X_test") if k in archive.files), None)
            if key is None:
                raise DataError(f"{p.name} holds {', '.join(sorted(archive.files)) or '(none)'}; prediction reads X (or X_test)")
            X = npz_array(archive, key, p)
            suffix = "" if key == "X" else "_test"
            s_key, l_key = "static" + suffix, "lengths" + suffix
            S = npz_array(archive, s_key, p) if s_key in archive.files else None
            lengths = npz_array(archive, l_key, p) if l_key in archive.files else None
        ids = [str(i) for i in range(len(X))]
        if S is not None:
            S = _check_static(S, len(X), s_key)
        file_masked = lengths is not None
        if file_masked:
            X = with_lengths(X, lengths, key, l_key)
    if file_masked and not masked:
        n = (np.asarray(X)[:, :, -1] > 0.5).sum(axis=1)
        raise DataError(f"{p.name} holds sequences of different lengths ({n.min()} to {n.max()} steps); the model "
                        f"was trained on one length{f' ({timesteps})' if timesteps else ''}: pad them to it")
    if fillna:  # before the static columns join: a dropped sequence takes its static row along
        X, keep, _ = fill_missing(X, fillna, masked=file_masked)
        ids = [i for i, k in zip(ids, keep) if k]
        S = S[keep] if S is not None else None
    X = _check_X(X, "X")
    if masked and not file_masked:  # one length in the file: every step observed
        X = np.concatenate([X, np.ones(X.shape[:2] + (1,), np.float32)], axis=2)
    if S is not None:
        X = np.concatenate([pack_static(X[:, :, :-1], S), X[:, :, -1:]], axis=2) if masked else pack_static(X, S)
    if masked and timesteps:
        X = repad(X, int(timesteps), p.name)
    return X, ids


def _pairs_only(path, **_):  # .tsv files are seq2seq pairs; load_dataset reads them itself
    raise DataError(f"{path.name}: a .tsv file holds seq2seq pairs; train on it with seqsearch run")


LOADERS = {".npz": load_npz, ".csv": load_csv_long, ".parquet": load_csv_long, ".ts": load_ts, ".tsv": _pairs_only}


def _check_path(path) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"dataset {str(path)!r} does not exist; check the path")
    if p.is_dir():
        raise DataError(f"dataset {str(path)!r} is a directory; pass a data file ({', '.join(LOADERS)})")
    ext = p.suffix.lower()
    if ext not in LOADERS:
        raise DataError(
            f"dataset {p.name!r} has extension {ext or '(none)'!r}; supported: {', '.join(LOADERS)}"
        )
    if p.stat().st_size == 0:
        raise DataError(f"dataset {p.name!r} is an empty file")
    return p


def load_dataset(
    path, *, task=None, target=None, id_col=None, time_col=None, seed=0, test_size=0.2, val_size=0.2,
    static_cols=None, fillna=None, text_col=None, tokens=None,
) -> Dataset:
    p = _check_path(path)
    ext = p.suffix.lower()
    if tokens and ext not in (".tsv", ".csv", ".parquet"):
        raise DataError(f"--tokens is for tables of source and target sequences (.tsv/.csv), not a {ext} file")
    if ext == ".tsv":
        from .pairs import load_pairs

        return load_pairs(p, tokens=tokens, seed=seed, test_size=test_size, val_size=val_size, task=task)
    if text_col and ext not in (".csv", ".parquet"):
        raise DataError(f"--text-col names a column of a CSV or Parquet file, not of a {ext} file")
    if ext in (".csv", ".parquet"):
        from .text import find_text_column, load_text

        df = _read_table(p)
        from .pairs import is_pairs_table, load_pairs

        if tokens or (is_pairs_table(df.columns) and text_col is None and time_col is None
                      and not {str(c).lower() for c in df.columns} & set(TIME_CANDIDATES)):
            return load_pairs(p, tokens=tokens, seed=seed, test_size=test_size, val_size=val_size, task=task)
        text_c = find_text_column(list(df.columns), text_col)
        lower = {str(c).lower() for c in df.columns}
        # A text column and no time column (a long sequence table has one): text classification.
        if text_c is not None and (text_col or not (lower & set(TIME_CANDIDATES)) and time_col is None):
            if static_cols or id_col or time_col:
                raise DataError("--static-cols, --id-col and --time-col are for sequence tables; a text table has "
                                "one row per text")
            return load_text(p, df, text_col=text_c, target=target, task=task, seed=seed, test_size=test_size,
                             val_size=val_size)
        raw = load_csv_long(p, target=target, id_col=id_col, time_col=time_col, static_cols=static_cols,
                            fillna=fillna, df=df)
        return frame_task(raw, name=archive_name(p), source=str(p.resolve()), task=task, seed=seed,
                          test_size=test_size, val_size=val_size, fillna=fillna)
    if static_cols and ext not in (".csv", ".parquet"):
        raise DataError("--static-cols names CSV/Parquet columns; in an .npz file store the static features as 'static'")
    if ext not in (".csv", ".parquet") and (id_col or time_col):
        raise DataError(f"--id-col and --time-col name columns of a CSV or Parquet file, not of a {ext} file")
    raw = LOADERS[ext](p, target=target, id_col=id_col, time_col=time_col, static_cols=static_cols, fillna=fillna)
    name = archive_name(p)
    return frame_task(raw, name=name, source=str(p.resolve()), task=task, seed=seed,
                      test_size=test_size, val_size=val_size, fillna=fillna)


def _plain(v):
    """numpy scalars as plain Python values (their repr is noise in a message)."""
    return v.item() if hasattr(v, "item") else v


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
