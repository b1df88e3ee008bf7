"""One candidate's training: outcomes instead of crashes, pruning, budgets."""

import numpy as np
import pytest

import keras
from conftest import make_classification
from search_spaces import SearchSpace, register_cell, unregister_cell
from seqsearch.data.dataset import RawArrays
from seqsearch.data.framing import frame_task
from seqsearch.errors import TrialPruned
from seqsearch.training import fit_candidate, score


@pytest.fixture(scope="module")
def ds():
    X, y = make_classification(n=40, t=8, f=1)
    return frame_task(RawArrays(X=X, y=y), name="t", source="mem")


def spec(**over):
    base = {"rnn.units": 16, "rnn.cell": "gru", "train.batch_size": 16, "train.scaling": "global"}
    return SearchSpace().default_spec(overrides={**base, **over})


def test_complete_outcome_has_best_epoch_and_metrics(ds):
    seen = []
    out = fit_candidate(spec(), ds, max_epochs=3, seed=0, hooks=[lambda e, logs: seen.append((e, logs))])
    assert out.state == "complete" and out.epochs_run == 3 and [e for e, _ in seen] == [0, 1, 2]
    losses = [logs["val_loss"] for _, logs in seen]
    assert out.value == pytest.approx(min(losses)) and out.best_epoch == int(np.argmin(losses))
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(out.metrics)
    assert out.n_params > 0 and out.seconds > 0


def test_pruning_hook_stops_training(ds):
    def prune_at_1(epoch, logs):
        if epoch == 1:
            raise TrialPruned(epoch)

    out = fit_candidate(spec(), ds, max_epochs=10, seed=0, hooks=[prune_at_1])
    assert out.state == "pruned" and out.epochs_run == 2 and out.reason == "pruned after epoch 2"


def test_parameter_budget_rejects_before_training(ds):
    out = fit_candidate(spec(**{"rnn.units": 128, "rnn.layers": 3}), ds, max_epochs=5, seed=0, max_params=1000)
    assert out.state == "pruned" and out.epochs_run == 0
    assert "exceed --max-params" in out.reason and out.n_params > 1000


@keras.saving.register_keras_serializable(package="seqsearch_tests")
class NaNCell(keras.layers.Layer):
    """A cell whose output is NaN: the loss of any model using it is NaN."""

    state_size = 4

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 4), name="w")

    def call(self, inputs, states):
        h = keras.ops.sqrt(-1.0 - keras.ops.square(keras.ops.matmul(inputs, self.w)))
        return h, [h]


def test_nan_loss_is_a_failed_outcome(ds):
    register_cell("nan_cell", lambda units: NaNCell(), replace=True)
    try:
        out = fit_candidate(spec(**{"rnn.cell": "nan_cell", "rnn.bidirectional": False}), ds, max_epochs=3, seed=0)
    finally:
        unregister_cell("nan_cell")
    assert out.state == "failed" and "became NaN or infinite in epoch 1" in out.reason


