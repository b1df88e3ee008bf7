"""The training recipe, searched like the architecture (DESIGN: input scaling, optimiser
settings, batch size and patience swing UCR accuracy more than the cell type does)."""

from __future__ import annotations

from .params import Choice, Float

__all__ = ["RECIPE_PREFIX", "RECIPE_PARAMS", "SCALINGS", "FORECAST_PARAMS", "AUGMENTATIONS",
           "CLASSIFICATION_PARAMS", "SEARCHED", "FORECAST_SEARCHED", "SEQ2SEQ_PARAMS", "label_smoothing", "compile_model", "forecast_narrowing"]

RECIPE_PREFIX = "train"
SCALINGS = ("per_series", "global", "none")

RECIPE_PARAMS = (
    # per_series: z-normalise each series (UCR practice); global: per-feature statistics of the
    # training split; none: raw values.
    Choice("scaling", SCALINGS, default="global"),
    Float("learning_rate", 1e-4, 1e-2, log=True, default=1e-3),
    Choice("batch_size", (16, 32, 64, 128), default=32),
    Choice("patience", (10, 20, 40), default=20),
)

# Forecasting only. output_scale, the unit of the predicted change: global, the training split's
# change statistics per step; window, the standard deviation of the window's own targets
# (scale-free, for series of different sizes or growing ones, as RevIN does).
# forecast_base, what the change is added to: last, the window's last value (an untrained model
# is the naive forecast); seasonal, the value one season before each step (the seasonal naive
# forecast; only with a season inside the lookback). target_transform: log forecasts a
# relative change (base x exp(change), in units of the window's spread of log values; only for
# positive series); boxcox, a change in Box-Cox units with the exponent fitted on the training
# targets (log is its exponent 0).
FORECAST_PARAMS = (Choice("output_scale", ("global", "window"), default="global"),
                   Choice("forecast_base", ("last", "seasonal"), default="last"),
                   Choice("target_transform", ("none", "log", "boxcox"), default="none"))
# What forecasting searches of them unless --set asks for more: Box-Cox is not measured on the
# forecasting suite, so it is there for a user who asks (--set train.target_transform=boxcox).
FORECAST_SEARCHED = {"target_transform": ("none", "log")}


def forecast_narrowing(task_spec, fixed: dict) -> dict:
    """What forecasting's recipe is fixed to for this series: a seasonal base needs a season
    inside the lookback, a log transform a positive series. ``--set`` asking for either where
    it cannot apply raises ValueError."""
    def asked(key, value):
        v = fixed.get(f"{RECIPE_PREFIX}.{key}")
        return v == value or (isinstance(v, (list, tuple)) and value in v)

    out = {}
    if not task_spec.seasonal_mean:
        if asked("forecast_base", "seasonal"):
            raise ValueError("train.forecast_base=seasonal needs a season of 2 or more steps inside the lookback "
                             "window; pass --season and a --lookback of at least one season")
        out[f"{RECIPE_PREFIX}.forecast_base"] = "last"
    if not task_spec.positive:
        for transform in ("log", "boxcox"):
            if asked("target_transform", transform):
                raise ValueError(f"train.target_transform={transform} needs a positive series, and the training "
                                 "windows hold values of 0 or below; leave it out (or set none)")
        out[f"{RECIPE_PREFIX}.target_transform"] = "none"
    elif f"{RECIPE_PREFIX}.target_transform" not in fixed:
        out[f"{RECIPE_PREFIX}.target_transform"] = list(FORECAST_SEARCHED["target_transform"])
    return out


# Classification only (tiny training sets): an augmentation of the training batches and label
# smoothing (seqsearch.augment applies both). slicing: fixed-length series only; none of them
# on token ids.
AUGMENTATIONS = ("none", "jitter", "scaling", "slicing")
CLASSIFICATION_PARAMS = (
    Choice("augment", AUGMENTATIONS, default="none"),
    Choice("label_smoothing", (0.0, 0.1), default=0.0),
)
# What the search tries unless --set asks for more (benchmarks/augment.py: on the tuning suite
# only jitter lowered the validation loss of the portfolio's InceptionTime against no
# augmentation, on 4 of 6 sets; scaling, slicing and label smoothing raised the mean).
SEARCHED = {"augment": ("none", "jitter"), "label_smoothing": 0.0}


# Token seq2seq only (targets padded after an end token): label smoothing, as a training-only
# term (token_training.SmoothingTerm), and the learning-rate schedule: constant, or a linear
# warm-up then inverse-square-root decay (the transformer's recipe).
SEQ2SEQ_PARAMS = (
    Choice("label_smoothing", (0.0, 0.1), default=0.0),
    Choice("schedule", ("constant", "warmup"), default="constant"),
)


def label_smoothing(spec: dict) -> float:
    """The spec's label smoothing (0 for specs from before it was searched)."""
    return float(spec.get(f"{RECIPE_PREFIX}.label_smoothing", 0.0) or 0.0)


def compile_model(model, spec: dict, task_spec, optimizer=None, jit_compile=False,
                  steps_per_execution: int = 1):
    """Compile with the recipe's optimiser; ``optimizer`` shares one already made (a model and
    the teacher-forced trainer that trains its weights save the same optimiser state)."""
    import keras

    from .heads import loss_and_metrics

    loss, metrics = loss_and_metrics(task_spec)
    rate = spec[f"{RECIPE_PREFIX}.learning_rate"]
    if task_spec.padded:
        # Padding never counts; label smoothing is the trainer's own term (SmoothingTerm).
        from .token_training import WarmupInverseSqrt, padded_token_accuracy, padded_token_crossentropy

        loss = padded_token_crossentropy
        metrics = [keras.metrics.MeanMetricWrapper(padded_token_accuracy, name="accuracy")]
        if spec.get(f"{RECIPE_PREFIX}.schedule", "constant") == "warmup":
            rate = WarmupInverseSqrt(rate)
    elif label_smoothing(spec):
        # Smoothed one-hot targets in training, hard one-hot in validation (seqsearch.augment):
        # the validation loss is the same cross-entropy as the sparse loss of other trials.
        loss, metrics = "categorical_crossentropy", [keras.metrics.CategoricalAccuracy(name="accuracy")]
    # Gradient clipping keeps recurrent trials from diverging at the top of the lr range.
    if optimizer is None:
        optimizer = keras.optimizers.Adam(learning_rate=rate, clipnorm=1.0)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution)
    if not optimizer.built:  # slots made now, not inside the first traced step (see loss_and_metrics)
        optimizer.build(model.trainable_variables)
    return model
