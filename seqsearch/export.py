"""Retrain the best spec, score it on the test split, and write it out atomically."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from .errors import SeqsearchError, one_line
from .study import library_versions, read_export

__all__ = ["export_best", "average_model", "export_formats", "check_formats", "check_export_target",
           "remove_stale_temps", "FORMATS"]

FORMATS = ("keras", "savedmodel", "onnx", "tflite")
# Sequences kept beside the best model so any later export can verify parity on real inputs.
PARITY_SAMPLES = 32


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
                weights=None, selection: str | None = None):
    """Rebuild each record's spec (one record, or the members of an ensemble, lead first), train
    it on train+validation for its best epoch count (or ``epochs[i]``, when --timeout shortened
    the retrain), average the members (weighted by ``weights``, chosen by ``selection``: "best"
    or "greedy"), score the result on the test split and write ``model.keras``, ``spec.json``
    and ``metrics.json``.

    Written into a temporary folder beside ``best_dir`` and renamed into place, so an
    interrupted export never leaves a half-written model that looks complete.
    """
    from search_spaces import spec_summary

    from .training import retrain, score

    records = list(records) if isinstance(records, (list, tuple)) else [records]
    record = records[0]
    started = time.perf_counter()
    models, members = [], []
    say = progress or (lambda *a, **k: None)
    plan = list(epochs) if epochs else [int(r.attrs.get("best_epoch", 0)) + 1 for r in records]
    for i, r in enumerate(records):
        epochs = plan[i]
        what = f"retraining #{r.number}" + (f" ({i + 1} of {len(records)})" if len(records) > 1 else "")
        member_started = time.perf_counter()
        say(f"{what}: epoch 0/{epochs}")

        def on_epoch(epoch, logs, what=what, epochs=epochs):
            say(f"{what}: epoch {epoch + 1}/{epochs}  loss {logs.get('loss', float('nan')):.4g}")

        models.append(retrain(r.spec, dataset, epochs=epochs, seed=seed + r.number, on_epoch=on_epoch))
        say(f"{what}: {epochs} epochs in {time.perf_counter() - member_started:.1f} s", always=True)
        members.append({"trial": r.number, "summary": spec_summary(r.spec), "val_loss": r.value,
                        "retrain_epochs": epochs})
    if weights is not None and len(records) > 1:
        total = float(sum(weights))
        weights = [round(float(w) / total, 6) for w in weights]
        for m, w in zip(members, weights):
            m["weight"] = w
    model = average_model(models, weights)
    X, y = dataset.train_val
    task_spec = dataset.task_spec_for(y, X)
    say(f"scoring on the test split ({len(dataset.X_test)} sequences) ...", always=True)
    test = score(model, dataset.X_test, dataset.y_test, task_spec)
    summary = members[0]["summary"]
    if len(records) > 1 and "weight" in members[0] and len({m["weight"] for m in members}) > 1:
        summary = f"weighted average of {len(records)}: " + " | ".join(
            f"{m['weight']:.2f} x {m['summary']}" for m in members)
    elif len(records) > 1:
        summary = f"average of {len(records)}: " + " | ".join(m["summary"] for m in members)
    metrics = {
        "study": study,
        "trial": record.number,
        "summary": summary,
        "task": dataset.task_spec.kind,
        "val_loss": record.value,
        "val_metrics": record.attrs.get("metrics", {}),
        "retrain_epochs": members[0]["retrain_epochs"],
        "retrain_seconds": round(time.perf_counter() - started, 3),
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
    if selection is not None:
        metrics["ensemble_selection"] = selection
    if dataset.framing:
        metrics["dataset"]["framing"] = dataset.framing
    if dataset.pairs:
        metrics["dataset"]["pairs"] = dict(dataset.pairs)
    token_model = None
    if dataset.test_texts is not None:  # text and pairs: the deployable model takes raw strings
        from .data.text import source_model, text_model

        token_model = model
        if dataset.text:
            model = text_model(token_model, dataset.vocabulary, dataset.text["length"])
            metrics["dataset"]["text"] = dict(dataset.text)
        else:
            model = source_model(token_model, dataset.vocabulary, dataset.pairs["source_length"],
                                 dataset.pairs["source_tokens"])
        metrics["input_shape"], metrics["input_dtype"] = [None], "string"
    if task_spec.kind == "forecasting":
        from .data.forecast import forecast_metrics, seasonal_naive

        naive = seasonal_naive(dataset.X_test, task_spec.n_outputs, task_spec.output_steps, task_spec.season)
        metrics["baseline"] = {"method": "seasonal_naive", "season": task_spec.season,
                               **forecast_metrics(naive, dataset.y_test)}
    best_dir = Path(best_dir)
    best_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(best_dir.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".best-{os.getpid()}-", dir=best_dir.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the export is for others to read
    try:
        model.save(tmp / "model.keras")
        import numpy as np

        if token_model is not None:  # raw texts for the string model, token ids for ONNX/TFLite
            token_model.save(tmp / "token_model.keras")
            np.save(tmp / "sample_input.npy", np.asarray(dataset.test_texts[:PARITY_SAMPLES]).astype(str))
            np.save(tmp / "sample_tokens.npy", dataset.X_test[:PARITY_SAMPLES])
        else:
            np.save(tmp / "sample_input.npy", dataset.X_test[:PARITY_SAMPLES])
        # An ensemble's spec.json lists its members' specs (best first): `--specs` replays them.
        specs = record.spec if len(records) == 1 else [r.spec for r in records]
        (tmp / "spec.json").write_text(json.dumps(specs, indent=2, sort_keys=True) + "\n")
        (tmp / "data_spec.json").write_text(json.dumps(dataset.data_spec(X).to_dict(), indent=2) + "\n")
        (tmp / "task_spec.json").write_text(json.dumps(task_spec.to_dict(), indent=2) + "\n")
        # metrics.json last: its presence marks the export complete.
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        _atomic_replace(tmp, best_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return model, metrics


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


# What an export folder may hold besides its formats: a folder with anything else is not
# (only) seqsearch's, and replacing it would delete the user's files.
_EXPORT_FILES = {"manifest.json", "spec.json", "metrics.json", "data_spec.json", "task_spec.json", "vocabulary.json"}


def check_export_target(out_dir: Path) -> None:
    """``--out``: a new folder, an empty one, or an earlier seqsearch export holding nothing but
    what that export wrote (it is replaced atomically). Anything else is refused before any work."""
    out_dir = Path(out_dir)
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise ExportError(f"--out {str(out_dir)!r} exists and is not a folder; pass a new folder")
    if not out_dir.exists():
        parent = out_dir.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ExportError(f"--out {str(out_dir)!r} cannot be created: {str(parent)!r} is not writable")
        return
    if not os.access(out_dir.parent, os.W_OK | os.X_OK):
        raise ExportError(f"--out {str(out_dir)!r} cannot be replaced: {str(out_dir.parent)!r} is not writable")
    names = {p.name for p in out_dir.iterdir()}
    if not names:
        return
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text())
        owned = set(manifest.get("files") or []) | _EXPORT_FILES | {f["path"] for f in manifest["formats"].values()}
        ours = isinstance(manifest.get("versions"), dict) and names <= owned
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        ours = False
    if not ours:
        raise ExportError(
            f"--out {str(out_dir)!r} already exists and holds files seqsearch did not write (it is not an earlier "
            "seqsearch export); pass a new or empty folder: export replaces only its own exports"
        )


def _atomic_replace(tmp: Path, dest: Path):
    old = None
    if dest.exists():
        old = dest.with_name(f".old-{dest.name}-{os.getpid()}")
        os.replace(dest, old)
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_keras(model, tmp):
    path = tmp / "model.keras"
    model.save(path)
    return path


def _predict(model, X):
    if X.dtype.kind in "US":
        from .data.text import predict_texts

        return predict_texts(model, X)
    return model.predict(X, verbose=0)


def _run_keras(path, X):
    from . import load_model

    return _predict(load_model(path), X)


def _write_savedmodel(model, tmp):
    path = tmp / "savedmodel"
    model.export(str(path), format="tf_saved_model", verbose=False)
    return path


def _run_savedmodel(path, X):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # keep a reference: its variables die with it
    return loaded.serve(X).numpy()


def _write_onnx(model, tmp):
    try:
        import onnx  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError:
        raise ExportError("ONNX export needs onnx and tf2onnx, which install with seqsearch: pip install onnx tf2onnx") from None
    import warnings

    path = tmp / "model.onnx"
    with warnings.catch_warnings():
        # Keras' ONNX bridge probes np.object, which numpy answers with a FutureWarning.
        warnings.simplefilter("ignore", FutureWarning)
        model.export(str(path), format="onnx", verbose=False)
    return path


def _run_onnx(path, X):
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError("checking the ONNX export needs onnxruntime, which installs with seqsearch: pip install onnxruntime") from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ExportError(f"the ONNX graph asks for {len(inputs)} inputs ({', '.join(i.name for i in inputs)}), not one sequence")
    return session.run(None, {inputs[0].name: X})[0]


def _write_tflite(model, tmp):
    import tensorflow as tf

    import keras

    saved = tmp / ".tflite-savedmodel"
    # Batch size 1, static: TFLite lowers the recurrent loops to built-in ops only when every
    # shape is known (a dynamic batch leaves TensorList ops that need Flex). One sequence per
    # call is how TFLite models are served on devices anyway.
    spec = keras.InputSpec(shape=(1, *model.input_shape[1:]), dtype="float32")
    model.export(str(saved), format="tf_saved_model", verbose=False, input_signature=[spec])
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    # Built-in ops only: a model that needs TensorFlow's own kernels (Flex) would not run on a
    # plain TFLite runtime, and its parity could not be checked here.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    path = tmp / "model.tflite"
    try:
        path.write_bytes(converter.convert())
    except Exception as e:  # noqa: BLE001
        text = str(e)
        if "Select TensorFlow op" in text or "Flex" in text or "not supported" in text:
            raise ExportError(
                "tflite: this architecture needs TensorFlow ops outside the TFLite built-ins (Flex), which a "
                "plain TFLite runtime cannot run; export it without tflite"
            ) from None
        raise
    finally:
        shutil.rmtree(saved, ignore_errors=True)
    return path


def _run_tflite(path, X):
    import warnings

    import numpy as np

    import tensorflow as tf

    from ._backend import native_stderr_without

    # The runtime announces its CPU delegate on stderr ("INFO: Created TensorFlow Lite XNNPACK
    # delegate for CPU."): not something to act on.
    with native_stderr_without("INFO: Created TensorFlow Lite XNNPACK delegate"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the deprecation notice of tf.lite.Interpreter
            interpreter = tf.lite.Interpreter(model_path=str(path))
        inp = interpreter.get_input_details()[0]
        out = interpreter.get_output_details()[0]
        interpreter.allocate_tensors()
        preds = []
        for x in X:  # the model takes one sequence per call
            interpreter.set_tensor(inp["index"], x[None])
            interpreter.invoke()
            preds.append(interpreter.get_tensor(out["index"])[0])
    return np.stack(preds)


_WRITERS = {"keras": _write_keras, "savedmodel": _write_savedmodel, "onnx": _write_onnx, "tflite": _write_tflite}
_RUNNERS = {
    "keras": ("keras", _run_keras), "savedmodel": ("tensorflow.saved_model", _run_savedmodel),
    "onnx": ("onnxruntime", _run_onnx), "tflite": ("tf.lite.Interpreter", _run_tflite),
}


class ExportError(SeqsearchError):
    """A format could not be written, or its predictions differ from the Keras model's."""


