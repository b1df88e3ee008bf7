"""PatchTST (Nie et al., 2023, "A Time Series is Worth 64 Words") for forecasting.

Each channel of the window is read on its own by one shared encoder (channel independence: the
channels become extra examples of a univariate problem), cut into patches of ``patch`` steps
every ``stride`` steps, each patch projected to ``d_model`` with a learned position, through
pre-norm transformer encoder blocks; every patch's output of every channel is flattened into the
vector the forecast head maps to the horizon (PatchTST's flatten head). The window's scaling
(``train.scaling``: ``per_series`` is RevIN's instance normalisation) and the head's base and
transform stay searched as for every forecaster. Patches make attention cheap on long lookbacks:
a window of 336 steps in patches of 16 every 8 is 41 tokens.
"""

from __future__ import annotations

from .family import Family
from .params import Choice, Float, Int
from .registry import register_family
from .transformer import add_positions, transformer_block

__all__ = ["PatchTST", "PATCHES"]

PATCHES = (2, 4, 8, 16, 24)


def _fitting(steps: int) -> tuple:
    """The patch lengths that cut a window of ``steps`` into at least two patches."""
    return tuple(p for p in PATCHES if 2 * p <= steps)


@register_family("patchtst")
class PatchTST(Family):
    description = "PatchTST: each channel in patches through shared transformer blocks, flattened (forecasting only)"
    own_front = True
    params = (
        Choice("patch", PATCHES, default=8),
        Choice("stride", ("half", "full"), default="half"),
        Choice("d_model", (16, 32, 64, 128), default=64),
        Int("blocks", 1, 3, default=2),
        Choice("heads", (1, 2, 4, 8), default=4),
        Choice("ff_dim", (64, 128, 256), default=128),
        Float("dropout", 0.0, 0.3, default=0.1),
    )

    def unsupported(self, data_spec, task_spec) -> str | None:
        if task_spec.kind != "forecasting":
            return "forecasts from a window cut into patches (forecasting only)"
        if data_spec is not None and not _fitting(int(data_spec.timesteps)):
            return f"needs a lookback of at least {2 * PATCHES[0]} steps (two patches)"
        return super().unsupported(data_spec, task_spec)

    def adapt(self, data_spec, task_spec) -> dict:
        fits = _fitting(int(data_spec.timesteps))
        if not fits:
            return {}
        # The default: patches of about a sixth of the window (PatchTST: 16 of 336 with stride 8
        # makes 42 tokens; short windows keep at least three).
        default = max((p for p in fits if p * 6 <= data_spec.timesteps), default=fits[0])
        return {"patch": (fits, default)}

    def build(self, x, p, ctx):
        import keras
        from keras import ops

        steps, channels = int(x.shape[1]), int(x.shape[2])
        patch = int(p["patch"])
        stride = patch if p["stride"] == "full" else max(1, patch // 2)
        d = int(p["d_model"])
        # (batch, steps, channels) -> (batch * channels, steps, 1): one univariate series each.
        z = ops.reshape(ops.transpose(x, (0, 2, 1)), (-1, steps, 1))
        z = keras.layers.Conv1D(d, patch, strides=stride, padding="valid", name="patchtst_embed")(z)
        z = add_positions(z, "learned", "patchtst_pos")
        z = keras.layers.Dropout(p["dropout"], name="patchtst_drop")(z)
        heads = int(p["heads"])
        for b in range(int(p["blocks"])):
            z = transformer_block(z, heads=heads, key_dim=max(1, d // heads), ff_dim=int(p["ff_dim"]),
                                  dropout=p["dropout"], norm="pre", name=f"patchtst_{b}")
        z = keras.layers.LayerNormalization(epsilon=1e-6, name="patchtst_final_norm")(z)
        tokens = int(z.shape[1])
        # Back to one vector per window: every channel's every patch (the flatten head's input).
        return ops.reshape(z, (-1, channels * tokens * d))

    def summary(self, p) -> str:
        stride = int(p["patch"]) if p["stride"] == "full" else max(1, int(p["patch"]) // 2)
        return f"patchtst p{p['patch']}/{stride} {p['blocks']}x(d{p['d_model']} h{p['heads']})"
