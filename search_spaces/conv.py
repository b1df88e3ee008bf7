"""Convolutional classifiers: FCN, ResNet and InceptionTime (Wang et al. 2017; Fawaz et al.
2019, 2020), optionally with a recurrent branch beside them (LSTM-FCN, Karim et al. 2018).

All three end in global average pooling over time, so they read series of any length at a cost
linear in it: on long series they need no front end that shortens the axis (``own_front``). On
variable-length sequences the padded steps are zeroed after every layer (``_zeroer``) and the
pooling averages the observed steps only.
Within each architecture the depth, width and kernel sizes are searched around the published
settings (FCN 128-256-128 filters with kernels 8-5-3; ResNet 3 blocks of 64-128-128; Inception
6 modules of 4 x 32 channels, kernels 40-20-10, residual every 3 modules).
"""

from __future__ import annotations

from .family import Family
from .front import BN_MOMENTUM, LONG_STEPS
from .params import Boolean, Choice, Float, Int
from .pooling import pool
from .registry import get_cell, register_family

__all__ = ["Convolutional", "conv_kernels"]

# Average-pooling sizes of the stem before the convolutions (``conv.stem``, long series only).
STEMS = (1, 2, 4, 8)

_PLAIN = ("arch", ("fcn", "resnet"))
_INCEPTION = ("arch", ("inception",))
_RNN = ("rnn_branch", ("lstm", "gru"))


def conv_kernels(first: int, n: int) -> list[int]:
    """FCN's kernel pattern 8-5-3 scaled to a first kernel of ``first``; further layers keep the
    last (smallest) size."""
    k = [first, max(3, round(first * 5 / 8)), max(3, round(first * 3 / 8))]
    return (k + [k[-1]] * n)[:n]


def _zeroer(mask):
    """Variable-length sequences: padded steps are set to zero after every layer that mixes
    steps or shifts values (convolution, batch norm), so the next convolution sees there what
    it sees past the end of a sequence of that length, and padding never reaches the output."""
    if mask is None:
        return lambda x: x
    from keras import ops

    m = ops.expand_dims(ops.cast(mask, "float32"), -1)
    return lambda x: ops.multiply(x, m)


def _conv_bn(x, filters, kernel, name, zero, relu=True):
    import keras

    x = keras.layers.Conv1D(filters, kernel, padding="same", name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return zero(keras.layers.Activation("relu", name=f"{name}_relu")(x) if relu else x)


def _fcn(x, p, zero):
    n = p["blocks"]
    for i, k in enumerate(conv_kernels(p["kernel"], n)):
        # 128-256-128 in the paper: the inner blocks twice as wide as the outer ones.
        width = p["filters"] * (2 if 0 < i < n - 1 else 1)
        x = _conv_bn(x, width, k, f"fcn_{i}", zero)
    return x


def _resnet(x, p, zero):
    import keras

    for b in range(p["blocks"]):
        width = p["filters"] * (1 if b == 0 else 2)
        h = x
        kernels = conv_kernels(p["kernel"], 3)
        for j, k in enumerate(kernels):
            h = _conv_bn(h, width, k, f"resnet_{b}_{j}", zero, relu=j < len(kernels) - 1)
        if x.shape[-1] == width:
            short = zero(keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"resnet_{b}_short_bn")(x))
        else:
            short = _conv_bn(x, width, 1, f"resnet_{b}_short", zero, relu=False)
        x = keras.layers.Activation("relu", name=f"resnet_{b}_out")(keras.layers.Add(name=f"resnet_{b}_add")([h, short]))
    return x


