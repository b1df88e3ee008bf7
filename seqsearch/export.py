"""Retrain the best spec, score it on the test split, and write it out atomically."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["export_best", "read_export", "library_versions"]


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
    if not (Path(best_dir) / "model.keras").is_file():
        return None
    return metrics


def export_best(record, dataset, *, seed: int, best_dir: Path, study: str):
    """Rebuild ``record.spec``, train it on train+validation for its best epoch count, score it
    on the test split and write ``model.keras``, ``spec.json`` and ``metrics.json``.

    Written into a temporary folder beside ``best_dir`` and renamed into place, so an
    interrupted export never leaves a half-written model that looks complete.
    """
    from search_spaces import spec_summary

    from .training import retrain, score

    best_epoch = int(record.attrs.get("best_epoch", 0))
    epochs = best_epoch + 1
    started = time.perf_counter()
    model = retrain(record.spec, dataset, epochs=epochs, seed=seed + record.number)
    X, y = dataset.train_val
    test = score(model, dataset.X_test, dataset.y_test, dataset.task_spec_for(y))
    metrics = {
        "study": study,
        "trial": record.number,
        "summary": spec_summary(record.spec),
        "task": dataset.task_spec.kind,
        "val_loss": record.value,
        "val_metrics": record.attrs.get("metrics", {}),
        "retrain_epochs": epochs,
        "retrain_seconds": round(time.perf_counter() - started, 3),
        "n_params": int(model.count_params()),
        "test": test,
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint(), "n_test": len(dataset.X_test)},
        "classes": list(dataset.task_spec.classes),
        "input_shape": [None, int(dataset.X_train.shape[1]), int(dataset.X_train.shape[2])],
        "input_dtype": "float32",
        "versions": library_versions(),
    }
    best_dir = Path(best_dir)
    best_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".best-", dir=best_dir.parent))
    try:
        model.save(tmp / "model.keras")
        (tmp / "spec.json").write_text(json.dumps(record.spec, indent=2, sort_keys=True) + "\n")
        (tmp / "data_spec.json").write_text(json.dumps(dataset.data_spec(X).to_dict(), indent=2) + "\n")
        (tmp / "task_spec.json").write_text(json.dumps(dataset.task_spec_for(y).to_dict(), indent=2) + "\n")
        # metrics.json last: its presence marks the export complete.
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        old = None
        if best_dir.exists():
            old = best_dir.with_name(f".old-{best_dir.name}-{os.getpid()}")
            os.replace(best_dir, old)
        os.replace(tmp, best_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return model, metrics
