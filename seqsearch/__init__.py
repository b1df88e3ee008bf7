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

    return keras.saving.load_model(path)


def __getattr__(name):
    if name in ("run", "RunResult"):
        from . import api

        return getattr(api, name)
    if name == "SeqsearchError":
        from .errors import SeqsearchError

        return SeqsearchError
    raise AttributeError(f"module 'seqsearch' has no attribute {name!r}")
