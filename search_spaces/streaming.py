"""Streaming models: a recurrent spec rebuilt to read an endless stream chunk by chunk.

The streaming model takes ``{"chunk": (batch, steps, features), "state": (batch, size)}`` and
answers ``{"output": ..., "next_state": (batch, size)}``: the output is the trained model's
answer for everything read so far, the next state goes into the next call (zeros before the
first). Every state is one flat float32 vector, so ONNX, TFLite and SavedModel carry it as a
plain tensor: each recurrent layer's states (LSTM h and c, GRU h, a user cell's
``state_size``), then a running pooling's sums. After the last chunk of a sequence the output
equals the trained model's on the whole sequence at once; chunks of any length (a padded one
for a variable-length model: its mask channel says which steps count).

What can stream: the ``rnn`` family read forwards (no bidirectional layers), with global or no
input scaling, no front end (a convolution, patch or pooling reads neighbouring steps across a
chunk's edge), any cell (registered ones too), pooling last, mean or attention (running forms),
concatenated static features. Full self-attention reads the whole window at once (transformer,
the bottleneck hybrid, convolutional families); the TLB's latents are a state too, but its
chunked transformer is not rebuilt for streaming.
"""

from __future__ import annotations

from dataclasses import replace

from .front import FRONT_PREFIX
from .pooling import pool_state_sizes
from .registry import get_cell
from .spec_values import family_values, group_values, is_multi_input, recipe_values

__all__ = ["STREAMING_FAMILIES", "StreamState", "streaming_unsupported", "state_sizes", "build_streaming",
           "streamable_space"]

STREAMING_FAMILIES = ("rnn",)


class StreamState:
    """The flat state vector of a streaming build: each stateful part ``take``s its slice of the
    previous state and ``give``s its new state, in build order."""

    def __init__(self, state):
        self.state, self.offset, self.states = state, 0, []

    def take(self, sizes) -> list:
        sizes = list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]
        parts = []
        for n in sizes:
            parts.append(self.state[:, self.offset:self.offset + int(n)])
            self.offset += int(n)
        return parts

    def give(self, outputs):
        """A layer's ``[output, *states]`` (``return_state``): keeps the states, returns the output."""
        output, *states = outputs
        self.give_states(states)
        return output

    def give_states(self, states) -> None:
        self.states += list(states)

    def next_state(self):
        from keras import ops

        if self.offset != int(self.state.shape[-1]):
            raise ValueError(f"the streaming build read {self.offset} state values of {self.state.shape[-1]}")
        return ops.concatenate(self.states, axis=-1) if len(self.states) > 1 else self.states[0]


def streaming_unsupported(spec: dict, data_spec, task_spec) -> str | None:
    """Why the model of ``spec`` cannot stream (a phrase after "it"), or None when it can."""
    if is_multi_input(spec):
        return "reads several input sequences"
    if task_spec.kind not in ("classification", "regression"):
        return f"answers a {task_spec.kind} task (streaming answers classification and regression)"
    if getattr(data_spec, "vocabulary", None):
        return "reads texts"
    family, p = family_values(spec)
    if family.name not in STREAMING_FAMILIES:
        return (f"is a {family.name} model, which reads its whole window at once (only the "
                f"{', '.join(STREAMING_FAMILIES)} family streams)")
    if p.get("bidirectional"):
        return "reads its sequence backwards too (rnn.bidirectional)"
    front = group_values(spec, FRONT_PREFIX).get("kind", "none")
    if front != "none":
        return f"has a {front} front end, which reads neighbouring steps across a chunk's edge"
    if recipe_values(spec).get("scaling") == "per_series":
        return "z-normalises each series over its whole length (train.scaling=per_series)"
    if p.get("static") == "init_state":
        return "starts its recurrence from the static features (rnn.static=init_state)"
    return None


def state_sizes(spec: dict, data_spec) -> list:
    """The sizes of the state's parts, in order (each layer's states, then the pooling's)."""
    _, p = family_values(spec)
    size = get_cell(p["cell"]).make_cell(int(p["units"])).state_size
    per_layer = [int(n) for n in (size if isinstance(size, (list, tuple)) else [size])]
    return per_layer * int(p["layers"]) + pool_state_sizes(p["pooling"], int(p["units"]), bool(data_spec.masked))


def build_streaming(spec: dict, data_spec, task_spec):
    """The streaming model of ``spec`` (uncompiled, its weights in the trained model's order),
    and its state size. Raises ValueError when the spec cannot stream."""
    import keras

    from .heads import build_head
    from .inputs import model_inputs

    reason = streaming_unsupported(spec, data_spec, task_spec)
    if reason:
        raise ValueError(f"this model cannot stream: it {reason}")
    family, p = family_values(spec)
    size = sum(state_sizes(spec, data_spec))
    chunk = keras.Input(shape=(None, data_spec.n_features), name="chunk")
    state = keras.Input(shape=(size,), name="state")
    x, ctx = model_inputs(chunk, replace(data_spec, timesteps=None), task_spec, p, recipe_values(spec)["scaling"])
    ctx.stream = StreamState(state)
    x = family.build(x, p, ctx)
    output = build_head(x, task_spec, chunk)
    model = keras.Model({"chunk": chunk, "state": state}, {"output": output, "next_state": ctx.stream.next_state()},
                        name=f"seqsearch_{family.name}_streaming")
    return model, size


def streamable_space(families, fixed: dict, data_spec, task_spec) -> tuple:
    """``(families, fixed)`` narrowed to the models that can stream (``run --streamable``):
    the streaming families, read forwards, no front end, global or no scaling, static features
    concatenated. A user's choice that contradicts it raises ValueError naming it."""
    if getattr(data_spec, "inputs", None):
        raise ValueError("--streamable: a model of several input sequences cannot stream; keep one input")
    if task_spec.kind not in ("classification", "regression"):
        raise ValueError(f"--streamable: streaming answers classification and regression, not {task_spec.kind}")
    if getattr(data_spec, "vocabulary", None):
        raise ValueError("--streamable: a text model reads whole texts; streaming reads sequences of values")
    chosen = [f for f in (families or STREAMING_FAMILIES) if f in STREAMING_FAMILIES]
    if not chosen:
        raise ValueError(f"--streamable searches the {', '.join(STREAMING_FAMILIES)} family; --families names "
                         f"{', '.join(families)}")
    wanted = {"rnn.bidirectional": False, f"{FRONT_PREFIX}.kind": "none", "train.scaling": ["global", "none"]}
    if data_spec.n_static:
        wanted["rnn.static"] = "concat"
    out = dict(fixed or {})
    for key, value in wanted.items():
        given = out.get(key)
        allowed = value if isinstance(value, list) else [value]
        if given is not None and any(v not in allowed for v in (given if isinstance(given, list) else [given])):
            raise ValueError(f"--streamable fixes {key} to {value!r} (a streaming model needs it); drop --set {key}={given}")
        out.setdefault(key, value)
    return chosen, out
