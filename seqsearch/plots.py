"""Study plots for the MLflow parent run: optimisation history, validation loss by family (every
trial, marked by how it ended), learning curves of the top trials labelled by architecture,
parameter importance once enough trials completed, and the Pareto front of a multi-objective
study. Matplotlib (Agg), no display needed."""

from __future__ import annotations

import math

__all__ = ["study_figures", "pareto_figure", "MIN_IMPORTANCE_TRIALS", "TOP_PARAMETERS"]

# Parameter importance from fewer completed trials than this says more about the noise than the
# parameters: no plot.
MIN_IMPORTANCE_TRIALS = 10
# The importance plot shows this many parameters at most (the rest are a long tail of zeros).
TOP_PARAMETERS = 10
_MARKERS = {"complete": ("o", "C0"), "pruned": ("x", "C1"), "failed": ("v", "C3")}


def _figure(title, size=(7, 4)):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size, dpi=100)
    ax.set_title(title)
    return fig, ax


def _loss(r):
    """The loss a trial's line showed: its value when complete, else what it reached (pruned)."""
    v = r.value if r.state == "complete" else r.attrs.get("val_loss", r.value)
    return v if v is not None and math.isfinite(v) else None


def _label(r, width=38) -> str:
    text = f"#{r.number} {r.attrs.get('summary', '')}".strip()
    return text if len(text) <= width else text[:width - 1] + "…"


def study_figures(records, curves: dict, importances: dict | None = None) -> dict:
    """``records``: engine TrialRecords; ``curves``: {trial: [val_loss per epoch]} of the top
    trials; ``importances``: {param: importance}. Returns {artifact name: matplotlib figure}."""
    done = sorted((r for r in records if r.state == "complete" and _loss(r) is not None), key=lambda r: r.number)
    figs = {}
    if done:
        figs["plots/optimisation_history.png"] = _history(done)
    ended = [r for r in records if r.state in _MARKERS]
    if ended:
        figs["plots/score_by_family.png"] = _by_family(ended)
    if curves:
        by_number = {r.number: r for r in records}
        fig, ax = _figure("Learning curves of the top trials (validation loss)", size=(8, 4.5))
        for number, losses in curves.items():
            r = by_number.get(number)
            ax.plot(range(1, len(losses) + 1), losses, label=_label(r) if r is not None else f"#{number}")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("val_loss (log scale)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        figs["plots/learning_curves.png"] = fig
    if importances and len(done) >= MIN_IMPORTANCE_TRIALS:
        top = sorted(importances.items(), key=lambda kv: kv[1], reverse=True)[:TOP_PARAMETERS]
        fig, ax = _figure(f"Parameter importance, top {len(top)} (Optuna's default evaluator, "
                          f"{len(done)} trials)", size=(8, 0.45 * len(top) + 1.5))
        ax.barh([k for k, _ in reversed(top)], [v for _, v in reversed(top)])
        ax.tick_params(axis="y", labelsize=8)
        fig.tight_layout()
        figs["plots/parameter_importance.png"] = fig
    return figs


def _history(done):
    fig, ax = _figure("Optimisation history (validation loss of completed trials)")
    xs, ys = [r.number for r in done], [_loss(r) for r in done]
    ax.scatter(xs, ys, s=14, label="trial")
    best, run = math.inf, []
    for y in ys:
        best = min(best, y)
        run.append(best)
    ax.step(xs, run, where="post", color="C3", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("val_loss")
    ax.legend()
    return fig


def _by_family(ended):
    """Each trial's loss by family, marked by how it ended (failed trials at the top edge)."""
    fig, ax = _figure("Validation loss by family and outcome")
    families = sorted({r.spec.get("family", "?") for r in ended})
    known = [v for v in (_loss(r) for r in ended) if v is not None]
    top = max(known) * 1.1 if known else 1.0
    for state, (marker, color) in _MARKERS.items():
        pts = [(families.index(r.spec.get("family", "?")), _loss(r)) for r in ended if r.state == state]
        pts = [(x, top if y is None else y) for x, y in pts]
        if pts:
            ax.scatter([x for x, _ in pts], [y for _, y in pts], s=18, marker=marker, color=color,
                       label=f"{state} ({len(pts)})")
    ax.set_xticks(range(len(families)), families)
    ax.set_ylabel("val_loss")
    ax.legend(fontsize=8)
    return fig


def pareto_figure(rows: list, objectives) -> object:
    """The Pareto front of a multi-objective study: validation loss against the second objective,
    each point labelled by its trial number."""
    second = objectives[1]
    fig, ax = _figure(f"Pareto front: val_loss against {second}")
    xs, ys = [row[second] for row in rows], [row["val_loss"] for row in rows]
    ax.scatter(xs, ys, s=20)
    for row, x, y in zip(rows, xs, ys):
        ax.annotate(f"#{row['trial']}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if second == "params":
        ax.set_xscale("log")
    ax.set_xlabel(second)
    ax.set_ylabel("val_loss")
    return fig
