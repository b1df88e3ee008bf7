"""What a study folder records about its export: the best model's ``metrics.json`` (which
trials it holds, their weights and retrain epochs) and the library versions a record was made
with. Read by ``export`` (which writes the record), ``tracking`` (which logs it to MLflow), ``api``
and ``status``; it imports nothing of seqsearch's, so each of them may use it."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["library_versions", "read_export", "exported_trials", "exported_weights", "retrain_epochs"]


def library_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("seqsearch", "keras", "tensorflow", "optuna", "mlflow", "numpy"):
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
