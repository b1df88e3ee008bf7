"""Compile, fit and score one candidate. Never crashes the study: a candidate that fails is an
outcome, not an exception (bad *configuration* still raises ``SeqsearchError``)."""

from __future__ import annotations

import contextlib
import math
import os
import re
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .errors import SeqsearchError, TrialFailed, TrialPruned

__all__ = ["TrialOutcome", "fit_candidate", "cross_validate", "retrain", "score", "EpochHook"]

# on_epoch(epoch, logs) may raise TrialPruned to stop the candidate.
EpochHook = Callable[[int, dict], None]


@dataclass
class TrialOutcome:
    state: str  # "complete" | "pruned" | "failed"
    value: float = math.nan  # best validation loss
    best_epoch: int = -1  # 0-based epoch of the best validation loss
    epochs_run: int = 0
    n_params: int = 0
    seconds: float = 0.0
    metrics: dict = field(default_factory=dict)  # at the best epoch
    reason: str | None = None
    summary_text: str = ""  # Keras' model summary (logged beside the trial's run)
    latency_ms: float = math.nan  # prediction time of one fixed batch (when measured)
    rss_mb: float = math.nan  # the process's resident memory once the trial was released
    # Cross-validated trials: each fold's best validation loss and best epoch (1-based count).
    fold_values: list = field(default_factory=list)
    fold_epochs: list = field(default_factory=list)
    # Measured epoch times: the first (tracing included) and the median of the later ones.
    first_epoch_seconds: float = math.nan
    epoch_seconds: float = math.nan
    trace_seconds: float = 0.0  # of it, tracing the graphs (first training and validation batch), under a share
    too_slow: bool = False  # stopped because it could not reach min_epochs within its share
    budget_stop: str | None = None  # "deadline" (the search's end) or "share" (its own share) stopped it
    # The model's outputs on its validation split at its best epoch (when asked for), and for a
    # cross-validated trial its out-of-fold outputs on train+validation with the rows they
    # cover (:func:`cross_validate`): what greedy ensemble selection chooses from.
    val_predictions: np.ndarray | None = None
    oof: tuple | None = None


TOO_SLOW = "too slow for the budget"


def _time_limit_callback(seconds, started):
    """Stops training after the batch that passes ``started + seconds`` (perf_counter time);
    Keras still validates the epoch it cut short."""
    return _deadline_callback(started + seconds)


def _deadline_callback(deadline):
    """Stops training after the batch that passes ``deadline`` (a perf_counter time, or a
    function returning one: the search's end moves as the finish's reserve is re-estimated)."""
    import keras

    when = deadline if callable(deadline) else (lambda: deadline)

    class _Deadline(keras.callbacks.Callback):
        hit = False

        def on_train_batch_end(self, batch, logs=None):
            if time.perf_counter() > when():
                self.hit = True
                self.model.stop_training = True

    return _Deadline()