@keras.saving.register_keras_serializable(package="seqsearch_tests")
class RaisingCell(keras.layers.Layer):
    """A cell whose step raises: a broken candidate, or (MemoryError) one too large for memory,
    standing in for a real one that would take the machine down."""

    state_size = 4

    def __init__(self, error=None, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def call(self, inputs, states):
        raise self.error


def _fit_with_raising_cell(ds, error):
    register_cell("raising", lambda units: RaisingCell(error), replace=True)
    try:
        return fit_candidate(spec(**{"rnn.cell": "raising", "rnn.bidirectional": False}), ds, max_epochs=2, seed=0)
    finally:
        unregister_cell("raising")


def test_an_error_inside_a_candidate_is_a_failed_outcome(ds):
    out = _fit_with_raising_cell(ds, RuntimeError("this cell is broken"))
    assert out.state == "failed" and "this cell is broken" in out.reason


def test_out_of_memory_is_a_failed_outcome(ds):
    out = _fit_with_raising_cell(ds, MemoryError("cannot allocate 64 GiB"))
    assert out.state == "failed" and out.reason.startswith("out of memory"), out.reason


def test_score_regression_metrics():
    class Fixed:
        def predict(self, X, verbose=0, batch_size=None):
            return np.array([[1.0], [2.0], [4.0]])

    from search_spaces import TaskSpec

    m = score(Fixed(), None, np.array([1.0, 2.0, 3.0]), TaskSpec(kind="regression", n_outputs=1))
    assert m["mae"] == pytest.approx(1 / 3) and m["rmse"] == pytest.approx(np.sqrt(1 / 3))
    assert m["r2"] == pytest.approx(1 - 1 / 2)


def test_per_trial_time_limit_is_a_failed_outcome(ds):
    # A limit shorter than one batch: the trial stops after its first batch.
    out = fit_candidate(spec(), ds, max_epochs=50, seed=0, time_limit=1e-3)
    assert out.state == "failed" and out.epochs_run == 1
    assert out.reason == "exceeded the per-trial time limit of 0.001 s in epoch 1"


def test_the_search_budget_stops_a_trial_which_keeps_the_epochs_it_finished(ds):
    """--timeout's end (a deadline already passed): the trial stops after its first batch,
    Keras validates that epoch, and the trial counts (complete) with the reason recorded."""
    import time

    out = fit_candidate(spec(), ds, max_epochs=50, seed=0, deadline=time.perf_counter())
    assert out.state == "complete" and out.epochs_run == 1 and np.isfinite(out.value)
    assert out.reason == "stopped in epoch 1 at the end of the --timeout budget"
    relaxed = fit_candidate(spec(), ds, max_epochs=2, seed=0, deadline=time.perf_counter() + 3600)
    assert relaxed.epochs_run == 2 and relaxed.reason is None


def test_a_finished_candidate_leaves_nothing_behind(ds):
    """TensorFlow's gradient registry used to keep every traced train graph alive (~9 MB and
    ~16,000 Python objects per model, for good): after a trial the registry and the number of
    live Python objects are back where they were."""
    import gc

    from tensorflow.python.framework import ops

    registry = ops._gradient_registry._registry
    fit_candidate(spec(), ds, max_epochs=1, seed=0)  # warm-up: one-off caches fill once
    gc.collect()
    keys, n_objects = set(registry), len(gc.get_objects())
    for cell in ("lstm", "gru", "simple_rnn"):
        out = fit_candidate(spec(**{"rnn.cell": cell}), ds, max_epochs=2, seed=1)
        assert out.state == "complete" and out.rss_mb > 0
    gc.collect()
    assert set(registry) == keys
    # One leaked model alone is ~16,000 objects; allow small one-off caches.
    assert len(gc.get_objects()) - n_objects < 2000


def test_released_gradients_keeps_what_existed_before():
    from tensorflow.python.framework import ops

    from seqsearch.tf_internals import released_gradients

    registry = ops._gradient_registry._registry
    before = dict(registry)
    with released_gradients():
        registry["CustomGradient-test-added"] = {"type": None, "location": None}
    assert "CustomGradient-test-added" not in registry and registry == before


@pytest.mark.parametrize("task,family,over", [
    ("classification", "rnn", {"rnn.cell": "lstm"}),
    ("regression", "transformer", {}),
    ("regression", "tlb", {}),
    ("seq2seq", "encdec", {"encdec.decoder": "teacher"}),
])
def test_each_candidate_traces_its_train_and_test_steps_once(monkeypatch, task, family, over):
    """A string metric or an unbuilt optimiser makes TensorFlow trace the first train step
    twice (variables created in the first trace): ~0.7 s lost per candidate."""
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    from conftest import make_regression

    traces = {"train": 0, "test": 0}
    train_step, test_step = TensorFlowTrainer.train_step, TensorFlowTrainer.test_step

    def counted(kind, step):
        def wrapper(self, data):
            traces[kind] += 1  # Python runs only while TensorFlow traces
            return step(self, data)
        return wrapper

    monkeypatch.setattr(TensorFlowTrainer, "train_step", counted("train", train_step))
    monkeypatch.setattr(TensorFlowTrainer, "test_step", counted("test", test_step))
    if task == "classification":
        X, y = make_classification(n=40, t=8, f=1)  # 24 training rows: a partial last batch
    elif task == "regression":
        X, y = make_regression(n=40, t=8, f=1)
    else:
        X, _ = make_regression(n=40, t=8, f=1)
        y = X[:, ::-1, :].copy()
    data = frame_task(RawArrays(X=X, y=y, sequence_target=task == "seq2seq"), name="t", source="mem", task=task)
    space = SearchSpace([family], data_spec=data.data_spec(), task_spec=data.task_spec)
    out = fit_candidate(space.default_spec(family, {"train.batch_size": 16, **over}), data, max_epochs=2, seed=0)
    assert out.state == "complete" and out.epochs_run == 2, out.reason
    assert traces == {"train": 1, "test": 1}


@pytest.mark.parametrize("buffer_bytes", [None, 0])  # small splits: a shuffle buffer; large: gathered
def test_batches_cover_every_row_once_per_epoch_and_reshuffle(monkeypatch, buffer_bytes):
    from seqsearch import feeding
    from seqsearch.feeding import batches

    if buffer_bytes is not None:
        monkeypatch.setattr(feeding, "SHUFFLE_BUFFER_BYTES", buffer_bytes)
    X = np.arange(50, dtype="float32").reshape(25, 2, 1)
    y = np.arange(25)
    train = batches(X, y, 8, shuffle=True)
    epochs = []
    for _ in range(2):
        got = [(xb.numpy(), yb.numpy()) for xb, yb in train]
        assert [len(yb) for _, yb in got] == [8, 8, 8, 1]
        order = np.concatenate([yb for _, yb in got])
        assert sorted(order) == list(range(25))  # every row once
        for xb, yb in got:  # rows stay paired with their targets
            np.testing.assert_array_equal(xb[:, 0, 0], 2 * yb)
        epochs.append(order)
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[0], np.arange(25))
    val = [yb.numpy() for _, yb in batches(X, y, 8, shuffle=False)]
    np.testing.assert_array_equal(np.concatenate(val), np.arange(25))  # validation in order
    # Several inputs (the teacher-forced trainer's [X, targets]) are batched together.
    (xa, xb), yb = next(iter(batches([X, X[:, :, 0] * 10], y, 4, shuffle=False)))
    np.testing.assert_array_equal(xb.numpy()[:, 0], 10 * xa.numpy()[:, 0, 0])


