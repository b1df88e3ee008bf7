"""Several input sequences per example (a 100 Hz accelerometer and a 1 Hz heart rate, a text
and a sensor trace): each input gets its own encoder, a family and front end searched per input
(the same family or different ones), the encoders' vectors are merged (searched: concatenated,
or attention across them), then the task's head.

The data reaches the model packed into one tensor (``seqsearch.data.multi`` packs it), so every
part of the pipeline that moves arrays (splits, folds, batches) moves one: input ``i`` is
``x[:, :timesteps_i, offset_i:offset_i + n_features_i]``, its mask channel last in its block
when its sequences have lengths. ``DataSpec.inputs`` records that layout; the deployed model
takes the inputs by name and packs them itself.

A spec names each input's parameters under the input's name (``accel/family``,
``accel/conv.filters``, ``hr/front.kind``), then ``merge.*`` and the shared ``train.*``;
``family`` reads ``conv+gru`` (the inputs' families in order).
"""

from __future__ import annotations

from .front import FRONT_PREFIX
from .hp import DefaultParams
from .multi_model import MERGE_PARAMS, MERGE_PREFIX, MULTI_TASKS, input_data_spec
from .recipe import RECIPE_PREFIX
from .space import SearchSpace, replayed_spec
from .spec_values import FAMILY_KEY, SEP, input_specs

__all__ = ["MultiInputSpace", "PrefixedHP"]


class PrefixedHP:
    """An hp sampler that asks every name under ``prefix`` (one input's encoder)."""

    def __init__(self, hp, prefix: str):
        self.hp, self.prefix = hp, prefix

    def choice(self, name, options):
        return self.hp.choice(self.prefix + name, options)

    def int(self, name, low, high, step=1, log=False):
        return self.hp.int(self.prefix + name, low, high, step=step, log=log)

    def float(self, name, low, high, log=False):
        return self.hp.float(self.prefix + name, low, high, log=log)

    def boolean(self, name):
        return self.hp.boolean(self.prefix + name)


