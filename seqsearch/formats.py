"""Converting the exported model to the deployment formats (Keras file, SavedModel, ONNX,
TFLite), each checked for parity with the Keras model on real inputs, written whole into
the export folder with a manifest of what each file takes and answers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .errors import SeqsearchError, one_line
from .export import atomic_replace, temp_beside
from .manifest import write_manifest
from .study import read_export

__all__ = ["FORMATS", "export_formats", "check_formats", "check_export_target", "ExportError"]


FORMATS = ("keras", "savedmodel", "onnx", "tflite")



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


def _write_keras(model, tmp):
    path = tmp / "model.keras"
    model.save(path)
    return path


def _run_keras(path, X):
    from .model_file import load_model

    model = load_model(path)
    io = {"inputs": [_tensor(t.name, t.shape, t.dtype) for t in model.inputs],
          "outputs": [_tensor(t.name, t.shape, t.dtype) for t in model.outputs], "batch": "any"}
    return _predict(model, X), io


def _predict(model, X):
    """The Keras model's predictions for ``X``: an array, or {name: array} for named inputs."""
    from .data.text import predict_any

    return predict_any(model, X)


def _tensor(name, shape, dtype) -> dict:
    """A tensor as the manifest lists it: name, shape (None where any size goes), dtype."""
    dims = [None if d is None or isinstance(d, str) or (isinstance(d, int) and d < 0) else int(d)
            for d in (list(shape) if shape is not None else [])]
    return {"name": str(name), "shape": dims, "dtype": str(getattr(dtype, "name", dtype))}


def _write_savedmodel(model, tmp):
    path = tmp / "savedmodel"
    model.export(str(path), format="tf_saved_model", verbose=False)
    return path


def _run_savedmodel(path, X):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # keep a reference: its variables die with it
    signature = loaded.signatures["serving_default"]
    io = {"signature": "serving_default (or the serve() endpoint)",
          "inputs": [_tensor(k, v.shape, v.dtype) for k, v in signature.structured_input_signature[1].items()],
          "outputs": [_tensor(k, v.shape, v.dtype) for k, v in signature.structured_outputs.items()],
          "batch": "any"}
    return loaded.serve(X).numpy(), io


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
    want = sorted(X) if isinstance(X, dict) else ["one sequence"]
    if len(inputs) != len(want) or (isinstance(X, dict) and sorted(i.name for i in inputs) != want):
        raise ExportError(f"the ONNX graph asks for {len(inputs)} inputs ({', '.join(i.name for i in inputs)}), "
                          f"not {', '.join(want)}")
    import onnx

    opset = next((o.version for o in onnx.load(str(path), load_external_data=False).opset_import
                  if o.domain in ("", "ai.onnx")), None)
    io = {"inputs": [_tensor(i.name, i.shape, i.type) for i in inputs],
          "outputs": [_tensor(o.name, o.shape, o.type) for o in session.get_outputs()],
          "batch": "any", "opset": opset}
    feed = dict(X) if isinstance(X, dict) else {inputs[0].name: X}
    return session.run(None, feed)[0], io


