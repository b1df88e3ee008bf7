"""Several input sequences from tables joined by sequence id (``--join name=FILE``).

The main table holds the target: a long table (id, time, features, target; one row per step),
which is an input itself, named after its file, or a table of one row per example (id, target,
and any per-example feature columns, which become a one-step input). Each ``--join`` table is a
long table of its own (id, its own time column, features) on its own time axis: a 1 Hz heart
rate beside a 100 Hz accelerometer. Every table must hold the same sequence ids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .tables import ID_CANDIDATES, SPLIT_COLUMN, TARGET_CANDIDATES, TIME_CANDIDATES, pick_column, read_table

__all__ = ["load_joined", "joined_inputs", "parse_join", "main_input_name"]


def parse_join(pairs) -> dict:
    """``--join NAME=FILE[,time=COLUMN]`` (repeatable) as ``{name: "FILE[,time=COLUMN]"}``,
    names and options checked."""
    from .multi import check_name

    out = {}
    for pair in pairs or ():
        name, sep, source = str(pair).partition("=")
        if not sep or not name.strip() or not source.strip():
            raise DataError(f"--join {pair!r} must look like NAME=FILE (or NAME=FILE,time=COLUMN), e.g. "
                            "--join heart=heart.csv,time=seconds")
        name = check_name(name.strip(), "--join")
        if name in out:
            raise DataError(f"--join names input {name!r} twice; give each joined table its own name")
        join_source(name, source.strip())
        out[name] = source.strip()
    return out


def join_source(name: str, source: str) -> tuple:
    """``FILE[,time=COLUMN]`` as (file, time column or None)."""
    file, *extra = [part.strip() for part in source.split(",")]
    time_col = None
    for part in extra:
        key, sep, value = part.partition("=")
        if key.strip() != "time" or not sep or not value.strip():
            raise DataError(f"--join {name}={source}: after the file comes only time=COLUMN (the table's time column), "
                            f"not {part!r}")
        time_col = value.strip()
    if not file:
        raise DataError(f"--join {name}={source} names no file")
    return file, time_col


def main_input_name(path: Path) -> str:
    """The input a long main table becomes: its file's stem, made a valid input name."""
    import re

    name = re.sub(r"[^A-Za-z0-9_]", "_", path.stem)
    return name if name[:1].isalpha() and name not in ("train", "test", "val", "family", "merge", "front") else f"x_{name}"


def _is_long(df, time_col) -> bool:
    cols = list(df.columns)
    return pick_column(cols, time_col, TIME_CANDIDATES, "--time-col", "time order", required=False) is not None


def _joined_table(name, source, id_col, time_col, fillna, features=None):
    """One --join table's sequences: (X, ids, feature names, masked). Its time column: the one
    its ``time=`` names, else ``--time-col``'s, else a usual name; its features: ``features``
    (a trained model's), else every other column."""
    from .loaders import check_path, load_csv_long

    file, own_time = join_source(name, source)
    time_col = own_time or time_col
    p = check_path(file)
    if p.suffix.lower() not in (".csv", ".parquet"):
        raise DataError(f"--join {name}={file}: a joined table is a CSV or Parquet file, not {p.suffix or 'a file without extension'}")
    df = read_table(p)
    cols = list(df.columns)
    if time_col is not None and time_col not in cols:
        raise DataError(f"--join {name}: {p.name} has no column {time_col!r}; columns: {', '.join(map(str, cols))}")
    if not _is_long(df, time_col):
        raise DataError(f"--join {name}={p.name} has no time column (looked for {', '.join(TIME_CANDIDATES)}); name it "
                        f"with --join {name}={file},time=COLUMN (a joined table has one row per step: id, time, features)")
    id_c = pick_column(cols, id_col, ID_CANDIDATES, "--id-col", f"sequence id (in {p.name})")
    time_c = pick_column(cols, time_col, TIME_CANDIDATES, "--time-col", "time order")
    if features is None:  # every column but the id and the time is a feature of this input
        features = [c for c in cols if c not in (id_c, time_c)]
    # Any other column is left out (as a target would be); a target-like name among the
    # features (a channel called y) stays a feature.
    rest = next((c for c in cols if c not in features and c not in (id_c, time_c)), None)
    raw = load_csv_long(p, id_col=id_c, time_col=time_c, require_target=False, fillna=fillna, df=df, target=rest,
                        feature_order=list(features))
    return raw.X, raw.ids, raw.feature_names, raw.masked


