"""The best model, exported: its trials retrained on train+validation (an average of several when
the search picked an ensemble), scored on the test split, and written atomically to the
study's best/ folder with its spec, metrics and parity samples. Converting it to deployment
formats is ``formats``."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from .data.kinds import get_kind
from .study import library_versions

__all__ = ["export_best", "average_model", "remove_stale_temps", "atomic_replace", "temp_beside", "PARITY_SAMPLES",
           "PARTS_FILE"]

# Sequences kept beside the best model so any later export can verify parity on real inputs.
PARITY_SAMPLES = 32
# Beside the best model: every model it averages (in order), with its weight in the average and
# the spec, DataSpec and TaskSpec it was built with (its own scaling constants): what a
# streaming export rebuilds each one from.
PARTS_FILE = "parts.json"


def average_model(members, weights=None):
    """One Keras model that feeds its input to every member and averages their outputs (class
    probabilities, values or forecasts, in the task's own units), weighted by ``weights`` (which
    sum to 1) when they differ: it saves as one .keras file and exports to every format like a
    single model (Keras' own layers only)."""
    import keras

    if len(members) == 1:
        return members[0]
    inputs = keras.Input(shape=members[0].input_shape[1:], dtype=members[0].inputs[0].dtype, name="sequence")
    # Each member renamed: every retrain starts a fresh Keras session, so their names collide.
    outs = [keras.Model(m.input, m.output, name=f"member_{i}")(inputs) for i, m in enumerate(members)]
    if weights is None or len(set(weights)) == 1:
        return keras.Model(inputs, keras.layers.Average(name="average")(outs), name="ensemble")
    scaled = [keras.layers.Rescaling(float(w), name=f"weight_{i}")(o) for i, (o, w) in enumerate(zip(outs, weights))]
    return keras.Model(inputs, keras.layers.Add(name="average")(scaled), name="ensemble")


def export_best(records, dataset, *, seed: int, best_dir: Path, study: str, progress=None, epochs=None,
                weights=None, selection: str | None = None, fold_weights=None, folds: int = 1, fold_seed: int = 0):
    """Rebuild each record's spec (one record, or the members of an ensemble, lead first), train
    it on train+validation for its best epoch count (or ``epochs[i]``, when --timeout shortened
    the retrain), average the members (weighted by ``weights``, chosen by ``selection``: "best"
    or "greedy"), score the result on the test split and write ``model.keras``, ``spec.json``
    and ``metrics.json``. A member in ``fold_weights`` ({trial: its folds' weights}, of
    ``folds`` folds dealt with ``fold_seed``) is not retrained: its fold models are rebuilt
    and averaged, each with an equal part of its weight.

    Written into a temporary folder beside ``best_dir`` and renamed into place, so an
    interrupted export never leaves a half-written model that looks complete.
    """
    from .training import score

    records = list(records) if isinstance(records, (list, tuple)) else [records]
    started = time.perf_counter()
    say = progress or (lambda *a, **k: None)
    plan = list(epochs) if epochs else [int(r.attrs.get("best_epoch", 0)) + 1 for r in records]
    models, members, parts = [], [], []  # parts: how many models each member adds to the average
    built, whole = [], None  # each model's spec, DataSpec and TaskSpec (what rebuilds it: streaming)
    X, y = dataset.train_val
    for i, r in enumerate(records):
        if r.number in (fold_weights or {}):
            specs = []
            member_models, member = _fold_member(r, dataset, fold_weights[r.number], folds, fold_seed, seed, say, specs)
        else:
            what = f"retraining #{r.number}" + (f" ({i + 1} of {len(records)})" if len(records) > 1 else "")
            member_models, member = _retrained_member(r, dataset, plan[i], seed, what, say)
            specs = [whole or (dataset.data_spec(X), dataset.task_spec_for(y, X))]
            whole = specs[0]
        built += [(r, data_spec, task_spec) for data_spec, task_spec in specs]
        models += member_models
        members.append(member)
        parts.append(len(member_models))
    if weights is not None and len(records) > 1:
        total = float(sum(weights))
        weights = [round(float(w) / total, 6) for w in weights]
        for m, w in zip(members, weights):
            m["weight"] = w
    # One weight per model: a member's fold models share its weight equally.
    member_weights = weights if weights is not None and len(records) > 1 else [1.0 / len(records)] * len(records)
    model_weights = [w / n for w, n in zip(member_weights, parts) for _ in range(n)]
    model = average_model(models, model_weights)
    task_spec = dataset.task_spec_for(y, X)
    say(f"scoring on the test split ({len(dataset.X_test)} sequences) ...", always=True)
    test = score(model, dataset.X_test, dataset.y_test, task_spec, kind=dataset.kind)
    metrics = _metrics(records, members, dataset, model, test, study, selection, time.perf_counter() - started)
    # The data kind's facts (what predict needs to read a new file), and the model it deploys:
    # text and pairs take raw strings, the trained model inside (kept for ONNX and TFLite).
    kind = get_kind(dataset.kind)
    metrics["dataset"]["kind"] = kind.name
    kind.annotate_export(dataset, metrics)
    token_model = model if kind.raw_strings else None
    model = kind.deployable(dataset, model)
    files = {"spec.json": records[0].spec if len(records) == 1 else [r.spec for r in records],
             "data_spec.json": dataset.data_spec(X).to_dict(), "task_spec.json": task_spec.to_dict(),
             PARTS_FILE: [{"trial": r.number, "weight": round(w, 6), "spec": r.spec, "data_spec": d.to_dict(),
                           "task_spec": t.to_dict()} for (r, d, t), w in zip(built, model_weights)]}
    _write_best(Path(best_dir), model, token_model, kind.parity_samples(dataset, PARITY_SAMPLES), files, metrics)
    return model, metrics


def _fold_member(r, dataset, trained, folds, fold_seed, seed, say, specs):
    """A member's fold models rebuilt from their weights (no training), and its record;
    ``specs`` gets each fold model's (DataSpec, TaskSpec)."""
    from search_spaces import spec_summary

    from .fold_models import build_fold_model

    started = time.perf_counter()
    models = [build_fold_model(r.spec, dataset, f, folds, fold_seed, w, seed + r.number, specs)
              for f, w in enumerate(trained)]
    say(f"#{r.number}: {len(trained)} fold models rebuilt in {time.perf_counter() - started:.1f} s", always=True)
    return models, {"trial": r.number, "summary": spec_summary(r.spec), "val_loss": r.value, "retrain_epochs": 0,
                    "fold_models": len(trained), "fold_epochs": list(r.attrs.get("fold_epochs", []))[:len(trained)]}


def _retrained_member(r, dataset, epochs, seed, what, say):
    """A member retrained on train+validation for ``epochs``, and its record."""
    from search_spaces import spec_summary

    from .training import retrain

    started = time.perf_counter()
    say(f"{what}: epoch 0/{epochs}")

    def on_epoch(epoch, logs):
        say(f"{what}: epoch {epoch + 1}/{epochs}  loss {logs.get('loss', float('nan')):.4g}")

    model = retrain(r.spec, dataset, epochs=epochs, seed=seed + r.number, on_epoch=on_epoch)
    say(f"{what}: {epochs} epochs in {time.perf_counter() - started:.1f} s", always=True)
    return [model], {"trial": r.number, "summary": spec_summary(r.spec), "val_loss": r.value, "retrain_epochs": epochs}


def _summary(members) -> str:
    """The export's one-line description: its model, or the (weighted) average of its members."""
    def label(m):
        return f"{m['summary']} ({m['fold_models']} folds)" if m.get("fold_models") else m["summary"]

    if len(members) > 1 and "weight" in members[0] and len({m["weight"] for m in members}) > 1:
        return f"weighted average of {len(members)}: " + " | ".join(f"{m['weight']:.2f} x {label(m)}" for m in members)
    if len(members) > 1:
        return f"average of {len(members)}: " + " | ".join(label(m) for m in members)
    return label(members[0])


def _metrics(records, members, dataset, model, test, study, selection, seconds) -> dict:
    """What ``metrics.json`` records of the export (the data kind adds its own facts)."""
    record = records[0]
    metrics = {
        "study": study,
        "trial": record.number,
        "summary": _summary(members),
        "task": dataset.task_spec.kind,
        "val_loss": record.value,
        "val_metrics": record.attrs.get("metrics", {}),
        "retrain_epochs": members[0]["retrain_epochs"],
        "retrain_seconds": round(seconds, 3),
        "n_params": int(model.count_params()),
        "test": test,
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint(), "n_test": len(dataset.X_test),
                    "fillna": dataset.fillna},
        "classes": list(dataset.task_spec.classes),
        "input_shape": [None, int(dataset.X_train.shape[1]), int(dataset.X_train.shape[2])],
        "input_dtype": "float32",
        "masked": dataset.masked,
        "versions": library_versions(),
    }
    if len(records) > 1:
        metrics["ensemble"] = members
    elif members[0].get("fold_models"):
        metrics["fold_models"], metrics["fold_epochs"] = members[0]["fold_models"], members[0]["fold_epochs"]
    if selection is not None:
        metrics["ensemble_selection"] = selection
    return metrics


