"""Sequence -> vector, shared by every family that produces a sequence."""

from __future__ import annotations

__all__ = ["POOLINGS", "pool", "pool_state_sizes", "hold_last"]

POOLINGS = ("last", "mean", "attention")


def pool(x, how: str, name: str, mask=None, stream=None):
    """``last``: the final timestep; ``mean``: average over time; ``attention``: a learned
    softmax weighting of the timesteps. Built from stock layers only, so the exported model
    loads without seqsearch. ``mask`` (batch, T) bool: padded steps take no part (the last
    *observed* step, a mean and a softmax over observed steps). ``stream``: a streaming build's
    state (``streaming.StreamState``): the pooling runs over every chunk so far."""
    import keras

    if stream is not None:
        return _running_pool(x, how, name, mask, stream)
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


def pool_state_sizes(how: str, units: int, masked: bool = False) -> list:
    """What a running pooling carries from chunk to chunk: a mean its sum and count, attention
    its running maximum score, the sum of exp(score - maximum) and the weighted sum of steps;
    the last step of a padded sequence its last observed output (a chunk of padding only has
    none of its own)."""
    return {"last": [units] if masked else [], "mean": [units, 1], "attention": [1, 1, units]}[how]


def hold_last(y, mask, stream):
    """A streaming recurrent layer's final output ``y`` (batch, units) where the chunk has an
    observed step, else the one held from the chunks before."""
    from keras import ops

    (held,) = stream.take([y.shape[-1]])
    seen = ops.cast(ops.any(mask, axis=1, keepdims=True), y.dtype)  # (b, 1)
    y = ops.add(held, ops.multiply(seen, ops.subtract(y, held)))
    stream.give_states([y])
    return y


def _running_pool(x, how, name, mask, stream):
    """``pool`` over a stream: this chunk's steps folded into the state of the chunks before
    (zeros at the start), so that after the last chunk it equals ``pool`` over the whole
    sequence (an online softmax for attention)."""
    import keras
    from keras import ops

    m = ops.ones_like(x[:, :, :1]) if mask is None else ops.expand_dims(ops.cast(mask, x.dtype), -1)  # (b, C, 1)
    if how == "mean":
        total, count = stream.take(pool_state_sizes(how, x.shape[-1]))
        total = ops.add(total, ops.sum(ops.multiply(x, m), axis=1))
        count = ops.add(count, ops.sum(m, axis=1))
        stream.give_states([total, count])
        return ops.divide(total, ops.maximum(count, 1.0))
    if how == "attention":
        top, norm, acc = stream.take(pool_state_sizes(how, x.shape[-1]))
        scores = ops.squeeze(keras.layers.Dense(1, name=f"{name}_attn_score")(x), axis=-1)
        scores = ops.add(scores, ops.multiply(ops.subtract(1.0, ops.squeeze(m, -1)), -1e9))  # (b, C)
        # Before any observed step (the zero state) the old maximum means nothing: -1e9 instead.
        top = ops.add(top, ops.multiply(ops.subtract(1.0, ops.cast(ops.greater(norm, 0.0), top.dtype)), -1e9))
        new_top = ops.maximum(top, ops.max(scores, axis=1, keepdims=True))
        decay, e = ops.exp(ops.subtract(top, new_top)), ops.exp(ops.subtract(scores, new_top))  # (b, 1), (b, C)
        norm = ops.add(ops.multiply(norm, decay), ops.sum(e, axis=1, keepdims=True))
        acc = ops.add(ops.multiply(acc, decay), ops.sum(ops.multiply(ops.expand_dims(e, -1), x), axis=1))
        stream.give_states([new_top, norm, acc])
        return ops.divide(acc, ops.maximum(norm, 1e-30))
    raise ValueError(f"pooling {how!r} has no running form")