def _write_tflite(model, tmp):
    import tensorflow as tf

    import keras

    saved = tmp / ".tflite-savedmodel"
    # Batch size 1, static: TFLite lowers the recurrent loops to built-in ops only when every
    # shape is known (a dynamic batch leaves TensorList ops that need Flex). One sequence per
    # call is how TFLite models are served on devices anyway.
    if len(model.inputs) > 1:  # named inputs
        spec = {t.name: keras.InputSpec(shape=(1, *t.shape[1:]), dtype="float32", name=t.name) for t in model.inputs}
    else:
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
        if isinstance(X, dict):  # named inputs, through the signature that names them
            runner = interpreter.get_signature_runner()
            for i in range(len(next(iter(X.values())))):
                answer = runner(**{name: a[i:i + 1] for name, a in X.items()})
                preds.append(next(iter(answer.values()))[0])
        for x in () if isinstance(X, dict) else X:  # the model takes one sequence per call
            interpreter.set_tensor(inp["index"], x[None])
            interpreter.invoke()
            preds.append(interpreter.get_tensor(out["index"])[0])
    io = {"inputs": [_tensor(d["name"], d["shape"], np.dtype(d["dtype"])) for d in interpreter.get_input_details()],
          "outputs": [_tensor(d["name"], d["shape"], np.dtype(d["dtype"])) for d in interpreter.get_output_details()],
          "batch": 1}
    return np.stack(preds), io


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

    from .model_file import load_model

    best_dir, out_dir = Path(best_dir), Path(out_dir)
    check_formats(formats)
    metrics = read_export(best_dir)
    sample = next((p for p in (best_dir / "sample_input.npy", best_dir / "sample_input.npz") if p.is_file()), None)
    if metrics is None or sample is None:
        raise ExportError(f"no complete best model in {str(best_dir)!r}; run `seqsearch run` for this study first")
    model = load_model(best_dir / "model.keras")
    if sample.suffix == ".npz":  # named inputs
        with np.load(sample) as archive:
            X = {name: archive[name].astype("float32") for name in archive.files}
    else:
        X = np.load(sample)
    text = (best_dir / "token_model.keras").is_file()
    if text:
        # Strings in Keras and SavedModel; ONNX and TFLite have no string ops for the
        # tokeniser: they get the token model and the same texts' token ids.
        token_model = load_model(best_dir / "token_model.keras")
        tokens = np.load(best_dir / "sample_tokens.npy").astype("float32")
        token_model(tokens[:1])
    elif isinstance(X, dict):
        model({name: a[:1] for name, a in X.items()})  # a loaded model must be called once before ONNX export
    else:
        X = X.astype("float32")
        model(X[:1])
    reference = np.asarray(_predict(model, X))
    check_export_target(out_dir)  # again: the folder may have changed since the command started
    tmp = temp_beside(out_dir, "export")
    try:
        manifest_formats = {}
        for fmt in formats:
            by_tokens = text and fmt in ("onnx", "tflite")
            diff, path, runtime, io = _write_checked(fmt, token_model if by_tokens else model,
                                                     tokens if by_tokens else X, reference, tmp, tolerance,
                                                     metrics.get("summary"))
            manifest_formats[fmt] = {"path": path.name, "runtime": runtime, "max_abs_diff": diff, **io}
            if text:
                manifest_formats[fmt]["input"] = (
                    "token ids and mask (batch, steps, 2) from the TextVectorization vocabulary in vocabulary.json"
                    if by_tokens else "raw strings (batch,)")
        manifest = write_manifest(best_dir, tmp, metrics, manifest_formats, len(reference), tolerance)
        atomic_replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _write_checked(fmt, model, X, reference, tmp, tolerance, summary):
    """One format written into ``tmp`` and run by its own runtime on ``X``: (the largest
    difference from the Keras model's ``reference``, its path, the runtime's name, its input
    and output tensors as the runtime sees them)."""
    import numpy as np

    try:
        path = _WRITERS[fmt](model, tmp)
        runtime, run = _RUNNERS[fmt]
        pred, io = run(path, X)
        pred = np.asarray(pred)
    except ExportError:
        raise
    except Exception as e:  # noqa: BLE001 - converter errors are long; keep their first line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise ExportError(f"{fmt} export failed for this architecture ({summary}): {first}") from None
    if pred.shape != reference.shape:
        raise ExportError(f"{fmt} export predicts shape {pred.shape}, the Keras model {reference.shape}")
    # Absolute below 1, relative above: float32 rounding grows with the values' size.
    diff = float(np.max(np.abs(pred - reference) / np.maximum(1.0, np.abs(reference))))
    if not diff <= tolerance:
        raise ExportError(
            f"{fmt} export differs from the Keras model by {diff:.2e} (tolerance {tolerance:g}) "
            f"on {len(reference)} test sequences; nothing was written"
        )
    return diff, path, runtime, io
