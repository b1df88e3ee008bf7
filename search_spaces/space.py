"""The search space: family choice, the chosen family's parameters, the front end and the
training recipe.

``SearchSpace.sample(hp)`` returns an ArchitectureSpec: a flat JSON dict with prefixed names
(``family``, ``rnn.units``, ``front.kind``, ``train.learning_rate``). ``build_model(spec,
data_spec, task_spec)`` rebuilds the same architecture from that dict alone.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Iterable

from .front import FRONT_PARAMS, FRONT_PREFIX, build_front, shortening_front
from .hp import DefaultParams, FixedParams
from .inputs import model_inputs
from .params import Boolean, Choice
from .recipe import (CLASSIFICATION_PARAMS, FORECAST_PARAMS, RECIPE_PARAMS, RECIPE_PREFIX, SEARCHED, SEQ2SEQ_PARAMS,
                     forecast_narrowing)
from .registry import family_names, get_family
from .spec_values import FAMILY_KEY, cudnn_eligible, family_values, group_values, is_multi_input, recipe_values, spec_summary

__all__ = ["SearchSpace", "build_model", "build_models", "build_scorer", "spec_summary", "cudnn_eligible", "family_values",
           "group_values", "recipe_values", "is_multi_input", "replayed_spec", "GROUPS", "FAMILY_KEY"]

# Parameter groups sampled with every family, in this order.
GROUPS = {FRONT_PREFIX: FRONT_PARAMS, RECIPE_PREFIX: RECIPE_PARAMS}


class SearchSpace:
    """Which families, and which (narrowed) parameters, a search may visit.

    ``families``: names to choose among (default: every registered family).
    ``fixed``: ``{"rnn.cell": "gru", "train.scaling": ["global", "none"], ...}`` — a scalar
    fixes a parameter, a list narrows a choice, and ``[low, high]`` narrows a numeric range.
    ``cudnn_only``: keep recurrent layers inside Keras' cuDNN kernel conditions.
    Everything is validated here, before any trial runs.
    """

    def __init__(self, families: Iterable[str] | None = None, fixed: dict | None = None, cudnn_only: bool = False,
                 data_spec=None, task_spec=None, groups: tuple = tuple(GROUPS)):
        names = self._families(families, data_spec, task_spec)
        self.families = names
        # The groups sampled with the family (one input's encoder of several: the front only).
        self.groups = tuple(groups)
        self.task_kind = task_spec.kind if task_spec is not None else None
        self._params = {n: list(get_family(n).params) for n in names}
        if data_spec is not None and data_spec.n_static and getattr(task_spec, "kind", None) != "forecasting":
            # Only with static features: how each family takes them in (a forecaster's are its
            # known-future block, which goes to the forecast head).
            for n in names:
                self._params[n].append(Choice("static", get_family(n).static_modes, default="concat"))
        for prefix in self.groups:
            self._params[prefix] = list(GROUPS[prefix])
        if RECIPE_PREFIX in self.groups:
            self._recipe_for_the_task(data_spec, task_spec, fixed)
        self._fit_to_the_data(data_spec, task_spec, fixed)
        if cudnn_only:
            for n in names:
                for pname, value in get_family(n).cudnn_fixed().items():
                    self._narrow(f"{n}.{pname}", value)
        for key, value in (fixed or {}).items():
            self._narrow(key, value)

    @staticmethod
    def _families(families, data_spec, task_spec) -> list:
        """The families searched: those named (each must serve the task), else every registered
        family that can serve it."""
        explicit = families is not None
        names = list(families) if explicit else family_names()
        if not names:
            raise ValueError("families must name at least one family")
        if len(set(names)) != len(names):
            raise ValueError(f"families repeat a name: {names}")
        for n in names:
            get_family(n)  # raises with the list of known families
        if task_spec is None:
            return names
        # Only the families that can produce what the task needs.
        reasons = {n: get_family(n).unsupported(data_spec, task_spec) for n in names}
        bad = {n: r for n, r in reasons.items() if r}
        if explicit and bad:
            n, r = next(iter(bad.items()))
            raise ValueError(f"family {n!r} cannot serve this {task_spec.kind} task: it {r}")
        names = [n for n in names if n not in bad]
        if not names:
            raise ValueError(f"no registered family can serve this {task_spec.kind} task")
        return names

    def _recipe_for_the_task(self, data_spec, task_spec, fixed) -> None:
        """The task's own recipe parameters (forecasting's output scale; classification's
        augmentation and label smoothing, narrowed to what the default space searches; token
        seq2seq's label smoothing and learning-rate schedule)."""
        if task_spec is not None and task_spec.padded:
            self._params[RECIPE_PREFIX] += list(SEQ2SEQ_PARAMS)
        if task_spec is not None and task_spec.kind == "forecasting":
            self._params[RECIPE_PREFIX] += list(FORECAST_PARAMS)
            for key, value in forecast_narrowing(task_spec, fixed or {}).items():
                self._narrow(key, value)
        if task_spec is None or task_spec.kind != "classification":
            return
        self._params[RECIPE_PREFIX] += list(CLASSIFICATION_PARAMS)
        for pname, value in SEARCHED.items():  # the rest only when --set asks for it
            if f"{RECIPE_PREFIX}.{pname}" not in (fixed or {}):
                self._narrow(f"{RECIPE_PREFIX}.{pname}", list(value) if isinstance(value, tuple) else value)
        if data_spec is not None and getattr(data_spec, "vocabulary", None):
            self._narrow(f"{RECIPE_PREFIX}.augment", "none")  # token ids are not values
        elif data_spec is not None and getattr(data_spec, "masked", False):
            # A window of a padded series would stretch padding into it.
            augment = next(p for p in self._params[RECIPE_PREFIX] if p.name == "augment")
            self._narrow(f"{RECIPE_PREFIX}.augment", [o for o in augment.current_options() if o != "slicing"])

    def _fit_to_the_data(self, data_spec, task_spec, fixed) -> None:
        """Front ends and family options the data allows: no convolution over padding, an
        embedding for token ids, one output step per input step for seq2seq, fronts that shorten
        a long series, and what each family adapts to the data."""
        names = self.families
        if data_spec is not None and getattr(data_spec, "masked", False):
            self._narrow(f"{FRONT_PREFIX}.kind", "none")  # a convolution would smear padding into the steps
        if data_spec is not None and getattr(data_spec, "vocabulary", None):
            # Text: token ids are embedded (the width is searched), never scaled.
            self._params[FRONT_PREFIX].append(Choice("embed_dim", (16, 32, 64, 128), default=64))
            if RECIPE_PREFIX in self.groups:
                self._narrow(f"{RECIPE_PREFIX}.scaling", "none")
        if task_spec is not None and task_spec.kind == "seq2seq":
            # Keep one output step per input step.
            self._narrow(f"{FRONT_PREFIX}.kind", ["none", "conv"])
            self._narrow(f"{FRONT_PREFIX}.stride", 1)
            for n in names:
                for pname, value in get_family(n).seq2seq_fixed().items():
                    self._narrow(f"{n}.{pname}", value)
        # Fixing any front.* parameter (--set front.kind=none) leaves the whole front end to the
        # user, for every family.
        self._user_front = any(k.startswith(FRONT_PREFIX + ".") for k in (fixed or {}))
        if (data_spec is not None and not getattr(data_spec, "masked", False)
                and not getattr(data_spec, "vocabulary", None)
                and (task_spec is None or task_spec.kind != "seq2seq")
                and not self._user_front):
            # A long series: only fronts that shorten the axis, so the families behind them
            # (full self-attention included) see a few hundred steps at most.
            for pname, (options, default) in shortening_front(int(data_spec.timesteps)).items():
                self._narrow(f"{FRONT_PREFIX}.{pname}", list(options))
                self._set_default(FRONT_PREFIX, pname, default)
        if data_spec is not None and task_spec is not None:
            for n in names:  # what each family adapts to the data (conv: its stem on long series)
                for pname, (options, default) in get_family(n).adapt(data_spec, task_spec).items():
                    self._narrow(f"{n}.{pname}", list(options))
                    self._set_default(n, pname, default)

    def _set_default(self, prefix, pname, default):
        plist = self._params[prefix]
        i = next(i for i, q in enumerate(plist) if q.name == pname)
        plist[i] = replace(plist[i], default=default)

    def _narrow(self, key, value):
        prefix, _, pname = key.rpartition(".")
        if prefix not in self._params:
            raise ValueError(
                f"cannot fix {key!r}: no family or group named {prefix!r} in this space "
                f"(have: {', '.join(self._params)})"
            )
        plist = self._params[prefix]
        for i, p in enumerate(plist):
            if p.name == pname:
                plist[i] = _narrowed(p, key, value)
                return
        raise ValueError(
            f"cannot fix {key!r}: {prefix!r} has no parameter {pname!r} "
            f"(have: {', '.join(p.name for p in plist)})"
        )

    def params(self, prefix: str) -> list:
        return self._params[prefix]

    def add_group(self, prefix: str, params) -> None:
        """Another group of parameters this space can narrow (sampled by whoever added it)."""
        self._params[prefix] = list(params)

    def narrow(self, key: str, value) -> None:
        """Fix (a scalar) or narrow (a list of options, a [low, high] range) the parameter ``key``."""
        self._narrow(key, value)

    def declare(self, hp) -> None:
        """Ask ``hp`` for every parameter of the space once (KerasTuner declares its whole space
        up front; a trial then asks only for the chosen family's active ones)."""
        hp.choice(FAMILY_KEY, self.families)
        for prefix in (*self.families, *self.groups):
            for p in self._params[prefix]:
                p.sample(hp, prefix)

    def _group(self, prefix: str, family: str) -> list:
        """The parameters of ``prefix`` asked with ``family``: a family with its own front
        (``own_front``) is asked no front-end kind, nor what depends on it (a text embedding
        width still is), unless the user fixed the front end."""
        plist = self._params[prefix]
        if prefix != FRONT_PREFIX or self._user_front or not get_family(family).own_front:
            return plist
        return [p for p in plist if p.name != "kind" and p.when is None]

    def sample(self, hp) -> dict:
        spec = {FAMILY_KEY: hp.choice(FAMILY_KEY, self.families)}
        # Conditional: only the chosen family's parameters are asked for, and among them only
        # those whose condition on an earlier parameter holds.
        for prefix in (spec[FAMILY_KEY], *self.groups):
            values = {}
            for p in self._group(prefix, spec[FAMILY_KEY]):
                if p.active(values):
                    values[p.name] = spec[p.full_name(prefix)] = p.sample(hp, prefix)
        return spec

    def default_spec(self, family: str | None = None, overrides: dict | None = None) -> dict:
        family = family or self.families[0]
        if family not in self.families:
            raise ValueError(f"family {family!r} is not in this space ({', '.join(self.families)})")
        defaults = {FAMILY_KEY: family}
        for prefix in (family, *self.groups):
            for p in self._group(prefix, family):
                defaults[p.full_name(prefix)] = p.get_default()
        spec = self.sample(DefaultParams(defaults, overrides))
        return self.validate_spec(spec)

    def validate_spec(self, spec: dict) -> dict:
        """Replay a stored spec through the space: every value must be inside its range."""
        if FAMILY_KEY not in spec:
            raise ValueError("spec has no 'family' entry")
        if spec[FAMILY_KEY] not in self.families:
            raise ValueError(f"spec family {spec[FAMILY_KEY]!r} is not in this space ({', '.join(self.families)})")
        return replayed_spec(self, spec)

    def describe(self) -> list[str]:
        """Lines for ``seqsearch spaces``: every family and group with ranges and defaults."""
        lines = []
        for prefix in (*self.families, *self.groups):
            title = get_family(prefix).description if prefix in self.families else _GROUP_TITLES[prefix]
            if prefix == FRONT_PREFIX and not self._user_front:
                own = [n for n in self.families if get_family(n).own_front]
                title += f" (not {', '.join(own)})" if own else ""
            lines.append(f"{prefix}: {title}")
            for p in self._params[prefix]:
                lines.append(f"  {prefix + '.' + p.name:<28} {p.describe() + p.condition_text():<58} default {p.get_default()}")
        return lines


