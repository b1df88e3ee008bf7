"""Reading the user's table files and finding their columns: CSV/Parquet as a DataFrame, a clear
error for a file that is not text, a column by name or by a list of usual names, and a data
file's dataset name. Light to import (pandas loads when a table is read), so the command line
and the run's options use these names without loading the data stack."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import DataError

__all__ = ["FILLNA", "TOKENS", "ID_CANDIDATES", "TIME_CANDIDATES", "TARGET_CANDIDATES", "SPLIT_COLUMN", "archive_name",
           "pick_column", "check_text", "read_table", "first_line", "plain"]

# How missing feature values may be filled, within one sequence and channel
# (``dataset.fill_missing``).
FILLNA = ("interpolate", "ffill", "zero", "drop")
# How seq2seq pairs are tokenised (``--tokens``; default: per side, words when they have spaces).
TOKENS = ("chars", "words")
# Usual names of a long table's columns (one row per timestep), compared case-blind.
ID_CANDIDATES = ("id", "series_id", "sequence_id", "sample_id", "sample")
TIME_CANDIDATES = ("time", "timestep", "t", "step", "timestamp")
TARGET_CANDIDATES = ("label", "target", "y", "class")
SPLIT_COLUMN = "split"


def archive_name(path: Path) -> str:
    """A data file's dataset name: its stem, without the archive's ``_TRAIN`` for ``.ts`` files
    (BasicMotions_TRAIN.ts -> BasicMotions)."""
    if path.suffix.lower() == ".ts":
        return re.sub(r"_train$", "", path.stem, flags=re.IGNORECASE) or path.stem
    return path.stem


def pick_column(columns, given, candidates, option, what, required=True):
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


def read_table(path: Path):
    """A CSV or Parquet file as a DataFrame (same columns and rules for both)."""
    import pandas as pd

    if path.suffix.lower() == ".parquet":
        try:
            df = pd.read_parquet(path)
        except ImportError as e:
            raise DataError(f"reading Parquet needs pyarrow ({first_line(e)}); pip install pyarrow") from None
        except Exception as e:  # noqa: BLE001 - pyarrow raises its own error types for bad files
            raise DataError(f"{path.name} is not a readable Parquet file ({first_line(e)})") from None
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
        raise DataError(f"{path.name} is not UTF-8 text ({first_line(e)}); save it as UTF-8 CSV") from None
    except (pd.errors.ParserError, ValueError) as e:
        raise DataError(f"{path.name} is not a readable CSV file ({first_line(e)})") from None
    if df.empty:
        raise DataError(f"{path.name} has a header but no rows")
    return df


def plain(v):
    """numpy scalars as plain Python values (their repr is noise in a message)."""
    return v.item() if hasattr(v, "item") else v


def first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
