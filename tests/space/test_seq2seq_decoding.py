"""Token seq2seq: source padding is masked (it never changes a prediction), padding targets are
never scored, label smoothing and the warm-up schedule, and beam search over the scorer (equal to
greedy at width 1, never worse than greedy by the score it ranks by)."""

import numpy as np
import pytest

import keras
from search_spaces import DataSpec, SearchSpace, TaskSpec, build_models, build_scorer
from search_spaces.specs import PAD
from seqsearch.decoding import beam_search

SOURCE_VOCAB = [PAD, "<unk>", "a", "b", "c", "d", "e"]
TASK = TaskSpec(kind="seq2seq", n_outputs=7, classes=[PAD, "<end>", "<unk>", "x", "y", "z", "w"], output_steps=5)
MODELS = {
    "encdec teacher+luong": ("encdec", {"encdec.cell": "lstm", "encdec.units": 16, "encdec.decoder": "teacher",
                                        "encdec.attention": "luong"}),
    "encdec bi-gru repeat+bahdanau": ("encdec", {"encdec.cell": "gru", "encdec.units": 16, "encdec.bidirectional": True,
                                                 "encdec.decoder": "repeat", "encdec.attention": "bahdanau"}),
    "encdec 2-layer feedback": ("encdec", {"encdec.cell": "simple_rnn", "encdec.units": 16, "encdec.encoder_layers": 2,
                                           "encdec.decoder": "feedback"}),
    "transformer_encdec": ("transformer_encdec", {"transformer_encdec.d_model": 32, "transformer_encdec.heads": 2,
                                                  "transformer_encdec.tie_embeddings": True}),
}


def data_spec(length):
    return DataSpec(timesteps=length, n_features=1, feature_names=["source"], feature_mean=[0.0], feature_var=[1.0],
                    vocabulary=SOURCE_VOCAB)


def spec_for(name, length=6):
    family, overrides = MODELS[name]
    space = SearchSpace([family], data_spec=data_spec(length), task_spec=TASK)
    return space.default_spec(family, {**overrides, "front.embed_dim": 16})


def sources(rows, length):
    X = np.zeros((len(rows), length, 1), dtype="float32")
    for i, r in enumerate(rows):
        X[i, :len(r), 0] = r
    return X


ROWS = [[2, 3, 4], [5, 6, 2, 3], [4], [2, 2, 6, 5, 3, 4]]


@pytest.mark.parametrize("name", list(MODELS))
def test_padding_never_changes_a_prediction(name):
    """The same weights read the same sources padded to 6 and to 11 steps: same answers (an
    encoder that read padding would end in other states)."""
    keras.utils.set_random_seed(0)
    short, _ = build_models(spec_for(name, 6), data_spec(6), TASK)
    long, _ = build_models(spec_for(name, 11), data_spec(11), TASK)
    long.set_weights(short.get_weights())
    a = short.predict(sources(ROWS, 6), verbose=0)
    b = long.predict(sources(ROWS, 11), verbose=0)
    np.testing.assert_allclose(a, b, atol=1e-5)
    changed = short.predict(sources([[2, 3, 5], *ROWS[1:]], 6), verbose=0)
    assert np.abs(changed[0] - a[0]).max() > 1e-4  # a real token does count


@pytest.mark.parametrize("name", ["encdec teacher+luong", "transformer_encdec"])
def test_beam_search_is_greedy_at_width_one_and_never_worse(name):
    keras.utils.set_random_seed(1)
    spec = spec_for(name)
    model, scorer = build_scorer(spec, data_spec(6), TASK)
    X = sources(ROWS * 3, 6)
    greedy = model.predict(X, verbose=0).argmax(-1)
    for alpha in (0.0, 0.6):
        ids1, score1, logp1 = beam_search(scorer, X, TASK.output_steps, width=1, length_penalty=alpha)
        for g, b in zip(greedy, ids1):  # the same tokens up to and including the end token
            stop = next((t for t, k in enumerate(g) if k == 1), len(g) - 1)
            assert b[:stop + 1].tolist() == g[:stop + 1].tolist()
        ids3, score3, logp3 = beam_search(scorer, X, TASK.output_steps, width=3, length_penalty=alpha)
        assert np.all(score3 >= score1 - 1e-6)
        if alpha == 0.0:
            assert np.all(logp3 >= logp1 - 1e-6)
    # The scorer's probabilities of a hypothesis are the model's own along its greedy path.
    np.testing.assert_allclose(scorer.predict([X, greedy], verbose=0), model.predict(X, verbose=0), atol=1e-5)


def test_a_decoder_without_a_previous_token_has_no_scorer():
    _, scorer = build_scorer(spec_for("encdec bi-gru repeat+bahdanau"), data_spec(6), TASK)
    assert scorer is None


