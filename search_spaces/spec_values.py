"""Reading an ArchitectureSpec: the family and its values, a group's values, the one-line
summary, and the parts of a spec of several inputs (``accel/family``, ``accel/conv.filters``,
``merge.kind``: ``search_spaces.multi_input``)."""

from __future__ import annotations

from .front import FRONT_PREFIX
from .recipe import RECIPE_PREFIX
from .registry import get_family

__all__ = ["FAMILY_KEY", "SEP", "MERGE_KIND", "group_values", "family_values", "recipe_values", "spec_summary",
           "is_multi_input", "input_specs", "cudnn_eligible"]

FAMILY_KEY = "family"
# Between an input's name and its encoder's parameter names, in a spec of several inputs.
SEP = "/"
MERGE_KIND = "merge.kind"


def group_values(spec: dict, prefix: str) -> dict:
    """The values of the parameters under ``prefix`` (``front``, ``train``), names without it."""
    head = prefix + "."
    return {k[len(head):]: v for k, v in spec.items() if k.startswith(head)}


def family_values(spec: dict) -> tuple:
    """The family and its values; parameters the spec lacks take their declared defaults, so
    specs stored before a parameter existed still build (defaults keep the old behaviour)."""
    family = get_family(spec[FAMILY_KEY])
    values = {p.name: p.get_default() for p in family.params}
    values.update(group_values(spec, family.name))
    return family, values


def recipe_values(spec: dict) -> dict:
    return group_values(spec, RECIPE_PREFIX)


def spec_summary(spec: dict) -> str:
    if is_multi_input(spec):  # accel: conv5/2 + gru64 | hr: lstm32, concat
        parts = " | ".join(f"{n}: {spec_summary(part)}" for n, part in input_specs(spec).items())
        return f"{parts}, {spec.get(MERGE_KIND, 'concat')}"
    family, p = family_values(spec)
    s = family.summary(p)
    if "static" in p:
        s += " +static:" + ("init" if p["static"] == "init_state" else "concat")
    kind = spec.get(f"{FRONT_PREFIX}.kind")
    if kind == "conv":
        stack = spec.get(f"{FRONT_PREFIX}.layers", 1)
        s = f"conv{spec[f'{FRONT_PREFIX}.kernel']}/{spec[f'{FRONT_PREFIX}.stride']}{f'x{stack}' if stack > 1 else ''} + " + s
    elif kind == "patch":
        s = f"patch{spec[f'{FRONT_PREFIX}.patch']} + " + s
    elif kind == "pool":
        s = f"pool{spec[f'{FRONT_PREFIX}.pool']} + " + s
    return s


def is_multi_input(spec: dict) -> bool:
    """Whether ``spec`` encodes several input sequences (``<input>/family`` per input)."""
    return any(k.endswith(SEP + FAMILY_KEY) for k in spec)


def input_specs(spec: dict) -> dict:
    """``{input: its encoder's spec}`` (names without the input's prefix), in the spec's order."""
    out = {}
    for key, value in spec.items():
        name, sep, rest = key.partition(SEP)
        if sep:
            out.setdefault(name, {})[rest] = value
    return out


def cudnn_eligible(spec: dict) -> bool:
    if is_multi_input(spec):
        return all(cudnn_eligible(part) for part in input_specs(spec).values())
    family, p = family_values(spec)
    return family.cudnn_eligible(p)
