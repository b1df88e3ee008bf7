"""Which trials the exported model averages, and with what weights.

Two ways (``--ensemble-selection``), the second the default where it can run:

- best (:func:`ensemble_members`): the best trial, then the next best distinct
  architectures within a margin of its validation loss, equal weights;
- greedy ensemble selection (Caruana et al., 2004; :func:`greedy_selection`) on the
  finalists' out-of-fold outputs: each cross-validated trial kept its outputs on the
  train+validation rows it did not train on (``predictions/trial-N.npz`` in the study folder),
  and members are added one at a time, with replacement, to the average whose out-of-fold loss
  is lowest. A member picked twice weighs twice; the selection may keep a single model.

Both stop at the ensemble's size in distinct trials, so the finish's retrain costs no more
than the best-N rule's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

PREDICTIONS = "predictions"
# Rounds of greedy selection per allowed member: enough for weights in steps of 1/(3 x size).
ROUNDS_PER_MEMBER = 3
# A later round must lower the loss by this much to be kept: an average a hair better on the
# out-of-fold rows is noise, and fewer rounds keep simpler weights.
MIN_GAIN = 1e-4
# The margin of the rule: a trial worse than this over the best never joins its average.
RULE_FACTOR, RULE_OFFSET = 1.1, 0.02


def _spec_key(record) -> str:
    """One string per architecture: two trials with the same spec are one member."""
    return json.dumps(record.spec, sort_keys=True)


def ensemble_members(records, best, size: int) -> list:
    """The trials the rule averages: ``best``, then the next trials by validation loss with
    another architecture (a duplicate spec adds nothing), at most ``size`` in all. A trial whose
    validation loss is clearly worse than the best's (over 1.1 x best + 0.02) never joins: when
    few trials completed, a weak one would pull the average down."""
    chosen, seen = [best], {_spec_key(best)}
    limit = RULE_FACTOR * best.value + RULE_OFFSET
    for r in sorted((r for r in records if r.state == "complete"), key=lambda r: (r.value, r.number)):
        if len(chosen) >= size or r.value > limit:
            break
        key = _spec_key(r)
        if key not in seen:
            seen.add(key)
            chosen.append(r)
    return chosen


def _file(study_path: Path, number: int) -> Path:
    return Path(study_path) / PREDICTIONS / f"trial-{number}.npz"


def save_predictions(study_path: Path, number: int, pred, covered, fingerprint: str) -> None:
    """Keep a trial's out-of-fold outputs (written whole or not at all)."""
    path = _file(study_path, number)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, pred=np.asarray(pred, dtype=np.float32), covered=np.asarray(covered, dtype=bool),
                 fingerprint=np.array(fingerprint))
    os.replace(tmp, path)


def load_predictions(study_path: Path, number: int, fingerprint: str):
    """(outputs, covered) kept for trial ``number`` on this dataset, or None."""
    path = _file(study_path, number)
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["fingerprint"]) != fingerprint:
                return None
            return z["pred"], z["covered"]
    except (OSError, KeyError, ValueError):  # absent, half-copied, or another worker's machine
        return None


def selection_loss(pred, y, categorical: bool) -> float:
    """The loss the selection minimises: cross-entropy of the averaged class probabilities,
    or the mean squared error over targets scaled to unit variance."""
    if categorical:
        p = np.clip(np.take_along_axis(pred, y[..., None].astype(np.int64), axis=-1)[..., 0], 1e-7, 1.0)
        return float(-np.mean(np.log(p)))
    y2 = y.reshape(len(y), -1).astype(np.float64)
    scale = y2.std(axis=0)
    scale[scale == 0] = 1.0
    return float(np.mean(((pred.reshape(len(y), -1) - y2) / scale) ** 2))


def greedy_selection(preds: dict, y, *, categorical: bool, size: int, rounds: int | None = None):
    """Caruana's forward selection with replacement over ``preds`` ({trial: outputs on the same
    rows as ``y``}, in order of preference for ties). Each round adds the member whose addition
    gives the lowest loss of the average, among at most ``size`` distinct trials; the result is
    the best average over all rounds. Returns ({trial: count}, its loss)."""
    numbers = list(preds)
    rounds = rounds or ROUNDS_PER_MEMBER * size
    counts: dict = {}
    total = None
    best, best_loss = None, np.inf
    for r in range(1, rounds + 1):
        allowed = numbers if len(counts) < size else list(counts)
        scores = []
        for n in allowed:
            avg = preds[n] if total is None else (total + preds[n]) / r
            scores.append(selection_loss(avg, y, categorical))
        i = int(np.argmin(scores))  # the first of equals: the preferred trial
        n = allowed[i]
        counts[n] = counts.get(n, 0) + 1
        total = preds[n].astype(np.float64) if total is None else total + preds[n]
        if scores[i] < best_loss - MIN_GAIN:
            best, best_loss = dict(counts), scores[i]
    return best, float(best_loss)


def select_members(records, best, size: int, *, method="greedy", study_path=None, y=None, categorical=False,
                   fingerprint=""):
    """(members, weights summing to 1, how they were chosen: "greedy" or "best"). ``method``
    "greedy" runs greedy selection when the best trial and at least one other distinct trial
    kept out-of-fold outputs covering the same rows; otherwise (and for "best") the rule, best
    first, with equal weights."""
    rule = ensemble_members(records, best, size)
    equal = [1.0 / len(rule)] * len(rule)
    if method != "greedy" or size < 2 or study_path is None or y is None:
        return rule, equal, "best"
    base = load_predictions(study_path, best.number, fingerprint)
    if base is None:
        return rule, equal, "best"
    rows = base[1]
    pool, preds, seen = {}, {}, set()
    for r in sorted((r for r in records if r.state == "complete"), key=lambda r: (r.number != best.number, r.value, r.number)):
        key = _spec_key(r)
        if key in seen:
            continue
        kept = base if r.number == best.number else load_predictions(study_path, r.number, fingerprint)
        if kept is None or kept[0].shape != base[0].shape or not kept[1][rows].all():
            continue
        seen.add(key)
        pool[r.number], preds[r.number] = r, kept[0][rows]
    if len(pool) < 2:
        return rule, equal, "best"
    counts, _ = greedy_selection(preds, np.asarray(y)[rows], categorical=categorical, size=size)
    total = sum(counts.values())
    # Best first (the export's spec.json and summary lead with it), then by weight.
    order = sorted(counts, key=lambda n: (n != best.number, -counts[n], pool[n].value, n))
    return [pool[n] for n in order], [counts[n] / total for n in order], "greedy"
