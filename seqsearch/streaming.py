"""``seqsearch export --streaming``: the best model rebuilt to read a stream chunk by chunk with
its recurrent state carried between calls (``search_spaces.streaming``), written in each
deployment format and checked: the stored test sequences streamed through each format chunk by
chunk, from the zero state, must end where the Keras model answers on the whole sequences."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .export import PARTS_FILE, atomic_replace, temp_beside
from .formats import ExportError, check_export_target, check_formats

__all__ = ["export_streaming", "streaming_model", "stream"]

_COPIED = ("spec.json", "metrics.json", "data_spec.json", "task_spec.json")


def streaming_model(best_dir: Path):
    """The streaming model of the export in ``best_dir`` (every model it averages, each
    streaming with its own slice of the state, their outputs averaged as the export does), the
    whole-sequence model and the state's parts ``[(trial, size)]``."""
    from search_spaces import DataSpec, TaskSpec, spec_summary
    from search_spaces.streaming import build_streaming, streaming_unsupported

    from .model_file import load_model

    try:
        parts = json.loads((best_dir / PARTS_FILE).read_text())
    except (OSError, ValueError):
        raise ExportError(f"{str(best_dir)!r} has no {PARTS_FILE} (an export written before streaming existed); run "
                          "`seqsearch run` on the study again to rewrite its best model") from None
    model = load_model(best_dir / "model.keras")
    members = [model] if len(parts) == 1 else [model.get_layer(f"member_{i}") for i in range(len(parts))]
    streams, sizes = [], []
    for part, member in zip(parts, members):
        data_spec, task_spec = DataSpec.from_dict(part["data_spec"]), TaskSpec.from_dict(part["task_spec"])
        reason = streaming_unsupported(part["spec"], data_spec, task_spec)
        if reason:
            raise ExportError(f"--streaming: trial #{part['trial']} ({spec_summary(part['spec'])}) cannot stream: it "
                              f"{reason}; `seqsearch run --streamable` searches only models that can")
        built, size = build_streaming(part["spec"], data_spec, task_spec)
        _copy_weights(member, built, part["trial"])
        streams.append(built)
        sizes.append((part["trial"], size))
    return _averaged(streams, [p["weight"] for p in parts], sizes), model, sizes


def _copy_weights(trained, built, trial) -> None:
    weights = trained.get_weights()
    shapes = [tuple(v.shape) for v in built.weights]
    if [tuple(w.shape) for w in weights] != shapes:
        raise ExportError(f"--streaming: trial #{trial}'s streaming model does not match its trained weights "
                          f"({len(weights)} arrays against {len(shapes)}); report this with the study's spec.json")
    built.set_weights(weights)


def _averaged(streams, weights, sizes):
    """One streaming model of several: each reads its slice of the state; outputs averaged."""
    import keras
    from keras import ops

    if len(streams) == 1:
        return streams[0]
    first = streams[0]
    chunk = keras.Input(shape=first.input["chunk"].shape[1:], name="chunk")
    state = keras.Input(shape=(sum(n for _, n in sizes),), name="state")
    outputs, states, offset = [], [], 0
    for i, (s, (_, n)) in enumerate(zip(streams, sizes)):
        answer = keras.Model(s.input, s.output, name=f"member_{i}")({"chunk": chunk, "state": state[:, offset:offset + n]})
        offset += n
        outputs.append(keras.layers.Rescaling(float(weights[i]), name=f"weight_{i}")(answer["output"]))
        states.append(answer["next_state"])
    output = keras.layers.Add(name="average")(outputs)
    return keras.Model({"chunk": chunk, "state": state}, {"output": output, "next_state": ops.concatenate(states, -1)},
                       name="ensemble_streaming")


def stream(step, X, chunk: int, state_size: int):
    """Feed ``X`` (n, steps, features) to ``step(chunk, state) -> (output, next_state)`` chunk
    by chunk from the zero state; the last output."""
    import numpy as np

    state = np.zeros((len(X), state_size), np.float32)
    output = None
    for start in range(0, X.shape[1], chunk):
        output, state = step(np.ascontiguousarray(X[:, start:start + chunk]), state)
    return np.asarray(output)