def check_formats(formats) -> list[str]:
    """``--format``: known formats, at least one."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ExportError(f"--format {one_line(','.join(formats), 80)!r}: choose from {', '.join(FORMATS)}")
    return list(formats)


def export_formats(best_dir, out_dir, formats=FORMATS, tolerance: float = 1e-4) -> dict:
    """Write ``formats`` of the model in ``best_dir`` to ``out_dir`` with ``manifest.json``.

    Every format is loaded back with its own runtime and its predictions on stored test
    sequences are compared with the Keras model's; a difference above ``tolerance`` (absolute
    for values within +-1, relative to the value beyond) fails the export, naming the format and the difference. Written to a temporary folder and renamed
    into place, so a failed or interrupted export leaves the previous one intact.
    """
    import numpy as np

    from . import load_model

    best_dir, out_dir = Path(best_dir), Path(out_dir)
    check_formats(formats)
    metrics = read_export(best_dir)
    sample = best_dir / "sample_input.npy"
    if metrics is None or not sample.is_file():
        raise ExportError(f"no complete best model in {str(best_dir)!r}; run `seqsearch run` for this study first")
    model = load_model(best_dir / "model.keras")
    X = np.load(sample)
    text = (best_dir / "token_model.keras").is_file()
    if text:
        # Strings in Keras and SavedModel; ONNX and TFLite have no string ops for the
        # tokeniser: they get the token model and the same texts' token ids.
        token_model = load_model(best_dir / "token_model.keras")
        tokens = np.load(best_dir / "sample_tokens.npy").astype("float32")
        token_model(tokens[:1])
    else:
        X = X.astype("float32")
        model(X[:1])  # a loaded model must be called once before ONNX export
    reference = np.asarray(_predict(model, X))
    check_export_target(out_dir)  # again: the folder may have changed since the command started
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out_dir.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".export-{os.getpid()}-", dir=out_dir.parent))
    os.chmod(tmp, 0o755)
    manifest_formats = {}
    try:
        for fmt in formats:
            try:
                by_tokens = text and fmt in ("onnx", "tflite")
                path = _WRITERS[fmt](token_model if by_tokens else model, tmp)
                runtime, run = _RUNNERS[fmt]
                pred = np.asarray(run(path, tokens if by_tokens else X))
            except ExportError:
                raise
            except Exception as e:  # noqa: BLE001 - converter errors are long; keep their first line
                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
                raise ExportError(f"{fmt} export failed for this architecture ({metrics.get('summary')}): {first}") from None
            if pred.shape != reference.shape:
                raise ExportError(f"{fmt} export predicts shape {pred.shape}, the Keras model {reference.shape}")
            # Absolute below 1, relative above: float32 rounding grows with the values' size.
            diff = float(np.max(np.abs(pred - reference) / np.maximum(1.0, np.abs(reference))))
            if not diff <= tolerance:
                raise ExportError(
                    f"{fmt} export differs from the Keras model by {diff:.2e} (tolerance {tolerance:g}) "
                    f"on {len(X)} test sequences; nothing was written"
                )
            manifest_formats[fmt] = {"path": path.name, "runtime": runtime, "max_abs_diff": diff}
            if text:
                manifest_formats[fmt]["input"] = (
                    "token ids and mask (batch, steps, 2) from the TextVectorization vocabulary in vocabulary.json"
                    if by_tokens else "raw strings (batch,)")
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
            "input": _input_text(metrics, spec),
            "output": _output_text(metrics),
            "classes": metrics.get("classes", []),
            "metrics": {"test": metrics["test"], "val_loss": metrics["val_loss"]},
            "parity": {"samples": int(len(X)), "tolerance": tolerance},
            "formats": manifest_formats,
            "versions": library_versions(),
        }
        manifest["files"] = sorted(p.name for p in tmp.iterdir()) + ["manifest.json"]
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        _atomic_replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _input_text(metrics, spec) -> dict:
    text = (metrics.get("dataset") or {}).get("text")
    pairs = (metrics.get("dataset") or {}).get("pairs")
    if pairs and metrics.get("input_dtype") == "string":
        return {"name": "source", "shape": [None], "dtype": "string", "raw": True,
                "preprocessing": f"split into {pairs['source_tokens']} inside the model (no other change), token ids "
                                 f"from a vocabulary of {pairs['source_vocabulary']}, the first "
                                 f"{pairs['source_length']} tokens kept; the output is per-step probabilities over "
                                 "'classes', up to the <end> token"}
    if text:
        return {"name": "text", "shape": [None], "dtype": "string", "raw": True,
                "preprocessing": f"TextVectorization inside the model (lower case, punctuation stripped, split on "
                                 f"whitespace, a vocabulary of {text['vocabulary_size']} tokens, the first {text['length']} tokens kept)"}
    out = {"name": "sequence", "shape": metrics["input_shape"], "dtype": metrics["input_dtype"], "raw": True,
           "preprocessing": _preprocessing_text(spec)}
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
        "global": "per-feature standardisation with the training split's mean and deviation (inside the model)",
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
