"""Transformer encoder-decoder for token seq2seq ("Attention is all you need"): encoder blocks
over the embedded source (its padding masked), then decoder blocks with causal self-attention
over the target tokens so far and cross-attention to the encoder, for outputs of any length.

Trained with teacher forcing (one pass over every target step); at validation, test and in the
exported model it decodes greedily by itself (:class:`~search_spaces.transformer_decoder.
TransformerDecoder`), and ``seqsearch predict --beam`` searches wider with its scorer.
"""

from __future__ import annotations

from .family import Family
from .params import Boolean, Choice, Float, Int
from .registry import register_family
from .transformer import transformer_block

__all__ = ["TransformerSeq2Seq"]


@register_family("transformer_encdec")
class TransformerSeq2Seq(Family):
    description = ("transformer encoder-decoder for token seq2seq: masked encoder blocks, causal decoder blocks "
                   "with cross-attention, greedy decoding inside the model")
    vector_output = False
    seq2seq = "any"
    params = (
        Choice("d_model", (32, 64, 128), default=64),
        Choice("heads", (2, 4, 8), default=4),
        Int("encoder_layers", 1, 3, default=2),
        Int("decoder_layers", 1, 3, default=2),
        Choice("ff_dim", (64, 128, 256), default=128),
        Float("dropout", 0.0, 0.3, default=0.1),
        # The decoder's input embedding is also its output projection (Press & Wolf, 2017).
        Boolean("tie_embeddings", default=False),
    )

    def unsupported(self, data_spec, task_spec) -> str | None:
        if task_spec.kind != "seq2seq" or not task_spec.classes:
            return "decodes tokens only (seq2seq with token targets)"
        return super().unsupported(data_spec, task_spec)

    def build(self, x, p, ctx):
        import keras

        from .heads import HeadValues
        from .transformer import add_positions
        from .transformer_decoder import TransformerDecoder

        ts = ctx.task_spec
        d = p["d_model"]
        x = keras.layers.Dense(d, name="encoder_proj")(x)
        x = add_positions(x, "sinusoidal", "encoder_pos")
        x = keras.layers.Dropout(p["dropout"], name="encoder_drop")(x)
        for b in range(p["encoder_layers"]):
            x = transformer_block(x, heads=p["heads"], key_dim=max(d // p["heads"], 1), ff_dim=p["ff_dim"],
                                  dropout=p["dropout"], norm="pre", name=f"encoder_{b}", mask=ctx.mask)
        memory = keras.layers.LayerNormalization(epsilon=1e-6, name="encoder_final_norm")(x)
        decoder = TransformerDecoder(len(ts.classes), ts.output_steps, d, p["heads"], p["decoder_layers"], p["ff_dim"],
                                     dropout=p["dropout"], tie_embeddings=p["tie_embeddings"], name="decoder_transformer")
        kw = {"memory_mask": ctx.mask} if ctx.mask is not None else {}
        targets = ctx.teacher_targets()
        return HeadValues(
            inference=decoder(memory, **kw),
            teacher=decoder(memory, teacher=targets, **kw),
            scorer=decoder(memory, teacher=targets, force=True, **kw) if ctx.scoring else None,
        )

    def summary(self, p):
        tied = " tied" if p["tie_embeddings"] else ""
        return f"transformer-encdec {p['encoder_layers']}+{p['decoder_layers']}x(d{p['d_model']} h{p['heads']}){tied}"
