"""Task heads: turn a family's vector into the task's outputs. Separate from families."""

from __future__ import annotations

__all__ = ["build_head", "loss_and_metrics"]


def build_head(x, task_spec):
    import keras

    if task_spec.kind == "classification":
        return keras.layers.Dense(len(task_spec.classes), activation="softmax", name="classes")(x)
    if task_spec.kind == "regression":
        z = keras.layers.Dense(task_spec.n_outputs, name="standardised_target")(x)
        # Predict in standard units, answer in the target's own: the exported model needs no
        # post-processing and the first prediction of a fresh model is the training mean.
        return keras.layers.Normalization(
            mean=task_spec.target_mean, variance=task_spec.target_var, invert=True, name="target"
        )(z)
    raise ValueError(f"no head for task {task_spec.kind!r}")


def loss_and_metrics(task_spec):
    if task_spec.kind == "classification":
        return "sparse_categorical_crossentropy", ["accuracy"]
    return "mse", ["mae"]
