"""Study plots for the MLflow parent run: optimisation history, score by family, learning
curves of the top trials and parameter importance (Optuna's default evaluator). Matplotlib (Agg), no display needed."""

from __future__ import annotations

import math

__all__ = ["study_figures"]


def _figure(title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.set_title(title)
    return fig, ax


def study_figures(records, curves: dict, importances: dict | None = None) -> dict:
    """``records``: engine TrialRecords; ``curves``: {trial: [val_loss per epoch]} of the top
    trials; ``importances``: {param: importance}. Returns {artifact name: matplotlib figure}."""
    done = sorted((r for r in records if r.state == "complete" and r.value is not None and math.isfinite(r.value)),
                  key=lambda r: r.number)
    figs = {}
    if done:
        fig, ax = _figure("Optimisation history (validation loss)")
        xs, ys = [r.number for r in done], [r.value for r in done]
        ax.scatter(xs, ys, s=14, label="trial")
        best, run = math.inf, []
        for y in ys:
            best = min(best, y)
            run.append(best)
        ax.step(xs, run, where="post", color="C3", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel("val_loss")
        ax.legend()
        figs["plots/optimisation_history.png"] = fig

        fig, ax = _figure("Validation loss by family")
        families = sorted({r.spec.get("family", "?") for r in done})
        for i, fam in enumerate(families):
            vals = [r.value for r in done if r.spec.get("family") == fam]
            ax.scatter([i] * len(vals), vals, s=14)
        ax.set_xticks(range(len(families)), families)
        ax.set_ylabel("val_loss")
        figs["plots/score_by_family.png"] = fig
    if curves:
        fig, ax = _figure("Learning curves of the top trials")
        for number, losses in curves.items():
            ax.plot(range(len(losses)), losses, label=f"#{number}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("val_loss")
        ax.legend()
        figs["plots/learning_curves.png"] = fig
    if importances:
        fig, ax = _figure("Parameter importance (Optuna's default evaluator)")
        items = sorted(importances.items(), key=lambda kv: kv[1])
        ax.barh([k for k, _ in items], [v for _, v in items])
        fig.tight_layout()
        figs["plots/parameter_importance.png"] = fig
    return figs