_GROUP_TITLES = {
    FRONT_PREFIX: "front end in front of every family",
    RECIPE_PREFIX: "the training recipe, searched with every family",
}


def replayed_spec(space, spec: dict) -> dict:
    """``spec`` replayed through ``space`` (every value inside its range); a name the space does
    not ask for is an error."""
    replayed = space.sample(FixedParams(spec))
    extra = set(spec) - set(replayed)
    if extra:
        raise ValueError(f"spec has parameters this space does not ask for: {sorted(extra)}")
    return replayed


def _narrowed(p, key, value):
    if isinstance(p, Choice):
        return p.narrowed(list(value)) if isinstance(value, (list, tuple)) else p.fixed(value)
    if isinstance(p, Boolean):
        return p.fixed(value)
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ValueError(f"{key}: a range is [low, high] with two numbers, got {list(value)!r}")
        return p.narrowed(*value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key}: expected a number or [low, high], got {value!r}")
    return p.fixed(value)


def build_model(spec: dict, data_spec, task_spec):
    """Build the (uncompiled) Keras model for ``spec``; input takes raw, unscaled sequences."""
    return build_models(spec, data_spec, task_spec)[0]


def build_models(spec: dict, data_spec, task_spec):
    """``(model, trainer)``: the model that is scored and exported, and, for a family that
    trains on a different graph (a teacher-forced decoder), the training model that shares its
    layers and takes ``[sequences, targets]``; otherwise ``trainer`` is None."""
    model, trainer, _ = _build(spec, data_spec, task_spec, scoring=False)
    return model, trainer


