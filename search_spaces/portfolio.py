"""The default warm start: a small portfolio of specs chosen offline, by greedy portfolio
selection over the tuning suite (``benchmarks/build_portfolio.py`` rebuilds ``portfolio.json``).

A task the portfolio was not built for (it holds a section per task) starts from the seed
tutorials' specs instead (``seeds.py``), which is also what ``--warm-start seeds`` asks for.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["PORTFOLIO_FILE", "WARM_STARTS", "load_portfolio", "portfolio_specs", "warm_start_specs"]

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
        if specs is not None:
            return specs
    return seed_specs(space)
