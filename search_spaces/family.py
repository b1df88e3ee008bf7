"""The base of an architecture family: declared parameters plus a builder."""

from __future__ import annotations

__all__ = ["Family"]


class Family:
    """Subclass, declare ``params`` and implement ``build``; register with ``@register_family``.

    ``build(x, p, ctx)`` receives the (already scaled) input sequence tensor of shape
    ``(batch, timesteps, features)`` and the family's own values ``p`` (names without the
    family prefix) and returns a vector ``(batch, d)`` the task head turns into outputs.
    """

    name: str = ""
    params: tuple = ()
    description: str = ""
    # What the family can produce: a vector for classification/regression, and for seq2seq
    # "none", "aligned" (one output step per input step) or "any" (an output length of its own).
    vector_output: bool = True
    seq2seq: str = "none"
    # How the family can use static per-sequence features (when the data has them): "concat"
    # (appended to every timestep, any family) or "init_state" (they initialise the first
    # recurrent layer's states through a learned projection; ``ctx.static_states``).
    static_modes: tuple = ("concat",)
    # Whether the family honours ``ctx.mask`` (variable-length, right-padded sequences).
    masking: bool = False
    # A family that shapes the raw sequence itself (convolutions over every step): the front
    # end is not sampled for it, unless the user fixes a ``front.*`` parameter.
    own_front: bool = False

    def validate(self):
        names = [p.name for p in self.params]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"family {self.name!r} declares parameter(s) twice: {sorted(dup)}")

    def build(self, x, p: dict, ctx):  # pragma: no cover - abstract
        raise NotImplementedError

    def cudnn_eligible(self, p: dict) -> bool:
        """True when every recurrent layer meets Keras' cuDNN conditions (no RNN: True)."""
        return True

    def summary(self, p: dict) -> str:
        return self.name

    def unsupported(self, data_spec, task_spec) -> str | None:
        """Why this family cannot serve the task, or None when it can."""
        if data_spec is not None and getattr(data_spec, "masked", False) and not self.masking:
            return "cannot read variable-length (padded and masked) sequences"
        if task_spec.kind != "seq2seq":
            return None if self.vector_output else "produces sequences only (seq2seq tasks)"
        if self.seq2seq == "any":
            return None
        if self.seq2seq == "aligned":
            if task_spec.output_steps == data_spec.timesteps:
                return None
            return (f"maps each input step to one output step, but the task has {data_spec.timesteps} "
                    f"input and {task_spec.output_steps} output steps")
        return "produces one vector per sequence, not a sequence"

    def adapt(self, data_spec, task_spec) -> dict:
        """How this family's parameters narrow for the data at hand: ``{name: (options,
        default)}`` (the series' length, say). The space applies it before the user's ``--set``."""
        return {}

    def seq2seq_fixed(self) -> dict:
        """Parameter values that do not matter for seq2seq (fixed so the search skips them)."""
        return {}

    def cudnn_fixed(self) -> dict:
        """Parameter values that keep this family inside the cuDNN kernels (``--cudnn-only``)."""
        return {}
