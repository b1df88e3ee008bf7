"""Serialisable custom layers used by the search space (``keras.ops`` only, every backend)."""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["SeriesStandardize"]


@keras.saving.register_keras_serializable(package="seqsearch")
class SeriesStandardize(keras.layers.Layer):
    """Z-normalises each series, channel by channel, over its own time axis.

    The UCR convention: the shape of a series matters, not its level or scale. Unlike a
    ``Normalization`` layer it needs no statistics from the training set, so it is exact for
    series whose level drifts between train and test.
    """

    def __init__(self, epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, x):
        mean = ops.mean(x, axis=1, keepdims=True)
        std = ops.std(x, axis=1, keepdims=True)
        return (x - mean) / (std + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
