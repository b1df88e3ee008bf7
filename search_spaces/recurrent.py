"""Recurrent stack: SimpleRNN / LSTM / GRU / user cells, stacked, optionally bidirectional,
with layer normalisation, residual connections and a choice of sequence pooling."""

from __future__ import annotations

from .family import Family
from .params import Boolean, Choice, Float, Int
from .pooling import POOLINGS, hold_last, pool
from .registry import cell_names, get_cell, register_family

__all__ = ["RecurrentStack", "rnn_stack"]

_BI = ("bidirectional", (True,))


def rnn_stack(x, cell_name, layers, units, *, dropout=0.0, recurrent_dropout=0.0, bidirectional=False,
              merge_mode="concat", bidirectional_layers="all", norm="none", residual=False,
              return_sequences=True, name="rnn", ctx=None):
    """Stack ``layers`` recurrent layers; the last returns a sequence or its final output.
    With ``ctx`` holding static features for "init_state", they initialise the first layer;
    with ``ctx.mask`` every layer skips the padded steps (the final output is the last
    observed step's)."""
    import keras

    cell = get_cell(cell_name)
    rd = recurrent_dropout if cell.supports_recurrent_dropout else 0.0
    stream = getattr(ctx, "stream", None)  # a streaming build: states in and out
    for i in range(layers):
        seq_out = return_sequences or i < layers - 1
        layer = cell.make_layer(units, return_sequences=seq_out, recurrent_dropout=rd, name=f"{name}_{cell_name}_{i}",
                                return_state=stream is not None)
        bi = bidirectional and (bidirectional_layers == "all" or i == 0)
        if bi:
            layer = keras.layers.Bidirectional(layer, merge_mode=merge_mode, name=f"{name}_bi_{i}")
        init = ctx.static_states(cell_name, units, 2 if bi else 1, f"{name}_static") if ctx is not None and i == 0 else None
        if stream is not None:
            init = stream.take(layer.cell.state_size)
        kwargs = {"mask": ctx.mask} if ctx is not None and ctx.mask is not None else {}
        y = layer(x, initial_state=init, **kwargs) if init else layer(x, **kwargs)
        if stream is not None:
            y = stream.give(y)
        if residual and i > 0 and seq_out and y.shape[-1] == x.shape[-1]:
            y = keras.layers.Add(name=f"{name}_residual_{i}")([x, y])
        if norm == "layer":
            y = keras.layers.LayerNormalization(name=f"{name}_norm_{i}")(y)
        if dropout > 0:
            # Dropout between layers, not inside the recurrence: keeps the cuDNN kernel usable.
            y = keras.layers.Dropout(dropout, name=f"{name}_dropout_{i}")(y)
        x = y
    return x


@register_family("rnn")
class RecurrentStack(Family):
    description = "stacked recurrent layers, uni- or bidirectional (seeds 000-002)"
    seq2seq = "aligned"
    static_modes = ("concat", "init_state")
    masking = True
    params = (
        Choice("cell", default="lstm", options_fn=cell_names),
        Int("layers", 1, 4, default=1),
        Choice("units", (16, 32, 64, 128), default=64),
        Float("dropout", 0.0, 0.5, default=0.0),
        # A few values rather than a float range: 0 (the cuDNN-eligible default) stays reachable.
        Choice("recurrent_dropout", (0.0, 0.1, 0.2, 0.3), default=0.0),
        Boolean("bidirectional", default=False),
        Choice("merge_mode", ("concat", "sum", "mul", "ave"), default="concat", when=_BI),
        Choice("bidirectional_layers", ("all", "first"), default="all", when=_BI),
        Choice("norm", ("none", "layer"), default="none"),
        Boolean("residual", default=False),
        Choice("pooling", POOLINGS, default="last"),
    )

    def build(self, x, p, ctx):
        per_step = ctx.task_spec.kind == "seq2seq"  # seed 001: one output per input step
        x = rnn_stack(
            x, p["cell"], p["layers"], p["units"], dropout=p["dropout"],
            recurrent_dropout=p["recurrent_dropout"], bidirectional=p["bidirectional"],
            merge_mode=p.get("merge_mode", "concat"), bidirectional_layers=p.get("bidirectional_layers", "all"),
            norm=p["norm"], residual=p["residual"], return_sequences=per_step or p["pooling"] != "last", name="rnn",
            ctx=ctx,
        )
        if per_step:
            return x
        if p["pooling"] == "last":
            return x if ctx.stream is None or ctx.mask is None else hold_last(x, ctx.mask, ctx.stream)
        return pool(x, p["pooling"], "rnn", ctx.mask, ctx.stream)

    def seq2seq_fixed(self):
        return {"pooling": "last"}

    def cudnn_eligible(self, p):
        # Keras' conditions: tanh/sigmoid (our defaults), no recurrent dropout, no unroll,
        # use_bias; only the built-in LSTM/GRU layers have a cuDNN kernel.
        return get_cell(p["cell"]).cudnn_capable and p["recurrent_dropout"] == 0.0

    def cudnn_fixed(self):
        return {"cell": [c for c in cell_names() if get_cell(c).cudnn_capable], "recurrent_dropout": 0.0}

    def summary(self, p):
        bi = ""
        if p["bidirectional"]:
            bi = "bi-" if p.get("bidirectional_layers", "all") == "all" else "bi1-"
        s = f"{bi}{p['cell']} {p['layers']}x{p['units']}"
        if p["pooling"] != "last":
            s += f" {p['pooling']}-pool"
        return s
