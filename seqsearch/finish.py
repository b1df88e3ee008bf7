"""After the search: the leaderboard and the Pareto front shown and logged, the exported
model's members chosen and retrained within what is left of --timeout, the test score, the
export and its copy in MLflow, and the ``RunResult``; and ``export_trial`` for any other
completed trial."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .data.kinds import get_kind
from .errors import SeqsearchError
from .evaluate import train_scale
from .parts import load_study_dataset
from .progress import display_epoch, score_key
from .study import study_lock

__all__ = ["RunResult", "finish_run", "export_trial", "leaderboard", "pareto", "export_and_log"]


@dataclass
class RunResult:
    study: str
    study_path: Path
    best_trial: int
    best_spec: dict
    best_summary: str
    val_loss: float
    val_metrics: dict
    test_metrics: dict
    model_path: Path
    tracking_uri: str
    n_trials: int
    states: dict = field(default_factory=dict)
    leaderboard: list = field(default_factory=list)
    pareto_front: list = field(default_factory=list)  # multi-objective: [{trial, objectives...}]
    baseline: dict | None = None  # forecasting: the seasonal naive forecast's test scores
    baselines: dict | None = None  # forecasting: AutoETS, AutoARIMA, SeasonalNaive (statsforecast) test scores
    ensemble: list = field(default_factory=list)  # the trials the exported model averages (best first)
    folds: int = 1  # completed trials were cross-validated on this many folds (val_loss: their mean)

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        d["study_path"], d["model_path"] = str(self.study_path), str(self.model_path)
        return d

    @property
    def model(self):
        """The exported model, loaded on first use."""
        if self.__dict__.get("_model") is None:
            from .model_file import load_model

            self.__dict__["_model"] = load_model(self.model_path)
        return self.__dict__["_model"]

    def predict(self, X, **kwargs):
        """The exported model's predictions for ``X`` (raw sequences, or raw strings for text
        and pairs)."""
        from .data.text import predict_any

        return predict_any(self.model, X, **kwargs)


def leaderboard(engine, key):
    rows = []
    for r in engine.records():
        if r.state != "complete":
            continue
        rows.append({
            "trial": r.number,
            "val_loss": r.value,
            key: r.attrs.get("metrics", {}).get(key),
            "best_epoch": display_epoch(r.attrs.get("best_epoch")),
            "params": r.attrs.get("n_params"),
            "architecture": r.attrs.get("summary", ""),
        })
    rows.sort(key=lambda row: (row["val_loss"], row["trial"]))
    return rows


def pareto(config, engine, tracker, console) -> list[dict]:
    """Print and log the Pareto front of a multi-objective study (the export is its member with
    the lowest validation loss; `seqsearch export --trial N` exports any other)."""
    import csv
    import io

    rows = []
    for r in sorted(engine.pareto_front(), key=lambda r: (r.values[0], r.number)):
        row = {"trial": r.number}
        row.update({o: int(v) if o == "params" else v for o, v in zip(config.objectives, r.values)})
        row["architecture"] = r.attrs.get("summary", "")
        rows.append(row)
    if not rows:
        return rows
    from .progress import format_table

    console.echo("")
    console.echo(f"Pareto front over {', '.join(config.objectives)} ({len(rows)} trial(s); "
                 f"export any with: seqsearch export {config.study} --trial N):")
    console.echo(format_table(rows, ["trial", *config.objectives, "architecture"]))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    tracker.log_pareto(buf.getvalue(), [row["trial"] for row in rows])
    from .plots import pareto_figure

    tracker.log_figures({"plots/pareto_front.png": pareto_figure(rows, config.objectives)})
    return rows


def finish_run(config, ds, engine, tracker, console, study_path, budget=None) -> RunResult:
    """The leaderboard and figures logged, the export's members chosen (and the retrain fitted
    to what is left of --timeout), the export written and logged, the test score said."""
    from .study import exported_trials

    records = engine.records()
    states = {s: sum(r.state == s for r in records) for s in ("complete", "pruned", "failed", "running")}
    best = engine.best()
    if best is None:
        raise SeqsearchError(_no_trial_completed(config, records, states))
    rows = _log_leaderboard(config, ds, engine, tracker, console, records)
    front = pareto(config, engine, tracker, console) if len(config.objectives) > 1 else []
    members, weights, selection, epochs, fold_weights = _export_plan(config, ds, records, best, study_path, budget,
                                                                      console)
    with study_lock(study_path):  # two processes finishing one study: one retrains, one reuses
        metrics, model = export_and_log(config, ds, tracker, console, members, study_path, epochs,
                                        weights=weights, selection=selection, fold_weights=fold_weights)
    tracker.tag_ranking([row["trial"] for row in rows], exported_trials(metrics))
    best_dir = study_path / "best"
    _say_test(console, metrics)
    console.echo(f"model: {best_dir / 'model.keras'}")
    console.echo(f"browse: seqsearch ui --study {config.study}" + (f" --workdir {config.workdir}" if config.workdir != "seqsearch-runs" else ""))
    return RunResult(
        study=config.study,
        study_path=study_path,
        best_trial=best.number,
        best_spec=best.spec,
        best_summary=best.attrs.get("summary", ""),
        val_loss=best.value,
        val_metrics=best.attrs.get("metrics", {}),
        test_metrics=metrics["test"],
        model_path=best_dir / "model.keras",
        tracking_uri=tracker.uri,
        n_trials=sum(r.state != "waiting" for r in records),  # queued specs not reached are not trials yet
        states=states,
        leaderboard=rows,
        pareto_front=front,
        baseline=metrics.get("baseline"), baselines=metrics.get("baselines"),
        ensemble=exported_trials(metrics),
        folds=config.folds,  # resolved by run()
    )


def _no_trial_completed(config, records, states) -> str:
    """Why there is nothing to export, and what to change."""
    reasons = [r.attrs.get("reason") for r in records if r.attrs.get("reason")]
    hint = f" (e.g. {reasons[-1]})" if reasons else ""
    fix = "raise --max-epochs/--max-params or check the data"
    if config.timeout and (not reasons or any(r.attrs.get("too_slow") for r in records)):
        fix = f"the --timeout of {config.timeout:g} s is too short for this data: raise it"
    return (f"no trial of study {config.study!r} completed: {states['pruned']} pruned, "
            f"{states['failed']} failed{hint}; {fix}")


def _log_leaderboard(config, ds, engine, tracker, console, records) -> list:
    """The leaderboard shown and logged to MLflow as CSV, with the study's figures."""
    import csv
    import io

    from .plots import study_figures

    rows = leaderboard(engine, console.score_key or score_key(ds.task_spec.categorical))
    console.leaderboard(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    tracker.log_leaderboard(buf.getvalue())
    with console.phase("logging the leaderboard and figures to MLflow"):
        curves = tracker.val_loss_curves([row["trial"] for row in rows[:5]])
        tracker.log_figures(study_figures(records, curves, engine.importances()))
    return rows


def _export_plan(config, ds, records, best, study_path, budget, console):
    """The members the export averages (greedy selection or the best-N rule) and their weights,
    those exported as fold models, and the retrain epochs what is left of --timeout pays for
    (shortened, and said so, if it must be)."""
    from .ensemble import select_members

    _, y_pool = ds.train_val
    members, weights, selection = select_members(
        records, best, config.ensemble_size(len(ds.X_val)), method=config.ensemble_selection,
        study_path=study_path, y=y_pool,
        categorical=ds.task_spec.categorical, fingerprint=ds.fingerprint())
    epochs = None
    fold_weights = saved_fold_models(config, ds, study_path, members)
    if budget is not None and budget.bounded:
        from .budget import plan_finish

        plan = plan_finish(members, budget.retrain_left(), train_scale(ds), free=set(fold_weights))
        kept = {r.number for r in plan.members}
        weights = [w for r, w in zip(members, weights) if r.number in kept]
        members, epochs = plan.members, plan.epochs
        if plan.note:
            console.warn(plan.note)
    return members, weights, selection, epochs, fold_weights


def _say_test(console, metrics) -> None:
    """The test score, and the forecasting baseline's beside it."""
    test_txt = ", ".join(f"{k} {v:.4f}" for k, v in metrics["test"].items())
    console.echo(f"test ({metrics['dataset']['n_test']} sequences): {test_txt}")
    base = metrics.get("baseline")
    if base:
        name = f"seasonal naive (season {base['season']})" if base["season"] > 1 else "naive (last value)"
        ratio = metrics["test"]["mae"] / base["mae"] if base["mae"] > 0 else float("nan")
        console.echo(f"baseline {name}: " + ", ".join(f"{k} {base[k]:.4f}" for k in ("mae", "rmse", "mape", "smape"))
                     + f"; model MAE / baseline MAE = {ratio:.3f}" + (" (the model wins)" if ratio < 1 else " (the baseline wins)"))
    fitted = {k: v for k, v in (metrics.get("baselines") or {}).items() if "mae" in v}
    if fitted:
        console.echo("statistical baselines, same test windows: " + "; ".join(
            f"{k} mae {v['mae']:.4f}, smape {v['smape']:.2f}" for k, v in fitted.items()))
        best = min(fitted, key=lambda k: fitted[k]["mae"])
        if fitted[best]["mae"] < metrics["test"]["mae"]:
            console.warn(f"{best} beats the exported model on the test windows (MAE {fitted[best]['mae']:.4f} against "
                         f"{metrics['test']['mae']:.4f}); consider it, or search longer")


def saved_fold_models(config, ds, study_path, members) -> dict:
    """{trial: its folds' weights} for the members exported as their fold models (``--final
    folds``): those whose fold models were kept, from at least two folds. A duplicate trial
    reads its original's."""
    from .evaluate import exports_folds
    from .fold_models import load_fold_weights

    if not exports_folds(config, ds):
        return {}
    folds = config.folds_for(ds.task_spec.kind, len(ds.X_val))
    out = {}
    for r in members:
        for number in (r.number, r.attrs.get("duplicate_of")):
            kept = None if number is None else load_fold_weights(study_path, number, ds.fingerprint(), folds, config.seed)
            if kept is not None and len(kept) >= 2:
                out[r.number] = kept
                break
    return out


def export_and_log(config, ds, tracker, console, members, study_path, epochs=None, weights=None, selection=None,
                   fold_weights=None):
    from .export import export_best
    from .study import exported_fold_models, exported_trials, exported_weights, read_export, retrain_epochs

    best = members[0]
    best_dir = study_path / "best"
    metrics = read_export(best_dir)
    model = None
    fold_weights = fold_weights or {}
    numbers = [r.number for r in members]
    epochs = epochs or [int(r.attrs.get("best_epoch", 0)) + 1 for r in members]
    # A member exported as its fold models is not retrained: no epochs.
    epochs = [0 if r.number in fold_weights else e for r, e in zip(members, epochs)]
    parts = [len(fold_weights.get(r.number, ())) for r in members]
    weights = [w / sum(weights) for w in weights] if weights else [1.0 / len(members)] * len(members)
    if (metrics and exported_trials(metrics) == numbers and retrain_epochs(metrics) == epochs
            and exported_fold_models(metrics) == parts
            and all(abs(a - b) <= 1e-4 for a, b in zip(exported_weights(metrics), weights))
            and metrics.get("dataset", {}).get("fingerprint") == ds.fingerprint()):
        which = f"trial #{best.number}" if len(members) == 1 else "trials " + ", ".join(f"#{n}" for n in numbers)
        console.echo(f"\nbest {which} unchanged; keeping the export in {best_dir}")
    else:
        announce_export(console, members, epochs, weights, parts, selection)
        model, metrics = export_best(members, ds, seed=config.seed, best_dir=best_dir, study=config.study,
                                     progress=lambda text, always=False: console.status("  " + text, always=always),
                                     epochs=epochs, weights=weights if len(members) > 1 else None,
                                     selection=selection if len(members) > 1 or selection == "greedy" else None,
                                     fold_weights=fold_weights, folds=config.folds_for(ds.task_spec.kind, len(ds.X_val)),
                                     fold_seed=config.seed)
    if tracker.logged_model_trials() != numbers:
        from .model_file import load_model

        if get_kind(ds.kind).raw_strings:
            # MLflow's exported-model form has no string signature: text and pairs studies log
            # their token model (best/model.keras and the SavedModel export take raw text).
            logged = load_model(best_dir / "token_model.keras")
        else:
            logged = model if model is not None else load_model(best_dir / "model.keras")
        with console.phase("logging the best model to MLflow"):
            model_uri = tracker.log_best(logged, best_dir, metrics, get_kind(ds.kind).model_input(ds, ds.X_test[:2]))
        console.echo(f"logged to MLflow as {model_uri}")
    return metrics, model


def announce_export(console, members, epochs, weights, parts, selection) -> None:
    """Say what the export is about to build: each member retrained for its epochs, or the
    average of its ``parts`` fold models."""
    best = members[0]

    def how(e, n):
        return f"the average of its {n} fold models" if n else f"retrained on train+val for {e} epochs"

    if len(members) == 1 and not parts[0]:
        console.echo(f"\nretraining trial #{best.number} ({best.attrs.get('summary', '')}) on train+val "
                     f"for {epochs[0]} epochs ...")
    elif len(members) == 1:
        console.echo(f"\nexporting trial #{best.number} ({best.attrs.get('summary', '')}): {how(0, parts[0])} ...")
    elif not any(parts):
        if selection == "greedy":
            console.echo(f"\nretraining {len(members)} trials on train+val; the export averages them with the "
                         f"weights greedy selection gave on out-of-fold predictions:")
        else:
            console.echo(f"\nretraining the {len(members)} best trials on train+val; the export averages them:")
        for r, e, w in zip(members, epochs, weights):
            share = f"weight {w:.2f}, " if selection == "greedy" else ""
            console.echo(f"  #{r.number} {r.attrs.get('summary', '')} ({share}val_loss {r.value:.4g}, {e} epochs)")
    else:
        chosen = ("with the weights greedy selection gave on out-of-fold predictions" if selection == "greedy"
                  else "the best by val_loss, equal weights")
        console.echo(f"\nexporting an average of {len(members)} trials, {chosen}:")
        for r, e, w, n in zip(members, epochs, weights, parts):
            share = f"weight {w:.2f}, " if selection == "greedy" else ""
            console.echo(f"  #{r.number} {r.attrs.get('summary', '')} ({share}val_loss {r.value:.4g}): {how(e, n)}")


def export_trial(study_path: Path, number: int, storage: str | None = None) -> Path:
    """Retrain trial ``number`` (e.g. a Pareto-front member) on train+validation, or average its
    fold models where the search kept them (``--final folds``), score it on the test split and
    write it like ``best/`` to ``<study>/trial-<number>/``."""
    from .engines import get_engine
    from .export import export_best
    from .study import read_export

    config, ds = load_study_dataset(study_path)
    engine = get_engine(config.engine).for_reading(config.study, study_path, storage=storage)
    record = next((r for r in engine.records() if r.number == number), None)
    if record is None or record.state != "complete":
        state = "does not exist" if record is None else f"is {record.state}"
        raise SeqsearchError(f"trial {number} of study {config.study!r} {state}; pick a completed trial (seqsearch status)")
    out = study_path / f"trial-{number}"
    metrics = read_export(out)
    if not (metrics and metrics.get("trial") == number and metrics.get("dataset", {}).get("fingerprint") == ds.fingerprint()):
        export_best(record, ds, seed=config.seed, best_dir=out, study=config.study,
                    fold_weights=saved_fold_models(config, ds, study_path, [record]),
                    folds=config.folds_for(ds.task_spec.kind, len(ds.X_val)), fold_seed=config.seed)
    return out
