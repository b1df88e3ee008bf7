"""Task heads: turn a family's vector into the task's outputs. Separate from families."""

from __future__ import annotations

__all__ = ["build_head", "finish_head", "HeadValues", "loss_and_metrics"]


class HeadValues:
    """What a family returns when it ran the task's output projection itself (a decoder that
    feeds its own predictions back must): class probabilities, or regression values in
    standard units, for inference and, where the family trains differently, for training
    (``teacher``: the teacher-forced graph that reads ``ctx.teacher_targets()``)."""

    def __init__(self, inference, teacher=None):
        self.inference = inference
        self.teacher = teacher


def finish_head(values, task_spec):
    """Answer in the target's own units: probabilities pass, standard units are de-standardised."""
    if task_spec.categorical:
        return values
    from .space import destandardize

    return destandardize(values, task_spec.target_mean, task_spec.target_var)


def build_head(x, task_spec):
    """Vector tasks get ``x`` of shape (batch, d); seq2seq gets (batch, output_steps, d) and
    the same layers apply per step (Dense works on the last axis)."""
    import keras

    if task_spec.kind == "seq2seq" and (len(x.shape) != 3 or x.shape[1] != task_spec.output_steps):
        raise ValueError(
            f"seq2seq needs a sequence of {task_spec.output_steps} steps from the family, got shape {tuple(x.shape)}"
        )
    if task_spec.categorical:
        return keras.layers.Dense(len(task_spec.classes), activation="softmax", name="classes")(x)
    if task_spec.kind in ("regression", "seq2seq"):
        z = keras.layers.Dense(task_spec.n_outputs, name="standardised_target")(x)
        # Predict in standard units, answer in the target's own: the exported model needs no
        # post-processing and the first prediction of a fresh model is the training mean.
        return finish_head(z, task_spec)
    raise ValueError(f"no head for task {task_spec.kind!r}")


def loss_and_metrics(task_spec):
    # For token seq2seq the same loss and accuracy apply per step (targets (batch, steps)).
    if task_spec.categorical:
        return "sparse_categorical_crossentropy", ["accuracy"]
    return "mse", ["mae"]
