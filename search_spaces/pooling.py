"""Sequence -> vector, shared by every family that produces a sequence."""

from __future__ import annotations

__all__ = ["POOLINGS", "pool"]

POOLINGS = ("last", "mean", "attention")


def pool(x, how: str, name: str):
    """``last``: the final timestep; ``mean``: average over time; ``attention``: a learned
    softmax weighting of the timesteps. Built from stock layers only, so the exported model
    loads without seqsearch."""
    import keras

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


def _last(x, name):
    import keras

    # Cropping1D keeps only the final step, then Flatten: stock layers, serialisable.
    t = x.shape[1]
    return keras.layers.Flatten(name=f"{name}_last_flat")(
        keras.layers.Cropping1D((t - 1, 0), name=f"{name}_last")(x)
    )
