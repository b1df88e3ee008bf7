"""The CLI's error boundary: every failure of every command ends in one line ``error: ...`` and
an exit code, never a screen of frames.

- the user's to fix (bad input, a file that cannot be read or written, a damaged archive or
  model, a store that fails, out of memory): exit 2, with what was wrong and how to fix it;
- a bug in seqsearch: exit 1, one line saying so and where the full traceback was written
  (``seqsearch-error.log`` in the study folder when there is one, else the temp folder).

Only the standard library here: ``seqsearch --help`` stays instant.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from .errors import SeqsearchError, one_line

__all__ = ["guarded", "describe", "set_log_dir", "INTERNAL_ERROR"]

INTERNAL_ERROR = 1
USER_ERROR = 2
INTERRUPTED = 130

_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_DISK_FULL_TEXT = ("no space left", "disk is full", "disk i/o error", "file too large", "quota exceeded")
# SQLite, as MLflow's store and Optuna's RDB storage report it (often wrapped twice).
_SQLITE = {
    "attempt to write a readonly database": "is read-only; make it writable or copy the study to a writable folder",
    "readonly database": "is read-only; make it writable or copy the study to a writable folder",
    "database disk image is malformed": "is damaged; restore it from a copy or start another --study",
    "file is not a database": "is not an SQLite database (damaged?); restore it from a copy or start another --study",
    "unable to open database file": "cannot be opened; check that the folder exists and is writable",
}
_log_dir: list[Path] = []


def set_log_dir(path) -> None:
    """Where a bug's traceback goes for this command (the study folder, once known)."""
    _log_dir[:] = [Path(path)]


def _chain(e: BaseException):
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def describe(e: BaseException) -> str | None:
    """One line for a failure the user can act on, or None when it is a bug in seqsearch."""
    chain = list(_chain(e))
    for x in chain:  # a full disk first: it shows up as many other errors on its way up
        if isinstance(x, OSError) and x.errno in _DISK_FULL_ERRNOS:
            where = f" writing {x.filename}" if x.filename else ""
            return f"the disk refused a write{where} ({x.strerror}); free space and run the same command again (finished trials are kept)"
        text = str(x).lower()
        if any(t in text for t in _DISK_FULL_TEXT):
            return f"the disk refused a write ({one_line(str(x), 160)}); free space and run the same command again (finished trials are kept)"
    for x in chain:
        text = str(x).lower()
        for needle, advice in _SQLITE.items():
            if needle in text:
                return f"a study's SQLite store (mlflow.db or --storage) {advice} ({needle})"
    for x in chain:
        if isinstance(x, MemoryError):
            why = f" ({one_line(x, 160)})" if str(x) else ""
            return f"out of memory{why}; use a smaller dataset, a smaller --max-params or fewer --jobs"
        if isinstance(x, OSError) and x.errno is not None:
            verb = {errno.EACCES: "is not permitted", errno.EPERM: "is not permitted", errno.EROFS: "is on a read-only file system",
                    errno.ENOENT: "does not exist", errno.ENOTDIR: "is not a folder", errno.EISDIR: "is a folder"}
            what = x.filename if x.filename is not None else ""
            how = verb.get(x.errno)
            if how and what:
                return f"{what!s} {how} ({x.strerror}); check the path and its permissions"
            return f"{x.strerror or type(x).__name__}{f': {what}' if what else ''}; check the path and its permissions"
    return None


def _write_log(e: BaseException) -> Path | None:
    text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    argv = " ".join(sys.argv)
    for folder in [*_log_dir, Path(tempfile.gettempdir())]:
        name = "seqsearch-error.log" if folder in _log_dir else f"seqsearch-error-{os.getpid()}.log"
        try:
            if folder.is_dir():
                with open(folder / name, "a") as handle:
                    handle.write(f"--- {stamp} {argv}\n{text}\n")
                return folder / name
        except OSError:
            continue
    return None


def _fail(message: str, code: int = USER_ERROR):
    # Flushed first: a live progress line on stdout must not run into the error line.
    sys.stdout.flush()
    sys.stderr.write(f"error: {one_line(message, 1000)}\n")
    sys.stderr.flush()
    sys.exit(code)


def guarded(fn):
    """Wrap a click command: whatever it raises becomes one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import click

        try:
            return fn(*args, **kwargs)
        except (SystemExit, click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except SeqsearchError as e:
            _fail(str(e))
        except KeyboardInterrupt:
            sys.stdout.flush()
            sys.stderr.write("\ninterrupted: finished trials are kept; run the same command to resume\n")
            sys.exit(INTERRUPTED)
        except BaseException as e:  # noqa: BLE001 - this is the boundary
            message = describe(e)
            if message is not None:
                _fail(message)
            log = _write_log(e)
            where = f"; the traceback is in {log}" if log else ""
            _fail(f"internal error in seqsearch ({type(e).__name__}: {one_line(e, 200)}){where}; please report it",
                  INTERNAL_ERROR)

    return wrapper
