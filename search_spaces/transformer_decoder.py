"""The transformer's decoder as one serialisable layer (``keras.ops`` only): token embedding,
blocks of causal self-attention, cross-attention to the encoder and a feed-forward layer, and the
output projection (optionally the embedding itself, tied).

Like :class:`~search_spaces.layers.AutoregressiveDecoder` it decodes by itself: in training it
reads the true previous tokens (teacher forcing, one pass over every step); at validation, test
and in the exported model it decodes greedily, step by step, each step running the blocks over
the tokens chosen so far (the loop is unrolled: the exported graph needs no loop op). With
``force`` it reads given tokens at inference too: the scorer that beam search extends
hypotheses with.
"""

from __future__ import annotations

import keras
from keras import ops

from .layers import SinusoidalPositionEncoding

__all__ = ["TransformerDecoder"]


@keras.saving.register_keras_serializable(package="seqsearch")
class TransformerDecoder(keras.layers.Layer):
    """``call(memory, memory_mask=None, teacher=None, force=False)``: ``memory`` (batch, T, d)
    the encoder's outputs, ``memory_mask`` (batch, T) its real steps, ``teacher`` (batch, steps)
    the target token ids. Returns token probabilities (batch, steps, vocabulary). Token 0 (the
    padding id) is the start token."""

    def __init__(self, vocabulary, steps, dim, heads, layers, ff_dim, dropout=0.0, tie_embeddings=False, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary, self.steps, self.dim = int(vocabulary), int(steps), int(dim)
        self.heads, self.layers, self.ff_dim = int(heads), int(layers), int(ff_dim)
        self.dropout, self.tie_embeddings = float(dropout), bool(tie_embeddings)
        key_dim = max(self.dim // self.heads, 1)

        def mha(tag):
            return keras.layers.MultiHeadAttention(self.heads, key_dim, dropout=self.dropout, name=tag)

        self.self_attn = [mha(f"self_attn_{i}") for i in range(self.layers)]
        self.cross_attn = [mha(f"cross_attn_{i}") for i in range(self.layers)]
        self.norms = [keras.layers.LayerNormalization(epsilon=1e-6, name=f"norm_{i}") for i in range(3 * self.layers + 1)]
        self.ff_in = [keras.layers.Dense(self.ff_dim, activation="relu", name=f"ff_in_{i}") for i in range(self.layers)]
        self.ff_out = [keras.layers.Dense(self.dim, name=f"ff_out_{i}") for i in range(self.layers)]
        self.drop = keras.layers.Dropout(self.dropout)
        self.positions = SinusoidalPositionEncoding(name="positions")  # the encoder's code, for the length read
        if not self.tie_embeddings:
            self.projection = keras.layers.Dense(self.vocabulary, name="projection")

    def build(self, memory_shape, memory_mask_shape=None, teacher_shape=None):
        self.embedding = self.add_weight(shape=(self.vocabulary, self.dim), initializer="random_normal",
                                         name="embedding")
        seq = (None, self.steps, self.dim)
        for i in range(self.layers):
            self.self_attn[i].build(seq, seq)
            self.cross_attn[i].build(seq, tuple(memory_shape))
            for k in range(3):
                self.norms[3 * i + k].build(seq)
            self.ff_in[i].build(seq)
            self.ff_out[i].build((None, self.steps, self.ff_dim))
        self.norms[-1].build(seq)
        if self.tie_embeddings:
            self.bias = self.add_weight(shape=(self.vocabulary,), initializer="zeros", name="bias")
        else:
            self.projection.build(seq)

    def _blocks(self, x, memory, cross_mask, training):
        """The decoder blocks (pre-norm) over embedded tokens ``x`` (batch, t, d)."""
        for i in range(self.layers):
            h = self.norms[3 * i](x)
            x = x + self.drop(self.self_attn[i](h, h, use_causal_mask=True, training=training), training=training)
            h = self.norms[3 * i + 1](x)
            mask = None if cross_mask is None else ops.repeat(cross_mask, x.shape[1], axis=1)
            x = x + self.drop(self.cross_attn[i](h, memory, attention_mask=mask, training=training), training=training)
            h = self.norms[3 * i + 2](x)
            x = x + self.drop(self.ff_out[i](self.ff_in[i](h)), training=training)
        return self.norms[-1](x)

    def _probs(self, h):
        if self.tie_embeddings:
            logits = ops.matmul(h, ops.transpose(ops.cast(self.embedding, h.dtype))) + ops.cast(self.bias, h.dtype)
        else:
            logits = self.projection(h)
        return ops.softmax(logits, axis=-1)

    def _embed(self, onehot):
        """Embedded tokens from one-hot rows (a matmul: no gather, so every runtime has it)."""
        scale = float(self.dim) ** 0.5
        return ops.matmul(onehot, ops.cast(self.embedding, onehot.dtype)) * scale

    def call(self, memory, memory_mask=None, teacher=None, force=False, training=None):
        dtype = memory.dtype
        # (batch, 1, T): every query reads the real steps of the source only.
        cross_mask = None if memory_mask is None else ops.expand_dims(ops.cast(memory_mask, "bool"), 1)
        start = ops.zeros_like(memory[:, :1, :1]) + ops.cast(ops.one_hot(ops.zeros((1,), "int32"), self.vocabulary), dtype)
        if teacher is not None and (bool(training) or bool(force)):
            shown = ops.cast(ops.one_hot(ops.cast(teacher[:, :-1], "int32"), self.vocabulary), dtype)
            x = self.positions(self._embed(ops.concatenate([start, shown], axis=1)))
            x = self.drop(x, training=training)
            return self._probs(self._blocks(x, memory, cross_mask, training))
        tokens, outputs = start, []  # (batch, t, vocabulary) one-hot rows of the tokens so far
        for t in range(self.steps):
            x = self.positions(self._embed(tokens))
            probs = self._probs(self._blocks(x, memory, cross_mask, training)[:, -1:, :])
            outputs.append(probs)
            # One-hot of the arg-max as "equals the row's maximum": argmax lowers to ops that
            # ONNX does not have (see AutoregressiveDecoder).
            tokens = ops.concatenate([tokens, ops.cast(ops.equal(probs, ops.max(probs, axis=-1, keepdims=True)), dtype)],
                                     axis=1)
        return ops.concatenate(outputs, axis=1)

    def compute_output_shape(self, memory_shape, memory_mask_shape=None, teacher_shape=None):
        return (memory_shape[0], self.steps, self.vocabulary)

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary, "steps": self.steps, "dim": self.dim,
                "heads": self.heads, "layers": self.layers, "ff_dim": self.ff_dim, "dropout": self.dropout,
                "tie_embeddings": self.tie_embeddings}
