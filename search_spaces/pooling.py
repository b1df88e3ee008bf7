"""Sequence -> vector, shared by every family that produces a sequence."""

from __future__ import annotations

__all__ = ["POOLINGS", "pool"]

POOLINGS = ("last", "mean", "attention")


def pool(x, how: str, name: str, mask=None):
    """``last``: the final timestep; ``mean``: average over time; ``attention``: a learned
    softmax weighting of the timesteps. Built from stock layers only, so the exported model
    loads without seqsearch. ``mask`` (batch, T) bool: padded steps take no part (the last
    *observed* step, a mean and a softmax over observed steps)."""
    import keras

    if mask is not None:
        return _masked_pool(x, how, name, mask)
    if how == "last":
        return _last(x, name)
    if how == "mean":
        return keras.layers.GlobalAveragePooling1D(name=f"{name}_mean")(x)
    if how == "attention":
        scores = keras.layers.Dense(1, name=f"{name}_attn_score")(x)  # (b, T, 1)
        weights = keras.layers.Softmax(axis=1, name=f"{name}_attn_weights")(scores)
        pooled = keras.layers.Dot(axes=1, name=f"{name}_attn_pool")([weights, x])  # (b, 1, d)
        return keras.layers.Flatten(name=f"{name}_attn_flat")(pooled)
    raise ValueError(f"unknown pooling {how!r}; expected one of {', '.join(POOLINGS)}")


def _masked_pool(x, how, name, mask):
    import keras
    from keras import ops

    m = ops.expand_dims(ops.cast(mask, x.dtype), -1)  # (b, T, 1)
    if how == "last":
        last = ops.cast(ops.maximum(ops.sum(ops.cast(mask, "int32"), axis=1) - 1, 0), "int32")  # (b,)
        picked = ops.take_along_axis(x, ops.reshape(last, (-1, 1, 1)), axis=1)  # (b, 1, d)
        return ops.squeeze(picked, axis=1)
    if how == "mean":
        return ops.divide(ops.sum(ops.multiply(x, m), axis=1), ops.maximum(ops.sum(m, axis=1), 1.0))
    if how == "attention":
        # Scores as (b, T): TFLite's converter fails on the softmax of (b, T, 1) behind a mask.
        scores = ops.squeeze(keras.layers.Dense(1, name=f"{name}_attn_score")(x), axis=-1)
        scores = ops.add(scores, ops.multiply(ops.subtract(1.0, ops.cast(mask, scores.dtype)), -1e9))
        weights = ops.softmax(scores, axis=-1)
        return ops.sum(ops.multiply(ops.expand_dims(weights, -1), x), axis=1)
    raise ValueError(f"unknown pooling {how!r}; expected one of {', '.join(POOLINGS)}")


def _last(x, name):
    import keras

    # Cropping1D keeps only the final step, then Flatten: stock layers, serialisable.
    t = x.shape[1]
    return keras.layers.Flatten(name=f"{name}_last_flat")(
        keras.layers.Cropping1D((t - 1, 0), name=f"{name}_last")(x)
    )
