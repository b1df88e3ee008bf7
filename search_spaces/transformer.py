"""Transformer encoder (seed 000, method 2) and the blocks the hybrid families share."""

from __future__ import annotations

from .family import Family
from .params import Boolean, Choice, Float, Int
from .pooling import pool
from .registry import register_family

__all__ = ["TransformerEncoder", "transformer_block", "add_positions"]


def transformer_block(x, *, heads, key_dim, ff_dim, dropout, norm="pre", causal=False, name="block", mask=None):
    """Multi-head self-attention + feed-forward, each with a residual and layer norm.

    ``norm="post"`` is the seed's (and the original paper's) order; ``"pre"`` normalises
    before each sub-layer, which trains more stably when blocks are stacked deep. ``mask``
    (batch, T) bool: every step attends to the observed steps only."""
    import keras
    from keras import ops

    kw = {}
    if mask is not None:  # (b, T_query, T_key): keys must be observed, whatever the query
        kw["attention_mask"] = ops.logical_and(ops.expand_dims(mask, 1), ops.expand_dims(ops.ones_like(mask), 2))

    d = x.shape[-1]
    attn = keras.layers.MultiHeadAttention(heads, key_dim, dropout=dropout, name=f"{name}_attn")
    if norm == "pre":
        h = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm1")(x)
        h = attn(h, h, use_causal_mask=causal, **kw)
        x = keras.layers.Add(name=f"{name}_res1")([x, keras.layers.Dropout(dropout, name=f"{name}_drop1")(h)])
        h = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm2")(x)
        h = keras.layers.Dense(ff_dim, activation="relu", name=f"{name}_ff1")(h)
        h = keras.layers.Dense(d, name=f"{name}_ff2")(h)
        return keras.layers.Add(name=f"{name}_res2")([x, keras.layers.Dropout(dropout, name=f"{name}_drop2")(h)])
    h = attn(x, x, use_causal_mask=causal, **kw)
    h = keras.layers.Dropout(dropout, name=f"{name}_drop1")(h)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm1")(keras.layers.Add(name=f"{name}_res1")([x, h]))
    h = keras.layers.Dense(ff_dim, activation="relu", name=f"{name}_ff1")(x)
    h = keras.layers.Dense(d, name=f"{name}_ff2")(h)
    h = keras.layers.Dropout(dropout, name=f"{name}_drop2")(h)
    return keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm2")(keras.layers.Add(name=f"{name}_res2")([x, h]))


def add_positions(x, kind: str, name: str):
    from .layers import LearnedPositionEmbedding, SinusoidalPositionEncoding

    if kind == "sinusoidal":
        return SinusoidalPositionEncoding(name=f"{name}_sinusoidal")(x)
    if kind == "learned":
        return LearnedPositionEmbedding(name=f"{name}_learned")(x)
    if kind == "none":
        return x
    raise ValueError(f"unknown positional encoding {kind!r}")


@register_family("transformer")
class TransformerEncoder(Family):
    description = "transformer encoder blocks over a linear projection of the input (seed 000)"
    seq2seq = "aligned"
    masking = True
    params = (
        Choice("d_model", (16, 32, 64, 128), default=64),
        Int("blocks", 1, 4, default=2),
        Choice("heads", (1, 2, 4, 8), default=4),
        Choice("key_dim", (8, 16, 32, 64), default=16),
        Choice("ff_dim", (32, 64, 128, 256), default=128),
        Float("dropout", 0.0, 0.3, default=0.1),
        Choice("norm", ("pre", "post"), default="pre"),
        Choice("positional", ("sinusoidal", "learned", "none"), default="sinusoidal"),
        Boolean("causal", default=False),
        Choice("pooling", ("mean", "last", "attention"), default="mean"),
    )

    def build(self, x, p, ctx):
        import keras

        x = keras.layers.Dense(p["d_model"], name="transformer_proj")(x)
        x = add_positions(x, p["positional"], "transformer_pos")
        x = keras.layers.Dropout(p["dropout"], name="transformer_drop")(x)
        for b in range(p["blocks"]):
            x = transformer_block(x, heads=p["heads"], key_dim=p["key_dim"], ff_dim=p["ff_dim"],
                                  dropout=p["dropout"], norm=p["norm"], causal=p["causal"], name=f"transformer_{b}",
                                  mask=ctx.mask)
        if p["norm"] == "pre":
            x = keras.layers.LayerNormalization(epsilon=1e-6, name="transformer_final_norm")(x)
        if ctx.task_spec.kind == "seq2seq":
            return x
        return pool(x, p["pooling"], "transformer", ctx.mask)

    def seq2seq_fixed(self):
        return {"pooling": "mean"}

    def summary(self, p):
        return f"transformer {p['blocks']}x(d{p['d_model']} h{p['heads']}){' causal' if p['causal'] else ''}"

