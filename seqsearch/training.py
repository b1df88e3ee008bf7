"""Compile, fit and score one candidate. Never crashes the study: a candidate that fails is an
outcome, not an exception (bad *configuration* still raises ``SeqsearchError``)."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .candidate import TrialModel, build_candidate, fresh_session, release_session
from .errors import SeqsearchError, TrialFailed, TrialPruned
from .fit_callbacks import (best_weights_callback, deadline_callback, epoch_callback, share_callback,
                            time_limit_callback)
from .measure import measure_latency, process_rss_mb
from .tf_internals import released_gradients

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
    # With ``val_predictions``: the scored model's weights at its best epoch, and for a
    # cross-validated trial each fold's (in fold order): the fold models the export may average.
    weights: list | None = None
    fold_weights: list | None = None


TOO_SLOW = "too slow for the budget"


def fit_candidate(spec, dataset, *, max_epochs: int, seed: int, hooks=(), max_params=None,
                  time_limit: float | None = None, latency: bool = False,
                  deadline=None, share: float | None = None, min_epochs: int = 1, extend=None,
                  trace_cap: float | None = None, predict_val=None, reach: float | None = None,
                  models: TrialModel | None = None, callbacks=(), policy: str = "float32") -> TrialOutcome:
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
    val_loss, seconds granted)`` then grants it more seconds (see ``share_callback``).
    ``reach``: seconds (more than the share) within which ``min_epochs`` must fit: the trial
    trains past its share until it has them, and is too slow only past ``reach``.
    ``predict_val(best val_loss) -> bool``: asked once a complete trial finished training;
    when True, the outcome keeps the model's outputs on the validation split at its best epoch
    (``val_predictions``; one prediction pass) and its weights at that epoch (``weights``).
    ``models``: the trial's :class:`~seqsearch.candidate.TrialModel`. The first fold's model is
    kept in it (the caller releases it when the trial ends) and a later fold trains it again
    instead of building and tracing its own. ``callbacks``: the user's Keras callbacks, after
    seqsearch's own. ``policy``: the Keras dtype policy it trains with (``devices.dtype_policy``).

    Memory stays flat over any number of trials: the model, its traced graphs and the
    gradient functions they registered are all released before this returns (with
    ``models``: when the caller releases them; on JAX its compiled functions too)."""
    try:
        with released_gradients():
            outcome = _fit_candidate(spec, dataset, max_epochs=max_epochs, seed=seed, hooks=hooks,
                                     max_params=max_params, time_limit=time_limit, latency=latency,
                                     deadline=deadline, share=share, min_epochs=min_epochs,
                                     extend=extend, trace_cap=trace_cap, predict_val=predict_val, reach=reach,
                                     models=models, callbacks=callbacks, policy=policy)
    finally:
        if models is None or models.kept is None:
            release_session()  # the model is unreachable now: one collection frees it
    outcome.rss_mb = process_rss_mb()
    return outcome


def cross_validate(first: TrialOutcome, spec, dataset, folds: int, *, max_epochs: int, seed: int,
                   fold_seed: int = 0, max_params=None, time_limit: float | None = None,
                   deadline=None, on_epoch=None, on_fold=None, fold_share: float | None = None,
                   models: TrialModel | None = None, callbacks=None, policy: str = "float32") -> TrialOutcome:
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
    ``on_epoch(fold, epoch, logs)`` and ``on_fold(fold, outcome)`` report progress (fold from 0).
    ``models``: the trial's kept first-fold model, trained again on each fold (``fit_candidate``).
    ``callbacks(fold)``: the user's Keras callbacks for fold ``fold`` (from 0)."""
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
                          share=fold_share, min_epochs=1, models=models, callbacks=callbacks(f) if callbacks else (), policy=policy,
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
    out = _fold_mean(first, outcomes, dataset, folds, fold_seed, time.perf_counter() - started)
    if len(outcomes) < folds:
        out.reason = f"cross-validated on {len(outcomes)} of {folds} folds ({note or 'the --timeout budget ended'})"
    return out