def _main_table(path, df, options):
    """The main table: (y, ids, {input: (X, feature names, masked)}, split per id or None)."""
    from .loaders import load_csv_long

    cols = list(df.columns)
    id_c = pick_column(cols, options.get("id_col"), ID_CANDIDATES, "--id-col", "sequence id")
    target_c = pick_column(cols, options.get("target"), TARGET_CANDIDATES, "--target", "target")
    split = None
    if SPLIT_COLUMN in cols and SPLIT_COLUMN not in (id_c, target_c):
        split = df.groupby(id_c, sort=True)[SPLIT_COLUMN].first().astype(str).str.lower()
        df = df.drop(columns=[SPLIT_COLUMN])
    if _is_long(df, options.get("time_col")):
        raw = load_csv_long(path, target=target_c, id_col=id_c, time_col=options.get("time_col"),
                            fillna=options.get("fillna"), df=df)
        return raw.y, raw.ids, {main_input_name(path): (raw.X, raw.feature_names, raw.masked)}, split, id_c
    # One row per example: the target, and per-example features as a one-step input.
    if df[id_c].duplicated().any():
        raise DataError(f"{path.name} has no time column and sequence {df[id_c][df[id_c].duplicated()].iloc[0]!r} on two "
                        f"rows; a table of one row per example holds each id once (or add a time column)")
    if df[target_c].isna().any():
        raise DataError(f"target column {target_c!r} has {int(df[target_c].isna().sum())} empty value(s)")
    df = df.sort_values(id_c, kind="stable")
    features = [c for c in df.columns if c not in (id_c, target_c)]
    inputs = {}
    if features:
        _check_numeric(df, features, path)
        inputs[main_input_name(path)] = (df[features].to_numpy(np.float32)[:, None, :], [str(c) for c in features], False)
    return df[target_c].to_numpy(), [str(i) for i in df[id_c]], inputs, split, id_c


def _aligned(name, X, ids, main_ids, main_file, file):
    """``X``'s rows in the order of ``main_ids``; ids on one side only are an error."""
    index = {i: k for k, i in enumerate(ids)}
    missing = [i for i in main_ids if i not in index]
    if missing:
        raise DataError(f"sequence id {missing[0]!r} is in {main_file} but not in {file} (--join {name}; "
                        f"{len(missing)} id(s) missing); every table needs every sequence")
    extra = sorted(set(ids) - set(main_ids))
    if extra:
        raise DataError(f"sequence id {extra[0]!r} is in {file} (--join {name}) but not in {main_file} "
                        f"({len(extra)} id(s)); every table holds the same sequences")
    return X[[index[i] for i in main_ids]]


def _check_numeric(df, features, path) -> None:
    import pandas as pd

    for c in features:
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise DataError(f"column {c!r} of {path.name} is not numeric; a per-example feature is a number "
                            "(convert it or drop the column)")
        if not np.isfinite(df[c].to_numpy(np.float64)).all():
            raise DataError(f"column {c!r} of {path.name} has empty or infinite values; fill them or drop the column")


def _gathered(path, df, options):
    """(y, ids, {input: (X, feature names, masked)}, split per id or None)."""
    y, ids, inputs, split, id_c = _main_table(path, df, options)
    joins = options["join"]
    for name, file in joins.items():
        if name in inputs:
            raise DataError(f"--join {name}: the main table {path.name} is already the input {name!r}; name it otherwise")
        X, jids, feature_names, masked = _joined_table(name, file, id_c, options.get("time_col"), options.get("fillna"))
        inputs[name] = (_aligned(name, X, jids, ids, path.name, Path(join_source(name, file)[0]).name), feature_names,
                        masked)
    return y, ids, inputs, split


