"""What every engine hands to ``evaluate`` and reports back, independent of the engine."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["TrialContext", "TrialRecord", "process_token", "process_alive"]

FINISHED_STATES = ("complete", "pruned", "failed")


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
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start == "?" or _start_time(pid) == start
