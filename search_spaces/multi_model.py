"""The model of several input sequences: each input sliced from the packed tensor into an
encoder of its own (its family and front end), the encoders' vectors merged (concatenated, or
attention across them), then the task's head. The search space over it is
``search_spaces.multi_input``."""

from __future__ import annotations

from .front import FRONT_PREFIX
from .params import Choice
from .spec_values import family_values, group_values, input_specs, recipe_values
from .specs import DataSpec

__all__ = ["MERGE_PREFIX", "MERGE_PARAMS", "MULTI_TASKS", "input_data_spec", "multi_outputs"]

MERGE_PREFIX = "merge"
MERGE_PARAMS = (
    # concat: the encoders' vectors side by side; attention: each vector projected to ``width``
    # and a multi-head attention layer across them (each input's summary reads the others').
    Choice("kind", ("concat", "attention"), default="concat"),
    Choice("width", (32, 64), default=64, when=("kind", ("attention",))),
)
# The tasks several inputs serve: one answer per example.
MULTI_TASKS = ("classification", "regression")


def input_data_spec(data_spec, info: dict) -> DataSpec:
    """The DataSpec of one input of a packed ``data_spec`` (``info``: its ``inputs`` entry)."""
    off, width = int(info["offset"]), int(info["n_features"])
    return DataSpec(timesteps=int(info["timesteps"]), n_features=width, feature_names=list(info.get("feature_names", [])),
                    feature_mean=list(data_spec.feature_mean[off:off + width]),
                    feature_var=list(data_spec.feature_var[off:off + width]), masked=bool(info.get("masked")))


def multi_outputs(packed, spec, data_spec, task_spec, body):
    """The outputs of the model of several inputs (``HeadValues``), its build context and its
    name: each input sliced from the packed tensor into its own encoder (a Model of its own,
    so two inputs of one family keep their layer names), merged, then the head."""
    import keras

    from .context import BuildContext
    from .front import build_front
    from .heads import HeadValues, build_head
    from .inputs import model_inputs
    from .precision import as_float32

    recipe, parts, vectors = recipe_values(spec), input_specs(spec), []
    for info in data_spec.inputs:
        n, part = info["name"], parts[info["name"]]
        family, p = family_values(part)
        front = group_values(part, FRONT_PREFIX)
        sub_spec = input_data_spec(data_spec, info)
        sub_in = keras.Input(shape=(sub_spec.timesteps, sub_spec.n_features), name=n)
        x, ctx = model_inputs(sub_in, sub_spec, task_spec, p, recipe["scaling"])
        with body():
            x = build_front(x, front) if front else x
            x = family.build(x, p, ctx)
        encoder = keras.Model(sub_in, as_float32(x), name=f"encoder_{n}")
        off = int(info["offset"])
        vectors.append(encoder(packed[:, :sub_spec.timesteps, off:off + sub_spec.n_features]))
    x = _merged(vectors, group_values(spec, MERGE_PREFIX), body)
    return HeadValues(build_head(x, task_spec, packed)), BuildContext(data_spec, task_spec), "seqsearch_inputs"


def _merged(vectors, merge: dict, body):
    import keras
    from keras import ops

    from .precision import as_float32

    if merge.get("kind", "concat") == "concat":
        return ops.concatenate(vectors, axis=-1) if len(vectors) > 1 else vectors[0]
    width = int(merge.get("width", 64))
    with body():
        tokens = ops.stack([keras.layers.Dense(width, name=f"merge_project_{i}")(v) for i, v in enumerate(vectors)], axis=1)
        attended = keras.layers.MultiHeadAttention(4, width // 4, name="merge_attention")(tokens, tokens)
        tokens = keras.layers.LayerNormalization(name="merge_norm")(keras.layers.Add(name="merge_residual")([tokens, attended]))
        x = keras.layers.Flatten(name="merge_flatten")(tokens)
    return as_float32(x)
