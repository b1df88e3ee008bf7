"""seqsearch: architecture search for sequence models (Keras 3, Optuna, MLflow).

``seqsearch.run(path, trials=..., max_epochs=...)`` runs the whole pipeline; heavy libraries
load only when it is called, so importing seqsearch (and ``seqsearch --help``) is instant.
"""

__version__ = "0.1.0"

__all__ = ["run", "RunResult", "SeqsearchError", "load_model", "load_study", "decode", "__version__"]

from .model_file import load_model  # noqa: E402 - light: Keras loads when a model does


def __getattr__(name):
    if name in ("run", "RunResult"):
        from . import api

        return getattr(api, name)
    if name == "load_study":
        from .results import load_study

        return load_study
    if name == "decode":  # seq2seq pairs: source strings -> target strings by beam search
        from .decoding import decode_sources

        return decode_sources
    if name == "SeqsearchError":
        from .errors import SeqsearchError

        return SeqsearchError
    raise AttributeError(f"module 'seqsearch' has no attribute {name!r}")
