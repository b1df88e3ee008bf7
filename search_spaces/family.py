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

    def cudnn_fixed(self) -> dict:
        """Parameter values that keep this family inside the cuDNN kernels (``--cudnn-only``)."""
        return {}
