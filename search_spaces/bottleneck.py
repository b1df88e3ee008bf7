"""RNN + transformer hybrids.

``rnn_bottleneck`` — seed 000, method 3: a recurrent stack compresses the sequence into a
bottleneck vector, reshaped into ``tokens`` latent tokens that transformer blocks refine
(``tokens=1`` is the seed's model exactly; more tokens give attention something to attend to).

``tlb`` — the Temporal Latent Bottleneck of Didolkar et al. (2022): chunked fast perceptual
stream + slow recurrent latent stream (see ``layers.TemporalLatentBottleneck``).
"""

from __future__ import annotations

import warnings

from .family import Family
from .params import Boolean, Choice, Float, Int
from .recurrent import rnn_stack
from .registry import cell_names, get_cell, register_family
from .transformer import add_positions, transformer_block

# The seed's bottleneck (tokens=1) attends over a single token on purpose, and Keras warns at
# every trace (search, retrain, export, predict, load) that such a softmax is constant. It is
# the seed's model, not the user's mistake: silenced wherever these families are importable.
warnings.filterwarnings("ignore", message="You are using a softmax over axis")

__all__ = ["RNNBottleneck", "TemporalLatentBottleneckFamily"]


@register_family("rnn_bottleneck")
class RNNBottleneck(Family):
    description = "RNN compresses the sequence into latent tokens refined by transformer blocks (seed 000)"
    static_modes = ("concat", "init_state")
    params = (
        Choice("cell", default="simple_rnn", options_fn=cell_names),
        Int("rnn_layers", 1, 2, default=1),
        Choice("rnn_units", (16, 32, 64, 128), default=32),
        Boolean("bidirectional", default=False),
        Choice("tokens", (1, 2, 4, 8), default=1),
        Choice("bottleneck_dim", (8, 16, 32, 64), default=16),
        Int("blocks", 1, 2, default=1),
        Choice("heads", (1, 2, 4), default=4),
        Choice("key_dim", (8, 16, 32, 64), default=64),
        Choice("ff_dim", (32, 64, 128), default=128),
        Float("dropout", 0.0, 0.3, default=0.1),
    )

    def build(self, x, p, ctx):
        import keras

        h = rnn_stack(x, p["cell"], p["rnn_layers"], p["rnn_units"], bidirectional=p["bidirectional"],
                      return_sequences=False, name="bottleneck_rnn", ctx=ctx)
        z = keras.layers.Dense(p["tokens"] * p["bottleneck_dim"], activation="relu", name="bottleneck")(h)
        z = keras.layers.Reshape((p["tokens"], p["bottleneck_dim"]), name="bottleneck_tokens")(z)
        for b in range(p["blocks"]):
            z = transformer_block(z, heads=p["heads"], key_dim=p["key_dim"], ff_dim=p["ff_dim"],
                                  dropout=p["dropout"], norm="post", name=f"bottleneck_block_{b}")
        return keras.layers.GlobalAveragePooling1D(name="bottleneck_pool")(z)

    def cudnn_eligible(self, p):
        return get_cell(p["cell"]).cudnn_capable

    def cudnn_fixed(self):
        return {"cell": [c for c in cell_names() if get_cell(c).cudnn_capable]}

    def summary(self, p):
        bi = "bi-" if p["bidirectional"] else ""
        return f"{bi}{p['cell']} {p['rnn_layers']}x{p['rnn_units']} -> {p['tokens']}x{p['bottleneck_dim']} -> {p['blocks']} block(s)"


@register_family("tlb")
class TemporalLatentBottleneckFamily(Family):
    description = "Temporal Latent Bottleneck: chunked perceptual transformer + recurrent latent state (Didolkar et al. 2022)"
    seq2seq = "aligned"
    params = (
        Choice("chunk_size", (4, 8, 16, 32), default=8),
        Choice("num_latents", (2, 4, 8), default=4),
        Choice("dim", (16, 32, 64), default=32),
        Choice("heads", (1, 2, 4), default=2),
        Int("depth", 1, 2, default=1),
        Choice("ff_dim", (32, 64, 128), default=64),
        Float("dropout", 0.0, 0.3, default=0.1),
        Choice("positional", ("sinusoidal", "learned", "none"), default="sinusoidal"),
        Choice("readout", ("sequence", "latents", "both"), default="both"),
    )

    def build(self, x, p, ctx):
        import keras

        from .layers import TemporalLatentBottleneck

        x = keras.layers.Dense(p["dim"], name="tlb_proj")(x)
        x = add_positions(x, p["positional"], "tlb_pos")
        per_step = ctx.task_spec.kind == "seq2seq"
        use_latents = not per_step and p["readout"] in ("latents", "both")
        out = TemporalLatentBottleneck(
            p["chunk_size"], p["num_latents"], p["dim"], p["heads"], p["ff_dim"],
            depth=p["depth"], dropout=p["dropout"], return_latents=use_latents, name="tlb",
        )(x)
        seq, latents = out if use_latents else (out, None)
        if per_step:
            return keras.layers.LayerNormalization(name="tlb_norm")(seq)
        parts = []
        if p["readout"] in ("sequence", "both"):
            parts.append(keras.layers.GlobalAveragePooling1D(name="tlb_seq_pool")(seq))
        if p["readout"] in ("latents", "both"):
            parts.append(keras.layers.GlobalAveragePooling1D(name="tlb_latent_pool")(latents))
        out = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="tlb_readout")(parts)
        return keras.layers.LayerNormalization(name="tlb_norm")(out)

    def seq2seq_fixed(self):
        return {"readout": "sequence"}

    def summary(self, p):
        return f"tlb chunk{p['chunk_size']} {p['num_latents']}x{p['dim']} depth{p['depth']}"
