"""The study folder: created once (``study.json``, exclusively, checked against the data on
every later run), locked while one process creates the MLflow parent run or exports, JSON
written whole; and what it records about its export: the best model's ``metrics.json`` (which
trials it holds, their weights and retrain epochs) and the library versions a record was made
with. Read by ``export`` (which writes the record), ``tracking`` (which logs it to MLflow), the
run and ``status``; it imports nothing of seqsearch's but its error type, so each of them may
use it."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from .errors import SeqsearchError

__all__ = ["prepare_study_dir", "study_lock", "write_json", "create_exclusively", "library_versions", "read_export",
           "exported_trials", "exported_weights", "retrain_epochs", "exported_fold_models"]


def library_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("seqsearch", "keras", "tensorflow", "optuna", "mlflow", "numpy", "pandas"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def read_export(best_dir: Path) -> dict | None:
    """The metrics of an existing export, or None when there is none (or it is incomplete)."""
    try:
        with open(Path(best_dir) / "metrics.json") as f:
            metrics = json.load(f)
    except (OSError, ValueError):
        return None
    if not _intact_zip(Path(best_dir) / "model.keras"):
        return None  # damaged: the run that finds it exports the best model again
    return metrics


def _intact_zip(path: Path) -> bool:
    """A .keras file that is a zip whose every member passes its CRC check."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None
    except (OSError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError):
        return False


def exported_trials(metrics: dict) -> list[int]:
    """The trial(s) an export's ``metrics.json`` holds: an average's members, lead first (the
    best trial when it is one of them)."""
    return [m["trial"] for m in metrics["ensemble"]] if "ensemble" in metrics else [metrics.get("trial")]


def exported_weights(metrics: dict) -> list[float]:
    """The weight of each exported member in the average (best first; equal when not stored)."""
    if "ensemble" in metrics:
        members = metrics["ensemble"]
        return [float(m.get("weight", 1.0 / len(members))) for m in members]
    return [1.0]


def retrain_epochs(metrics: dict) -> list[int]:
    """The epochs each exported member was retrained for (best first)."""
    if "ensemble" in metrics:
        return [int(m.get("retrain_epochs", 0)) for m in metrics["ensemble"]]
    return [int(metrics.get("retrain_epochs", 0))]


def exported_fold_models(metrics: dict) -> list[int]:
    """How many fold models each exported member averages (best first; 0: it was retrained)."""
    if "ensemble" in metrics:
        return [int(m.get("fold_models", 0)) for m in metrics["ensemble"]]
    return [int(metrics.get("fold_models", 0))]


@contextlib.contextmanager
def study_lock(study_path: Path):
    """An exclusive lock on the study folder (processes of this machine): creating the MLflow
    parent run and exporting the best model happen once, not once per worker."""
    import fcntl

    with open(Path(study_path) / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_json(path: Path, data):
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def prepare_study_dir(config, ds, info) -> Path:
    path = config.study_path
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(prefix=".write-test-", dir=path):
            pass
    except OSError as e:
        raise SeqsearchError(f"cannot write to the work directory {str(path.parent)!r} ({e.strerror}); pass --workdir") from None
    meta_path = path / "study.json"
    meta = {"study": config.study, "dataset": info["name"], "fingerprint": info["fingerprint"], "task": info["task"],
            "folds": info.get("folds", 1)}
    if not meta_path.exists() and create_exclusively(meta_path, json.dumps(meta, indent=2) + "\n"):
        return path
    # The study exists (or another worker created it a moment ago): it must be on the same data.
    try:
        old = json.loads(meta_path.read_text())
    except ValueError:
        old = None
    if old and (old.get("fingerprint"), old.get("task")) != (meta["fingerprint"], meta["task"]):
        raise SeqsearchError(
            f"study {config.study!r} was run on {old.get('dataset')!r} as {old.get('task')} "
            f"(fingerprint {old.get('fingerprint')}), not on this data/task; pass another --study"
        )
    if old and old.get("folds", 1) != meta["folds"]:
        # Cross-validated and single-split losses are not comparable: one study keeps one rule.
        raise SeqsearchError(
            f"study {config.study!r} validated its trials on {old.get('folds', 1)} fold(s), this run would use "
            f"{meta['folds']}; pass --folds {old.get('folds', 1)} to resume it, or another --study"
        )
    return path


def create_exclusively(path: Path, text: str) -> bool:
    """Write ``path`` complete and only if it does not exist yet; False when another process
    (or thread) created it first. Workers started together race here (`--jobs`, or two
    `seqsearch run` commands on one study), so the temporary file is unique to the caller and
    the file appears with a hard link, which fails rather than overwrite."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: last writer wins, content is whole
            os.replace(tmp, path)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
