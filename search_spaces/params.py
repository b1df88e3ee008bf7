"""Parameter declarations: a name, a range and a default, validated when declared.

A family lists its parameters once; sampling, replaying, printing (``seqsearch spaces``) and
narrowing by the user all read the same declaration, so they cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

__all__ = ["Param", "Choice", "Int", "Float", "Boolean"]

_SCALAR = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Param:
    name: str
    # Conditional parameter: ("other_param", (values...)) -> asked only when the family's
    # earlier parameter ``other_param`` took one of ``values``.
    when: tuple | None = field(default=None, kw_only=True)

    def active(self, values: dict) -> bool:
        if self.when is None:
            return True
        other, allowed = self.when
        return other in values and values[other] in allowed

    def condition_text(self) -> str:
        if self.when is None:
            return ""
        other, allowed = self.when
        return f" (if {other} in {', '.join(map(str, allowed))})" if len(allowed) > 1 else f" (if {other}={allowed[0]})"

    def sample(self, hp, prefix: str):  # pragma: no cover - abstract
        raise NotImplementedError

    def full_name(self, prefix: str) -> str:
        return f"{prefix}.{self.name}" if prefix else self.name

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def fixed(self, value) -> "Param":
        """The same parameter restricted to one value (checked against the range)."""
        raise NotImplementedError  # pragma: no cover


def _check_name(name):
    if not isinstance(name, str) or not name or "." in name or name.strip() != name:
        raise ValueError(f"parameter name must be a non-empty string without dots, got {name!r}")


@dataclass(frozen=True)
class Choice(Param):
    options: tuple = ()
    default: Any = None
    # Options may depend on a registry that grows at run time (user-registered cells).
    options_fn: Callable[[], Sequence[Any]] | None = field(default=None, compare=False)

    def __post_init__(self):
        _check_name(self.name)
        opts = self.current_options()
        if not opts:
            raise ValueError(f"parameter {self.name!r}: options must not be empty")
        for o in opts:
            if not isinstance(o, _SCALAR):
                raise ValueError(
                    f"parameter {self.name!r}: option {o!r} is a {type(o).__name__}; "
                    "options must be str, int, float, bool or None so specs stay JSON"
                )
        if len(set(map(repr, opts))) != len(opts):
            raise ValueError(f"parameter {self.name!r}: options {list(opts)!r} repeat a value")
        if self.default is not None and self.default not in opts:
            raise ValueError(
                f"parameter {self.name!r}: default {self.default!r} is not one of {list(opts)!r}"
            )

    def current_options(self) -> tuple:
        return tuple(self.options_fn()) if self.options_fn else tuple(self.options)

    def get_default(self):
        return self.current_options()[0] if self.default is None else self.default

    def sample(self, hp, prefix):
        return hp.choice(self.full_name(prefix), self.current_options())

    def describe(self):
        return "one of " + ", ".join(map(str, self.current_options()))

    def fixed(self, value):
        return self.narrowed([value])

    def narrowed(self, options):
        if not options:
            raise ValueError(f"parameter {self.name!r}: an empty list of choices; give at least one of {list(self.current_options())!r}")
        opts = self.current_options()
        bad = [o for o in options if o not in opts]
        if bad:
            raise ValueError(f"parameter {self.name!r}: {bad!r} not among {list(opts)!r}")
        default = self.default if self.default in options else options[0]
        return replace(self, options=tuple(options), options_fn=None, default=default)


def _check_range(name, low, high, default, log, kind):
    if not low <= high:
        raise ValueError(f"parameter {name!r}: low {low!r} must not exceed high {high!r}")
    if log and low <= 0:
        raise ValueError(f"parameter {name!r}: a log range needs low > 0, got {low!r}")
    if default is not None and not low <= default <= high:
        raise ValueError(f"parameter {name!r}: default {default!r} outside [{low}, {high}]")


@dataclass(frozen=True)
class Int(Param):
    low: int = 0
    high: int = 0
    step: int = 1
    log: bool = False
    default: int | None = None

    def __post_init__(self):
        _check_name(self.name)
        for v in (self.low, self.high, self.step):
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"parameter {self.name!r}: bounds and step must be ints, got {v!r}")
        if self.step < 1:
            raise ValueError(f"parameter {self.name!r}: step must be >= 1, got {self.step}")
        _check_range(self.name, self.low, self.high, self.default, self.log, "int")

    def get_default(self):
        return self.low if self.default is None else self.default

    def sample(self, hp, prefix):
        if self.low == self.high:
            return hp.int(self.full_name(prefix), self.low, self.high)
        return hp.int(self.full_name(prefix), self.low, self.high, step=self.step, log=self.log)

    def describe(self):
        extra = " log" if self.log else (f" step {self.step}" if self.step != 1 else "")
        return f"int [{self.low}, {self.high}]{extra}"

    def fixed(self, value):
        return self.narrowed(value, value)

    def narrowed(self, low, high):
        if not all(float(v).is_integer() for v in (low, high)):
            raise ValueError(f"parameter {self.name!r} takes integers, got [{low}, {high}]")
        if not (self.low <= low <= high <= self.high):
            raise ValueError(
                f"parameter {self.name!r}: [{low}, {high}] is not inside [{self.low}, {self.high}]"
            )
        default = int(min(max(self.get_default(), low), high))
        return replace(self, low=int(low), high=int(high), default=default)


@dataclass(frozen=True)
class Float(Param):
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    default: float | None = None

    def __post_init__(self):
        _check_name(self.name)
        for v in (self.low, self.high):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"parameter {self.name!r}: bounds must be finite numbers, got {v!r}")
        _check_range(self.name, self.low, self.high, self.default, self.log, "float")

    def get_default(self):
        return self.low if self.default is None else self.default

    def sample(self, hp, prefix):
        return hp.float(self.full_name(prefix), float(self.low), float(self.high), log=self.log)

    def describe(self):
        return f"float [{self.low:g}, {self.high:g}]" + (" log" if self.log else "")

    def fixed(self, value):
        return self.narrowed(value, value)

    def narrowed(self, low, high):
        if not (self.low <= low <= high <= self.high):
            raise ValueError(
                f"parameter {self.name!r}: [{low}, {high}] is not inside [{self.low}, {self.high}]"
            )
        default = min(max(self.get_default(), low), high)
        return replace(self, low=float(low), high=float(high), default=default)


@dataclass(frozen=True)
class Boolean(Param):
    default: bool = False
    only: bool | None = None  # set when the user fixes the value

    def __post_init__(self):
        _check_name(self.name)
        if not isinstance(self.default, bool):
            raise ValueError(f"parameter {self.name!r}: default must be a bool, got {self.default!r}")

    def get_default(self):
        return self.default if self.only is None else self.only

    def sample(self, hp, prefix):
        if self.only is not None:
            return hp.choice(self.full_name(prefix), [self.only])
        return hp.boolean(self.full_name(prefix))

    def describe(self):
        return "bool" if self.only is None else f"fixed {self.only}"

    def fixed(self, value):
        if not isinstance(value, bool):
            raise ValueError(f"parameter {self.name!r}: expected true or false, got {value!r}")
        return replace(self, only=value, default=value)