def test_array_batches_on_other_backends_cover_every_row_once_and_transform_them():
    """Where tf.data is not used (JAX), a batch transform reads shuffled NumPy batches."""
    from seqsearch.feeding import array_batches

    np.random.seed(3)
    X = np.arange(50, dtype="float32").reshape(25, 2, 1)
    y = np.arange(25)
    seen = []
    data = array_batches([X, X[:, :, 0] * 10], y, 8, lambda x, yb: ([x[0] + 0.5, x[1]], yb))
    assert len(data) == 4
    epochs = []
    for _ in range(2):
        order = []
        for i in range(len(data)):
            (xa, xb), yb = data[i]
            np.testing.assert_array_equal(xa[:, 0, 0], 2 * yb + 0.5)  # transformed, still paired
            np.testing.assert_array_equal(xb[:, 0], 20 * yb)
            order.extend(yb)
            seen.append(len(yb))
        assert sorted(order) == list(range(25))
        epochs.append(order)
        data.on_epoch_end()
    assert seen[:4] == [8, 8, 8, 1] and epochs[0] != epochs[1] and epochs[0] != list(range(25))


def test_same_seed_same_candidate_outcome(ds):
    a = fit_candidate(spec(), ds, max_epochs=3, seed=7)
    b = fit_candidate(spec(), ds, max_epochs=3, seed=7)
    assert a.state == b.state == "complete" and a.value == pytest.approx(b.value, rel=1e-5)
