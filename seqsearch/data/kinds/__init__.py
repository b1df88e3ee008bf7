"""Data kinds: what a dataset's rows are, and everything that follows from it.

A *kind* is one way a file becomes sequences: plain sequences (``.npz``, ``.ts``, long tables),
a text column, source/target pairs, forecasting windows. Each kind is one module of this package
with one ``DataKind`` subclass registered by ``@register_kind`` (the package imports its modules
on first use: a new kind is a new module here, named nowhere else). The kind says which files
it reads (``extensions``, ``claims``), reads them (``load``), describes them (``describe``,
``header_lines``), adds its own test metrics, records itself in the export and wraps the
trained model for raw input there, writes the export's parity samples and manifest input, and
predicts from a new file. The pipeline asks ``get_kind(ds.kind)`` (or ``kind_of_export(metrics)``
for an exported model) instead of branching on the kind. A kind looks like this::

    from seqsearch.data.kinds import DataKind, register_kind

    @register_kind("lines")
    class Lines(DataKind):
        order, extensions = 50, (".lines",)  # asked before the plain-sequence fallback
        def claims(self, path, table, options): return path.suffix == ".lines"
        def load(self, path, table, options): ...  # a Dataset with kind="lines"
        def predict_rows(self, model_file, meta, data_path, options): ...

The base class is the plain-sequence behaviour, so a kind overrides only what differs.
"""

from __future__ import annotations

import pkgutil
from importlib import import_module
from pathlib import Path

__all__ = ["DataKind", "register_kind", "unregister_kind", "get_kind", "kind_names", "kinds_in_order", "kind_of_export",
           "extensions", "prediction_rows", "Table", "DEFAULT_KIND"]

DEFAULT_KIND = "sequences"
_KINDS: dict = {}
_FOUND = False


class Table:
    """A CSV/Parquet file read once, on first use, for every kind that looks at its columns."""

    def __init__(self, path: Path):
        self.path = path
        self.is_table = path.suffix.lower() in (".csv", ".parquet")
        self._df = None

    @property
    def df(self):
        if self._df is None:
            from ..tables import read_table

            self._df = read_table(self.path)
        return self._df

    @property
    def lower_columns(self) -> set:
        return {str(c).lower() for c in self.df.columns}


class DataKind:
    """One kind of data; the defaults are plain sequences' (no raw-input wrapper, no extras)."""

    name = ""
    # The file extensions (lower case, with the dot) this kind can read.
    extensions: tuple = ()
    # Kinds are asked in this order whether they claim a file; the fallback comes last.
    order = 100
    # Where the export's metrics.json records the kind's own facts (metrics["dataset"][record_key]).
    record_key: str | None = None
    # The deployable model takes raw strings: MLflow logs the token model beside it, and ONNX and
    # TFLite get the token model (they have no string ops).
    raw_strings = False

    def claims(self, path: Path, table: Table, options: dict) -> bool:
        """Whether this kind reads ``path`` given the run's ``options`` (load_dataset's keywords)."""
        return False

    def load(self, path: Path, table: Table, options: dict):
        """The Dataset (with ``kind`` set to this kind's name)."""
        raise NotImplementedError

    def prepare(self, ds, study_path, console) -> None:
        """Work this kind does once per study before the search, inside ``--timeout`` (the
        forecasting kind fits its statistical baselines)."""

    def describe(self, ds) -> dict:
        """Entries this kind adds to ``Dataset.describe()`` (the header, ``study.json``)."""
        return {}

    def header_lines(self, info: dict) -> list:
        """Lines of the run's header about this kind, from ``describe()``'s dict."""
        return []

    def test_metrics(self, pred, y, task_spec, metrics: dict) -> dict:
        """The test metrics: ``metrics`` (computed from the task) with this kind's changes."""
        return metrics

    def annotate_export(self, ds, metrics: dict) -> None:
        """Add this kind's facts to the export's ``metrics`` (what ``predict`` needs to read a new file)."""
        if self.record_key and ds.about:
            metrics["dataset"][self.record_key] = dict(ds.about)
        if self.raw_strings:
            metrics["input_shape"], metrics["input_dtype"] = [None], "string"

    def deployable(self, ds, model):
        """The model the export deploys: ``model`` itself, or a wrapper that takes raw input."""
        return model

    def model_input(self, ds, X):
        """Rows of ``ds``'s arrays as the deployable model takes them (an MLflow input example)."""
        return X

    def parity_samples(self, ds, n: int) -> dict:
        """Arrays the export keeps to check each format's parity: file name -> array (or, for a
        model of named inputs, ``sample_input.npz`` -> {name: array})."""
        if self.raw_strings:  # raw strings for the string model, token ids for the token model (ONNX, TFLite)
            import numpy as np

            return {"sample_input.npy": np.asarray(ds.test_texts[:n]).astype(str), "sample_tokens.npy": ds.X_test[:n]}
        return {"sample_input.npy": ds.X_test[:n]}

    def manifest_input(self, metrics: dict) -> dict | None:
        """The manifest's "input" entry for the deployable model (None: the format's default)."""
        return None

    def predict_rows(self, model_file: Path, meta: dict, data_path, options: dict):
        """Predictions for every sequence of ``data_path``: (CSV rows, header first; count).
        ``meta``: the export's metrics/manifest; ``options``: predict's keywords."""
        raise NotImplementedError


def prediction_rows(pred, ids, meta):
    """CSV rows for predictions: class and probabilities, per-step tokens, per-step values or
    plain outputs, by the shape of ``pred`` and the export's task and classes."""
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


def register_kind(name: str):
    """Class decorator: instantiate the kind and make it known as ``name``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"data kind name must be an identifier, got {name!r}")

    def deco(cls):
        if not issubclass(cls, DataKind):
            raise TypeError(f"{cls.__name__} must subclass DataKind")
        kind = cls()
        kind.name = name
        _KINDS[name] = kind
        return cls

    return deco


def unregister_kind(name: str) -> None:
    """Forget a kind (tests, or a user replacing a built-in with ``register_kind``)."""
    _KINDS.pop(name, None)


def _builtins() -> None:
    """Import every module of this package once: each registers its kind (a new kind is one
    module here, found without being named anywhere)."""
    global _FOUND
    if not _FOUND:
        _FOUND = True
        for module in pkgutil.iter_modules(__path__):
            import_module(f".{module.name}", __name__)


def get_kind(name: str | None) -> DataKind:
    """The kind named ``name`` (None: plain sequences)."""
    _builtins()
    try:
        return _KINDS[name or DEFAULT_KIND]
    except KeyError:
        raise ValueError(f"unknown data kind {name!r}; known kinds: {', '.join(kind_names())}") from None


def kind_names() -> list:
    _builtins()
    return [k.name for k in kinds_in_order()]


def kinds_in_order() -> list:
    """Every registered kind, in the order they are asked to claim a file."""
    _builtins()
    return sorted(_KINDS.values(), key=lambda k: (k.order, k.name))


def extensions() -> list:
    """Every extension some kind reads (the plain-sequence fallback's first)."""
    return list(dict.fromkeys(e for kind in reversed(kinds_in_order()) for e in kind.extensions))


def kind_of_export(meta: dict) -> DataKind:
    """The kind of an exported model, from its metrics/manifest (exports written before kinds
    were named are known by the record they carry)."""
    dataset = meta.get("dataset") or {}
    if dataset.get("kind"):
        return get_kind(dataset["kind"])
    for kind in kinds_in_order():
        if kind.record_key and dataset.get(kind.record_key):
            return kind
    return get_kind(DEFAULT_KIND)
