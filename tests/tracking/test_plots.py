"""The study's plots: what a person wants to look at, not every number there is."""

import math

from seqsearch.engines import TrialRecord
from seqsearch.plots import MIN_IMPORTANCE_TRIALS, TOP_PARAMETERS, pareto_figure, study_figures


def _records(n_complete, pruned=2, failed=1):
    out = [TrialRecord(number=i, state="complete", value=1.0 / (i + 1), spec={"family": "rnn" if i % 2 else "conv"},
                       attrs={"summary": f"arch {i} " + "x" * 60}) for i in range(n_complete)]
    out += [TrialRecord(number=n_complete + i, state="pruned", value=None, spec={"family": "transformer"},
                        attrs={"val_loss": 0.9, "summary": "t"}) for i in range(pruned)]
    out += [TrialRecord(number=n_complete + pruned + i, state="failed", value=math.nan, spec={"family": "rnn"},
                        attrs={}) for i in range(failed)]
    return out


IMPORTANCES = {f"p{i}": 1.0 / (i + 1) for i in range(25)}


def test_importance_only_from_enough_trials_and_the_top_parameters():
    few = study_figures(_records(MIN_IMPORTANCE_TRIALS - 1), {}, IMPORTANCES)
    assert "plots/parameter_importance.png" not in few
    many = study_figures(_records(MIN_IMPORTANCE_TRIALS), {}, IMPORTANCES)
    ax = many["plots/parameter_importance.png"].axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == TOP_PARAMETERS and labels[-1] == "p0" and "p24" not in labels  # most important on top


def test_learning_curves_are_labelled_by_architecture_on_a_log_scale():
    records = _records(3)
    figs = study_figures(records, {0: [1.0, 0.5, 0.2], 2: [0.9, 0.1]}, None)
    ax = figs["plots/learning_curves.png"].axes[0]
    assert ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("#0 arch 0") and len(labels[0]) <= 38 and labels[1].startswith("#2 arch 2")
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3]  # epochs from 1


def test_every_trial_state_is_in_the_family_plot():
    figs = study_figures(_records(4, pruned=2, failed=1), {}, None)
    legend = [t.get_text() for t in figs["plots/score_by_family.png"].axes[0].get_legend().get_texts()]
    assert legend == ["complete (4)", "pruned (2)", "failed (1)"]


def test_pareto_figure_labels_each_member():
    rows = [{"trial": 3, "val_loss": 0.2, "params": 50000}, {"trial": 7, "val_loss": 0.3, "params": 900}]
    ax = pareto_figure(rows, ["val_loss", "params"]).axes[0]
    assert ax.get_xscale() == "log" and sorted(t.get_text() for t in ax.texts) == ["#3", "#7"]