def test_the_token_loss_and_the_scores_ignore_padding():
    from search_spaces.token_training import padded_token_accuracy, padded_token_crossentropy
    from seqsearch.training import task_metrics

    rng = np.random.default_rng(0)
    y = np.array([[3, 4, 1, 0, 0], [5, 1, 0, 0, 0]])
    p = rng.dirichlet(np.ones(7), size=(2, 5)).astype("float32")
    q = p.copy()
    q[0, 3:], q[1, 2:] = rng.dirichlet(np.ones(7), size=2), rng.dirichlet(np.ones(7), size=3)  # padding steps only
    q[1, 2, 0] = 5.0  # even a confident pad prediction
    for fn in (padded_token_crossentropy, padded_token_accuracy):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(fn(y, p)), keras.ops.convert_to_numpy(fn(y, q)), rtol=1e-6)
    # By hand: the first row's cross-entropy is the mean over its 3 real tokens.
    expected = -np.log(p[0, [0, 1, 2], [3, 4, 1]]).mean()
    assert keras.ops.convert_to_numpy(padded_token_crossentropy(y, p))[0] == pytest.approx(expected, rel=1e-5)
    right = np.eye(7)[y].astype("float32")
    right[:, :, 0] = np.where(y == 0, 0.0, right[:, :, 0])
    right[0, 4] = np.eye(7)[6]  # a wrong token at a padding step
    m = task_metrics(right, y, TASK)
    assert m["accuracy"] == 1.0 and m["sequence_accuracy"] == 1.0
    right[1, 0] = np.eye(7)[4]
    m = task_metrics(right, y, TASK)
    assert m["accuracy"] == pytest.approx(4 / 5) and m["sequence_accuracy"] == 0.5


def test_label_smoothing_is_a_training_only_term():
    from search_spaces.token_training import SmoothingTerm

    y = np.array([[3, 1, 0]])
    p = np.full((1, 3, 7), 1 / 7, dtype="float32")
    p[0, 0] = np.eye(7)[3] * 0.9 + 0.1 / 7
    layer = SmoothingTerm(0.1)
    out = layer(p, y, training=False)
    assert not layer.losses and np.allclose(keras.ops.convert_to_numpy(out), p)
    layer(p, y, training=True)
    logp = np.log(p[0, :2])
    by_hand = 0.1 * np.mean(-logp.mean(axis=-1) + logp[[0, 1], [3, 1]])
    assert len(layer.losses) == 1
    assert float(keras.ops.convert_to_numpy(layer.losses[0])) == pytest.approx(by_hand, rel=1e-5)


def test_the_warmup_schedule_rises_then_falls_as_one_over_sqrt():
    from search_spaces.token_training import WarmupInverseSqrt

    s = WarmupInverseSqrt(1e-3, warmup=100)
    rate = [float(keras.ops.convert_to_numpy(s(k))) for k in (0, 49, 99, 399)]
    assert rate == pytest.approx([1e-5, 5e-4, 1e-3, 5e-4], rel=1e-4)
    assert WarmupInverseSqrt.from_config(s.get_config()).get_config() == s.get_config()


def test_token_seq2seq_searches_smoothing_and_the_schedule():
    space = SearchSpace(data_spec=data_spec(6), task_spec=TASK)
    assert set(space.families) >= {"encdec", "transformer_encdec"}
    names = [p.name for p in space.params("train")]
    assert "label_smoothing" in names and "schedule" in names
    numeric = TaskSpec(kind="seq2seq", n_outputs=2, output_steps=4, target_mean=[0.0, 0.0], target_var=[1.0, 1.0])
    other = SearchSpace(data_spec=DataSpec(timesteps=6, n_features=1, feature_mean=[0.0], feature_var=[1.0]),
                        task_spec=numeric)
    assert "transformer_encdec" not in other.families and "schedule" not in [p.name for p in other.params("train")]


def test_the_trainer_adds_label_smoothing_to_its_training_loss_only():
    from search_spaces import compile_model

    losses = {}
    for smoothing in (0.0, 0.1):
        spec = {**spec_for("encdec teacher+luong"), "train.label_smoothing": smoothing, "train.learning_rate": 1e-4}
        keras.utils.set_random_seed(0)
        model, trainer = build_models(spec, data_spec(6), TASK)
        compile_model(trainer, spec, TASK)
        kernel = trainer.get_layer("decoder_autoregressive").projection.kernel
        kernel.assign(kernel * 30.0)  # peaked probabilities: the smoothing term is far from 0
        X, y = sources(ROWS, 6), np.array([[3, 4, 1, 0, 0], [5, 1, 0, 0, 0], [6, 6, 6, 1, 0], [1, 0, 0, 0, 0]])
        losses[smoothing] = (trainer.test_on_batch([X, y], y), trainer.train_on_batch([X, y], y))
    assert losses[0.1][0] == pytest.approx(losses[0.0][0], rel=1e-6)  # validation: the plain cross-entropy
    assert losses[0.1][1] != pytest.approx(losses[0.0][1], rel=1e-3)  # training: smoothed


def test_a_decoder_without_teacher_forcing_trains_smoothed_through_a_trainer():
    """Label smoothing needs the targets: a repeat decoder gets a trainer (its own inference graph
    plus the smoothing term) only when smoothing is on."""
    spec = spec_for("encdec bi-gru repeat+bahdanau")
    assert build_models(spec, data_spec(6), TASK)[1] is None
    model, trainer = build_models({**spec, "train.label_smoothing": 0.1}, data_spec(6), TASK)
    assert trainer is not None and trainer.count_params() == model.count_params()
    X = sources(ROWS, 6)
    y = np.zeros((4, 5), dtype="int32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(trainer([X, y], training=False)),
                               keras.ops.convert_to_numpy(model(X, training=False)), atol=1e-6)
