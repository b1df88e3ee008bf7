"""``seqsearch predict``: a trained model applied to a data file in the format it was trained on."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

from .errors import SeqsearchError

__all__ = ["predict_file", "check_out"]


def _model_and_metadata(model_path):
    p = Path(model_path).expanduser()
    model_file = p / "model.keras" if p.is_dir() else p
    if not model_file.is_file() or model_file.suffix != ".keras":
        raise SeqsearchError(
            f"{str(model_path)!r} is not a model: pass a study's best/ or export/ folder, or a .keras file"
        )
    meta = {}
    for name in ("metrics.json", "manifest.json", "data_spec.json"):
        f = model_file.parent / name
        if f.is_file():
            try:
                meta.update(json.loads(f.read_text()))
            except ValueError:
                pass
    return model_file, meta


def _rows(pred, ids, meta):
    task, classes = meta.get("task"), meta.get("classes") or []
    if pred.ndim == 2 and task != "regression" and classes and pred.shape[1] == len(classes):
        yield ["id", "prediction", *[f"p_{c}" for c in classes]]
        for i, p in zip(ids, pred):
            yield [i, classes[int(p.argmax())], *[f"{v:.6g}" for v in p]]
    elif pred.ndim == 3 and classes and pred.shape[2] == len(classes):  # token seq2seq
        yield ["id", "step", "prediction", "probability"]
        for i, seq in zip(ids, pred):
            for t, p in enumerate(seq):
                k = int(p.argmax())
                yield [i, t, classes[k], f"{p[k]:.6g}"]
    elif pred.ndim == 3:
        yield ["id", "step", *[f"y{k}" for k in range(pred.shape[2])]]
        for i, seq in zip(ids, pred):
            for t, v in enumerate(seq):
                yield [i, t, *[f"{x:.6g}" for x in v]]
    else:
        pred = pred.reshape(len(pred), -1)
        yield ["id", *[f"y{k}" for k in range(pred.shape[1])]]
        for i, v in zip(ids, pred):
            yield [i, *[f"{x:.6g}" for x in v]]


def predict_file(model_path, data_path, out=None, *, id_col=None, time_col=None, target=None,
                 fillna=None) -> int:
    """Write predictions for every sequence of ``data_path`` as CSV (``out`` or stdout);
    returns the number of sequences. Missing values are filled as the study filled them
    (``fillna`` overrides)."""
    from .model_file import load_model
    from .data import load_inputs

    check_out(out)
    model_file, meta = _model_and_metadata(model_path)
    fillna = fillna or (meta.get("dataset") or {}).get("fillna")
    framing = (meta.get("dataset") or {}).get("framing")
    if framing:
        return _forecast(model_file, meta, framing, data_path, out, fillna)
    pairs = (meta.get("dataset") or {}).get("pairs")
    if pairs:
        from .data.loaders import check_path
        from .data.pairs import decode, read_pairs
        from .data.text import predict_texts

        sources, _, _, ids = read_pairs(check_path(data_path))  # the model splits them itself
        pred = np.asarray(predict_texts(load_model(model_file), sources))
        decoded = decode(pred, meta.get("classes") or [], pairs["target_tokens"])
        _write([["id", "prediction"], *([i, d] for i, d in zip(ids, decoded))], out)
        return len(sources)
    text = (meta.get("dataset") or {}).get("text")
    if text:
        from .data.loaders import check_path
        from .data.text import predict_texts, text_inputs

        texts, ids = text_inputs(check_path(data_path), text["column"], id_col)
        pred = np.asarray(predict_texts(load_model(model_file), texts))
        _write(_rows(pred, ids, meta), out)
        return len(texts)
    X, ids = load_inputs(data_path, id_col=id_col, time_col=time_col, target=target,
                         feature_names=meta.get("feature_names") or None, fillna=fillna,
                         timesteps=meta.get("timesteps"), masked=bool(meta.get("masked")))
    model = load_model(model_file)
    want = tuple(model.input_shape[1:])
    if tuple(X.shape[1:]) != want:
        n_static = int(meta.get("n_static") or 0)
        hint = f" ({n_static} of them static: store them as 'static' in the .npz)" if n_static else ""
        raise SeqsearchError(
            f"{Path(data_path).name} has sequences of {X.shape[1]} steps x {X.shape[2]} features; "
            f"the model takes {want[0]} x {want[1]}{hint}"
        )
    pred = np.asarray(model.predict(X, verbose=0, batch_size=256))
    _write(_rows(pred, ids, meta), out)
    return len(X)


def check_out(out) -> None:
    """``--out``: a file in a folder that exists and can be written, checked before any work."""
    if out is None:
        return
    import os

    p = Path(out).expanduser()
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise SeqsearchError(f"--out {str(out)!r} is a folder; name a CSV file to write")
    if not folder.is_dir():
        raise SeqsearchError(f"--out {str(out)!r}: folder {str(folder)!r} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise SeqsearchError(f"--out {str(out)!r} cannot be written (permission denied); pick a writable location")


def _write(rows, out):
    if not out:
        csv.writer(sys.stdout).writerows(rows)
        return
    import os
    import tempfile

    # A whole file or none: a failure half-way keeps what was at --out before.
    p = Path(out).expanduser()
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent if str(p.parent) else ".")
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            csv.writer(handle).writerows(rows)
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _forecast(model_file, meta, framing, data_path, out, fillna) -> int:
    """Forecast the next ``horizon`` steps after the end of every series in the table: one row
    per series and step, with the time it falls on."""
    from .model_file import load_model
    from .data.loaders import check_path
    from .data.forecast import forecast_inputs

    X, ids, times = forecast_inputs(check_path(data_path), framing, meta.get("feature_names"), fillna)
    pred = np.asarray(load_model(model_file).predict(X, verbose=0, batch_size=256))
    keyed = [framing["id_col"]] if framing.get("id_col") else []  # one series: no id column
    rows = [[*keyed, "step", framing.get("time_col") or "time", *framing["targets"]]]
    for sid, when, seq in zip(ids, times, pred):
        rows += [[*([sid] if keyed else []), h + 1, when[h], *[f"{v:.6g}" for v in seq[h]]] for h in range(len(seq))]
    _write(rows, out)
    return len(X)
