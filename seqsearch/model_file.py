"""Loading an exported ``model.keras``: seqsearch's custom layers registered first, and a clear
one-line error for a file that is not one (``seqsearch.load_model`` is this)."""

from __future__ import annotations

__all__ = ["load_model"]


def load_model(path):
    """Load an exported ``model.keras``, with seqsearch's custom layers registered first.

    Models of the recurrent families load with plain ``keras.saving.load_model``; the
    transformer, bottleneck and encoder-decoder families use layers that Keras can only find
    once ``search_spaces.layers`` is imported, which this does.
    """
    from ._backend import load_keras

    keras = load_keras()
    import search_spaces.layers  # noqa: F401 - registers the custom layers
    import search_spaces.token_training  # noqa: F401 - the token seq2seq loss and schedule
    import search_spaces.transformer_decoder  # noqa: F401
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
