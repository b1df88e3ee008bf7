"""Errors. ``SeqsearchError`` is the user's to fix (CLI: one line, exit code 2); the others
steer a study: ``TrialFailed`` skips one candidate, ``TrialPruned`` stops it early."""

from __future__ import annotations

__all__ = ["SeqsearchError", "DataError", "TrialFailed", "TrialPruned", "one_line"]


def one_line(text, limit: int = 400) -> str:
    """``text`` on one line, cut to a readable length: error messages quote what the user
    passed, and a value can be megabytes long."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


class SeqsearchError(ValueError):
    """Bad input or configuration: says what was passed, what was expected, how to fix it."""


class DataError(SeqsearchError):
    """The dataset cannot be used as given."""


class TrialFailed(Exception):
    """One candidate failed (NaN loss, out of memory, an error in its build); the study goes on."""


class TrialPruned(Exception):
    """The engine asked to stop this candidate early; ``epoch`` is where it stopped (0-based, as
    Keras counts), ``reason`` why when it is not the pruner's rank (e.g. too slow for the budget).
    Texts count epochs from 1, as everything the user reads does."""

    def __init__(self, epoch: int, reason: str | None = None):
        super().__init__(reason or f"pruned after epoch {epoch + 1}")
        self.epoch = epoch
        self.reason = reason
