"""The front end: an optional Conv1D stem in front of any family (a well-known win on long
univariate series: it learns local shapes and, with stride 2, halves the sequence length)."""

from __future__ import annotations

from .params import Choice

__all__ = ["FRONT_PREFIX", "FRONT_PARAMS", "build_front"]

FRONT_PREFIX = "front"
_CONV = ("kind", ("conv",))

FRONT_PARAMS = (
    Choice("kind", ("none", "conv"), default="none"),
    Choice("filters", (16, 32, 64), default=32, when=_CONV),
    Choice("kernel", (3, 5, 7), default=5, when=_CONV),
    Choice("stride", (1, 2), default=1, when=_CONV),
)


def build_front(x, v: dict):
    import keras

    if v["kind"] == "none":
        return x
    x = keras.layers.Conv1D(v["filters"], v["kernel"], strides=v["stride"], padding="same", name="front_conv")(x)
    x = keras.layers.BatchNormalization(name="front_bn")(x)
    return keras.layers.Activation("relu", name="front_relu")(x)
