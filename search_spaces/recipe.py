"""The training recipe, searched like the architecture (DESIGN: input scaling, optimiser
settings, batch size and patience swing UCR accuracy more than the cell type does)."""

from __future__ import annotations

from .params import Choice, Float

__all__ = ["RECIPE_PREFIX", "RECIPE_PARAMS", "SCALINGS", "FORECAST_PARAMS", "compile_model"]

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

# Forecasting only: the unit of the predicted change from the window's last value. global: the
# training split's change statistics per step; window: the standard deviation of the window's
# own targets (scale-free, for series of different sizes or growing ones, as RevIN does).
FORECAST_PARAMS = (Choice("output_scale", ("global", "window"), default="global"),)


def compile_model(model, spec: dict, task_spec, optimizer=None, jit_compile=False,
                  steps_per_execution: int = 1):
    """Compile with the recipe's optimiser; ``optimizer`` shares one already made (a model and
    the teacher-forced trainer that trains its weights save the same optimiser state)."""
    import keras

    from .heads import loss_and_metrics

    loss, metrics = loss_and_metrics(task_spec)
    # Gradient clipping keeps recurrent trials from diverging at the top of the lr range.
    if optimizer is None:
        optimizer = keras.optimizers.Adam(learning_rate=spec[f"{RECIPE_PREFIX}.learning_rate"], clipnorm=1.0)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution)
    if not optimizer.built:  # slots made now, not inside the first traced step (see loss_and_metrics)
        optimizer.build(model.trainable_variables)
    return model