def _write_best(best_dir: Path, model, token_model, samples: dict, files: dict, metrics: dict) -> None:
    """The export written into a temporary folder beside ``best_dir`` and renamed into place;
    ``metrics.json`` last (its presence marks the export complete)."""
    import numpy as np

    tmp = temp_beside(best_dir, "best")
    try:
        model.save(tmp / "model.keras")
        if token_model is not None:  # the token model, for ONNX/TFLite
            token_model.save(tmp / "token_model.keras")
        for name, sample in samples.items():
            if isinstance(sample, dict):  # a model of named inputs
                np.savez(tmp / name, **sample)
            else:
                np.save(tmp / name, sample)
        # An ensemble's spec.json lists its members' specs (best first): `--specs` replays them.
        (tmp / "spec.json").write_text(json.dumps(files["spec.json"], indent=2, sort_keys=True) + "\n")
        for name in ("data_spec.json", "task_spec.json", PARTS_FILE):
            (tmp / name).write_text(json.dumps(files[name], indent=2) + "\n")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        atomic_replace(tmp, best_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def temp_beside(dest: Path, kind: str) -> Path:
    """A new temporary folder beside ``dest`` (``.<kind>-<pid>-*``, readable by others) that an
    export is written into before it replaces ``dest``; what killed exports left there goes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(dest.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{kind}-{os.getpid()}-", dir=dest.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the export is for others to read
    return tmp


_TEMP_RE = re.compile(r"^\.(?:best|export)-(\d+)-.+$|^\.old-.+-(\d+)$")


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove the temporary folders that a killed export left in ``folder``: only seqsearch's own
    names (``.best-<pid>-*``, ``.export-<pid>-*``, ``.old-<name>-<pid>``), and only when the
    process that made them is gone."""
    from .engines.base import pid_alive

    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if not m or not entry.is_dir() or entry.is_symlink():
            continue
        pid = int(m.group(1) or m.group(2))
        if pid == os.getpid() or pid_alive(pid):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def atomic_replace(tmp: Path, dest: Path):
    old = None
    if dest.exists():
        old = dest.with_name(f".old-{dest.name}-{os.getpid()}")
        os.replace(dest, old)
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
