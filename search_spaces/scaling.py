"""Scaling inside the model's graph: standardising with the training split's statistics (as
constants, so every export format carries them), the inverse for regression heads, and
z-normalising each series over its own time axis."""

from __future__ import annotations

__all__ = ["feature_std", "standardize", "destandardize", "series_standardize"]


def feature_std(var):
    """The standard deviation a feature is divided by: sqrt(var), and 1 for a constant feature."""
    import numpy as np

    var = np.asarray(var, dtype="float32")
    # A constant feature (variance ~0) is centred, not blown up by a tiny divisor.
    return np.where(var > 1e-12, np.sqrt(np.maximum(var, 1e-12)), 1.0).astype("float32")


def standardize(x, mean, var):
    """(x - mean) / std with the training split's statistics as constants of the graph.

    Not ``keras.layers.Normalization``: its statistics become *inputs* of an ONNX export
    (tf2onnx turns the captured tensors into graph inputs), so the exported model could not be
    called with a sequence alone. Constants in ``keras.ops`` calls serialise into the .keras
    file, load with stock Keras and fold into ONNX/SavedModel graphs.
    """
    import numpy as np
    from keras import ops

    return ops.divide(ops.subtract(x, np.asarray(mean, dtype="float32")), feature_std(var))


def destandardize(z, mean, var):
    """The inverse of :func:`standardize` (regression heads answer in the target's units)."""
    import numpy as np
    from keras import ops

    return ops.add(ops.multiply(z, feature_std(var)), np.asarray(mean, dtype="float32"))


def series_standardize(x, epsilon: float = 1e-6, mask=None):
    """Z-normalise each series, channel by channel, over its own time axis (UCR practice);
    with ``mask`` (batch, T) over the observed steps only.

    Written with ``keras.ops`` in the functional graph rather than as a custom layer: the
    exported ``.keras`` file then loads with stock Keras, without seqsearch installed.
    """
    from keras import ops

    if mask is not None:
        m = ops.expand_dims(ops.cast(mask, x.dtype), -1)
        n = ops.maximum(ops.sum(m, axis=1, keepdims=True), 1.0)
        mean = ops.divide(ops.sum(ops.multiply(x, m), axis=1, keepdims=True), n)
        var = ops.divide(ops.sum(ops.multiply(ops.square(ops.subtract(x, mean)), m), axis=1, keepdims=True), n)
        return ops.multiply(ops.divide(ops.subtract(x, mean), ops.add(ops.sqrt(var), epsilon)), m)
    mean = ops.mean(x, axis=1, keepdims=True)
    std = ops.std(x, axis=1, keepdims=True)
    return (x - mean) / (std + epsilon)