def build_scorer(spec: dict, data_spec, task_spec):
    """``(model, scorer)``: the model as ``build_models`` makes it and, for a decoder that reads
    its previous token, the scorer sharing its layers: ``[sequences, targets]`` -> each step's
    token probabilities given the targets before it (teacher-forced, at inference), which beam
    search extends hypotheses with. ``scorer`` is None for other models."""
    model, _, scorer = _build(spec, data_spec, task_spec, scoring=True)
    return model, scorer


def _build(spec: dict, data_spec, task_spec, scoring: bool):
    import keras

    from .precision import float32_edges

    json.dumps(spec)  # a spec that is not JSON cannot be stored or replayed
    recipe = recipe_values(spec)
    inputs = keras.Input(shape=(data_spec.timesteps, data_spec.n_features), name="sequence")
    with float32_edges() as body:  # a mixed policy computes the body only
        if getattr(data_spec, "inputs", None):  # several input sequences, packed into one tensor
            from .multi_model import multi_outputs

            x, ctx, name = multi_outputs(inputs, spec, data_spec, task_spec, body)
        else:
            x, ctx, name = _outputs(inputs, spec, data_spec, task_spec, scoring, body)
    model = keras.Model(inputs, x.inference, name=name)
    smoothing = float(recipe.get("label_smoothing", 0.0) or 0.0) if task_spec.padded else 0.0
    trainer = scorer = None
    if x.teacher is not None or smoothing:
        # Trained on [sequences, targets]: a teacher-forced decoder reads them, label smoothing
        # adds its training-only term from them (a decoder without teacher forcing trains on its
        # inference graph).
        out = x.teacher if x.teacher is not None else x.inference
        if smoothing:
            from .token_training import SmoothingTerm

            out = SmoothingTerm(smoothing, name="label_smoothing", dtype="float32")(out, ctx.teacher_targets())
        trainer = keras.Model([inputs, ctx.targets], out, name=name + "_trainer")
    if x.scorer is not None:
        scorer = keras.Model([inputs, ctx.targets], x.scorer, name=name + "_scorer")
    return model, trainer, scorer