class MultiInputSpace:
    """The search space of several inputs: one ``SearchSpace`` (family and front end) per
    input, the merge, and the shared recipe. ``fixed`` keys: ``accel/rnn.cell`` fixes one
    input's encoder, ``rnn.cell`` or ``front.kind`` every input's, ``merge.kind`` and
    ``train.*`` the shared parts. Has the interface of ``SearchSpace``."""

    def __init__(self, families=None, fixed: dict | None = None, cudnn_only: bool = False, data_spec=None,
                 task_spec=None):
        if task_spec.kind not in MULTI_TASKS:
            raise ValueError(f"several input sequences serve {' and '.join(MULTI_TASKS)}, not {task_spec.kind}; "
                             "keep one input for this task")
        self.task_kind = task_spec.kind
        self.names = [info["name"] for info in data_spec.inputs]
        per_input, shared, top = {n: {} for n in self.names}, {}, {}
        for key, value in (fixed or {}).items():
            name, sep, rest = key.partition(SEP)
            if sep and name not in per_input:
                raise ValueError(f"cannot fix {key!r}: there is no input named {name!r} (inputs: {', '.join(self.names)})")
            if sep:
                per_input[name][rest] = value
            elif key.startswith((RECIPE_PREFIX + ".", MERGE_PREFIX + ".")):
                top[key] = value
            else:
                shared[key] = value
        self.subs = {}
        for info in data_spec.inputs:
            n = info["name"]
            try:
                self.subs[n] = SearchSpace(families, {**shared, **per_input[n]}, cudnn_only,
                                           data_spec=input_data_spec(data_spec, info), task_spec=task_spec,
                                           groups=(FRONT_PREFIX,))
            except ValueError as e:
                raise ValueError(f"input {n!r}: {e}") from None
        self.families = list(dict.fromkeys(f for sub in self.subs.values() for f in sub.families))
        self.groups = (MERGE_PREFIX, RECIPE_PREFIX)
        self._top = self._shared_groups(families, top, data_spec, task_spec)

    def _shared_groups(self, families, top, data_spec, task_spec) -> dict:
        """The merge and recipe parameters, narrowed as ``top`` asks. The packed tensor is not
        augmented (a time warp of one input's axis would not be the others'), nor sliced."""
        augment = top.get(f"{RECIPE_PREFIX}.augment", "none")
        if augment not in ("none", ["none"]) and task_spec.kind == "classification":
            raise ValueError(f"train.augment={augment}: several inputs train without augmentation; leave it out")
        recipe = SearchSpace(families, {k: v for k, v in top.items() if k.startswith(RECIPE_PREFIX + ".")},
                             data_spec=input_data_spec(data_spec, data_spec.inputs[0]), task_spec=task_spec,
                             groups=(RECIPE_PREFIX,))
        if task_spec.kind == "classification":
            recipe.narrow(f"{RECIPE_PREFIX}.augment", "none")
        merge = SearchSpace(families, groups=())
        merge.add_group(MERGE_PREFIX, MERGE_PARAMS)
        for key, value in top.items():
            if key.startswith(MERGE_PREFIX + "."):
                merge.narrow(key, value)
        return {MERGE_PREFIX: merge.params(MERGE_PREFIX), RECIPE_PREFIX: recipe.params(RECIPE_PREFIX)}

    def params(self, prefix: str) -> list:
        return self._top[prefix]

    def _shared(self, hp, spec: dict) -> None:
        for prefix in self.groups:
            values = {}
            for p in self._top[prefix]:
                if p.active(values):
                    values[p.name] = spec[p.full_name(prefix)] = p.sample(hp, prefix)

    def sample(self, hp) -> dict:
        spec, families = {FAMILY_KEY: ""}, []
        for n, sub in self.subs.items():
            part = sub.sample(PrefixedHP(hp, n + SEP))
            families.append(part[FAMILY_KEY])
            spec.update({n + SEP + k: v for k, v in part.items()})
        spec[FAMILY_KEY] = "+".join(families)
        self._shared(hp, spec)
        return spec

    def declare(self, hp) -> None:
        for n, sub in self.subs.items():
            sub.declare(PrefixedHP(hp, n + SEP))
        for prefix in self.groups:
            for p in self._top[prefix]:
                p.sample(hp, prefix)

    def _input_families(self, family) -> list:
        """``family`` as one family per input: ``conv`` for every input, or ``conv+gru``."""
        if family is None:
            return [sub.families[0] for sub in self.subs.values()]
        parts = str(family).split("+")
        if len(parts) == 1:
            parts = parts * len(self.names)
        if len(parts) != len(self.names):
            raise ValueError(f"family {family!r} names {len(parts)} families for {len(self.names)} inputs "
                             f"({', '.join(self.names)}); give one, or one per input joined by '+'")
        return parts

    def default_spec(self, family: str | None = None, overrides: dict | None = None) -> dict:
        """Every input's encoder at its defaults (``family``: one for every input, or one per
        input joined by '+'); ``overrides`` as a spec names them: ``accel/conv.filters`` for one
        input, ``conv.filters`` for every input, ``merge.*``, ``train.*``."""
        overrides = dict(overrides or {})
        shared = {k: v for k, v in overrides.items()
                  if SEP not in k and k != FAMILY_KEY and not k.startswith((RECIPE_PREFIX + ".", MERGE_PREFIX + "."))}
        own = input_specs(overrides)
        spec = {FAMILY_KEY: ""}
        for (n, sub), fam in zip(self.subs.items(), self._input_families(family)):
            part = sub.default_spec(fam, {**shared, **own.get(n, {}), FAMILY_KEY: fam})
            spec.update({n + SEP + k: v for k, v in part.items()})
        defaults = {p.full_name(prefix): p.get_default() for prefix in self.groups for p in self._top[prefix]}
        self._shared(DefaultParams(defaults, overrides), spec)
        spec[FAMILY_KEY] = "+".join(spec[n + SEP + FAMILY_KEY] for n in self.names)
        return self.validate_spec(spec)

    def validate_spec(self, spec: dict) -> dict:
        missing = [n for n in self.names if n + SEP + FAMILY_KEY not in spec]
        if missing:
            raise ValueError(f"spec has no family for input(s) {', '.join(missing)} (a spec of several inputs names "
                             f"each input's parameters as '<input>/<name>', inputs: {', '.join(self.names)})")
        return replayed_spec(self, spec)

    def describe(self) -> list[str]:
        lines = []
        for n, sub in self.subs.items():
            lines.append(f"input {n!r} (its parameters are named '{n}{SEP}<name>'):")
            lines += ["  " + line for line in sub.describe()]
        titles = {MERGE_PREFIX: "how the inputs' encodings are merged", RECIPE_PREFIX: "the training recipe, shared"}
        for prefix in self.groups:
            lines.append(f"{prefix}: {titles[prefix]}")
            for p in self._top[prefix]:
                lines.append(f"  {prefix + '.' + p.name:<28} {p.describe() + p.condition_text():<58} default {p.get_default()}")
        return lines
