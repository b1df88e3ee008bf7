"""The default warm start: a small portfolio of specs chosen offline, by greedy portfolio
selection over the tuning suite (``benchmarks/build_portfolio.py`` rebuilds ``portfolio.json``).

A task the portfolio was not built for (it holds a section per task), or a space narrowed past
all of its specs, starts from the seed tutorials' specs instead (``seeds.py``), which is also
what ``--warm-start seeds`` asks for.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

__all__ = ["PORTFOLIO_FILE", "WARM_STARTS", "load_portfolio", "portfolio_specs", "warm_start_specs",
           "normalised_losses", "greedy_portfolio"]

PORTFOLIO_FILE = Path(__file__).with_name("portfolio.json")
WARM_STARTS = ("portfolio", "seeds", "none")


def load_portfolio(path: Path = PORTFOLIO_FILE) -> dict:
    """``{task: [(name, family, values)]}`` from the portfolio file, its shape checked."""
    data = json.loads(Path(path).read_text())
    out = {}
    for task, entries in data.get("tasks", {}).items():
        rows = []
        for e in entries:
            if not isinstance(e, dict) or not {"name", "family", "values"} <= set(e) or not isinstance(e["values"], dict):
                raise ValueError(f"{path}: a portfolio entry needs name, family and values, got {e!r}")
            rows.append((e["name"], e["family"], dict(e["values"])))
        names = [r[0] for r in rows]
        if len(set(names)) != len(names):
            raise ValueError(f"{path}: the {task} portfolio repeats a name: {names}")
        out[task] = rows
    return out


def portfolio_specs(space, task: str, path: Path = PORTFOLIO_FILE) -> dict | None:
    """The portfolio's specs for ``task`` that fit ``space``, by name, in selection order; None
    when the portfolio has no section for the task."""
    entries = load_portfolio(path).get(task)
    if entries is None:
        return None
    out = {}
    for name, family, values in entries:
        if family not in space.families:
            continue
        try:
            out[name] = space.default_spec(family, values)
        except ValueError:
            continue  # the user narrowed the space past this spec
    return out


def warm_start_specs(space, kind: str, task: str) -> dict:
    """The specs ``--warm-start kind`` queues for a ``task`` search in ``space``."""
    from .seeds import seed_specs

    if kind not in WARM_STARTS:
        raise ValueError(f"warm start must be one of {', '.join(WARM_STARTS)}, got {kind!r}")
    if kind == "none":
        return {}
    if kind == "portfolio":
        specs = portfolio_specs(space, task)
        if specs:  # none fit a narrowed space (--families rnn): the seeds that do
            return specs
    return seed_specs(space)


# What a failed or skipped fit counts as (the clip of every normalised loss).
WORST = 2.0


def normalised_losses(losses: dict, min_span: float = 0.1) -> dict:
    """``{dataset: {candidate: validation loss or None}}`` -> the same with each loss scaled to 0
    for the dataset's best candidate and 1 for its median one, or for best + ``min_span`` when
    that is further (a set most candidates solve does not weigh as much as one where they differ
    by a whole nat); clipped to [0, WORST]; None or NaN (failed) counts WORST."""
    out = {}
    for dname, cands in losses.items():
        ok = {c: v for c, v in cands.items() if v is not None and math.isfinite(v)}
        if not ok:
            continue
        best, median = min(ok.values()), statistics.median(ok.values())
        span = max(median - best, min_span)
        out[dname] = {c: min(max((ok[c] - best) / span, 0.0), WORST) if c in ok else WORST for c in cands}
    return out


def greedy_portfolio(norm: dict, size: int, min_gain: float = 0.01) -> list:
    """Greedy portfolio selection (Auto-sklearn 2.0): repeatedly add the candidate that most
    lowers the mean over datasets of the best normalised loss in the portfolio, until ``size``
    members or a gain under ``min_gain``. Returns ``[(name, mean after adding it)]`` in
    selection order; ties go to the name first in sorted order."""
    names = sorted({c for d in norm.values() for c in d})
    chosen, current = [], {d: WORST for d in norm}

    def mean_with(c):
        return statistics.mean(min(current[d], norm[d].get(c, WORST)) for d in norm)

    while len(chosen) < size and norm:
        left = [c for c in names if c not in {n for n, _ in chosen}]
        if not left:
            break
        pick = min(left, key=mean_with)
        gain = statistics.mean(current.values()) - mean_with(pick)
        if chosen and gain < min_gain:
            break
        current = {d: min(current[d], norm[d].get(pick, WORST)) for d in norm}
        chosen.append((pick, round(statistics.mean(current.values()), 4)))
    return chosen
