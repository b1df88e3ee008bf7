"""Serialisable custom layers (``keras.ops`` only, so they run on every Keras 3 backend).

A model that contains one of these needs ``import search_spaces`` before
``keras.saving.load_model``: Keras finds custom classes only once they are registered.
"""

from __future__ import annotations

import math

import keras
from keras import ops

__all__ = [
    "SinusoidalPositionEncoding",
    "LearnedPositionEmbedding",
    "TemporalLatentBottleneck",
    "FeedbackCell",
    "AutoregressiveDecoder",
]


@keras.saving.register_keras_serializable(package="seqsearch")
class SinusoidalPositionEncoding(keras.layers.Layer):
    """Adds the fixed sine/cosine position code of "Attention is all you need"."""

    def __init__(self, max_wavelength: float = 10000.0, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = float(max_wavelength)

    def call(self, x):
        length, dim = ops.shape(x)[1], x.shape[-1]
        pos = ops.cast(ops.arange(length), self.compute_dtype)[:, None]
        i = ops.arange(dim)[None, :]
        rates = ops.power(self.max_wavelength, -ops.cast(2 * (i // 2), self.compute_dtype) / dim)
        angles = pos * rates
        code = ops.where(i % 2 == 0, ops.sin(angles), ops.cos(angles))
        return x + ops.cast(code, x.dtype)[None]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_wavelength": self.max_wavelength}


@keras.saving.register_keras_serializable(package="seqsearch")
class LearnedPositionEmbedding(keras.layers.Layer):
    """Adds a trained vector per position (sequences are of one fixed length)."""

    def build(self, input_shape):
        self.embedding = self.add_weight(
            shape=(input_shape[1], input_shape[-1]), initializer="random_normal", name="embedding"
        )

    def call(self, x):
        return x + ops.cast(self.embedding, x.dtype)[None]

    def compute_output_shape(self, input_shape):
        return input_shape


class _ChunkCell(keras.layers.Layer):
    """One step of the TLB's recurrence for ``keras.layers.RNN``: a whole chunk in, the processed
    chunk out, the latents as state (all flattened: the RNN layer loops over 3-D inputs). It
    calls its TLB's step and has no weights of its own; the TLB builds it, so it is never
    serialised on its own."""

    def __init__(self, step, output_size, state_size, **kwargs):
        super().__init__(**kwargs)
        self._step = step
        self.output_size = output_size
        self.state_size = [state_size]

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, states, training=None):
        out, lat = self._step(inputs, states[0], training)
        return out, [lat]


@keras.saving.register_keras_serializable(package="seqsearch")
class TemporalLatentBottleneck(keras.layers.Layer):
    """Temporal Latent Bottleneck (Didolkar et al., 2022; Keras example "When Recurrence meets
    Transformers").

    The sequence is cut into chunks. A fast *perceptual* stream processes each chunk with
    self-attention and cross-attention to a small set of latent state vectors; the slow stream
    updates those latents, chunk after chunk, by cross-attending to the processed chunk — a
    recurrence whose state is a set of vectors. Input ``(batch, T, dim)``; outputs the
    processed sequence ``(batch, T, dim)`` and, with ``return_latents``, the final latents
    ``(batch, num_latents, dim)`` (without, the update after the last chunk is skipped: nothing
    would read it).
    """

    def __init__(self, chunk_size, num_latents, dim, heads, ff_dim, depth=1, dropout=0.0, return_latents=True,
                 **kwargs):
        super().__init__(**kwargs)
        self.return_latents = bool(return_latents)
        self.chunk_size, self.num_latents, self.dim = int(chunk_size), int(num_latents), int(dim)
        self.heads, self.ff_dim, self.depth, self.dropout = int(heads), int(ff_dim), int(depth), float(dropout)
        key_dim = max(self.dim // self.heads, 1)

        def mha(tag):
            return keras.layers.MultiHeadAttention(self.heads, key_dim, dropout=self.dropout, name=tag)

        self.self_attn = [mha(f"self_attn_{i}") for i in range(self.depth)]
        self.cross_attn = [mha(f"cross_attn_{i}") for i in range(self.depth)]
        self.norms = [keras.layers.LayerNormalization(name=f"norm_{i}") for i in range(3 * self.depth + 2)]
        # relu, not the Keras example's gelu: exact gelu needs Erfc, which tf2onnx cannot export.
        self.ff_in = [keras.layers.Dense(self.ff_dim, activation="relu", name=f"ff_in_{i}") for i in range(self.depth + 1)]
        self.ff_out = [keras.layers.Dense(self.dim, name=f"ff_out_{i}") for i in range(self.depth + 1)]
        self.update_attn = mha("update_attn")
        self.drop = keras.layers.Dropout(self.dropout)
        # The recurrence over whole chunks; its cell owns no weights (they stay this layer's). On
        # JAX a loop body may not draw dropout's random seeds (their state would leak out of the
        # scan), so with dropout the chunks are unrolled there.
        unroll = keras.backend.backend() == "jax" and self.dropout > 0
        self.chunk_loop = keras.layers.RNN(_ChunkCell(self._chunk_step, self.chunk_size * self.dim,
                                                      self.num_latents * self.dim),
                                           return_sequences=True, return_state=True, unroll=unroll,
                                           name="chunk_loop")

    def build(self, input_shape):
        self.initial_latents = self.add_weight(
            shape=(self.num_latents, self.dim), initializer="random_normal", name="initial_latents"
        )
        chunk = (None, self.chunk_size, self.dim)
        latents = (None, self.num_latents, self.dim)
        for i in range(self.depth):
            self.self_attn[i].build(chunk, chunk)
            self.cross_attn[i].build(chunk, latents)
            for k in range(3):
                self.norms[3 * i + k].build(chunk)
            self.ff_in[i].build(chunk)
            self.ff_out[i].build((None, self.chunk_size, self.ff_dim))
        # The slow stream runs between chunks (and after the last one only when its latents are
        # returned): a single chunk without returned latents never uses it, so it gets no
        # weights that would never train.
        if self.return_latents or math.ceil(input_shape[1] / self.chunk_size) > 1:
            self.update_attn.build(latents, chunk)
            self.norms[-2].build(latents)
            self.norms[-1].build(latents)
            self.ff_in[-1].build(latents)
            self.ff_out[-1].build((None, self.num_latents, self.ff_dim))
        n_chunks = math.ceil(input_shape[1] / self.chunk_size)
        if n_chunks > 1:
            self.chunk_loop.build((None, n_chunks - 1, self.chunk_size * self.dim))

    def _fast(self, chunk, lat, mask, training):
        """The perceptual stream on one chunk: self-attention, cross-attention to the latents."""
        for i in range(self.depth):
            h = self.norms[3 * i](chunk)
            chunk = chunk + self.drop(self.self_attn[i](h, h, attention_mask=mask, training=training), training=training)
            h = self.norms[3 * i + 1](chunk)
            chunk = chunk + self.drop(self.cross_attn[i](h, lat, training=training), training=training)
            h = self.norms[3 * i + 2](chunk)
            chunk = chunk + self.drop(self.ff_out[i](self.ff_in[i](h)), training=training)
        return chunk

    def _slow(self, lat, chunk, mask, training):
        """The slow stream: the latents read the processed chunk."""
        h = self.norms[-2](lat)
        lat = lat + self.drop(self.update_attn(h, chunk, attention_mask=mask, training=training), training=training)
        h = self.norms[-1](lat)
        return lat + self.ff_out[-1](self.ff_in[-1](h))

    def _chunk_step(self, flat_chunk, flat_lat, training):
        chunk = ops.reshape(flat_chunk, (-1, self.chunk_size, self.dim))
        lat = ops.reshape(flat_lat, (-1, self.num_latents, self.dim))
        chunk = self._fast(chunk, lat, None, training)
        lat = self._slow(lat, chunk, None, training)
        return (ops.reshape(chunk, (-1, self.chunk_size * self.dim)),
                ops.reshape(lat, (-1, self.num_latents * self.dim)))

    def call(self, x, training=None):
        length = x.shape[1]
        cs = self.chunk_size
        n_chunks = math.ceil(length / cs)
        pad = n_chunks * cs - length
        if pad:
            x = ops.pad(x, [[0, 0], [0, pad], [0, 0]])
        batch = ops.shape(x)[0]
        lat = ops.broadcast_to(ops.cast(self.initial_latents, x.dtype)[None], (batch, self.num_latents, self.dim))
        outputs = []
        if n_chunks > 1:
            # Every chunk but the last is whole: one loop op over them (an RNN over chunks whose
            # state is the latents), so tracing costs the same for 2 chunks or 200.
            head = ops.reshape(x[:, :(n_chunks - 1) * cs, :], (-1, n_chunks - 1, cs * self.dim))
            done, flat = self.chunk_loop(head, initial_state=[ops.reshape(lat, (-1, self.num_latents * self.dim))],
                                         training=training)
            lat = ops.reshape(flat, (-1, self.num_latents, self.dim))
            outputs.append(ops.reshape(done, (-1, (n_chunks - 1) * cs, self.dim)))
        # The last chunk may hold padding: no query or latent attends to padded keys.
        valid = length - (n_chunks - 1) * cs
        key_ok = ops.arange(cs) < valid
        self_mask = ops.broadcast_to(key_ok[None, None, :], (batch, cs, cs)) if valid < cs else None
        upd_mask = ops.broadcast_to(key_ok[None, None, :], (batch, self.num_latents, cs)) if valid < cs else None
        last = self._fast(x[:, (n_chunks - 1) * cs:, :], lat, self_mask, training)
        outputs.append(last)
        if self.return_latents:  # else nothing would read the update after the last chunk
            lat = self._slow(lat, last, upd_mask, training)
        seq = outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=1)
        if pad:
            seq = seq[:, :length, :]
        return (seq, lat) if self.return_latents else seq

    def compute_output_shape(self, input_shape):
        seq = (input_shape[0], input_shape[1], self.dim)
        return (seq, (input_shape[0], self.num_latents, self.dim)) if self.return_latents else seq

    def get_config(self):
        return {
            **super().get_config(),
            "chunk_size": self.chunk_size, "num_latents": self.num_latents, "dim": self.dim,
            "heads": self.heads, "ff_dim": self.ff_dim, "depth": self.depth, "dropout": self.dropout,
            "return_latents": self.return_latents,
        }


@keras.saving.register_keras_serializable(package="seqsearch")
class FeedbackCell(keras.layers.Layer):
    """A recurrent cell whose every step also reads the cell's own previous output (seed 003's
    "fed-back outputs" state), for decoders that run autoregressively at training and at
    inference time alike. The previous output is carried as one more state tensor; the
    ``keras.layers.RNN`` around this cell owns the loop."""

    def __init__(self, cell, **kwargs):
        super().__init__(**kwargs)
        self.cell = keras.saving.deserialize_keras_object(cell) if isinstance(cell, dict) else cell
        inner = self.cell.state_size
        self.inner_sizes = list(inner) if isinstance(inner, (list, tuple)) else [inner]
        self.output_size = getattr(self.cell, "output_size", None) or self.inner_sizes[0]
        self.state_size = [*self.inner_sizes, self.output_size]

    def build(self, input_shape):
        if not self.cell.built:  # a deserialised inner cell arrives built from its own config
            self.cell.build((input_shape[0], input_shape[-1] + self.output_size))

    def call(self, inputs, states, training=None):
        states = list(states)
        step_in = ops.concatenate([inputs, states[-1]], axis=-1)
        inner = states[:-1]
        out, new = self.cell(step_in, inner, training=training)
        new = list(new) if isinstance(new, (list, tuple)) else [new]
        return out, [*new, out]

    def get_config(self):
        return {**super().get_config(), "cell": keras.saving.serialize_keras_object(self.cell)}


@keras.saving.register_keras_serializable(package="seqsearch")
class AutoregressiveDecoder(keras.layers.Layer):
    """A decoder that owns its output projection and feeds its own predictions back (seed 003's
    fed-back outputs, in the target space).

    Every step reads the encoder's context vector and the previous step's target: in training
    (``training=True`` with ``teacher`` given) the true previous target (teacher forcing: the
    targets shifted right by one step behind a zero start vector); otherwise its own previous
    prediction: the one-hot arg-max token (categorical) or the predicted standardised value. So
    validation, test and the exported model decode step by step from the input alone.

    ``states``: the encoder's final states (``states[0]`` is also the context vector);
    ``enc_seq``: encoder outputs for attention, ``enc_mask`` (batch, T) its real steps;
    ``teacher``: token ids (batch, steps) or standardised values (batch, steps, n_outputs),
    read at inference too with ``force`` (the scorer beam search extends hypotheses with).
    Returns class probabilities or standardised values, (batch, steps, n_outputs).
    """

    def __init__(self, cell, units, n_outputs, steps, categorical, attention="none", dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.cell = keras.saving.deserialize_keras_object(cell) if isinstance(cell, dict) else cell
        self.units = int(units)
        self.n_outputs = int(n_outputs)
        self.steps = int(steps)
        self.categorical = bool(categorical)
        self.attention = attention
        self.dropout_rate = float(dropout)
        if attention not in ("none", "luong", "bahdanau"):
            raise ValueError(f"attention must be none, luong or bahdanau, got {attention!r}")
        if attention != "none":
            cls = keras.layers.Attention if attention == "luong" else keras.layers.AdditiveAttention
            self.attend = cls(name="attention")
            self.attn_out = keras.layers.Dense(self.units, activation="tanh", name="attention_out")
        self.drop = keras.layers.Dropout(self.dropout_rate, name="dropout")
        self.projection = keras.layers.Dense(
            self.n_outputs, activation="softmax" if self.categorical else None, name="projection"
        )

    def build(self, states_shape, enc_seq_shape=None, teacher_shape=None, enc_mask_shape=None):
        if not self.cell.built:
            self.cell.build((None, self.units + self.n_outputs))
        if self.attention != "none":
            self.attend.build([(None, 1, self.units), (None, None, self.units)])
            self.attn_out.build((None, 2 * self.units))
        self.projection.build((None, self.units))

    def _step(self, prev, context, states, enc_seq, enc_mask, training):
        out, new = self.cell(ops.concatenate([context, prev], axis=-1), states, training=training)
        new = list(new) if isinstance(new, (list, tuple)) else [new]
        feat = out
        if self.attention != "none":
            attended = self.attend([ops.expand_dims(out, 1), enc_seq], mask=[None, enc_mask])[:, 0, :]
            feat = self.attn_out(ops.concatenate([out, attended], axis=-1))
        return self.projection(self.drop(feat, training=training)), new

    def call(self, states, enc_seq=None, teacher=None, enc_mask=None, force=False, training=None):
        states = list(states)
        context = states[0]
        if isinstance(self.cell.state_size, (list, tuple)) and len(self.cell.state_size) > 1:
            inner = states
        else:
            inner = [states[0]]
        forced = teacher is not None and (bool(training) or bool(force))
        if forced:
            shown = ops.one_hot(ops.cast(teacher, "int32"), self.n_outputs) if self.categorical else teacher
            shown = ops.cast(shown, context.dtype)
        prev = ops.repeat(ops.zeros_like(context[:, :1]), self.n_outputs, axis=1)  # the start vector
        outputs = []
        for t in range(self.steps):
            y, inner = self._step(prev, context, inner, enc_seq, enc_mask, training)
            outputs.append(y)
            if forced:
                prev = shown[:, t, :]
            elif self.categorical:
                # One-hot of the arg-max, written as "equals the row's maximum": Keras' argmax
                # lowers to Bitcast/BitwiseAnd ops that ONNX does not have.
                prev = ops.cast(ops.equal(y, ops.max(y, axis=-1, keepdims=True)), context.dtype)
            else:
                prev = y
        return ops.stack(outputs, axis=1)

    def compute_output_shape(self, states_shape, enc_seq_shape=None, teacher_shape=None, enc_mask_shape=None):
        return (states_shape[0][0], self.steps, self.n_outputs)

    def get_config(self):
        return {
            **super().get_config(),
            "cell": keras.saving.serialize_keras_object(self.cell),
            "units": self.units,
            "n_outputs": self.n_outputs,
            "steps": self.steps,
            "categorical": self.categorical,
            "attention": self.attention,
            "dropout": self.dropout_rate,
        }