def _fold_mean(first, outcomes, dataset, folds, fold_seed, seconds) -> TrialOutcome:
    """The trial over its folds: the mean loss, best epoch and metrics, each fold's loss and
    epochs, the out-of-fold outputs and the fold models' weights (when every fold kept them)."""
    keys = set.intersection(*(set(o.metrics) for o in outcomes))
    return replace(
        first,
        value=float(np.mean([o.value for o in outcomes])),
        best_epoch=int(round(float(np.mean([o.best_epoch for o in outcomes])))),
        metrics={k: float(np.mean([o.metrics[k] for o in outcomes])) for k in sorted(keys)},
        seconds=first.seconds + seconds,
        rss_mb=outcomes[-1].rss_mb,
        fold_values=[o.value for o in outcomes],
        fold_epochs=[o.best_epoch + 1 for o in outcomes],
        oof=out_of_fold(dataset, outcomes, folds, fold_seed),
        fold_weights=None if any(o.weights is None for o in outcomes) else [o.weights for o in outcomes],
    )


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


def _fit_candidate(spec, dataset, *, max_epochs, seed, hooks, max_params, time_limit, latency,
                   deadline=None, share=None, min_epochs=1, extend=None, trace_cap=None,
                   predict_val=None, reach=None, models=None, callbacks=(), policy="float32") -> TrialOutcome:
    import keras

    started = time.perf_counter()
    history: list[dict] = []
    durations: list[float] = []
    portion = None
    outcome = TrialOutcome(state="complete")
    try:
        model, fit, X_train, X_val = _candidate(spec, dataset, seed, max_params, models, outcome, policy)
        user_callbacks, callbacks = callbacks, [
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(spec.get("train.patience", 20))),
            epoch_callback(hooks, history, durations),
        ]
        limit = time_limit_callback(time_limit, started) if time_limit else None
        budget = deadline_callback(deadline) if deadline is not None else None
        callbacks[:0] = [c for c in (budget, limit) if c is not None]
        if share is not None:
            # After the hooks: a pruner's verdict on the epoch comes first.
            portion = share_callback(share, started, min_epochs, durations, history, extend, trace_cap, reach)
            callbacks.append(portion)
        keep = best_weights_callback() if predict_val is not None else None
        if keep is not None:
            callbacks.append(keep)
        callbacks += list(user_callbacks)
        fit(X_train, dataset.y_train, validation_data=(X_val, dataset.y_val), epochs=max_epochs,
            batch_size=int(spec["train.batch_size"]), callbacks=callbacks, verbose=0)
        if limit is not None and limit.hit:
            raise TrialFailed(f"exceeded the per-trial time limit of {time_limit:g} s in epoch {len(history)}")
        if portion is not None and portion.hit == "too_slow":
            outcome.too_slow = True
            raise TrialPruned(max(len(history) - 1, 0), _too_slow(portion, history, started, min_epochs, trace_cap))
        _budget_stop(outcome, budget, portion, share, len(history))
        if latency:
            outcome.latency_ms = measure_latency(model, X_val)
        if keep is not None and keep.weights is not None and predict_val(keep.best):
            model.set_weights(keep.weights)
            outcome.weights = keep.weights
            outcome.val_predictions = np.asarray(model.predict(X_val, verbose=0, batch_size=256),
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
        outcome.state, outcome.reason = "failed", failure_reason(e)
    finally:
        outcome.seconds = time.perf_counter() - started
    _record_epochs(outcome, history, durations, portion)
    return outcome


def _candidate(spec, dataset, seed, max_params, models, outcome, policy="float32"):
    """The trial's model and fit function with the inputs it trains on: the first fold's model
    taken back for a later fold (``models``), or built anew (its summary and parameter count
    on ``outcome``). Over --max-params: pruned before any training."""
    reused = models.take(spec, dataset, seed) if models is not None else None
    if reused is None:
        fresh_session(seed, policy)
        cand = build_candidate(spec, dataset.data_spec(), dataset.task_spec, max_params)
        X_train, X_val = dataset.X_train, dataset.X_val
    else:
        cand, X_train, X_val = reused
    outcome.n_params = cand.n_params
    if cand.model is None:  # over the parameter budget: rejected before any training
        raise TrialPruned(-1)
    if reused is None:
        if models is not None:
            models.keep(spec, cand)
        lines = []
        cand.model.summary(print_fn=lambda line, *a, **k: lines.append(line), line_length=110)
        outcome.summary_text = "\n".join(lines)
    return cand.model, cand.fit, X_train, X_val


def _budget_stop(outcome, budget, portion, share, epochs) -> None:
    """Why a complete trial stopped before its patience did: the end of --timeout, or of its
    share of the budget (extended while it led the search)."""
    if budget is not None and budget.hit:
        outcome.reason = f"stopped in epoch {epochs} at the end of the --timeout budget"
        outcome.budget_stop = "deadline"
    elif portion is not None and portion.hit == "share":
        more = f" (extended from {share:.0f} s while it led the search)" if portion.granted > share else ""
        outcome.reason = f"stopped in epoch {epochs} at the end of its {portion.granted:.0f} s share of the budget{more}"
        outcome.budget_stop = "share"


def _too_slow(portion, history, started, min_epochs, trace_cap) -> str:
    """Why a trial the share callback stopped is too slow for the budget."""
    if portion.traced_too_long:
        return f"{TOO_SLOW}: tracing its graphs took {portion.overhead:.1f} s, over the {trace_cap:.0f} s allowed"
    return (f"{TOO_SLOW}: {len(history)} epoch(s) in {time.perf_counter() - started:.1f} s "
            f"({portion.overhead:.1f} s of it tracing), and {min_epochs} epochs would not fit its "
            f"{portion.within:.0f} s share of the search time left")


def failure_reason(e: Exception) -> str:
    """One line for a candidate that raised: the error's type and first two lines (Keras wraps
    layer errors as "Exception encountered when calling X.call()." followed by the original
    message: both kept, without terminal colour codes); "out of memory" said first."""
    name = type(e).__name__
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(e).splitlines()]
    text = " ".join([line for line in lines if line][:2])[:300]
    reason = f"{name}: {text}"
    if isinstance(e, MemoryError) or "ResourceExhausted" in name or "OOM" in text or "MemoryError" in text:
        reason = f"out of memory ({reason})"
    return reason


