"""Task heads: turn a family's vector into the task's outputs. Separate from families."""

from __future__ import annotations

__all__ = ["build_head", "finish_head", "HeadValues", "loss_and_metrics"]


class HeadValues:
    """What a family returns when it ran the task's output projection itself (a decoder that
    feeds its own predictions back must): class probabilities, or regression values in
    standard units, for inference and, where the family trains differently, for training
    (``teacher``: the teacher-forced graph that reads ``ctx.teacher_targets()``) and, when the
    build asks (``ctx.scoring``), for scoring (``scorer``: teacher-forced at inference)."""

    def __init__(self, inference, teacher=None, scorer=None):
        self.inference = inference
        self.teacher = teacher
        self.scorer = scorer


def finish_head(values, task_spec):
    """Answer in the target's own units: probabilities pass, standard units are de-standardised."""
    if task_spec.categorical:
        return values
    from .scaling import destandardize

    return destandardize(values, task_spec.target_mean, task_spec.target_var)


def build_head(x, task_spec, inputs=None, output_scale="global", base="last", transform="none"):
    """Vector tasks get ``x`` of shape (batch, d); seq2seq gets (batch, output_steps, d) and
    the same layers apply per step (Dense works on the last axis). Forecasting reads the raw
    ``inputs`` too: its answer is the window's last target value plus a predicted change."""
    import keras

    if task_spec.kind == "forecasting":
        return _forecast_head(x, task_spec, inputs, output_scale, base, transform)

    if task_spec.kind == "seq2seq" and (len(x.shape) != 3 or x.shape[1] != task_spec.output_steps):
        raise ValueError(
            f"seq2seq needs a sequence of {task_spec.output_steps} steps from the family, got shape {tuple(x.shape)}"
        )
    if task_spec.categorical:
        return keras.layers.Dense(len(task_spec.classes), activation="softmax", name="classes")(x)
    if task_spec.kind in ("regression", "seq2seq"):
        z = keras.layers.Dense(task_spec.n_outputs, name="standardised_target")(x)
        # Predict in standard units, answer in the target's own: the exported model needs no
        # post-processing and the first prediction of a fresh model is the training mean.
        return finish_head(z, task_spec)
    raise ValueError(f"no head for task {task_spec.kind!r}")


