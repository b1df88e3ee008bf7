"""The sequence as a family reads it: dynamic channels scaled (or token ids embedded), static
features split off, and the build context (mask, static, known-future) that goes with it."""

from __future__ import annotations

from .context import BuildContext
from .scaling import series_standardize, standardize

__all__ = ["model_inputs"]


def model_inputs(inputs, data_spec, task_spec, p, scaling: str, embed_dim: int = 64):
    """The sequence as the family reads it (dynamic channels scaled or token ids embedded,
    static features split off) and the build context (mask, static, known-future)."""
    import keras
    from keras import ops

    n_static = int(data_spec.n_static)
    masked = bool(getattr(data_spec, "masked", False))
    n_dynamic = data_spec.n_features - n_static - int(masked)
    mask = ops.greater(inputs[:, :, -1], 0.5) if masked else None  # (batch, T): observed steps
    x = inputs[:, :, :n_dynamic] if n_static or masked else inputs
    mean, var = data_spec.feature_mean[:n_dynamic], data_spec.feature_var[:n_dynamic]
    vocabulary = getattr(data_spec, "vocabulary", None)
    if vocabulary:  # text: channel 0 holds token ids
        ids = ops.cast(inputs[:, :, 0], "int32")
        x = keras.layers.Embedding(len(vocabulary), embed_dim, name="token_embedding")(ids)
        if task_spec.kind == "seq2seq":  # right-padded sources: id 0 is padding, never read
            mask = ops.greater(ids, 0)
    elif scaling == "global":
        x = standardize(x, mean, var)
    elif scaling == "per_series":
        x = series_standardize(x, mask=mask)
    elif scaling == "none":
        pass
    else:
        raise ValueError(f"unknown train.scaling {scaling!r}")
    ctx = BuildContext(data_spec, task_spec)
    ctx.mask = mask
    if n_static:
        # Static features: one vector per sequence (the first step of their constant channels),
        # standardised with the training statistics whatever the sequence scaling (a
        # per-series z-norm would turn a constant into zeros).
        static = standardize(inputs[:, 0, n_dynamic:n_dynamic + n_static],
                             data_spec.feature_mean[n_dynamic:n_dynamic + n_static],
                             data_spec.feature_var[n_dynamic:n_dynamic + n_static])
        if task_spec.kind == "forecasting":
            ctx.future = static  # the known-future block: the forecast head reads it
        elif p.get("static", "concat") == "init_state":
            ctx.static = static
        else:
            steps = data_spec.timesteps  # None in a streaming build: chunks of any length
            at_every_step = (ops.repeat(ops.expand_dims(static, 1), steps, axis=1) if steps else
                             ops.add(ops.zeros_like(x[:, :, :1]), ops.expand_dims(static, 1)))
            x = ops.concatenate([x, at_every_step], axis=-1)
    return x, ctx
