"""The one place seqsearch reaches into TensorFlow's private internals, where no public API does
what is needed. ``tests/training/test_training.py`` fails loudly if the internal moves."""

from __future__ import annotations

import contextlib

__all__ = ["released_gradients"]


@contextlib.contextmanager
def released_gradients():
    """Forget the gradient functions TensorFlow registered while this block traced.

    Every ``tf.custom_gradient`` call made while tracing (the default distribution strategy's
    ``all_reduce`` in Keras' train step is one) adds a ``CustomGradient-N`` entry to TF's
    global gradient registry and never removes it. The entry's closure holds the traced
    graph, so each fitted model left ~9 MB and ~16,000 Python objects behind for good, and
    every later garbage collection got slower (tensorflow#61791, keras#17458). The entries
    are only read while a gradient is being traced, which is over when the block ends; a
    model that is fitted again traces and registers anew.
    """
    import keras

    if keras.backend.backend() != "tensorflow":  # nothing registers there: no TensorFlow to import
        yield
        return
    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry
    except (ImportError, AttributeError):  # another backend, or TensorFlow moved it
        yield
        return
    before = set(registry)
    try:
        yield
    finally:
        for key in [k for k in registry if k not in before and k.startswith("CustomGradient-")]:
            registry.pop(key, None)