def _inception_module(x, filters, max_kernel, name, zero):
    import keras

    # A 1x1 bottleneck when the input has several channels, then parallel kernels of three
    # sizes and a max-pool branch, concatenated: 4 x ``filters`` channels out.
    h = x
    if x.shape[-1] > 1:
        h = keras.layers.Conv1D(filters, 1, padding="same", use_bias=False, name=f"{name}_bottleneck")(x)
    branches = [keras.layers.Conv1D(filters, max(2, max_kernel // 2 ** i), padding="same", use_bias=False,
                                    name=f"{name}_k{i}")(h) for i in range(3)]
    pooled = keras.layers.MaxPooling1D(3, strides=1, padding="same", name=f"{name}_maxpool")(x)
    branches.append(keras.layers.Conv1D(filters, 1, padding="same", use_bias=False, name=f"{name}_poolconv")(pooled))
    h = keras.layers.Concatenate(axis=-1, name=f"{name}_concat")(branches)
    h = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(h)
    return zero(keras.layers.Activation("relu", name=f"{name}_relu")(h))


def _inception(x, p, zero):
    import keras

    res = x
    for m in range(p["modules"]):
        x = _inception_module(x, p["branch_filters"], p["max_kernel"], f"inception_{m}", zero)
        if m % 3 == 2:  # a residual connection over every three modules
            short = _conv_bn(res, x.shape[-1], 1, f"inception_{m}_short", zero, relu=False)
            x = keras.layers.Activation("relu", name=f"inception_{m}_res")(keras.layers.Add(name=f"inception_{m}_add")([x, short]))
            res = x
    return x


_BODIES = {"fcn": _fcn, "resnet": _resnet, "inception": _inception}


@register_family("conv")
class Convolutional(Family):
    description = "convolutional networks: FCN, ResNet, InceptionTime, optionally beside an LSTM/GRU branch (LSTM-FCN)"
    seq2seq = "aligned"
    masking = True
    # Global average pooling reads every step at a cost linear in the length: no front end.
    own_front = True
    params = (
        Choice("arch", tuple(_BODIES), default="fcn"),
        Choice("filters", (32, 64, 128), default=64, when=_PLAIN),
        Int("blocks", 1, 4, default=3, when=_PLAIN),
        Choice("kernel", (3, 8, 16), default=8, when=_PLAIN),
        Choice("branch_filters", (8, 16, 32), default=16, when=_INCEPTION),
        Int("modules", 2, 6, default=3, when=_INCEPTION),
        Choice("max_kernel", (10, 20, 40), default=40, when=_INCEPTION),
        # Average pooling by ``stem`` before the convolutions: on long series the body reads a
        # shorter axis (kernels span more of the series, epochs cost less). Only long (over
        # ``LONG_STEPS``), fixed-length series are asked for it (``adapt``), and the default
        # keeps every step: pooling by 2 won on OSULeaf and the generated long series but lost
        # 15 points of test accuracy on ACSF1 (benchmarks/README.md, "The conv stem").
        Choice("stem", STEMS, default=1),
        Float("dropout", 0.0, 0.5, default=0.0),
        # LSTM-FCN: a recurrent layer reads the input beside the convolutions; with ``shuffle``
        # (the paper's dimension shuffle) it reads the channels as steps and the time axis as
        # features, one step per channel, so its cost does not grow with the length.
        Choice("rnn_branch", ("none", "lstm", "gru"), default="none"),
        Choice("rnn_units", (8, 32, 64, 128), default=32, when=_RNN),
        Boolean("shuffle", default=True, when=_RNN),
    )

    def build(self, x, p, ctx):
        import keras

        zero = _zeroer(ctx.mask)
        x = zero(x)
        stem = int(p.get("stem", 1))  # specs stored before the stem had none
        if stem > 1:
            if ctx.mask is not None or ctx.task_spec.kind == "seq2seq":
                raise ValueError("conv.stem > 1 shortens the axis: not for variable-length or seq2seq data")
            x = keras.layers.AveragePooling1D(stem, padding="same", name="conv_stem")(x)
        seq = _BODIES[p["arch"]](x, p, zero)
        if ctx.task_spec.kind == "seq2seq":
            return seq
        out = pool(seq, "mean", "conv", ctx.mask)  # global average pooling (over observed steps)
        if p["rnn_branch"] != "none":
            layer = get_cell(p["rnn_branch"]).make_layer(p["rnn_units"], return_sequences=False, name="conv_rnn")
            if p["shuffle"]:  # padded steps are zero features of the one step per channel
                r = layer(keras.layers.Permute((2, 1), name="conv_rnn_shuffle")(x))
            else:
                r = layer(x, mask=ctx.mask) if ctx.mask is not None else layer(x)
            out = keras.layers.Concatenate(name="conv_rnn_concat")([out, r])
        if p["dropout"] > 0:
            out = keras.layers.Dropout(p["dropout"], name="conv_dropout")(out)
        return out

    def adapt(self, data_spec, task_spec):
        steps = int(data_spec.timesteps)
        if (steps <= LONG_STEPS or getattr(data_spec, "masked", False) or getattr(data_spec, "vocabulary", None)
                or task_spec.kind == "seq2seq"):
            # Short series keep every step; padded ones and aligned outputs need the whole axis.
            return {"stem": ((1,), 1)}
        return {"stem": (STEMS, 1)}

    def seq2seq_fixed(self):
        return {"rnn_branch": "none"}

    def summary(self, p):
        if p["arch"] == "inception":
            s = f"inception {p['modules']}x{4 * p['branch_filters']} k{p['max_kernel']}"
        else:
            s = f"{p['arch']} {p['blocks']}x{p['filters']} k{p['kernel']}"
        if p["rnn_branch"] != "none":
            s += f" + {p['rnn_branch']}{p['rnn_units']}{'/shuffled' if p['shuffle'] else ''}"
        if p.get("stem", 1) > 1:
            s = f"pool{p['stem']} + {s}"
        return s
