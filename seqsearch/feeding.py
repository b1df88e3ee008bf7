"""How training batches reach Keras: on the TensorFlow backend a ``tf.data`` pipeline sliced once
per fit (shuffled in a buffer, or by index for large splits), with the recipe's batch transform;
on another backend (JAX) the arrays themselves, or with a batch transform a ``PyDataset`` that
shuffles them each epoch in NumPy (no TensorFlow on that backend's hot path)."""

from __future__ import annotations

import numpy as np

__all__ = ["batches", "fit_batched", "array_batches", "SHUFFLE_BUFFER_BYTES"]


# Up to this many bytes of training data are shuffled as whole sequences in a tf.data buffer
# (a second copy of the split); larger splits shuffle indices and gather batches (no copy).
SHUFFLE_BUFFER_BYTES = 256 * 2**20


def batches(x, y, batch_size: int, shuffle: bool, transform=None):
    """A ``tf.data`` pipeline of ``(x, y)`` batches (``x`` may be a list of arrays), or None
    on another Keras backend or where TensorFlow is not installed (see ``fit_batched``).

    Keras' own feeding of NumPy arrays starts a parallel, autotuned slicing pipeline anew every
    epoch; for the few batches of a UCR-sized epoch that start-up is most of the epoch. Slicing
    the arrays once and shuffling them in a buffer is 1.8-3.1x faster per epoch on the archives
    and on par with 75 batches an epoch (``benchmarks/feeding.py``). The buffer is a
    second copy of the training split, so splits over ``SHUFFLE_BUFFER_BYTES`` shuffle indices
    and gather each batch instead (no copy). Every row is seen once per epoch, reshuffled each
    epoch from TensorFlow's seed (``keras.utils.set_random_seed``). ``transform(x, y) -> (x, y)``
    maps each batch (the recipe's augmentation, ``augment.batch_transform``).
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    try:
        import tensorflow as tf
    except ImportError:
        return None
    data = (tuple(x) if isinstance(x, list) else x, y)
    n = len(y)
    nbytes = sum(np.asarray(a).nbytes for a in tf.nest.flatten(data))
    if not shuffle or nbytes <= SHUFFLE_BUFFER_BYTES:
        ds = tf.data.Dataset.from_tensor_slices(data)
        if shuffle:
            ds = ds.shuffle(n, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size)
        return (ds.map(transform) if transform is not None else ds).prefetch(2)
    index = tf.data.Dataset.range(n).shuffle(n, reshuffle_each_iteration=True).batch(batch_size)
    whole = tf.data.Dataset.from_tensors(data).repeat()

    def grab(i, d):
        return tf.nest.map_structure(lambda a: tf.gather(a, i, axis=0), d)

    ds = tf.data.Dataset.zip((index, whole)).map(grab)
    if transform is not None:
        ds = ds.map(transform)
    options = tf.data.Options()
    # No graph rewrites: they would serialise the pipeline, data element included.
    options.experimental_optimization.apply_default_optimizations = False
    return ds.with_options(options).prefetch(2)


def fit_batched(fit, X, y, validation_data=None, batch_size=32, transform=None, targets=None, **kw):
    """``fit`` fed by ``batches``; on another backend (or without TensorFlow) by the arrays, or
    ``array_batches`` when there is a ``transform``. ``transform`` maps training batches (on the
    TensorFlow backend in the pipeline's graph, else in NumPy), ``targets(y, train)`` turns
    labels into what the loss reads (``augment.batch_transform``)."""
    if targets is not None:
        y = targets(y, True)
        if validation_data is not None:
            validation_data = (validation_data[0], targets(validation_data[1], False))
    train = batches(X, y, batch_size, shuffle=True, transform=transform)
    if train is None:
        if transform is None:
            return fit(X, y, validation_data=validation_data, batch_size=batch_size, **kw)
        return fit(array_batches(X, y, batch_size, transform), validation_data=validation_data,
                   validation_batch_size=batch_size, shuffle=False, **kw)
    if validation_data is not None:
        validation_data = batches(*validation_data, batch_size, shuffle=False)
    return fit(train, validation_data=validation_data, shuffle=False, **kw)  # shuffled in the pipeline


def array_batches(x, y, batch_size: int, transform):
    """A ``keras.utils.PyDataset`` of shuffled ``(x, y)`` batches mapped by ``transform`` (NumPy
    in, NumPy out): every row once per epoch, reshuffled after each from a generator seeded by
    NumPy's global seed (``keras.utils.set_random_seed``). Read in this process (no workers)."""
    import keras

    class ArrayBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.n = len(y)
            self.rng = np.random.default_rng(np.random.randint(2**31))
            self.order = self.rng.permutation(self.n)

        def __len__(self):
            return -(-self.n // batch_size)

        def __getitem__(self, i):
            rows = self.order[i * batch_size:(i + 1) * batch_size]
            xb = [a[rows] for a in x] if isinstance(x, list) else x[rows]
            return transform(xb, y[rows])

        def on_epoch_end(self):
            self.order = self.rng.permutation(self.n)

    return ArrayBatches()