def _share_callback(share, started, min_epochs, durations, history, extend=None, trace_cap=None, reach=None):
    """A trial's share of the budget, counted without the graph tracing of its first training
    and first validation batch (on two cores that alone can take 5-15 s and says nothing about
    how fast the candidate trains). Training stops once ``share`` seconds of training have
    passed, or as soon as the measured batch or epoch time shows that ``min_epochs`` epochs
    cannot fit in it (``hit`` then says which: "too_slow" or "share"). Tracing longer than
    ``trace_cap`` seconds makes it too slow as well. ``reach`` (seconds, more than ``share``):
    a trial may train past its share, up to this, to reach ``min_epochs`` (too slow only if they
    do not fit in it; the run's first trial, whose share is short so that a first result comes
    fast, but should not be called too slow for it).

    ``extend(best_val_loss, granted)``: asked when the share is spent (after ``min_epochs``
    epochs) while the trial is still improving (``still_improving``); the seconds it answers are
    added to the share (the search lets the trial that leads it train on towards its patience
    stop)."""
    import keras

    class _Share(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.hit = None
            self.overhead = 0.0  # seconds of tracing, not counted against the share
            self.granted = share
            self._begin = self._steady_from = None
            self._traced = {"train": False, "test": False}
            self._steady_batches = 0
            self.traced_too_long = False
            # Seconds within which min_epochs must fit (the share, or the longer reach).
            self.within = max(share, reach or 0.0)

        def spent(self):
            return time.perf_counter() - started - self.overhead

        def _stop(self, done):
            self.hit = "too_slow" if done < min_epochs else "share"
            self.model.stop_training = True

        def _first_batch(self, kind):
            took = time.perf_counter() - self._begin
            self._traced[kind] = True
            self.overhead += took
            if trace_cap is not None and time.perf_counter() - started > trace_cap:
                self.traced_too_long = True
                self._stop(0)

        def on_train_batch_begin(self, batch, logs=None):
            if not self._traced["train"]:
                self._begin = time.perf_counter()

        def on_test_batch_begin(self, batch, logs=None):
            if not self._traced["test"]:
                self._begin = time.perf_counter()

        def on_test_batch_end(self, batch, logs=None):
            if not self._traced["test"]:
                self._first_batch("test")

        def on_train_batch_end(self, batch, logs=None):
            if self.hit:
                return
            if not self._traced["train"]:
                self._first_batch("train")
                self._steady_from = time.perf_counter()
                return
            done = len(durations)
            if done == 0 and min_epochs > 0:
                # Within the first epoch, the steady batch time projects what min_epochs cost.
                self._steady_batches += 1
                steps = (self.params or {}).get("steps") or 0
                elapsed = time.perf_counter() - self._steady_from
                if steps and self._steady_batches >= 3 and elapsed > 1.0:
                    per_batch = elapsed / self._steady_batches
                    if self.spent() + per_batch * (steps * min_epochs - self._steady_batches - 1) > self.within:
                        self._stop(0)
                        return
            if self.spent() > self.granted and not (done < min_epochs and self.spent() <= self.within):
                self._share_spent(done)

        def _share_spent(self, done):
            if done >= min_epochs and extend is not None and still_improving(history):
                best = min(v for v in (h.get("val_loss", math.nan) for h in history) if math.isfinite(v))
                extra = extend(best, self.granted)
                if extra > 0:
                    self.granted += extra
                    return
            self._stop(done)

        def on_epoch_end(self, epoch, logs=None):
            done = epoch + 1
            if not self.hit and done >= min_epochs and self.spent() > self.granted:
                self._share_spent(done)  # not one batch into another epoch (past a reach, an epoch)
            if self.hit or done >= min_epochs or not durations:
                return
            # The latest epoch's time (less the tracing, for the first) projects the epochs still needed.
            steady = durations[-1] - (self.overhead if epoch == 0 else 0.0)
            if self.spent() + max(steady, 0.0) * (min_epochs - done) > self.within:
                self._stop(done)

    return _Share()


# A trial "still improves" when the best validation loss of its recent epochs beats the best
# before them by at least this fraction: a gain of a hair is noise, not worth more of the budget.
MIN_IMPROVEMENT = 0.01


def still_improving(history) -> bool:
    """Whether the last quarter of the epochs (at least the last 3) brought the best validation
    loss down by at least ``MIN_IMPROVEMENT`` of the best before them (with 3 epochs or fewer:
    of the first epoch's): a trial that has levelled off gains nothing from more time."""
    losses = [h.get("val_loss", math.nan) for h in history]
    recent = max(3, math.ceil(len(losses) / 4))
    head, tail = (losses[:1], losses[1:]) if len(losses) <= recent else (losses[:-recent], losses[-recent:])
    head = [v for v in head if math.isfinite(v)]
    tail = [v for v in tail if math.isfinite(v)]
    if not head or not tail:
        return False
    before = min(head)
    return min(tail) < before - MIN_IMPROVEMENT * abs(before)


def _epoch_callback(hooks, history, durations=None):
    import keras

    class _Hooks(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if durations is not None:
                durations.append(time.perf_counter() - self._t0)
            logs = {k: float(v) for k, v in (logs or {}).items()}
            history.append(logs)
            if not all(math.isfinite(v) for v in logs.values()):
                bad = [k for k, v in logs.items() if not math.isfinite(v)]
                raise TrialFailed(f"{', '.join(bad)} became NaN or infinite in epoch {epoch + 1}")
            for hook in hooks:
                hook(epoch, logs)

    return _Hooks()


def _best_weights_callback():
    """Keeps a copy of the weights at the lowest validation loss so far (the first epoch to
    reach it, as the outcome's best epoch is chosen)."""
    import keras

    class _Best(keras.callbacks.Callback):
        best, weights = math.inf, None

        def on_epoch_end(self, epoch, logs=None):
            v = float((logs or {}).get("val_loss", math.nan))
            if v < self.best:
                self.best, self.weights = v, self.model.get_weights()

    return _Best()


def _fresh_session(seed: int):
    import keras

    # Each candidate starts from an empty graph. The garbage of the one before was collected
    # when it ended (a full collection costs ~0.2 s with TensorFlow loaded: once is enough).
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(seed)


@contextlib.contextmanager
def released_gradients():
    """Forget the gradient functions TensorFlow registered while this block traced.

    Every ``tf.custom_gradient`` call made while tracing (the default distribution strategy's
    ``all_reduce`` in Keras' train step is one) adds a ``CustomGradient-N`` entry to TF's
    global gradient registry and never removes it. The entry's closure holds the traced
    graph, so each fitted model left ~9 MB and ~16,000 Python objects behind for good, and
    every later garbage collection got slower (tensorflow#61791, keras#17458). The entries
    are only read while a gradient is being traced, which is over when the block ends; a
    model that is fitted again traces and registers anew.
    """
    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry
    except (ImportError, AttributeError):  # another backend, or TensorFlow moved it
        yield
        return
    before = set(registry)
    try:
        yield
    finally:
        for key in [k for k in registry if k not in before and k.startswith("CustomGradient-")]:
            registry.pop(key, None)


# Up to this many bytes of training data are shuffled as whole sequences in a tf.data buffer
# (a second copy of the split); larger splits shuffle indices and gather batches (no copy).
SHUFFLE_BUFFER_BYTES = 256 * 2**20


def batches(x, y, batch_size: int, shuffle: bool, transform=None):
    """A ``tf.data`` pipeline of ``(x, y)`` batches (``x`` may be a list of arrays), or None
    where TensorFlow is not installed (the caller then hands Keras the arrays).

    Keras' own feeding of NumPy arrays starts a parallel, autotuned slicing pipeline anew every
    epoch; for the few batches of a UCR-sized epoch that start-up is most of the epoch. Slicing
    the arrays once and shuffling them in a buffer is 1.8-3.1x faster per epoch on the archives
    and on par with 75 batches an epoch (``benchmarks/feeding.py``). The buffer is a
    second copy of the training split, so splits over ``SHUFFLE_BUFFER_BYTES`` shuffle indices
    and gather each batch instead (no copy). Every row is seen once per epoch, reshuffled each
    epoch from TensorFlow's seed (``keras.utils.set_random_seed``). ``transform(x, y) -> (x, y)``
    maps each batch (the recipe's augmentation, ``augment.batch_transform``).
    """
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


def _fit_batched(fit, X, y, validation_data=None, batch_size=32, transform=None, targets=None, **kw):
    """``fit`` fed by ``batches`` (falls back to the arrays when TensorFlow is absent).
    ``transform`` maps training batches, ``targets(y, train)`` turns labels into what the loss
    reads (``augment.batch_transform``)."""
    if targets is not None:
        y = targets(y, True)
        if validation_data is not None:
            validation_data = (validation_data[0], targets(validation_data[1], False))
    train = batches(X, y, batch_size, shuffle=True, transform=transform)
    if train is None:
        if transform is not None:
            raise SeqsearchError("train.augment needs TensorFlow's tf.data: install tensorflow or set train.augment=none")
        return fit(X, y, validation_data=validation_data, batch_size=batch_size, **kw)
    if validation_data is not None:
        validation_data = batches(*validation_data, batch_size, shuffle=False)
    return fit(train, validation_data=validation_data, shuffle=False, **kw)  # shuffled in the pipeline


def _build(spec, data_spec, task_spec, max_params):
    """``(model, fit, n_params)``: the model to score and export, and a ``fit(X, y, **kw)``
    that trains it, through the teacher-forced trainer where the family has one (its second
    input is the targets; validation still runs the model's own autoregressive graph)."""
    from search_spaces import build_models, compile_model

    from .augment import batch_transform

    model, trainer = build_models(spec, data_spec, task_spec)
    n_params = int(model.count_params())
    if max_params is not None and n_params > max_params:
        return None, None, n_params
    if trainer is None:
        compile_model(model, spec, task_spec)
        transform, targets = batch_transform(spec, data_spec, task_spec)

        def fit(X, y, **kw):
            return _fit_batched(model.fit, X, y, transform=transform, targets=targets, **kw)

        return model, fit, n_params
    compile_model(trainer, spec, task_spec)
    compile_model(model, spec, task_spec, optimizer=trainer.optimizer)

    def fit(X, y, validation_data=None, **kw):
        if validation_data is not None:
            Xv, yv = validation_data
            validation_data = ([Xv, yv], yv)
        return _fit_batched(trainer.fit, [X, y], y, validation_data=validation_data, **kw)

    return model, fit, n_params


LATENCY_BATCH = 32


def measure_latency(model, X, repeats: int = 7) -> float:
    """Median milliseconds to predict one batch of ``LATENCY_BATCH`` sequences (after a warm-up
    call that traces the graph); the batch is cycled from ``X`` when it has fewer rows."""
    batch = np.resize(X, (LATENCY_BATCH, *X.shape[1:])).astype("float32")
    model.predict_on_batch(batch)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.predict_on_batch(batch)
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times))


