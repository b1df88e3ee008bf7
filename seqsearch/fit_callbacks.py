"""The Keras callbacks a candidate's fit runs with: the per-trial time limit, the search's
deadline, the trial's share of the budget (extended while it leads, "too slow" when its
minimum epochs cannot fit), the per-epoch hooks (pruner, progress, MLflow) and keeping the best
epoch's weights."""

from __future__ import annotations

import math
import time

from .errors import TrialFailed

__all__ = ["time_limit_callback", "deadline_callback", "share_callback", "still_improving", "epoch_callback",
           "best_weights_callback", "MIN_IMPROVEMENT"]

# A trial "still improves" when the best validation loss of its recent epochs beats the best
# before them by at least this fraction: a gain of a hair is noise, not worth more of the budget.
MIN_IMPROVEMENT = 0.01


def time_limit_callback(seconds, started):
    """Stops training after the batch that passes ``started + seconds`` (perf_counter time);
    Keras still validates the epoch it cut short."""
    return deadline_callback(started + seconds)


def deadline_callback(deadline):
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


def share_callback(share, started, min_epochs, durations, history, extend=None, trace_cap=None, reach=None):
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

    class _Share(ShareRules, keras.callbacks.Callback):
        def __init__(self):
            keras.callbacks.Callback.__init__(self)
            ShareRules.__init__(self, share, started, min_epochs, durations, history, extend, trace_cap, reach)

    return _Share()


class ShareRules:
    """What ``share_callback``'s Keras callback does, batch by batch and epoch by epoch (see
    there); ``self.model`` and ``self.params`` are the Keras callback's."""

    def __init__(self, share, started, min_epochs, durations, history, extend, trace_cap, reach):
        self.share, self.started, self.min_epochs = share, started, min_epochs
        self.durations, self.history, self.extend, self.trace_cap = durations, history, extend, trace_cap
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
        return time.perf_counter() - self.started - self.overhead

    def _stop(self, done):
        self.hit = "too_slow" if done < self.min_epochs else "share"
        self.model.stop_training = True

    def _first_batch(self, kind):
        took = time.perf_counter() - self._begin
        self._traced[kind] = True
        self.overhead += took
        if self.trace_cap is not None and time.perf_counter() - self.started > self.trace_cap:
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
        done, min_epochs = len(self.durations), self.min_epochs
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
        if done >= self.min_epochs and self.extend is not None and still_improving(self.history):
            best = min(v for v in (h.get("val_loss", math.nan) for h in self.history) if math.isfinite(v))
            extra = self.extend(best, self.granted)
            if extra > 0:
                self.granted += extra
                return
        self._stop(done)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if not self.hit and done >= self.min_epochs and self.spent() > self.granted:
            self._share_spent(done)  # not one batch into another epoch (past a reach, an epoch)
        if self.hit or done >= self.min_epochs or not self.durations:
            return
        # The latest epoch's time (less the tracing, for the first) projects the epochs still needed.
        steady = self.durations[-1] - (self.overhead if epoch == 0 else 0.0)
        if self.spent() + max(steady, 0.0) * (self.min_epochs - done) > self.within:
            self._stop(done)


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


def epoch_callback(hooks, history, durations=None):
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


def best_weights_callback():
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
