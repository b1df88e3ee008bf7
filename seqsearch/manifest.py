"""The export folder's ``manifest.json``: what each file is and takes (per format: its input and
output tensors, batch limit, runtime, parity), the model's preprocessing and outputs in words,
the ensemble's members, and a SHA-256 of every file."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from .data.kinds import kind_of_export
from .study import library_versions

__all__ = ["write_manifest", "manifest_input", "file_hashes"]


def write_manifest(best_dir, tmp, metrics, manifest_formats, samples, tolerance) -> dict:
    """The export's records copied beside the formats, the vocabulary for token-fed runtimes,
    and ``manifest.json``: what each file is, how to feed it (tensor names and shapes per
    format, batch limits, the ONNX opset), its parity, the ensemble's members and every file's
    SHA-256."""
    for name in ("spec.json", "metrics.json", "data_spec.json", "task_spec.json"):
        if (best_dir / name).is_file():
            shutil.copy2(best_dir / name, tmp / name)
    vocab = json.loads((best_dir / "data_spec.json").read_text()).get("vocabulary", [])
    if vocab:  # text and seq2seq pairs: the token ids' meaning, for runtimes fed token ids
        (tmp / "vocabulary.json").write_text(json.dumps(vocab) + "\n")
    spec = json.loads((best_dir / "spec.json").read_text())
    manifest = {
        "study": metrics.get("study"),
        "task": metrics["task"],
        "architecture": metrics.get("summary"),
        "input": manifest_input(metrics, spec),
        "output": _output_text(metrics),
        "classes": metrics.get("classes", []),
        "metrics": {"test": metrics["test"], "val_loss": metrics["val_loss"]},
        "parity": {"samples": int(samples), "tolerance": tolerance},
        "formats": manifest_formats,
        "versions": library_versions(),
    }
    if metrics.get("ensemble"):
        manifest["ensemble"] = [{k: m[k] for k in ("trial", "summary", "weight", "fold_models") if k in m}
                                for m in metrics["ensemble"]]
    manifest["files"] = sorted(p.name for p in tmp.iterdir()) + ["manifest.json"]
    manifest["sha256"] = file_hashes(tmp)
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def manifest_input(metrics, spec) -> dict:
    """The manifest's "input" entry: the data kind's (raw strings for text and pairs), else the
    sequence tensor with the scaling the model does inside."""
    given = kind_of_export(metrics).manifest_input(metrics)
    if given is not None:
        return given
    out = {"name": "sequence", "shape": metrics["input_shape"], "dtype": metrics["input_dtype"], "raw": True,
           "preprocessing": _preprocessing_text(spec)}
    future = ((metrics.get("dataset") or {}).get("framing") or {}).get("future_cols")
    if future:
        horizon = metrics["dataset"]["framing"]["horizon"]
        out["future_block"] = (f"the last {len(future) * horizon} channels: the known-future column(s) "
                               f"{', '.join(future)} at forecast steps 1..{horizon}, step-major (data_spec.json names "
                               "them column@+step), each constant over the window's steps")
    if metrics.get("masked"):
        out["mask_channel"] = ("the last channel: 1 at observed steps, 0 at padding; sequences are right-padded with "
                               "zeros to the input's steps")
    return out


def _preprocessing_text(spec) -> str:
    if isinstance(spec, list):  # an ensemble: each member scales its own input
        texts = list(dict.fromkeys(_preprocessing_text(s) for s in spec))
        return texts[0] if len(texts) == 1 else "per member of the average: " + "; ".join(texts)
    scaling = spec.get("train.scaling")
    return {
        "global": "per-feature standardisation with the mean and deviation of the rows the model trained on (inside the model)",
        "per_series": "z-normalisation of each series over time, per feature (inside the model)",
        "none": "none: the model takes the values as they are",
    }.get(scaling, str(scaling))


def _output_text(metrics) -> str:
    task, classes = metrics["task"], metrics.get("classes") or []
    if task == "classification":
        return f"class probabilities, columns in the order of 'classes' ({len(classes)})"
    if task == "seq2seq" and classes:
        return "per-step token probabilities (batch, steps, vocabulary), vocabulary in the order of 'classes'"
    if task == "seq2seq":
        return "per-step values (batch, steps, values) in the target's units"
    if task == "forecasting":
        f = (metrics.get("dataset") or {}).get("framing") or {}
        return (f"forecast (batch, {f.get('horizon')} steps, targets {', '.join(f.get('targets', []))}) in the "
                f"targets' units, from windows of the last {f.get('lookback')} rows (targets first, then covariates)")
    return "target values in the target's units"


def file_hashes(folder: Path) -> dict:
    """SHA-256 of every file under ``folder`` (a SavedModel's files by their path inside it)."""
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            out[p.relative_to(folder).as_posix()] = h.hexdigest()
    return out

