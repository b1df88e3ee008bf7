"""What every engine hands to ``evaluate`` and reports back, independent of the engine."""

from __future__ import annotations

import abc
import math
import os
import socket
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Engine", "TrialContext", "TrialRecord", "process_token", "process_alive"]

FINISHED_STATES = ("complete", "pruned", "failed")
# Trials that stopped because their worker did, not because of the candidate: they do not count
# towards --trials and their spec runs again.
RETRY_REASONS = ("worker process died", "interrupted")
# A trial created by one worker after the others had already filled --trials: never run, and
# not counted (several workers can ask for a trial at the same moment).
SURPLUS = "not run: the study had reached --trials"
NOT_COUNTED = (*RETRY_REASONS, SURPLUS)


@dataclass
class TrialContext:
    number: int
    hp: Any
    # report(epoch, value) raises TrialPruned when the engine's pruner says stop.
    report: Callable[[int, float], None]
    # set_attr(key, value) stores a JSON value on the engine's trial (survives restarts).
    set_attr: Callable[[str, Any], None]
    # find_duplicate(spec) -> TrialRecord of a finished trial with the same spec, or None.
    find_duplicate: Callable[[dict], Any] = lambda spec: None
    # The engine's epoch budget for this trial (Hyperband rounds); None: --max-epochs.
    max_epochs: int | None = None
    # The sampled spec, once evaluate has drawn it (engines that keep their own records).
    spec: dict | None = None


@dataclass
class TrialRecord:
    number: int
    state: str  # "running" | "complete" | "pruned" | "failed"
    value: float | None
    spec: dict
    attrs: dict = field(default_factory=dict)
    # Every objective's value (multi-objective studies), in --objectives order.
    values: list | None = None


def counts_towards_target(record) -> bool:
    return record.state in FINISHED_STATES and record.attrs.get("reason") not in NOT_COUNTED


class Engine(abc.ABC):
    """What the run, its ``--jobs`` workers, ``status`` and ``export`` ask of a search engine.
    An engine owns the study's storage, sampler and pruner; ``search`` calls ``evaluate(ctx)``
    once per trial. A new engine is one module ``seqsearch/engines/<name>_engine.py`` with a
    subclass that has a ``name``: ``engines.ENGINES`` finds it there."""

    name: str = ""
    # Where it comes among --engine's choices (the lowest is the default).
    order: int = 100
    # --sampler's choices with this engine, the default first.
    samplers: tuple = ()
    # Whether --storage (a database URL for several machines) can hold its state.
    takes_storage: bool = True
    # One line each for the user (a storage healed on opening, damaged state moved aside).
    notices: list

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def for_run(cls, config, study_path, *, storage=None, space=None, worker: int = 0) -> "Engine":
        """The study opened (created if new) to search with the run's options (``RunConfig``)."""

    @classmethod
    @abc.abstractmethod
    def for_reading(cls, study: str, study_path, *, storage=None) -> "Engine":
        """An existing study opened read-side (``status``, ``export --trial``): never creates one."""

    @classmethod
    @abc.abstractmethod
    def holds(cls, study_path) -> bool:
        """Whether the study folder holds this engine's state."""

    # -- searching -----------------------------------------------------------------------------
    @abc.abstractmethod
    def search(self, evaluate, n_trials: int, timeout: float | None = None, target: int | None = None, stop=None):
        """Run trials until ``n_trials`` more finished (``target``: the study's total), the
        ``timeout`` passed or ``stop()`` says so."""

    @abc.abstractmethod
    def enqueue(self, named_specs: dict, limit: int | None = None) -> list[str]:
        """Queue specs to run first (the warm start, --specs); returns the names queued."""

    @abc.abstractmethod
    def recover_stale(self) -> list[int]:
        """Trials left running by a process that died: failed, their specs queued again."""

    # -- reading -------------------------------------------------------------------------------
    @abc.abstractmethod
    def records(self) -> list[TrialRecord]:
        """Every trial, as the engine-independent record."""

    def importances(self) -> dict:
        """Each parameter's importance to the objective, where the engine can tell."""
        return {}

    def pareto_front(self) -> list[TrialRecord]:
        """The non-dominated trials of a multi-objective study (none for one objective)."""
        return []

    def n_running(self) -> int:
        return sum(r.state == "running" for r in self.records())

    def n_finished(self) -> int:
        """Finished trials that count towards the target (worker deaths do not)."""
        return sum(counts_towards_target(r) for r in self.records())

    def best(self):
        done = [r for r in self.records() if r.state == "complete" and r.value is not None and math.isfinite(r.value)]
        return min(done, key=lambda r: (r.value, r.number)) if done else None


def _start_time(pid: int) -> str:
    # The kernel's process start time tells a live worker from a new process that reused its pid.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return "?"


def process_token() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def process_alive(token: str) -> bool | None:
    """True/False for a worker of this host; None when it ran elsewhere (cannot tell)."""
    try:
        host, pid_s, start = token.rsplit(":", 2)
        pid = int(pid_s)
    except (ValueError, AttributeError):
        return None
    if host != socket.gethostname():
        return None
    if not pid_alive(pid):
        return False
    return start == "?" or _start_time(pid) == start


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        pass
    return True