def _record_epochs(outcome, history, durations, portion) -> None:
    """The epochs a fit ran onto its outcome: their count and times, the best epoch's loss and
    metrics (a complete trial with no finished epoch is failed)."""
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


def retrain(spec, dataset, *, epochs: int, seed: int, on_epoch=None):
    """Rebuild ``spec`` and train it on train+validation for ``epochs`` epochs.

    Scaling statistics (and regression target statistics) come from train+validation, never
    from the test split. ``on_epoch(epoch, logs)`` reports progress.
    """
    X, y = dataset.train_val
    fresh_session(seed)
    cand = build_candidate(spec, dataset.data_spec(X), dataset.task_spec_for(y, X), None)
    model, fit = cand.model, cand.fit
    callbacks = [epoch_callback([on_epoch], [])] if on_epoch else []
    fit(X, y, epochs=epochs, batch_size=int(spec["train.batch_size"]), verbose=0, callbacks=callbacks)
    return model


def score(model, X, y, task_spec, kind: str | None = None) -> dict:
    """Test metrics computed from predictions (the same numbers whatever runtime serves them):
    the task's, then the data ``kind``'s own (``DataKind.test_metrics``)."""
    from .data.kinds import get_kind

    pred = np.asarray(model.predict(X, verbose=0, batch_size=256))
    return get_kind(kind).test_metrics(pred, y, task_spec, task_metrics(pred, y, task_spec))


def task_metrics(pred, y, task_spec) -> dict:
    """Accuracy and cross-entropy for categorical targets (per sequence, or per step for token
    seq2seq, with the whole-sequence accuracy; padded targets: over their tokens up to the end
    token), else the regression errors and R^2."""
    if task_spec.categorical:
        p = np.clip(pred, 1e-7, 1.0)
        picked = np.take_along_axis(p, y[..., None].astype(np.int64), axis=-1)[..., 0]
        hits = pred.argmax(axis=-1) == y
        if task_spec.padded:  # padding (id 0, after the end token) is never scored
            real = y != 0
            return {"accuracy": float(hits[real].mean()), "loss": float(-np.log(picked[real]).mean()),
                    "sequence_accuracy": float(np.mean((hits | ~real).all(axis=1)))}
        out = {"accuracy": float(np.mean(hits)), "loss": float(-np.mean(np.log(picked)))}
        if task_spec.kind == "seq2seq":
            out["sequence_accuracy"] = float(np.mean(hits.all(axis=1)))
        return out
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