def _keras(model, path, chunk, n_features, state_size):
    import numpy as np

    from .model_file import load_model

    model.save(path / "model.keras")
    loaded = load_model(path / "model.keras")

    def step(c, s):
        answer = loaded({"chunk": c, "state": s})
        return np.asarray(answer["output"]), np.asarray(answer["next_state"])

    return "model.keras", "keras", step, "any"


def _savedmodel(model, path, chunk, n_features, state_size):
    import numpy as np
    import tensorflow as tf

    model.export(str(path / "savedmodel"), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(path / "savedmodel"))

    def step(c, s):
        answer = loaded.serve({"chunk": c, "state": s})
        return np.asarray(answer["output"]), np.asarray(answer["next_state"])

    step.keep = loaded  # its variables live as long as the function
    return "savedmodel", "tensorflow.saved_model", step, "any"


def _onnx(model, path, chunk, n_features, state_size):
    import logging
    import warnings

    import onnxruntime as ort

    converter_log = logging.getLogger("tf2onnx")
    level = converter_log.level
    converter_log.setLevel(logging.ERROR)  # its notes on the state's variable ops are not the user's business
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            model.export(str(path / "model.onnx"), format="onnx", verbose=False)
    finally:
        converter_log.setLevel(level)
    session = ort.InferenceSession(str(path / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    def step(c, s):
        answer = dict(zip(names, session.run(None, {"chunk": c, "state": s})))
        return answer["output"], answer["next_state"]

    return "model.onnx", "onnxruntime", step, "any"


def _tflite(model, path, chunk, n_features, state_size):
    import warnings

    import keras
    import numpy as np
    import tensorflow as tf

    from ._backend import native_stderr_without

    saved = path / ".tflite-savedmodel"
    spec = {"chunk": keras.InputSpec(shape=(1, chunk, n_features), dtype="float32", name="chunk"),
            "state": keras.InputSpec(shape=(1, state_size), dtype="float32", name="state")}
    model.export(str(saved), format="tf_saved_model", verbose=False, input_signature=[spec])
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        (path / "model.tflite").write_bytes(converter.convert())
    finally:
        shutil.rmtree(saved, ignore_errors=True)
    with native_stderr_without("INFO: Created TensorFlow Lite XNNPACK delegate"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runner = tf.lite.Interpreter(model_path=str(path / "model.tflite")).get_signature_runner()
        runner(chunk=np.zeros((1, chunk, n_features), np.float32), state=np.zeros((1, state_size), np.float32))

    def step(c, s):
        answers = [runner(chunk=c[i:i + 1], state=s[i:i + 1]) for i in range(len(c))]
        return (np.concatenate([a["output"] for a in answers]), np.concatenate([a["next_state"] for a in answers]))

    return "model.tflite", "tf.lite.Interpreter", step, chunk


_FORMATS = {"keras": _keras, "savedmodel": _savedmodel, "onnx": _onnx, "tflite": _tflite}


def check_chunk(chunk: int, timesteps: int, masked: bool) -> int:
    """``--chunk``: steps per call, at least 1; unless the model reads padded sequences, a
    divisor of its sequences' steps (the parity check streams them, and TFLite's chunk is fixed)."""
    if chunk < 1:
        raise ExportError(f"--chunk must be 1 or more steps, got {chunk}")
    if not masked and timesteps % chunk:
        divisors = [d for d in range(1, timesteps + 1) if timesteps % d == 0]
        raise ExportError(f"--chunk {chunk} does not divide the model's {timesteps} steps (the parity check streams whole "
                          f"sequences, TFLite in chunks of exactly that size); choose one of {', '.join(map(str, divisors[:12]))}"
                          + (" ..." if len(divisors) > 12 else ""))
    return chunk


def export_streaming(best_dir, out_dir, formats, chunk: int = 1, tolerance: float = 1e-4) -> dict:
    """Write the streaming model of ``best_dir``'s export in ``formats`` to ``out_dir`` with its
    manifest, each format checked: the stored test sequences streamed ``chunk`` steps per call
    must end within ``tolerance`` of the whole-sequence model's answers. Atomic, as ``export``."""
    import numpy as np

    best_dir, out_dir = Path(best_dir), Path(out_dir)
    check_formats(formats)
    metrics = json.loads((best_dir / "metrics.json").read_text())
    sample = best_dir / "sample_input.npy"
    if not sample.is_file():
        raise ExportError("--streaming streams one input sequence; this model takes several (or raw text)")
    masked = bool(metrics.get("masked"))
    check_chunk(chunk, int(metrics["input_shape"][1]), masked)  # before any model is built
    model, whole, sizes = streaming_model(best_dir)
    X = np.load(sample).astype("float32")
    if masked and X.shape[1] % chunk:  # padding (mask 0) fills the last chunk
        X = np.concatenate([X, np.zeros((len(X), chunk - X.shape[1] % chunk, X.shape[2]), np.float32)], axis=1)
    reference = np.asarray(whole.predict(X[:, :whole.input_shape[1]], verbose=0))
    state_size = sum(n for _, n in sizes)
    check_export_target(out_dir)  # again: the folder may have changed since the command started
    tmp = temp_beside(out_dir, "export")
    try:
        written = {}
        for fmt in formats:
            written[fmt] = _checked(fmt, model, tmp, X, chunk, state_size, reference, tolerance, metrics.get("summary"))
        manifest = _manifest(best_dir, tmp, metrics, written, sizes, chunk, len(X), tolerance, X.shape[2])
        atomic_replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _checked(fmt, model, tmp, X, chunk, state_size, reference, tolerance, summary) -> dict:
    import numpy as np

    try:
        path, runtime, step, chunks = _FORMATS[fmt](model, tmp, chunk, X.shape[2], state_size)
        pred = stream(step, X, chunk, state_size)
    except ExportError:
        raise
    except Exception as e:  # noqa: BLE001 - converter errors are long; keep their first line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise ExportError(f"{fmt} streaming export failed for this architecture ({summary}): {first}") from None
    diff = float(np.max(np.abs(pred - reference) / np.maximum(1.0, np.abs(reference))))
    if not diff <= tolerance:
        raise ExportError(f"{fmt} streaming export, {chunk} step(s) per call, ends {diff:.2e} from the whole-sequence "
                          f"model (tolerance {tolerance:g}) on {len(X)} test sequences; nothing was written")
    return {"path": path, "runtime": runtime, "max_abs_diff": diff, "chunk_steps": chunks,
            "batch": 1 if fmt == "tflite" else "any"}


def _manifest(best_dir, tmp, metrics, written, sizes, chunk, samples, tolerance, n_features) -> dict:
    from .manifest import file_hashes
    from .study import library_versions

    for name in _COPIED:
        shutil.copy2(best_dir / name, tmp / name)
    state_size = sum(n for _, n in sizes)
    manifest = {
        "study": metrics.get("study"),
        "task": metrics["task"],
        "architecture": metrics.get("summary"),
        "streaming": {
            "inputs": {"chunk": f"(batch, steps, {n_features}) float32: the next steps of the stream, raw values as the "
                                "model was trained on (a variable-length model's last channel: 1 at observed steps)",
                       "state": f"(batch, {state_size}) float32: next_state of the previous call; zeros to start"},
            "outputs": {"output": "the model's answer for everything streamed so far (as the whole-sequence model "
                                  "answers after the last chunk)",
                        "next_state": f"(batch, {state_size}) float32: pass it back with the next chunk"},
            "state_parts": [{"trial": trial, "size": n} for trial, n in sizes],
        },
        "classes": metrics.get("classes", []),
        "parity": {"samples": int(samples), "chunk_steps": chunk, "tolerance": tolerance,
                   "check": "test sequences streamed chunk by chunk end as the whole-sequence model answers"},
        "formats": written,
        "versions": library_versions(),
    }
    manifest["files"] = sorted(p.name for p in tmp.iterdir()) + ["manifest.json"]
    manifest["sha256"] = file_hashes(tmp)
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