def fit_candidate(spec, dataset, *, max_epochs: int, seed: int, hooks=(), max_params=None,
                  time_limit: float | None = None, latency: bool = False,
                  deadline=None, share: float | None = None, min_epochs: int = 1, extend=None,
                  trace_cap: float | None = None, predict_val=None, reach: float | None = None) -> TrialOutcome:
    """Train ``spec`` on the training split, validating every epoch; stop on patience.
    ``time_limit``: seconds of training after which the trial stops and is recorded as failed.
    ``deadline``: the search budget's end (``time.perf_counter()`` time, or a function returning
    it); a trial still training then stops after its current batch and counts with the epochs
    it finished (its best epoch is what the export retrains), so ``--timeout`` bounds the
    search, not just its start.
    ``share``: seconds this trial may train (its share of the budget), not counting the tracing
    of its first batches. One that cannot reach ``min_epochs`` epochs within it, or whose
    tracing outlasts ``trace_cap`` seconds, is pruned as too slow for the budget; one that can
    stops when the share ends and counts with the epochs it finished, unless ``extend(best
    val_loss, seconds granted)`` then grants it more seconds (see ``_share_callback``).
    ``reach``: seconds (more than the share) within which ``min_epochs`` must fit: the trial
    trains past its share until it has them, and is too slow only past ``reach``.
    ``predict_val(best val_loss) -> bool``: asked once a complete trial finished training;
    when True, the outcome keeps the model's outputs on the validation split at its best epoch
    (``val_predictions``; one prediction pass).

    Memory stays flat over any number of trials: the model, its traced graphs and the
    gradient functions they registered are all released before this returns."""
    import keras

    try:
        with released_gradients():
            outcome = _fit_candidate(spec, dataset, max_epochs=max_epochs, seed=seed, hooks=hooks,
                                     max_params=max_params, time_limit=time_limit, latency=latency,
                                     deadline=deadline, share=share, min_epochs=min_epochs,
                                     extend=extend, trace_cap=trace_cap, predict_val=predict_val, reach=reach)
    finally:
        keras.backend.clear_session()  # the model is unreachable now: one collection frees it
    outcome.rss_mb = process_rss_mb()
    return outcome


