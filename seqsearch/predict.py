"""``seqsearch predict``: a trained model applied to a data file in the format it was trained on."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

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


def predict_file(model_path, data_path, out=None, *, id_col=None, time_col=None, target=None,
                 fillna=None, beam=None, length_penalty=0.6, join=None) -> int:
    """Write predictions for every sequence of ``data_path`` as CSV (``out`` or stdout);
    returns the number of sequences. Missing values are filled as the study filled them
    (``fillna`` overrides). Seq2seq pairs: ``beam`` > 1 decodes by beam search
    (``seqsearch.decoding``) instead of the model's own greedy decoding. ``join``: a model of
    several inputs trained on joined tables takes ``{input: table}`` beside the main table."""
    from .data.kinds import kind_of_export

    check_out(out)
    model_file, meta = _model_and_metadata(model_path)
    fillna = fillna or (meta.get("dataset") or {}).get("fillna")
    kind = kind_of_export(meta)
    if beam is not None and (int(beam) < 1 or kind.name != "pairs"):
        raise SeqsearchError("--beam decodes seq2seq pairs models; this model is not one" if kind.name != "pairs"
                             else f"--beam must be 1 or more, got {beam}")
    if join and kind.name != "inputs":
        raise SeqsearchError("--join gives the further inputs of a model of several inputs; this model takes one")
    options = dict(id_col=id_col, time_col=time_col, target=target, fillna=fillna, beam=beam,
                   length_penalty=length_penalty, join=join)
    rows, n = kind.predict_rows(model_file, meta, data_path, options)
    _write(rows, out)
    return n


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
