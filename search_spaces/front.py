"""The front end in front of any family: none, a stack of Conv1D blocks, patches or average
pooling.

A convolution learns local shapes (a well-known win on univariate series) and, with stride 2 or
4 in its first block, shortens the sequence. Patches (as in PatchTST) cut the series into non-overlapping windows of
``patch`` steps and project each to ``filters`` features: the axis shrinks by ``patch``. Average
pooling shrinks it by ``pool`` with no weights. On long series (over ``LONG_STEPS`` steps) the
space keeps only the fronts that shorten the axis, so the recurrent and attention families
behind them see a few hundred steps at most (``SearchSpace`` applies ``shortening_front``).
"""

from __future__ import annotations

from .params import Choice

__all__ = ["BN_MOMENTUM", "FRONT_PREFIX", "FRONT_PARAMS", "LONG_STEPS", "build_front", "shortening_front"]

# Batch norm's moving statistics follow the batches ten times faster than Keras' default (0.99):
# on a training set of 50-200 series an epoch is a few batches, and with 0.99 the statistics the
# validation reads lag so far behind that early stopping ends FCN on OSULeaf at chance level
# (validation loss 1.77 = ln 6 after 25 epochs; 0.79 and 86% accuracy with 0.9).
# The conv family's blocks use it too.
BN_MOMENTUM = 0.9

FRONT_PREFIX = "front"
_CONV = ("kind", ("conv",))
_LEARNED = ("kind", ("conv", "patch"))

FRONT_PARAMS = (
    Choice("kind", ("none", "conv", "patch", "pool"), default="none"),
    Choice("filters", (16, 32, 64), default=32, when=_LEARNED),
    Choice("kernel", (3, 5, 7), default=5, when=_CONV),
    Choice("stride", (1, 2, 4), default=1, when=_CONV),
    # A stack of conv blocks (the first one strided): deeper local features before the family.
    Choice("layers", (1, 2, 3), default=1, when=_CONV),
    Choice("patch", (4, 8, 16), default=8, when=("kind", ("patch",))),
    Choice("pool", (2, 4, 8), default=4, when=("kind", ("pool",))),
)

# Series longer than this are searched behind a front end that shortens them.
LONG_STEPS = 256
# ... to about this many steps by default (the patch or pool size of the warm-start specs).
TARGET_STEPS = 128


def shortening_front(timesteps: int) -> dict:
    """How the front end's parameters narrow for a series of ``timesteps`` steps: ``{name:
    (options, default)}``, or {} when the series is short enough for every front end."""
    if timesteps <= LONG_STEPS:
        return {}

    def first_fit(sizes):
        return next((s for s in sizes if timesteps / s <= TARGET_STEPS), sizes[-1])

    return {
        "kind": (("patch", "conv", "pool"), "patch"),
        "stride": ((2, 4), 4 if timesteps / 2 > TARGET_STEPS else 2),
        "patch": ((4, 8, 16), first_fit((4, 8, 16))),
        "pool": ((2, 4, 8), first_fit((2, 4, 8))),
    }


def build_front(x, v: dict):
    import keras

    kind = v.get("kind", "none")  # a family with its own front is asked no kind
    if kind == "none":
        return x
    if kind == "pool":
        return keras.layers.AveragePooling1D(int(v["pool"]), padding="same", name="front_pool")(x)
    if kind == "patch":
        size = int(v["patch"])
        # A patch embedding: one linear projection per non-overlapping window (a last, shorter
        # window is padded with zeros by "same").
        x = keras.layers.Conv1D(v["filters"], size, strides=size, padding="same", name="front_patch")(x)
        return keras.layers.LayerNormalization(name="front_norm")(x)
    for i in range(int(v.get("layers", 1))):  # specs stored before stacks had one layer
        suffix = f"_{i}" if i else ""
        x = keras.layers.Conv1D(v["filters"], v["kernel"], strides=v["stride"] if i == 0 else 1, padding="same",
                                name=f"front_conv{suffix}")(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"front_bn{suffix}")(x)
        x = keras.layers.Activation("relu", name=f"front_relu{suffix}")(x)
    return x