def cross_validate(first: TrialOutcome, spec, dataset, folds: int, *, max_epochs: int, seed: int,
                   fold_seed: int = 0, max_params=None, time_limit: float | None = None,
                   deadline=None, on_epoch=None, on_fold=None, fold_share: float | None = None) -> TrialOutcome:
    """Validate a trial that completed on fold 0 (``first``, the validation split) on the other
    ``folds - 1`` folds of train+validation too (:meth:`Dataset.fold`), each trained from
    scratch the same way (same patience and seed) for at most the first fold's best epoch count
    and a margin (``later_fold_epochs``): a fold has no reason to train on much past where the first
    fold stopped improving, and the cap bounds what a finalist's folds cost.

    The trial's value is the mean of the folds' best validation losses, its metrics the mean
    of each fold's metrics at its best epoch, and its best epoch (what the export retrains on
    train+val) the folds' mean. ``time_limit`` bounds all folds together. When the ``deadline``
    (--timeout) ends the search during a fold, the trial counts with the folds it reached.
    ``fold_share``: seconds each later fold may train (then it ends, complete, like the first
    fold at the end of its share of the budget).
    ``on_epoch(fold, epoch, logs)`` and ``on_fold(fold, outcome)`` report progress (fold from 0)."""
    if folds < 2 or first.state != "complete":
        return first
    outcomes = [first]
    started = time.perf_counter()
    note = first.reason  # fold 0 itself stopped by the --timeout budget
    when = deadline if callable(deadline) or deadline is None else (lambda: deadline)
    cap = min(max_epochs, later_fold_epochs(first.best_epoch + 1))
    for f in range(1, folds):
        if when is not None and time.perf_counter() >= when():
            break
        left = None
        if time_limit is not None:
            left = time_limit - first.seconds - (time.perf_counter() - started)
            if left <= 0:
                return replace(first, state="failed", value=math.nan,
                               reason=f"exceeded the per-trial time limit of {time_limit:g} s before fold {f + 1} of {folds}")
        hooks = [lambda epoch, logs, f=f: on_epoch(f, epoch, logs)] if on_epoch else []
        o = fit_candidate(spec, dataset.fold(f, folds, fold_seed), max_epochs=cap, seed=seed,
                          max_params=max_params, time_limit=left, deadline=deadline, hooks=hooks,
                          share=fold_share, min_epochs=1,
                          predict_val=(lambda v: True) if first.val_predictions is not None else None)
        if on_fold:
            on_fold(f, o)
        if o.state != "complete":
            return replace(first, state="failed", value=math.nan, seconds=first.seconds + time.perf_counter() - started,
                           reason=f"fold {f + 1} of {folds}: {o.reason}", rss_mb=o.rss_mb)
        outcomes.append(o)
        if o.budget_stop == "deadline":  # stopped by the end of the --timeout budget
            note = o.reason
            break
    done = len(outcomes)
    keys = set.intersection(*(set(o.metrics) for o in outcomes))
    out = replace(
        first,
        value=float(np.mean([o.value for o in outcomes])),
        best_epoch=int(round(float(np.mean([o.best_epoch for o in outcomes])))),
        metrics={k: float(np.mean([o.metrics[k] for o in outcomes])) for k in sorted(keys)},
        seconds=first.seconds + time.perf_counter() - started,
        rss_mb=outcomes[-1].rss_mb,
        fold_values=[o.value for o in outcomes],
        fold_epochs=[o.best_epoch + 1 for o in outcomes],
        oof=out_of_fold(dataset, outcomes, folds, fold_seed),
    )
    if done < folds:
        out.reason = f"cross-validated on {done} of {folds} folds ({note or 'the --timeout budget ended'})"
    return out