def load_joined(path: Path, df, options: dict):
    """RawArrays with the tables' inputs packed into X, and the layout."""
    from .dataset import RawArrays
    from .loaders import given_splits
    from .multi import make_layout, pack

    if not options.get("join"):
        raise DataError("several inputs from tables need --join NAME=FILE for each further table")
    y, ids, inputs, split = _gathered(path, df, options)
    if len(inputs) < 2:
        raise DataError(f"{path.name} has no feature columns and one --join table: that is one input; run on the "
                        "joined table with the target in it, or join another table")
    names = list(inputs)
    layout = make_layout(names, {n: inputs[n][0].shape[1] for n in names}, {n: inputs[n][0].shape[2] for n in names},
                         {n: inputs[n][2] for n in names}, {n: inputs[n][1] for n in names})
    raw = RawArrays(X=pack({n: inputs[n][0] for n in names}, layout), y=y, ids=ids,
                    feature_names=[f"{i['name']}:{f}" for i in layout for f in i["feature_names"]],
                    target_names=[str(options.get("target") or "target")])
    if split is not None:
        split.index = split.index.map(str)
        raw = given_splits(raw, split.loc[ids].to_numpy())
    return raw, layout


def joined_inputs(path: Path, layout: list, record: dict, options: dict):
    """Prediction input from tables: the main table (the model's main input, or the ids) and a
    ``--join`` table for every other input the model takes. ({input: array}, ids)."""
    from .loaders import load_csv_long
    from .multi import fit_to_layout

    joins = dict(options.get("join") or {})
    main = record.get("main")
    wanted = [i["name"] for i in layout if i["name"] != main]
    unknown = [n for n in joins if n not in wanted]
    if unknown:
        raise DataError(f"--join {unknown[0]}: the model takes no input of that name from a joined table (it takes "
                        f"{', '.join(wanted)})")
    missing = [n for n in wanted if n not in joins]
    if missing:
        raise DataError(f"the model takes input(s) {', '.join(missing)} from joined tables; pass "
                        + " ".join(f"--join {n}=FILE" for n in missing))
    df = read_table(path)
    cols = list(df.columns)
    id_c = pick_column(cols, options.get("id_col"), ID_CANDIDATES, "--id-col", "sequence id")
    by_name = {i["name"]: i for i in layout}
    arrays = {}
    if main is not None and (by_name[main]["timesteps"] > 1 or _is_long(df, options.get("time_col"))):
        info = by_name[main]
        raw = load_csv_long(path, id_col=id_c, time_col=options.get("time_col"), target=options.get("target"),
                            require_target=False, feature_order=info["feature_names"], fillna=options.get("fillna"), df=df)
        ids = raw.ids
        arrays[main] = fit_to_layout(raw.X, raw.masked, info, path.name)
    else:
        df = df.drop_duplicates(id_c).sort_values(id_c, kind="stable")
        ids = [str(i) for i in df[id_c]]
        if main is not None:
            features = by_name[main]["feature_names"]
            absent = [c for c in features if c not in cols]
            if absent:
                raise DataError(f"{path.name} lacks the model's column(s) {', '.join(absent)}")
            _check_numeric(df, features, path)
            arrays[main] = df[features].to_numpy(np.float32)[:, None, :]
    for name in wanted:
        X, jids, _, masked = _joined_table(name, joins[name], id_c, options.get("time_col"), options.get("fillna"),
                                           by_name[name]["feature_names"])
        file = Path(join_source(name, joins[name])[0]).name
        arrays[name] = fit_to_layout(_aligned(name, X, jids, ids, path.name, file), masked, by_name[name], file)
    return arrays, ids
