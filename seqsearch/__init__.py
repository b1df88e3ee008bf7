"""seqsearch: architecture search for sequence models (Keras 3, Optuna, MLflow).

``seqsearch.run(path, trials=..., max_epochs=...)`` runs the whole pipeline; heavy libraries
load only when it is called, so importing seqsearch (and ``seqsearch --help``) is instant.
"""

__version__ = "0.1.0"

__all__ = ["run", "RunResult", "SeqsearchError", "load_model", "__version__"]


def load_model(path):
    """Load an exported ``model.keras``, with seqsearch's custom layers registered first.

    Models of the recurrent families load with plain ``keras.saving.load_model``; the
    transformer, bottleneck and encoder-decoder families use layers that Keras can only find
    once ``search_spaces.layers`` is imported, which this does.
    """
    from ._backend import load_keras

    keras = load_keras()
    import search_spaces.layers  # noqa: F401 - registers the custom layers
    from .errors import SeqsearchError

    name = str(path)
    try:
        return keras.saving.load_model(path)
    except (OSError, MemoryError):
        raise
    except Exception as e:  # noqa: BLE001 - Keras reports a damaged file as many error types
        text = " ".join(str(e).split())
        if "safe_mode" in text or "arbitrary code" in text:
            raise SeqsearchError(
                f"{name} was refused by Keras' safe mode: it holds code (e.g. a Lambda layer) that loading would "
                "run; seqsearch never writes such models. If you trust the file, load it yourself with "
                "keras.saving.load_model(path, safe_mode=False)"
            ) from None
        import zipfile
        from pathlib import Path

        p = Path(name)
        if p.is_file() and not zipfile.is_zipfile(p):
            raise SeqsearchError(f"{name} is not a Keras model file (not a .keras zip archive: damaged or "
                                 "another format); export the model again") from None
        raise SeqsearchError(f"{name} cannot be loaded as a Keras model ({text[:200]}); it may be damaged or "
                             "written by another Keras version: export it again") from None


def __getattr__(name):
    if name in ("run", "RunResult"):
        from . import api

        return getattr(api, name)
    if name == "SeqsearchError":
        from .errors import SeqsearchError

        return SeqsearchError
    raise AttributeError(f"module 'seqsearch' has no attribute {name!r}")
