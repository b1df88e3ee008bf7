"""Encoder-decoder (seed 001's LSTM encoder-decoder, seed 003's fed-back outputs).

The encoder (uni- or bidirectional; a bidirectional encoder's forward and backward states are
concatenated per state tensor, so LSTM h and c both reach the decoder) reads the input; the
decoder starts from the encoder's final states and produces ``output_steps`` steps:

* ``repeat``: its input at every step is the encoder's final output (RepeatVector, seed 001);
* ``feedback``: every step also reads the decoder's own previous output (seed 003), so the
  exported model decodes autoregressively by itself;
* ``teacher``: every step reads the previous *target*: the true one in training (teacher
  forcing, targets shifted right behind a start vector), its own prediction (arg-max token or
  value) at validation, test and in the exported model, which decodes step by step from the
  input alone (:class:`~search_spaces.layers.AutoregressiveDecoder`).

Optional attention over the encoder outputs: Luong (dot-product) or Bahdanau (additive). A
right-padded token source is masked: the encoder's states skip its padding and no attention
reads it.

As a forecaster (seed 001's design) the decoder runs over the horizon, ``repeat`` or
``feedback``; with known-future columns each step also reads their values at that step. Its
per-step outputs, flattened, are what the forecast head maps to the horizon.
"""

from __future__ import annotations

from .family import Family
from .params import Boolean, Choice, Float, Int
from .registry import cell_names, get_cell, register_family

__all__ = ["EncoderDecoder"]


def _encode(x, cell_name, units, layers, bidirectional, ctx):
    import keras

    cell = get_cell(cell_name)
    for i in range(layers):
        last = i == layers - 1
        layer = cell.make_layer(units, return_sequences=True, return_state=last, name=f"encoder_{cell_name}_{i}")
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, merge_mode="concat", name=f"encoder_bi_{i}")
        init = ctx.static_states(cell_name, units, 2 if bidirectional else 1, "encoder_static") if i == 0 else None
        # A padded source: padding steps leave the states as they are (the final states are
        # those of the last real token; backwards, the first real token's).
        kw = {"mask": ctx.mask} if ctx.mask is not None else {}
        out = layer(x, initial_state=init, **kw) if init else layer(x, **kw)
        x = out[0] if last else out
    seq, states = out[0], list(out[1:])
    if bidirectional:
        half = len(states) // 2
        states = [keras.layers.Concatenate(name=f"encoder_state_{k}")([states[k], states[half + k]]) for k in range(half)]
    return seq, states


@register_family("encdec")
class EncoderDecoder(Family):
    description = ("RNN encoder-decoder for seq2seq and forecasting, decoder initialised with the encoder's states "
                   "(seeds 001, 003)")
    vector_output = False
    seq2seq = "any"
    static_modes = ("concat", "init_state")
    params = (
        Choice("cell", default="lstm", options_fn=cell_names),
        Choice("units", (16, 32, 64, 128), default=64),
        Int("encoder_layers", 1, 2, default=1),
        Boolean("bidirectional", default=False),
        Choice("decoder", ("repeat", "feedback", "teacher"), default="repeat"),
        Choice("attention", ("none", "luong", "bahdanau"), default="none"),
        Float("dropout", 0.0, 0.3, default=0.0),
    )

    def unsupported(self, data_spec, task_spec) -> str | None:
        if task_spec.kind == "forecasting":
            masked = data_spec is not None and getattr(data_spec, "masked", False)
            return "cannot read variable-length (padded and masked) sequences" if masked else None
        return super().unsupported(data_spec, task_spec)

    def adapt(self, data_spec, task_spec) -> dict:
        if task_spec.kind == "forecasting":  # no targets to teacher-force: the horizon is one output
            return {"decoder": (("repeat", "feedback"), "repeat")}
        return {}

    def build(self, x, p, ctx):
        import keras

        from .heads import HeadValues
        from .layers import AutoregressiveDecoder, FeedbackCell

        ts = ctx.task_spec
        steps = ts.output_steps
        enc_seq, states = _encode(x, p["cell"], p["units"], p["encoder_layers"], p["bidirectional"], ctx)
        units = p["units"] * (2 if p["bidirectional"] else 1)
        context = states[0]  # the final output h (LSTM: h of [h, c])
        cell = get_cell(p["cell"])
        if p["decoder"] == "teacher":
            decoder = AutoregressiveDecoder(
                cell.make_cell(units), units, ts.n_outputs, steps, ts.categorical,
                attention=p["attention"], dropout=p["dropout"], name="decoder_autoregressive",
            )
            kw = {"enc_seq": enc_seq, "enc_mask": ctx.mask} if p["attention"] != "none" else {}
            targets = ctx.teacher_targets()
            return HeadValues(
                inference=decoder(states, **kw),
                teacher=decoder(states, teacher=targets, **kw),
                scorer=decoder(states, teacher=targets, force=True, **kw) if ctx.scoring else None,
            )
        dec_in = keras.layers.RepeatVector(steps, name="decoder_context")(context)
        if ts.kind == "forecasting" and ctx.future is not None:
            from keras import ops

            # Each decoder step also reads the known-future values of its own step.
            future = ops.reshape(ctx.future, (-1, steps, int(ctx.future.shape[-1]) // steps))
            dec_in = keras.layers.Concatenate(name="decoder_known_future")([dec_in, future])
        if p["decoder"] == "repeat":
            decoder = cell.make_layer(units, return_sequences=True, name=f"decoder_{p['cell']}")
            dec = decoder(dec_in, initial_state=states)
        else:
            decoder = keras.layers.RNN(FeedbackCell(cell.make_cell(units)), return_sequences=True, name="decoder_feedback")
            dec = decoder(dec_in, initial_state=[*states, context])
        if p["attention"] != "none":
            attn_cls = keras.layers.Attention if p["attention"] == "luong" else keras.layers.AdditiveAttention
            attended = attn_cls(name=f"decoder_{p['attention']}")([dec, enc_seq], mask=[None, ctx.mask])
            dec = keras.layers.Concatenate(name="decoder_attn_concat")([dec, attended])
            dec = keras.layers.Dense(units, activation="tanh", name="decoder_attn_out")(dec)
        if p["dropout"] > 0:
            dec = keras.layers.Dropout(p["dropout"], name="decoder_dropout")(dec)
        if ts.kind == "forecasting":
            return keras.layers.Flatten(name="decoder_steps")(dec)
        return dec

    def cudnn_eligible(self, p):
        return get_cell(p["cell"]).cudnn_capable and p["decoder"] == "repeat"

    def cudnn_fixed(self):
        return {"cell": [c for c in cell_names() if get_cell(c).cudnn_capable], "decoder": "repeat"}

    def summary(self, p):
        bi = "bi-" if p["bidirectional"] else ""
        attn = f"+{p['attention']}" if p["attention"] != "none" else ""
        return f"encdec {bi}{p['cell']} {p['encoder_layers']}x{p['units']} {p['decoder']}{attn}"
