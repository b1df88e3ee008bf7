"""Mixed precision inside a model: the family's body computes at the session's mixed policy
(float16 on a GPU, bfloat16 on a CPU) while the edges stay float32.

The edges are where low precision breaks things, not where the time goes: raw inputs before
their scaling (a sensor or a demand of 70,000 overflows float16), the head that turns the body's
vector into probabilities or values in the target's units (a softmax or a de-standardised
forecast in float16 loses digits the loss and the user need), and the outputs every export
format serves. Variables are float32 under a mixed policy anyway, so the same weights load into
the all-float32 model an export builds.
"""

from __future__ import annotations

import contextlib

__all__ = ["float32_edges", "as_float32"]


def _set(policy) -> None:
    import keras

    keras.config.set_dtype_policy(policy)


@contextlib.contextmanager
def float32_edges():
    """Build a model's input scaling and head inside this block, its body inside the yielded
    ``body()`` block: under a mixed session policy, layers made in the block are float32 and
    those made in ``body()`` mixed; under float32, both are float32 (nothing changes). The
    session's policy is back on leaving the block (the Model itself is made under it, so that
    Keras scales the loss of a float16 model)."""
    import keras

    policy = keras.config.dtype_policy()
    if not policy.name.startswith("mixed"):
        yield contextlib.nullcontext
        return

    @contextlib.contextmanager
    def body():
        _set(policy)
        try:
            yield
        finally:
            _set("float32")

    _set("float32")
    try:
        yield body
    finally:
        _set(policy)


def as_float32(x):
    """A tensor the body made, cast to float32 for the head (float32 and integer tensors pass)."""
    from keras import ops

    dtype = str(getattr(x, "dtype", ""))
    return ops.cast(x, "float32") if dtype in ("float16", "bfloat16") else x
