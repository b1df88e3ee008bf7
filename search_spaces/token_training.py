"""What token seq2seq trains with (targets padded with ``PAD``, id 0, after their end token):
a cross-entropy and an accuracy that never count padding, label smoothing as a training-only
term (so the validation loss every trial is ranked by stays the plain cross-entropy), and a
learning-rate warm-up with inverse-square-root decay for the transformer.

Registered with Keras (``package="seqsearch"``): a compiled model that holds them loads once
this module is imported (``seqsearch.load_model`` does).
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["padded_token_crossentropy", "padded_token_accuracy", "SmoothingTerm", "WarmupInverseSqrt",
           "WARMUP_STEPS"]

# Warm-up length of the ``warmup`` schedule, in optimiser steps (two to eight epochs of 7,000
# pairs, by batch size).
WARMUP_STEPS = 400


def _weights(y_true):
    mask = ops.cast(ops.not_equal(y_true, 0), "float32")
    return mask, ops.maximum(ops.sum(mask, axis=-1), 1.0)


@keras.saving.register_keras_serializable(package="seqsearch")
def padded_token_crossentropy(y_true, y_pred):
    """Per sequence: the mean cross-entropy of its tokens up to and including the end token
    (``y_true`` (batch, steps) ids, ``y_pred`` (batch, steps, vocabulary) probabilities)."""
    y_true = ops.cast(y_true, "int32")
    mask, count = _weights(y_true)
    picked = ops.take_along_axis(y_pred, ops.expand_dims(y_true, -1), axis=-1)[..., 0]
    ce = -ops.log(ops.clip(ops.cast(picked, "float32"), 1e-7, 1.0))
    return ops.sum(ce * mask, axis=-1) / count


@keras.saving.register_keras_serializable(package="seqsearch")
def padded_token_accuracy(y_true, y_pred):
    """Per sequence: the share of its tokens (end token included, padding not) predicted right."""
    y_true = ops.cast(y_true, "int32")
    mask, count = _weights(y_true)
    hits = ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), y_true), "float32")
    return ops.sum(hits * mask, axis=-1) / count


@keras.saving.register_keras_serializable(package="seqsearch")
class SmoothingTerm(keras.layers.Layer):
    """Label smoothing for padded token targets, in training only: adds ``smoothing`` x (the
    cross-entropy against the uniform distribution - the cross-entropy against the target) to
    the model's losses, which turns the compiled loss into the smoothed one. Passes the
    probabilities through unchanged; at validation it adds nothing."""

    def __init__(self, smoothing: float, **kwargs):
        super().__init__(**kwargs)
        self.smoothing = float(smoothing)

    def call(self, probs, targets, training=None):
        if training and self.smoothing > 0:
            targets = ops.cast(targets, "int32")
            mask, count = _weights(targets)
            logp = ops.log(ops.clip(ops.cast(probs, "float32"), 1e-7, 1.0))
            uniform = -ops.mean(logp, axis=-1)
            hard = -ops.take_along_axis(logp, ops.expand_dims(targets, -1), axis=-1)[..., 0]
            per_seq = ops.sum((uniform - hard) * mask, axis=-1) / count
            self.add_loss(self.smoothing * ops.mean(per_seq))
        return probs

    def compute_output_shape(self, probs_shape, targets_shape=None):
        return probs_shape

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing}


@keras.saving.register_keras_serializable(package="seqsearch")
class WarmupInverseSqrt(keras.optimizers.schedules.LearningRateSchedule):
    """The rate rises linearly to ``peak`` over ``warmup`` steps, then falls as 1/sqrt(step)
    ("Attention is all you need"): no total step count needed, so early stopping and budget
    stops leave it as it is."""

    def __init__(self, peak: float, warmup: int = WARMUP_STEPS):
        self.peak, self.warmup = float(peak), int(warmup)

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0
        w = float(self.warmup)
        return self.peak * ops.minimum(step / w, ops.sqrt(w / step))

    def get_config(self):
        return {"peak": self.peak, "warmup": self.warmup}
