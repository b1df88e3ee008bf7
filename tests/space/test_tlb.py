"""The Temporal Latent Bottleneck runs its chunk recurrence as one loop op: the same outputs as
chunk-by-chunk Python, masks on the padded last chunk, and a graph that does not grow with the
number of chunks."""

import numpy as np
import pytest

from search_spaces.layers import TemporalLatentBottleneck


def _reference(layer, x, training=False):
    """The recurrence written out chunk by chunk, with the layer's own weights."""
    from keras import ops

    length, cs = x.shape[1], layer.chunk_size
    n = -(-length // cs)
    x = np.pad(x, [[0, 0], [0, n * cs - length], [0, 0]])
    lat = ops.broadcast_to(layer.initial_latents[None], (x.shape[0], layer.num_latents, layer.dim))
    outs = []
    for c in range(n):
        valid = min(cs, length - c * cs)
        ok = ops.arange(cs) < valid
        self_mask = ops.broadcast_to(ok[None, None, :], (x.shape[0], cs, cs)) if valid < cs else None
        upd_mask = ops.broadcast_to(ok[None, None, :], (x.shape[0], layer.num_latents, cs)) if valid < cs else None
        chunk = layer._fast(ops.convert_to_tensor(x[:, c * cs:(c + 1) * cs]), lat, self_mask, training)
        outs.append(chunk)
        if c < n - 1 or layer.return_latents:
            lat = layer._slow(lat, chunk, upd_mask, training)
    seq = ops.concatenate(outs, axis=1)[:, :length]
    return (seq, lat) if layer.return_latents else seq


@pytest.mark.parametrize("length, chunk, depth, latents", [(24, 8, 1, True), (27, 8, 2, True), (5, 8, 1, True),
                                                          (5, 8, 1, False), (30, 4, 1, False), (64, 16, 2, True)])
def test_loop_matches_chunk_by_chunk(length, chunk, depth, latents):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, length, 16)).astype("float32")
    layer = TemporalLatentBottleneck(chunk, 4, 16, 2, 32, depth=depth, return_latents=latents)
    got = layer(x)
    want = _reference(layer, x)
    for g, w in zip(got if latents else [got], want if latents else [want]):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=1e-5)


def test_padded_steps_change_nothing_before_them():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 21, 16)).astype("float32")
    layer = TemporalLatentBottleneck(8, 4, 16, 2, 32, return_latents=True)
    seq, _ = layer(x)
    longer, _ = layer(np.concatenate([x, rng.normal(size=(2, 3, 16)).astype("float32")], axis=1))
    # The first two chunks never see later steps (causal across chunks).
    np.testing.assert_allclose(np.asarray(seq)[:, :16], np.asarray(longer)[:, :16], atol=1e-5)


def test_graph_does_not_grow_with_the_number_of_chunks():
    import tensorflow as tf

    def ops_for(length):
        layer = TemporalLatentBottleneck(4, 4, 16, 2, 32, return_latents=True)
        fn = tf.function(lambda x: layer(x, training=True))
        graph = fn.get_concrete_function(tf.TensorSpec((None, length, 16), tf.float32)).graph
        return len(graph.get_operations())

    # Whole chunks only, and the same padding of the last one: 3 chunks or 100, one loop body.
    assert ops_for(12) == ops_for(400)


def test_trains_compiled_with_dropout_on_every_backend():
    """Dropout inside the chunk loop draws random seeds in the loop body: on JAX the chunks are
    unrolled (a scan's body may not update the seed state), on TensorFlow they stay one loop op.
    Trained compiled (not eagerly), as a trial trains it."""
    import keras

    x = keras.Input((40, 8))
    layer = TemporalLatentBottleneck(chunk_size=8, num_latents=4, dim=8, heads=2, ff_dim=16, dropout=0.2,
                                     return_latents=False)
    model = keras.Model(x, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(layer(x))))
    model.compile("adam", "mse")
    assert layer.chunk_loop.unroll == (keras.backend.backend() == "jax")
    rng = np.random.default_rng(0)
    history = model.fit(rng.normal(size=(16, 40, 8)).astype("float32"), rng.normal(size=(16, 1)).astype("float32"),
                        epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