def _forecast_head(x, task_spec, inputs, output_scale="global", base="last", transform="none"):
    """Direct multi-step forecast (batch, horizon, targets): one Dense predicts every step's
    change from a base, the window's last value (``last``) or the value one season before
    the step (``seasonal``: the seasonal naive forecast), in standard units of the training
    split's changes (``global``, per step and target) or of the window's own spread
    (``window``). With ``transform="log"`` the change is relative: base x exp(change), in units
    of the window's spread of log values."""
    import keras
    from keras import ops

    from .scaling import destandardize

    steps, n = task_spec.output_steps, task_spec.n_outputs
    if inputs is None or len(x.shape) != 2:
        raise ValueError(f"forecasting needs one vector per window and the raw inputs, got shape {tuple(x.shape)}")
    # Everything flat (batch, steps * n, step-major) until the last reshape: TFLite's converter
    # mis-fuses a 3-D sum with the Dense's bias ("tf.Transpose ... rank 3 ... rank 4").
    # Zero-initialised: an untrained model is its base's forecast (naive or seasonal naive, plus
    # the mean change with the global scale), which training then improves on; a random start
    # is a random forecast, far worse on the short series forecasting often has.
    z = keras.layers.Dense(steps * n, kernel_initializer="zeros", name="standardised_change")(x)
    targets = inputs[:, :, :n]
    if base == "seasonal":
        if not task_spec.seasonal_mean:
            raise ValueError("a seasonal base needs a season inside the lookback window")
        lookback, m = inputs.shape[1], task_spec.season
        # The last season, repeated over the horizon: step h's value one season earlier.
        season = targets[:, lookback - m:lookback - m + min(steps, m), :]
        anchor = ops.concatenate([season] * -(-steps // m), axis=1)[:, :steps, :] if steps > m else season
        anchor, mean, var = ops.reshape(anchor, (-1, steps * n)), task_spec.seasonal_mean, task_spec.seasonal_var
    elif base == "last":
        anchor, mean, var = per_step(targets[:, -1:, :], steps, n), task_spec.target_mean, task_spec.target_var
    else:
        raise ValueError(f"unknown train.forecast_base {base!r}")
    if transform == "log":
        spread = ops.maximum(ops.std(ops.log(ops.maximum(targets, 1e-6)), axis=1, keepdims=True), 1e-3)
        # Clipped: a wild early step must not overflow to inf (e^20: 5e8 times the base).
        change = ops.clip(ops.multiply(z, per_step(spread, steps, n)), -20.0, 20.0)
        out = ops.exp(ops.add(ops.log(ops.maximum(anchor, 1e-6)), change))
    elif transform == "boxcox":
        out = _boxcox_forecast(z, anchor, targets, task_spec)
    elif transform != "none":
        raise ValueError(f"unknown train.target_transform {transform!r}")
    elif output_scale == "global":
        out = ops.add(anchor, destandardize(z, mean, var))
    elif output_scale == "window":
        spread = ops.maximum(ops.std(targets, axis=1, keepdims=True), 1e-6)
        out = ops.add(anchor, ops.multiply(z, per_step(spread, steps, n)))
    else:
        raise ValueError(f"unknown train.output_scale {output_scale!r}")
    return keras.layers.Reshape((steps, n), name="forecast")(out)


def _boxcox_forecast(z, anchor, targets, task_spec):
    """The base plus a change in Box-Cox units (the training targets' fitted exponent per
    target, in units of the window's spread of transformed values), transformed back. An
    exponent near 0 is held at 0.01 (within a fraction of a percent of log) so one formula
    serves; the back-transform's base is kept positive."""
    import numpy as np
    from keras import ops

    if not task_spec.boxcox_lambda:
        raise ValueError("a Box-Cox transform needs a positive series (its exponent is fitted on the training targets)")
    steps, n = task_spec.output_steps, task_spec.n_outputs
    lam = np.asarray(task_spec.boxcox_lambda, dtype="float32")
    lam = np.where(np.abs(lam) < 0.01, np.float32(0.01), lam)

    def forward(v, lams):
        return ops.divide(ops.subtract(ops.power(ops.maximum(v, 1e-6), lams), 1.0), lams)

    spread = ops.maximum(ops.std(forward(targets, lam.reshape(1, 1, n)), axis=1, keepdims=True), 1e-3)
    flat = np.tile(lam, steps)  # the head's step-major order
    level = ops.add(forward(anchor, flat), ops.multiply(z, per_step(spread, steps, n)))
    # The inverse exponent as a constant array: a tensor computed outside the graph would reach
    # the ONNX converter as a second input.
    return ops.power(ops.maximum(ops.add(ops.multiply(level, flat), 1.0), 1e-6), (1.0 / flat).astype("float32"))


def per_step(values, steps: int, n: int):
    """(batch, 1, n) -> (batch, steps * n): the same n values for every step, in the head's
    step-major order."""
    from keras import ops

    return ops.tile(ops.reshape(values, (-1, n)), [1, steps])


def loss_and_metrics(task_spec):
    """The loss name and fresh metric objects. Objects, not the strings "accuracy" / "mae":
    Keras resolves a string metric inside the first traced train step and creates its variables
    there, and a ``tf.function`` that creates variables is traced a second time (so is one that
    builds the optimiser's slots: ``compile_model`` builds them first). One trace instead of two
    saves about 0.7 s per candidate on this machine, half of a small candidate's fit."""
    import keras

    # For token seq2seq the same loss and accuracy apply per step (targets (batch, steps)).
    if task_spec.categorical:
        return "sparse_categorical_crossentropy", [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    return "mse", [keras.metrics.MeanAbsoluteError(name="mae")]