def _outputs(inputs, spec, data_spec, task_spec, scoring, body):
    """The model's outputs (``HeadValues``, float32) and build context: input scaling and head
    here, the front and the family inside ``body()`` (``precision.float32_edges``)."""
    from .heads import HeadValues, build_head, finish_head
    from .precision import as_float32

    family, p = family_values(spec)
    recipe = recipe_values(spec)
    front = group_values(spec, FRONT_PREFIX)
    x, ctx = model_inputs(inputs, data_spec, task_spec, p, recipe["scaling"], int(front.get("embed_dim", 64)))
    ctx.scoring = scoring
    with body():
        x = build_front(x, front) if front else x
        x = family.build(x, p, ctx)
    if isinstance(x, HeadValues):
        values = (x.inference, x.teacher, x.scorer)
        return HeadValues(*(None if v is None else finish_head(as_float32(v), task_spec) for v in values)), ctx, \
            f"seqsearch_{family.name}"
    x = as_float32(x)
    if ctx.future is not None:
        from keras import ops

        x = ops.concatenate([x, ctx.future], axis=-1)
    head = build_head(x, task_spec, inputs, output_scale=recipe.get("output_scale", "global"),
                      base=recipe.get("forecast_base", "last"), transform=recipe.get("target_transform", "none"))
    return HeadValues(head), ctx, f"seqsearch_{family.name}"
