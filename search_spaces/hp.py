"""The hp sampler protocol: the only thing a search space sees of an engine.

A space calls ``hp.choice / hp.int / hp.float / hp.boolean`` with fully prefixed names
(``"rnn.units"``). Adapters turn an Optuna trial, a KerasTuner ``HyperParameters`` or a stored
spec (``FixedParams``) into that protocol, so one space serves every engine.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

__all__ = ["HP", "FixedParams", "OptunaHP", "KerasTunerHP", "DefaultParams"]


class HP(Protocol):
    def choice(self, name: str, options: Sequence[Any]) -> Any: ...

    def int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int: ...

    def float(self, name: str, low: float, high: float, log: bool = False) -> float: ...

    def boolean(self, name: str) -> bool: ...


class OptunaHP:
    """Wraps an ``optuna.Trial`` (define-by-run, so conditional parameters come for free)."""

    def __init__(self, trial):
        self.trial = trial

    def choice(self, name, options):
        return self.trial.suggest_categorical(name, list(options))

    def int(self, name, low, high, step=1, log=False):
        # Optuna refuses step != 1 together with log=True; a log range is stepped by 1.
        return self.trial.suggest_int(name, low, high, step=1 if log else step, log=log)

    def float(self, name, low, high, log=False):
        return self.trial.suggest_float(name, low, high, log=log)

    def boolean(self, name):
        return self.trial.suggest_categorical(name, [False, True])


class KerasTunerHP:
    """Wraps a ``keras_tuner.HyperParameters``."""

    def __init__(self, hp):
        self.hp = hp

    def choice(self, name, options):
        return self.hp.Choice(name, list(options))

    def int(self, name, low, high, step=1, log=False):
        if log:
            return self.hp.Int(name, low, high, sampling="log")
        return self.hp.Int(name, low, high, step=step)

    def float(self, name, low, high, log=False):
        return self.hp.Float(name, low, high, sampling="log" if log else "linear")

    def boolean(self, name):
        return self.hp.Boolean(name)


class FixedParams:
    """Replays a stored spec: every asked name must be present and inside its declared range.

    A value outside the range raises ``ValueError`` naming the parameter, so a hand-edited or
    stale spec fails before any model is built.
    """

    def __init__(self, values: dict):
        self.values = dict(values)

    def _get(self, name):
        if name not in self.values:
            raise ValueError(
                f"spec has no value for parameter {name!r}; "
                f"known parameters: {', '.join(sorted(self.values)) or '(none)'}"
            )
        return self.values[name]

    def choice(self, name, options):
        value = self._get(name)
        if value not in list(options):
            raise ValueError(f"spec value {name}={value!r} is not one of {list(options)!r}")
        return value

    def int(self, name, low, high, step=1, log=False):
        value = self._get(name)
        if isinstance(value, bool) or not isinstance(value, int) and not (
            isinstance(value, float) and value.is_integer()
        ):
            raise ValueError(f"spec value {name}={value!r} is not an integer")
        value = int(value)
        if not low <= value <= high:
            raise ValueError(f"spec value {name}={value} is outside [{low}, {high}]")
        return value

    def float(self, name, low, high, log=False):
        value = self._get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"spec value {name}={value!r} is not a number")
        # Stored floats pass through JSON; allow the rounding that implies at the ends.
        tol = 1e-9 * max(abs(low), abs(high), 1.0)
        if not low - tol <= value <= high + tol:
            raise ValueError(f"spec value {name}={value} is outside [{low}, {high}]")
        return float(value)

    def boolean(self, name):
        value = self._get(name)
        if not isinstance(value, bool):
            raise ValueError(f"spec value {name}={value!r} is not a boolean")
        return value


class DefaultParams:
    """Answers every question with the declared default (``seqsearch spaces``, warm start)."""

    def __init__(self, defaults: dict, overrides: dict | None = None):
        self.defaults = defaults
        self.overrides = overrides or {}

    def _get(self, name):
        if name in self.overrides:
            return self.overrides[name]
        return self.defaults[name]

    def choice(self, name, options):
        return self._get(name)

    def int(self, name, low, high, step=1, log=False):
        return self._get(name)

    def float(self, name, low, high, log=False):
        return self._get(name)

    def boolean(self, name):
        return self._get(name)
