"""Recurrent stack: SimpleRNN / LSTM / GRU / user cells, stacked, optionally bidirectional."""

from __future__ import annotations

from .family import Family
from .params import Boolean, Choice, Float, Int
from .registry import cell_names, get_cell, register_family

__all__ = ["RecurrentStack"]


@register_family("rnn")
class RecurrentStack(Family):
    description = "stacked recurrent layers (seeds 000-002); the last layer's final output is the summary"
    params = (
        Choice("cell", default="lstm", options_fn=cell_names),
        Int("layers", 1, 3, default=1),
        Choice("units", (16, 32, 64, 128), default=64),
        Float("dropout", 0.0, 0.5, default=0.0),
        Boolean("bidirectional", default=False),
    )

    def build(self, x, p, ctx):
        import keras

        cell = get_cell(p["cell"])
        n = p["layers"]
        for i in range(n):
            last = i == n - 1
            layer = cell.make_layer(p["units"], return_sequences=not last, name=f"{p['cell']}_{i}")
            if p["bidirectional"]:
                layer = keras.layers.Bidirectional(layer, merge_mode="concat", name=f"bi_{p['cell']}_{i}")
            x = layer(x)
            if p["dropout"] > 0:
                # Dropout between layers, not inside the recurrence: keeps the cuDNN kernel usable.
                x = keras.layers.Dropout(p["dropout"], name=f"dropout_{i}")(x)
        return x

    def cudnn_eligible(self, p):
        # Keras' defaults (tanh/sigmoid, no recurrent dropout, no unroll, use_bias) hold for the
        # built-in LSTM/GRU layers we build; SimpleRNN and user cells never use cuDNN.
        return get_cell(p["cell"]).cudnn_capable

    def summary(self, p):
        return f"{'bi-' if p['bidirectional'] else ''}{p['cell']} {p['layers']}x{p['units']}"