def out_of_fold(dataset, outcomes, folds: int, fold_seed: int):
    """(outputs, covered): the folds' validation outputs placed at their rows of train+validation
    (the training split, then the validation split), and which rows a fold reached; None unless
    every fold trained kept its outputs."""
    if any(o.val_predictions is None for o in outcomes):
        return None
    n = len(dataset.X_train) + len(dataset.X_val)
    pred = np.zeros((n, *outcomes[0].val_predictions.shape[1:]), dtype=np.float32)
    covered = np.zeros(n, dtype=bool)
    for f, o in enumerate(outcomes):
        rows = dataset.fold_rows(f, folds, fold_seed)
        pred[rows], covered[rows] = o.val_predictions, True
    return pred, covered


def later_fold_epochs(best_epochs: int) -> int:
    """The epochs cap of a finalist's later folds: the first fold's best epoch count plus a
    quarter (at least 3 epochs) for a fold that improves a little later."""
    return best_epochs + max(3, math.ceil(best_epochs / 4))


def process_rss_mb() -> float:
    """This process's resident memory in MiB now (Linux); elsewhere its peak so far."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _fit_candidate(spec, dataset, *, max_epochs, seed, hooks, max_params, time_limit, latency,
                   deadline=None, share=None, min_epochs=1, extend=None, trace_cap=None,
                   predict_val=None, reach=None) -> TrialOutcome:
    import keras

    started = time.perf_counter()
    history: list[dict] = []
    durations: list[float] = []
    portion = None
    outcome = TrialOutcome(state="complete")
    try:
        _fresh_session(seed)
        model, fit, outcome.n_params = _build(spec, dataset.data_spec(), dataset.task_spec, max_params)
        if model is None:  # over the parameter budget: rejected before any training
            raise TrialPruned(-1)
        lines = []
        model.summary(print_fn=lambda line, *a, **k: lines.append(line), line_length=110)
        outcome.summary_text = "\n".join(lines)
        patience = int(spec.get("train.patience", 20))
        callbacks = [
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience),
            _epoch_callback(hooks, history, durations),
        ]
        limit = _time_limit_callback(time_limit, started) if time_limit else None
        if limit is not None:
            callbacks.insert(0, limit)
        budget = _deadline_callback(deadline) if deadline is not None else None
        if budget is not None:
            callbacks.insert(0, budget)
        if share is not None:
            # After the hooks: a pruner's verdict on the epoch comes first.
            portion = _share_callback(share, started, min_epochs, durations, history, extend, trace_cap, reach)
            callbacks.append(portion)
        keep = _best_weights_callback() if predict_val is not None else None
        if keep is not None:
            callbacks.append(keep)
        fit(
            dataset.X_train,
            dataset.y_train,
            validation_data=(dataset.X_val, dataset.y_val),
            epochs=max_epochs,
            batch_size=int(spec["train.batch_size"]),
            callbacks=callbacks,
            verbose=0,
        )
        if limit is not None and limit.hit:
            raise TrialFailed(f"exceeded the per-trial time limit of {time_limit:g} s in epoch {len(history)}")
        if portion is not None and portion.hit == "too_slow":
            outcome.too_slow = True
            if portion.traced_too_long:
                why = (f"{TOO_SLOW}: tracing its graphs took {portion.overhead:.1f} s, over the "
                       f"{trace_cap:.0f} s allowed")
            else:
                why = (f"{TOO_SLOW}: {len(history)} epoch(s) in {time.perf_counter() - started:.1f} s "
                       f"({portion.overhead:.1f} s of it tracing), and {min_epochs} epochs would not fit its "
                       f"{portion.within:.0f} s share of the search time left")
            raise TrialPruned(max(len(history) - 1, 0), why)
        if budget is not None and budget.hit:
            outcome.reason = f"stopped in epoch {len(history)} at the end of the --timeout budget"
            outcome.budget_stop = "deadline"
        elif portion is not None and portion.hit == "share":
            more = f" (extended from {share:.0f} s while it led the search)" if portion.granted > share else ""
            outcome.reason = (f"stopped in epoch {len(history)} at the end of its {portion.granted:.0f} s share "
                              f"of the budget{more}")
            outcome.budget_stop = "share"
        if latency:
            outcome.latency_ms = measure_latency(model, dataset.X_val)
        if keep is not None and keep.weights is not None and predict_val(keep.best):
            model.set_weights(keep.weights)
            outcome.val_predictions = np.asarray(model.predict(dataset.X_val, verbose=0, batch_size=256),
                                                 dtype=np.float32)
    except TrialPruned as e:
        outcome.state = "pruned"
        outcome.reason = (
            f"{outcome.n_params} parameters exceed --max-params" if e.epoch < 0
            else getattr(e, "reason", None) or f"pruned after epoch {e.epoch + 1}"
        )
    except TrialFailed as e:
        outcome.state, outcome.reason = "failed", str(e)
    except SeqsearchError:
        raise
    except Exception as e:  # noqa: BLE001 - one bad candidate must not end the study
        name = type(e).__name__
        # Keras wraps layer errors as "Exception encountered when calling X.call()." followed
        # by the original message: keep both, without terminal colour codes.
        lines = [re.sub(r"\x1b\[[0-9;]*m", "", l).strip() for l in str(e).splitlines()]
        text = " ".join([l for l in lines if l][:2])[:300]
        reason = f"{name}: {text}"
        if isinstance(e, MemoryError) or "ResourceExhausted" in name or "OOM" in text or "MemoryError" in text:
            reason = f"out of memory ({reason})"
        outcome.state, outcome.reason = "failed", reason
    finally:
        outcome.seconds = time.perf_counter() - started
    outcome.epochs_run = len(history)
    if portion is not None:
        outcome.trace_seconds = portion.overhead
    if durations:
        outcome.first_epoch_seconds = float(durations[0])
        outcome.epoch_seconds = float(np.median(durations[1:])) if len(durations) > 1 else float(durations[0])
    losses = [h.get("val_loss", math.nan) for h in history]
    if losses and any(math.isfinite(v) for v in losses):
        best = int(np.nanargmin(losses))
        outcome.best_epoch = best
        outcome.value = float(losses[best])
        outcome.metrics = dict(history[best])
    elif outcome.state == "complete":
        outcome.state, outcome.reason = "failed", "no epoch finished"
    return outcome


def retrain(spec, dataset, *, epochs: int, seed: int, on_epoch=None):
    """Rebuild ``spec`` and train it on train+validation for ``epochs`` epochs.

    Scaling statistics (and regression target statistics) come from train+validation, never
    from the test split. ``on_epoch(epoch, logs)`` reports progress.
    """
    X, y = dataset.train_val
    _fresh_session(seed)
    model, fit, _ = _build(spec, dataset.data_spec(X), dataset.task_spec_for(y, X), None)
    callbacks = [_epoch_callback([on_epoch], [])] if on_epoch else []
    fit(X, y, epochs=epochs, batch_size=int(spec["train.batch_size"]), verbose=0, callbacks=callbacks)
    return model


def score(model, X, y, task_spec) -> dict:
    """Test metrics computed from predictions (the same numbers whatever runtime serves them)."""
    pred = np.asarray(model.predict(X, verbose=0, batch_size=256))
    if task_spec.categorical:
        # Per sequence (classification) or per step (token seq2seq: y is (n, steps)).
        p = np.clip(pred, 1e-7, 1.0)
        picked = np.take_along_axis(p, y[..., None].astype(np.int64), axis=-1)[..., 0]
        hits = pred.argmax(axis=-1) == y
        out = {"accuracy": float(np.mean(hits)), "loss": float(-np.mean(np.log(picked)))}
        if task_spec.kind == "seq2seq":
            out["sequence_accuracy"] = float(np.mean(hits.all(axis=1)))
            from .data.pairs import END, token_error_rate

            if END in task_spec.classes:  # pairs with an end token: the edit-distance error rate
                out["token_error_rate"] = token_error_rate(pred, y, list(task_spec.classes))
        return out
    if task_spec.kind == "forecasting":
        from .data.forecast import forecast_metrics

        return forecast_metrics(pred, y)
    y2 = y.reshape(len(y), -1)
    err = pred.reshape(len(y), -1) - y2
    ss_res = float(np.sum(err**2))
    ss_tot = float(np.sum((y2 - y2.mean(axis=0)) ** 2))
    return {
        "mse": float(np.mean(err**2)),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
    }
