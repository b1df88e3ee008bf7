"""A window read as one flat vector: a linear model on the window (``layers=0``: with the
forecast head, an autoregression on the scaled lookback, as NLinear/DLinear do) or a small MLP.
For forecasting only, where on short series such models rival AutoETS and AutoARIMA and train
in a fraction of a second; on classification and regression the other families read series
better (and the tuned portfolio does not include it)."""

from __future__ import annotations

from .family import Family
from .params import Choice, Float, Int
from .registry import register_family

__all__ = ["WindowMLP"]


@register_family("mlp")
class WindowMLP(Family):
    description = "the flattened window through 0-2 dense layers (0: a linear autoregression; forecasting only)"
    own_front = True
    params = (
        Int("layers", 0, 2, default=0),
        Choice("units", (32, 64, 128, 256), default=64, when=("layers", (1, 2))),
        Float("dropout", 0.0, 0.5, default=0.1, when=("layers", (1, 2))),
    )

    def unsupported(self, data_spec, task_spec) -> str | None:
        if task_spec.kind != "forecasting":
            return "reads a window as one flat vector (forecasting only)"
        return super().unsupported(data_spec, task_spec)

    def build(self, x, p, ctx):
        import keras

        x = keras.layers.Flatten(name="mlp_flat")(x)
        for i in range(int(p["layers"])):
            x = keras.layers.Dense(int(p["units"]), activation="relu", name=f"mlp_dense{i + 1}")(x)
            if p.get("dropout", 0) > 0:
                x = keras.layers.Dropout(float(p["dropout"]), name=f"mlp_drop{i + 1}")(x)
        return x

    def summary(self, p) -> str:
        return "linear" if int(p["layers"]) == 0 else f"mlp {int(p['layers'])}x{int(p.get('units', 64))}"
