"""How ``--timeout`` is spent: one clock for the whole command.

``seqsearch run --timeout T`` promises the whole command (search, the final retrain, the test
score, the export and the MLflow logging) within about 1.1 x T. The clock starts when ``run()``
is called. The search stops early enough to leave a *reserve* for the finish. The reserve is the
measured cost of retraining the trials the export would average, plus the cost of exporting. It
is re-estimated after every trial and capped at ``RESERVE_SHARE`` of T.

While the search runs, each trial may spend one *share* of the search time that is left on its
first fold, and each later fold of a finalist about as long as its first took. A trial that cannot reach ``MIN_EPOCHS`` epochs within its share is stopped as
"too slow for the budget" (pruned). A trial that reaches them but not its patience stop ends
when its share does, and counts with the epochs it trained.

If the retrain still does not fit what is left (plus ``FINISH_SLACK`` of T, part of the 10% the
promise allows), ``plan_finish`` shortens it honestly. It drops
ensemble members first, then cuts epochs, and says so in one line.

Pure arithmetic, no TensorFlow: the engine-independent policy that ``evaluate`` and ``finish`` apply.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

__all__ = ["Budget", "MIN_EPOCHS", "FinishPlan", "plan_finish", "retrain_seconds", "auto_jobs"]

# A trial's first fold must be able to reach this many epochs within its share (the first rung
# of the default successive-halving pruner): below it, it is "too slow for the budget".
MIN_EPOCHS = 3
# Each trial may spend at most 1/TRIAL_SHARES of the search time left on its first fold...
TRIAL_SHARES = 16
# ...and the run's first trial FIRST_SHARE of --timeout (at least FIRST_MIN_S): a first result
# comes fast. It is cross-validated at once (it is a finalist), so its three folds, each a share
# and a tracing, come before the first line of results: at 1/50 (6 s of a 5-minute budget) that
# was 24-27 s, the first completed trial 36-40 s after the command started on every suite set.
FIRST_SHARE = 1 / 100
FIRST_MIN_S = 3.0
# ...but never less than this many seconds (or half the search time left, if less): short budgets
# would otherwise call every candidate too slow.
MIN_SHARE_S = 6.0
# While no trial has completed, trials go on starting up to this many seconds past the search's
# end: a budget too short for the data still ends with a model, a few seconds late.
OVERRUN_S = 12.0
# Tracing a candidate's graphs (its first training and first validation batch) does not count
# against its share, up to this many seconds (or its share, if longer): past it, it is too slow.
TRACE_S = 30.0
# The trial that leads the search when its share is spent trains on, a share at a time, while
# all it will then cost (its first fold, its other folds at FOLD_SHARE each and its retrain) stays
# within this part of the search time that was left when it started.
LEADER_SHARE = 1 / 2
# Each later fold of a finalist may train this many times as long as its first fold did.
FOLD_SHARE = 1.1
# At most this part of --timeout is held back for the finish (retrain, test, export, logging).
RESERVE_SHARE = 0.3
# Seconds the finish costs beyond the retrain: scoring the test split, writing the export,
# logging the model to MLflow (measured at 6-12 s on two cores for small models).
FINISH_OVERHEAD_S = 12.0
# The retrain may run this part of --timeout past it rather than be cut (the promise is 1.1 x T):
# a retrain 1 s short of its 4 epochs would otherwise lose a quarter of them.
FINISH_SLACK = 0.05


# With a --timeout of at least this many seconds and no --jobs given, trials train in parallel,
# one process per core: a candidate's first seconds are TensorFlow tracing its graphs, Python
# on one core, so one process leaves the other cores idle most of a short trial (on two cores a
# 5-minute OSULeaf search started 8-13 trials with one process, 20-34 with two: benchmarks/README.md). Under
# it, starting a worker (a TensorFlow of its own, ~10 s) costs more than it brings.
AUTO_JOBS_MIN_TIMEOUT = 120.0
# At most this many processes by default, and no more than half the memory available holds:
# each has a TensorFlow runtime (~1.5 GB with a model training) and its own copy of the data.
AUTO_JOBS_MAX = 4
PROCESS_BYTES = 1.5 * 2**30


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available_bytes() -> float | None:
    """Memory available to new processes (Linux: MemAvailable), None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def auto_jobs(timeout: float | None, engine: str = "optuna", data_bytes: float = 0.0, gpus: int = 0) -> int:
    """The processes a run uses when --jobs is not given, for an Optuna search bounded by a
    --timeout of ``AUTO_JOBS_MIN_TIMEOUT`` or more: one per GPU of ``gpus`` (``--gpus``) where
    it trains on GPUs, else one per usable core (at most ``AUTO_JOBS_MAX``, and as many as half
    the available memory holds at ``PROCESS_BYTES`` plus the data each); otherwise 1. A run
    without --timeout keeps one process: the same seed then gives the same sequence of trials."""
    if engine != "optuna" or not timeout or timeout < AUTO_JOBS_MIN_TIMEOUT:
        return 1
    if gpus:
        return gpus
    jobs = min(usable_cores(), AUTO_JOBS_MAX)
    free = available_bytes()
    if free is not None:
        jobs = min(jobs, int(0.5 * free // (PROCESS_BYTES + max(data_bytes, 0.0))))
    return max(1, jobs)


class Budget:
    """The command's clock. ``timeout`` None: no bound (every method answers "no limit")."""

    def __init__(self, timeout: float | None, started: float | None = None):
        self.timeout = timeout
        self.started = time.perf_counter() if started is None else started
        self.end = self.started + timeout if timeout else None
        self.reserve = min(FINISH_OVERHEAD_S, RESERVE_SHARE * timeout) if timeout else 0.0

    @classmethod
    def until(cls, timeout: float | None, end_wall: float | None) -> Budget:
        """A budget that ends at ``end_wall`` (``time.time()``), for ``--jobs`` workers started
        after the main process: they stop with it, not ``timeout`` after their own start."""
        if not timeout or end_wall is None:
            return cls(timeout)
        left = end_wall - time.time()
        return cls(timeout, started=time.perf_counter() + left - timeout)

    @property
    def bounded(self) -> bool:
        return self.end is not None

    def end_wall(self) -> float | None:
        return None if self.end is None else time.time() + (self.end - time.perf_counter())

    def left(self) -> float:
        """Seconds left for the whole command."""
        return math.inf if self.end is None else self.end - time.perf_counter()

    def retrain_left(self) -> float:
        """Seconds the final retrain may take: what is left of the command, less the finish's
        own cost, plus ``FINISH_SLACK`` of --timeout."""
        if self.end is None:
            return math.inf
        return self.left() - FINISH_OVERHEAD_S + FINISH_SLACK * self.timeout

    def search_deadline(self) -> float | None:
        """When the search must stop (``time.perf_counter()`` time): the end less the reserve."""
        return None if self.end is None else self.end - self.reserve

    def search_left(self) -> float:
        return math.inf if self.end is None else self.end - self.reserve - time.perf_counter()

    def fold_share(self, first_fold_seconds: float) -> float | None:
        """Seconds each later fold of a finalist may train: what its first fold took, and a
        tenth more (a finalist's folds cost at most about ``folds`` times its first)."""
        if self.end is None:
            return None
        return FOLD_SHARE * max(first_fold_seconds, MIN_SHARE_S / 2)

    def search_over(self, completed: bool) -> bool:
        """True when no further trial may start: the search's part of the budget is spent. Until
        some trial has completed the search goes on for up to ``OVERRUN_S`` past it, so that a
        budget too short for this data still ends with a model (and says so)."""
        if self.end is None:
            return False
        left = self.search_left()
        if completed:
            return left < min(MIN_SHARE_S, self.timeout / 20)
        return left < -OVERRUN_S

    def set_reserve(self, seconds: float) -> None:
        """The finish's estimated cost, capped at ``RESERVE_SHARE`` of the budget."""
        if self.timeout:
            self.reserve = min(max(seconds, FINISH_OVERHEAD_S), RESERVE_SHARE * self.timeout)

    def trial_share(self, first: bool = False, completed: bool = True) -> float | None:
        """Seconds a trial starting now may spend on its first fold (None: no bound).
        ``first``: the run's first trial; ``completed``: some trial of the study has completed
        (until one has, a trial gets ``MIN_SHARE_S`` even past the budget: see ``search_over``)."""
        if self.end is None:
            return None
        left = max(self.search_left(), 0.0)
        floor = min(MIN_SHARE_S, left / 2) if completed else MIN_SHARE_S
        share = max(left / TRIAL_SHARES, floor)
        if first:
            share = min(share, max(FIRST_SHARE * self.timeout, FIRST_MIN_S))
        return share


    def reach(self, first: bool) -> float | None:
        """Seconds within which a trial must fit ``MIN_EPOCHS`` epochs, when longer than its
        share: the run's first trial, whose share is short so that a first result comes fast, is
        too slow only if they would not fit an ordinary trial's least share."""
        return MIN_SHARE_S if first and self.end is not None else None

    def trace_cap(self, share: float | None) -> float | None:
        """Seconds a trial with this share may spend tracing its graphs."""
        return None if share is None else max(share, TRACE_S)

    def extension(self, share: float | None, search_left_at_start: float, granted: float,
                  later: float = 0.0) -> float:
        """Seconds more for a trial that leads the search when its ``granted`` seconds are spent:
        another share, as long as its whole cost stays within ``LEADER_SHARE`` of the search time
        left when it started and within the search time left now. ``later``: what each second of
        its first fold costs afterwards (its other folds, its retrain), in seconds."""
        if share is None or self.end is None:
            return 0.0
        per = 1.0 + max(later, 0.0)
        cap = max(share, LEADER_SHARE * max(search_left_at_start, 0.0) / per)
        extra = min(share, cap - granted, max(self.search_left(), 0.0) / per)
        return extra if extra >= 1.0 else 0.0


def retrain_seconds(attrs: dict, scale: float, epochs: int | None = None) -> float:
    """Estimated seconds to retrain a trial on train+validation (``scale``: their size over the
    training split's) for ``epochs`` (default: its best epoch count), from the epoch times it
    measured: the first epoch (tracing) once, then the steady epoch time."""
    per_epoch = float(attrs.get("epoch_seconds") or 0.0)
    first = float(attrs.get("first_epoch_seconds") or per_epoch)
    if epochs is None:
        epochs = int(attrs.get("best_epoch", 0)) + 1
    if epochs <= 0:
        return 0.0
    return scale * (first + per_epoch * (epochs - 1))


@dataclass
class FinishPlan:
    members: list  # the records to retrain and average, best first
    epochs: list  # retrain epochs for each
    note: str | None = None  # one line when the plan is shorter than the full retrain


def plan_finish(members: list, seconds_left: float, scale: float, free=()) -> FinishPlan:
    """The retrain that fits ``seconds_left`` (already net of the export's own cost): every
    member for its best epoch count when it fits; else fewer members (the best kept); else the
    best trial alone for fewer epochs (at least one). Members numbered in ``free`` are not
    retrained (their fold models are averaged): they cost nothing here."""
    full = [int(r.attrs.get("best_epoch", 0)) + 1 for r in members]
    if not math.isfinite(seconds_left):
        return FinishPlan(list(members), full)
    cost = [0.0 if r.number in free else retrain_seconds(r.attrs, scale, e) for r, e in zip(members, full)]
    n = len(members)
    while n > 1 and sum(cost[:n]) > seconds_left:
        n -= 1
    if sum(cost[:n]) <= seconds_left:
        note = None
        if n < len(members):
            note = (f"budget: averaging the best {n} of {len(members)} trials; retraining all would take "
                    f"~{sum(cost):.0f} s with {max(seconds_left, 0):.0f} s of --timeout left")
        return FinishPlan(list(members[:n]), full[:n], note)
    best = members[0]
    per_epoch = float(best.attrs.get("epoch_seconds") or 0.0) * scale
    first = float(best.attrs.get("first_epoch_seconds") or 0.0) * scale
    fit = 1 + int(max(seconds_left - first, 0.0) // per_epoch) if per_epoch > 0 else full[0]
    epochs = max(1, min(full[0], fit))
    extra = f" and {len(members) - 1} other trial(s) left out" if len(members) > 1 else ""
    note = (f"budget: retraining trial #{best.number} for {epochs} of its {full[0]} epochs{extra}: the full "
            f"retrain would take ~{cost[0]:.0f} s with {max(seconds_left, 0):.0f} s of --timeout left")
    return FinishPlan([best], [epochs], note)
