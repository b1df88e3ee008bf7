"""File formats. Each loader turns a file into ``RawArrays``; ``frame_task`` does the rest."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .arrays import fill_missing, masked_array, repad, with_lengths
from .dataset import Dataset, RawArrays
from .tables import (FILLNA, ID_CANDIDATES, SPLIT_COLUMN, TARGET_CANDIDATES, TIME_CANDIDATES, first_line,
                     pick_column, plain, read_table)
from .npzfile import load_npz, npz_array
from .tsfile import load_ts, read_ts

__all__ = ["load_dataset", "load_inputs", "LOADERS"]


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
            f"{int(bad_rows.sum())} row(s) have NaN or infinite features (first: {id_c}={plain(first[id_c])!r}, "
            f"{time_c}={plain(first[time_c])!r}); "
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
    df = read_table(path) if df is None else df
    cols = list(df.columns)
    id_c = pick_column(cols, id_col, ID_CANDIDATES, "--id-col", "sequence id")
    time_c = pick_column(cols, time_col, TIME_CANDIDATES, "--time-col", "time order")
    has_target = require_target or target is not None or any(c in cols for c in TARGET_CANDIDATES)
    target_c = pick_column(cols, target, TARGET_CANDIDATES, "--target", "target") if has_target else None
    if len({id_c, time_c, target_c}) < 3:
        raise DataError(f"id, time and target columns must differ; got {id_c!r}, {time_c!r}, {target_c!r}")
    split_c = SPLIT_COLUMN if SPLIT_COLUMN in cols and SPLIT_COLUMN not in (id_c, time_c, target_c) else None
    features = [c for c in cols if c not in (id_c, time_c, target_c, split_c)]
    static = list(static_cols or [])
    features = _feature_columns(path, cols, features, static, feature_order)
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
    if split_c is None:
        return raw
    return given_splits(raw, groups[split_c].first().astype(str).str.lower().to_numpy())


def _feature_columns(path, cols, features, static, feature_order) -> list:
    """The feature columns in the order the model takes them: the static ones last; a trained
    model's own order (``feature_order``) when its features are columns here."""
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
    return features


def given_splits(raw: RawArrays, split) -> RawArrays:
    """The splits a ``split`` column fixes (train/val/test per sequence; without a test value,
    the splits are drawn later as usual)."""
    unknown = sorted(set(split) - {"train", "val", "test"})
    if unknown:
        raise DataError(f"column 'split' has value(s) {unknown}; use train, val or test")
    if "test" not in split:
        return raw
    X, y, tr = raw.X, raw.y, split == "train"
    out = RawArrays(X=X[tr], y=y[tr], X_test=X[split == "test"], y_test=y[split == "test"],
                    feature_names=raw.feature_names, target_names=raw.target_names, n_static=raw.n_static,
                    masked=raw.masked)
    if "val" in split:
        out.X_val, out.y_val = X[split == "val"], y[split == "val"]
    return out


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
    from .arrays import check_static, check_X, pack_static

    p = check_path(path)
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
            raise DataError(f"{p.name} is not a readable .npz archive ({first_line(e)})") from None
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
            S = check_static(S, len(X), s_key)
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
    X = check_X(X, "X")
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


def check_path(path) -> Path:
    """``path`` as a data file some data kind reads (its extension), or a one-line error."""
    from .kinds import extensions

    p = Path(path).expanduser()
    supported = extensions()
    if not p.exists():
        raise DataError(f"dataset {str(path)!r} does not exist; check the path")
    if p.is_dir():
        raise DataError(f"dataset {str(path)!r} is a directory; pass a data file ({', '.join(supported)})")
    ext = p.suffix.lower()
    if ext not in supported:
        raise DataError(
            f"dataset {p.name!r} has extension {ext or '(none)'!r}; supported: {', '.join(supported)}"
        )
    if p.stat().st_size == 0:
        raise DataError(f"dataset {p.name!r} is an empty file")
    return p


def load_dataset(
    path, *, task=None, target=None, id_col=None, time_col=None, seed=0, test_size=0.2, val_size=0.2,
    static_cols=None, fillna=None, text_col=None, tokens=None, lookback=None, horizon=None, season=None,
    future_cols=None, join=None,
) -> Dataset:
    """The dataset in ``path``, read by the first data kind that claims it (``seqsearch.data.kinds``:
    forecasting windows when ``task`` is forecasting, seq2seq pairs, a text column, else plain
    sequences)."""
    from .kinds import Table, kinds_in_order

    p = check_path(path)
    ext = p.suffix.lower()
    if tokens and ext not in (".tsv", ".csv", ".parquet"):
        raise DataError(f"--tokens is for tables of source and target sequences (.tsv/.csv), not a {ext} file")
    options = dict(task=task, target=target, id_col=id_col, time_col=time_col, seed=seed, test_size=test_size,
                   val_size=val_size, static_cols=static_cols, fillna=fillna, text_col=text_col, tokens=tokens,
                   lookback=lookback, horizon=horizon, season=season, future_cols=future_cols, join=join)
    table = Table(p)
    kind = next(k for k in kinds_in_order() if k.claims(p, table, options))
    return kind.load(p, table, options)
