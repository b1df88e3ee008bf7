"""The training recipe's data side: augmentation of training batches and label smoothing.

Both act on the training batches only, in the ``tf.data`` pipeline that feeds ``fit`` (on the
JAX backend: in NumPy, as each batch is read, with the same formulas), so
the model that is scored and exported is the same graph with or without them (nothing to
export, no custom layer), and the validation loss that ranks trials is the plain
cross-entropy of the hard labels whatever the recipe (comparable across trials).

Augmentations (Iwana & Uchida 2021, "An empirical survey of data augmentation for time series
classification with neural networks", at its defaults), on the raw values the model's input
scaling then sees, on the sequence channels only (static channels and the observed-steps
channel of variable-length data are left alone), and on observed steps only:

* ``jitter``: add Gaussian noise of 0.03 x the feature's training standard deviation;
* ``scaling``: stretch each series' deviation from the feature's training mean by a factor
  drawn from N(1, 0.1) per series and channel;
* ``slicing``: a random window of 90% of the steps, stretched back to the full length by
  linear interpolation (fixed-length data only: the space leaves it out otherwise).

Label smoothing replaces the training batch's one-hot targets by (1 - e) one-hot + e / K; the
loss is then Keras' categorical cross-entropy on one-hot targets, which on hard validation
labels is the same number as the sparse cross-entropy of the other trials.
"""

from __future__ import annotations

import numpy as np

__all__ = ["JITTER_SIGMA", "SCALING_SIGMA", "SLICE_RATIO", "batch_transform", "one_hot"]

JITTER_SIGMA = 0.03
SCALING_SIGMA = 0.1
SLICE_RATIO = 0.9


def _dynamic(data_spec) -> int:
    """How many leading channels are sequence values (the rest: static values, mask)."""
    return int(data_spec.n_features) - int(data_spec.n_static) - int(bool(getattr(data_spec, "masked", False)))


def _slice(x, ratio: float):
    """A random ``ratio`` window of each series, linearly stretched back to its length."""
    import tensorflow as tf

    steps = tf.shape(x)[1]
    t = tf.cast(steps, tf.float32)
    span = ratio * (t - 1.0)
    start = tf.random.uniform([tf.shape(x)[0], 1], 0.0, (1.0 - ratio) * (t - 1.0))
    pos = start + tf.linspace(0.0, 1.0, steps)[None, :] * span  # (batch, steps), within [0, t - 1]
    lo = tf.clip_by_value(tf.cast(tf.floor(pos), tf.int32), 0, steps - 1)
    hi = tf.minimum(lo + 1, steps - 1)
    w = (pos - tf.cast(lo, tf.float32))[:, :, None]
    a = tf.gather(x, lo, axis=1, batch_dims=1)
    b = tf.gather(x, hi, axis=1, batch_dims=1)
    return a * (1.0 - w) + b * w


def _statistics(data_spec):
    """(dynamic channels, their training means and standard deviations, masked?)."""
    from search_spaces.scaling import feature_std  # the model's own standardisation divisor

    n = _dynamic(data_spec)
    mean = np.asarray(data_spec.feature_mean, dtype="float32")[:n]
    return n, mean, feature_std(data_spec.feature_var)[:n], bool(getattr(data_spec, "masked", False))


def _numpy_augmenter(kind: str, data_spec):
    """``_augmenter``'s formulas in NumPy (backends without tf.data), from a generator seeded by
    NumPy's global seed when the model's fit is made (``keras.utils.set_random_seed``)."""
    n, mean, std, masked = _statistics(data_spec)
    rng = np.random.default_rng(np.random.randint(2**31))

    def augment(x):
        x = np.asarray(x, dtype=np.float32)
        values, rest = x[:, :, :n], x[:, :, n:]
        if kind == "slicing":
            b, steps = values.shape[:2]
            t = np.float32(steps)
            start = rng.uniform(0.0, (1.0 - SLICE_RATIO) * (t - 1.0), size=(b, 1)).astype(np.float32)
            pos = start + np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :] * (SLICE_RATIO * (t - 1.0))
            lo = np.clip(np.floor(pos).astype(np.int64), 0, steps - 1)
            hi = np.minimum(lo + 1, steps - 1)
            w = (pos - lo)[:, :, None]
            moved = (np.take_along_axis(values, lo[:, :, None], axis=1) * (1.0 - w)
                     + np.take_along_axis(values, hi[:, :, None], axis=1) * w)
        elif kind == "jitter":
            moved = values + rng.standard_normal(values.shape, dtype=np.float32) * (JITTER_SIGMA * std)
        elif kind == "scaling":
            factor = 1.0 + SCALING_SIGMA * rng.standard_normal((len(values), 1, n), dtype=np.float32)
            moved = mean + (values - mean) * factor
        else:
            raise ValueError(f"unknown train.augment {kind!r}")
        if masked and kind != "slicing":  # padded steps stay as they were
            moved = np.where(x[:, :, -1:] > 0.5, moved, values)
        return np.concatenate([moved.astype(np.float32), rest], axis=-1)

    return augment


def _augmenter(kind: str, data_spec):
    import tensorflow as tf

    n, mean, std, masked = _statistics(data_spec)

    def augment(x):
        x = tf.cast(x, tf.float32)
        values, rest = x[:, :, :n], x[:, :, n:]
        if kind == "slicing":
            values = _slice(values, SLICE_RATIO)
        else:
            if kind == "jitter":
                moved = values + tf.random.normal(tf.shape(values)) * (JITTER_SIGMA * std)
            elif kind == "scaling":
                factor = 1.0 + SCALING_SIGMA * tf.random.normal([tf.shape(values)[0], 1, n])
                moved = mean + (values - mean) * factor
            else:
                raise ValueError(f"unknown train.augment {kind!r}")
            if masked:  # padded steps stay as they were (the model reads them as padding)
                observed = x[:, :, -1:] > 0.5
                moved = tf.where(observed, moved, values)
            values = moved
        return tf.concat([values, rest], axis=-1)

    return augment


def one_hot(y, n_classes: int, smoothing: float = 0.0):
    """Integer labels as (smoothed) one-hot rows, float32."""
    out = np.eye(n_classes, dtype="float32")[np.asarray(y, dtype="int64")]
    if smoothing:
        out = out * (1.0 - smoothing) + smoothing / n_classes
    return out


def batch_transform(spec: dict, data_spec, task_spec):
    """``(train_map, targets)`` for a recipe: ``train_map(x, y) -> (x, y)`` applied to each
    training batch (None when the recipe does nothing to batches), and ``targets(y, train)``
    that turns integer labels into what the loss reads (None: the labels as they are)."""
    kind = spec.get("train.augment", "none")
    smoothing = float(spec.get("train.label_smoothing", 0.0) or 0.0)
    augment = None
    if kind not in (None, "none"):
        import keras

        augment = (_augmenter if keras.backend.backend() == "tensorflow" else _numpy_augmenter)(kind, data_spec)
    targets = None
    if smoothing:
        if not task_spec.categorical or task_spec.kind != "classification":
            raise ValueError("train.label_smoothing applies to classification only")
        k = len(task_spec.classes)

        def targets(y, train):
            return one_hot(y, k, smoothing if train else 0.0)
    if augment is None:
        return None, targets

    def train_map(x, y):
        return augment(x), y

    return train_map, targets
