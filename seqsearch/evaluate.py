"""One trial, as every engine asks for it (``make_evaluator``): the spec sampled, trained within its
share of the budget, cross-validated if it is a finalist, recorded in the engine and MLflow,
and shown; and the rules it ranks and shares by (finalists, the first trial, the leader, when
the search is over, what the finish would cost)."""

from __future__ import annotations

from .errors import SeqsearchError

__all__ = ["FINALISTS", "make_evaluator", "Evaluator", "not_finalist", "is_first", "leads_split", "train_scale", "finish_estimate", "search_over"]


# With --folds, only trials whose first-fold loss is among this many best so far (or among the
# ensemble's size, if larger) are cross-validated: the finalists. A trial whose first fold is
# worse than every fold of the best cross-validated trial is not one either: on the suite, none
# such ever won on the fold mean, and their folds cost twice their first.
FINALISTS = 3


def not_finalist(value, rank, finalists, folds, bar) -> str | None:
    """Why a trial whose first fold ended at ``value`` is not cross-validated, or None if it is
    a finalist. ``rank``: how many trials did better on the first fold; ``bar``: (number, worst
    fold loss) of the best cross-validated trial, or None while there is none."""
    if rank >= finalists:
        return (f"not a finalist: val_loss {value:.4g} on the first fold, {rank} trials did better "
                f"(the {finalists} best are cross-validated on {folds} folds)")
    if bar is not None and value > bar[1]:
        return (f"not a finalist: val_loss {value:.4g} on the first fold, worse than every fold of "
                f"#{bar[0]}, the best cross-validated trial (worst fold {bar[1]:.4g})")
    return None


def is_first(number, records) -> bool:
    """Whether trial ``number`` is the study's first to start (it gets the short first share):
    no other trial has started (queued warm-start specs wait in the storage unstarted). Not
    every trial that starts before one has finished: with --jobs the others start beside the
    first and get ordinary shares."""
    return not any(r.number != number and r.state != "waiting" for r in records)


def leads_split(number, value, records) -> bool:
    """Whether ``value`` beats every other trial's loss on the first fold (the validation split):
    the completed trials', and those of trials still in their later folds (another --jobs
    process cross-validating them). With none of them yet, no trial leads."""
    others = [r.attrs.get("split_value", r.value) for r in records
              if r.number != number and (r.state == "complete"
                                         or (r.state == "running" and r.attrs.get("split_value") is not None))]
    return bool(others) and value < min(others)


def make_evaluator(config, ds, space, tracker, engine, console, budget, callbacks=None):
    """The function the engine calls once per trial (``evaluate(ctx) -> TrialOutcome``);
    ``callbacks``: the user's Keras callbacks, given to every fit."""
    return Evaluator(config, ds, space, tracker, engine, console, budget, callbacks)


class Evaluator:
    """One trial, as every engine asks for it: sampled, trained within its share, cross-validated
    if it is a finalist, recorded in the engine and MLflow, and shown."""

    def __init__(self, config, ds, space, tracker, engine, console, budget, callbacks=None):
        from .budget import FOLD_SHARE

        self.config, self.ds, self.space, self.tracker = config, ds, space, tracker
        self.callbacks = list(callbacks or [])
        self.engine, self.console, self.budget = engine, console, budget
        self.folds = folds = config.folds_for(ds.task_spec.kind, len(ds.X_val))  # resolved by run(): config.folds
        self.finalists = max(FINALISTS, config.ensemble_size(len(ds.X_val)))
        # The trial training when the search's part of --timeout runs out stops there; that end
        # moves as the finish's reserve is re-estimated after every trial.
        self.deadline = budget.search_deadline if budget.bounded else None
        # A cross-validated finalist keeps its fold models for the export (``--final folds``).
        self.fold_export = exports_folds(config, ds)
        # What a second of a trial's first fold costs after it: its other folds (if it is a
        # finalist) and its retrain on train+validation (none when its fold models are exported).
        self.scale = train_scale(ds)
        self.later = (FOLD_SHARE * (folds - 1) if folds > 1 else 0.0) + (0.0 if self.fold_export else self.scale)
        # Greedy ensemble selection chooses among the finalists by their out-of-fold outputs: a
        # finalist keeps them (one prediction pass per fold). Sequence-to-sequence models (their
        # trainer is another graph) and forecasting windows keep the rule.
        from .devices import dtype_policy, trial_device

        # What this process trains on (each trial records it) and at which precision.
        self.device = trial_device()
        self.policy = dtype_policy(config.precision, on_gpu=self.device.startswith("GPU"))
        self.selecting = (config.ensemble_size(len(ds.X_val)) > 1 and config.ensemble_selection == "greedy"
                          and ds.task_spec.kind in ("classification", "regression"))

    # -- the rules a trial is ranked by ---------------------------------------------------------
    def why_not_finalist(self, number, value) -> str | None:
        """Why a trial whose first fold ended at ``value`` is not cross-validated (None: it is)."""
        records = self.engine.records()
        rank = sum(1 for r in records
                   if r.number != number and r.attrs.get("split_value") is not None and r.attrs["split_value"] < value)
        # The best cross-validated trial (by fold mean) and its worst fold's loss.
        done = [r for r in records if r.number != number and r.state == "complete" and r.attrs.get("fold_values")]
        best = min(done, key=lambda r: r.value) if done else None
        bar = (best.number, max(best.attrs["fold_values"])) if best is not None else None
        return not_finalist(value, rank, self.finalists, self.folds, bar)

    def keeps_outputs(self, number, value) -> bool:
        """Whether a trial whose first fold ended at ``value`` is one the selection may choose."""
        if self.folds > 1:
            return self.why_not_finalist(number, value) is None
        better = sum(1 for r in self.engine.records()
                     if r.number != number and r.state == "complete" and r.value < value)
        return better < self.finalists

    def fit_callbacks(self, number: int, fold: int) -> list:
        """The user's callbacks for one fit, and with --tensorboard a TensorBoard writer of its
        own (``DIR/<study>/trial-NNN``, ``.../fold-K`` for each fold of a cross-validated trial)."""
        out = list(self.callbacks)
        if self.config.tensorboard:
            from pathlib import Path

            import keras

            logs = Path(self.config.tensorboard).expanduser() / self.config.study / f"trial-{number:03d}"
            if self.folds > 1:
                logs = logs / f"fold-{fold}"
            out.append(keras.callbacks.TensorBoard(log_dir=str(logs), write_graph=False, update_freq="epoch"))
        return out

    # -- one trial ----------------------------------------------------------------------------
    def __call__(self, ctx):
        from search_spaces import spec_summary

        from .candidate import TrialModel
        from .training import TrialOutcome

        try:
            spec = self.space.sample(ctx.hp)
        except ValueError as e:  # a space that cannot be sampled is a configuration error
            raise SeqsearchError(f"search space error: {e}") from None
        ctx.spec = spec
        self.console.begin_trial()
        summary = spec_summary(spec)
        run_id = self._start(ctx, spec, summary)
        outcome = dup = None
        models = TrialModel()  # the first fold's model, trained again on the later folds
        try:
            dup = ctx.find_duplicate(spec)
            if dup is not None:
                # Same spec, same seed rules: training it again would buy nothing.
                outcome = TrialOutcome(
                    state="complete", value=dup.value, best_epoch=int(dup.attrs.get("best_epoch", 0)),
                    n_params=int(dup.attrs.get("n_params", 0)), metrics=dict(dup.attrs.get("metrics", {})),
                    reason=None,
                )
                ctx.set_attr("duplicate_of", dup.number)
            else:
                outcome = self._train(ctx, spec, summary, run_id, models)
            self._keep(ctx, outcome)
            return outcome
        finally:
            models.release()
            if outcome is None:  # interrupted or a configuration error: close the run honestly
                outcome = TrialOutcome(state="failed", reason="interrupted")
            self._end(ctx, run_id, outcome, dup, summary)

    def _start(self, ctx, spec, summary) -> str:
        """The trial's MLflow run, tagged; its summary and run id on the engine's trial."""
        from search_spaces import cudnn_eligible

        tags = {"family": spec["family"], "summary": summary, "cudnn_eligible": cudnn_eligible(spec),
                "device": self.device, "precision": self.policy}
        fam = spec["family"]
        for key in ("cell", "bidirectional"):
            if f"{fam}.{key}" in spec:
                tags[key] = spec[f"{fam}.{key}"]
        run_id = self.tracker.start_trial(ctx.number, spec, tags)
        ctx.set_attr("summary", summary)
        ctx.set_attr("mlflow_run_id", run_id)
        ctx.set_attr("device", self.device)
        return run_id

    def _train(self, ctx, spec, summary, run_id, models):
        """The first fold within the trial's share; a finalist's other folds; a trial that
        completes its first fold but is no finalist ends pruned."""
        from dataclasses import replace

        from .training import cross_validate

        config, folds, console = self.config, self.folds, self.console
        max_epochs = ctx.max_epochs or config.max_epochs
        outcome = self._first_fold(ctx, spec, summary, run_id, max_epochs, models)
        if outcome.too_slow:
            ctx.set_attr("too_slow", True)  # the sampler ranks it infeasible
        if folds == 1 or outcome.state != "complete":
            return outcome
        console.fold(ctx.number, 1, folds, outcome, summary)
        ctx.set_attr("split_value", outcome.value)
        why_not = self.why_not_finalist(ctx.number, outcome.value)
        if why_not:
            # Not a finalist: its single-split loss must never outrank a finalist's fold mean,
            # so it ends pruned (below every completed trial, for the sampler too).
            return replace(outcome, state="pruned", reason=why_not)
        return cross_validate(
            outcome, spec, self.ds, folds, max_epochs=max_epochs, seed=config.seed + ctx.number,
            fold_seed=config.seed, max_params=config.max_params, time_limit=config.trial_timeout,
            deadline=self.deadline, fold_share=self.budget.fold_share(outcome.seconds - outcome.trace_seconds),
            on_epoch=lambda f, epoch, logs: self._fold_epoch(ctx, run_id, f, epoch, max_epochs, logs, summary),
            on_fold=lambda f, o: console.fold(ctx.number, f + 1, folds, o, summary),
            models=models, callbacks=lambda f: self.fit_callbacks(ctx.number, f + 1), policy=self.policy,
        )

    def _fold_epoch(self, ctx, run_id, f, epoch, max_epochs, logs, summary) -> None:
        """A later fold's epoch (``f`` from 0): logged as that fold's curves, and shown."""
        self.tracker.log_epoch(run_id, epoch, logs, fold=f + 1)
        self.console.epoch(ctx.number, epoch, max_epochs, logs, summary, fold=(f + 1, self.folds))

    def _first_fold(self, ctx, spec, summary, run_id, max_epochs, models):
        """The trial trained on the validation split within its share of the budget; the
        trial leading the search trains on, a share at a time."""
        from .budget import FINISH_OVERHEAD_S, MIN_EPOCHS
        from .training import fit_candidate

        config, budget, folds = self.config, self.budget, self.folds
        fold = (1, folds) if folds > 1 else None

        def on_epoch(epoch, logs):
            self.tracker.log_epoch(run_id, epoch, logs)
            self.console.epoch(ctx.number, epoch, max_epochs, logs, summary, fold=fold)
            ctx.report(epoch, logs.get("val_loss"))

        records = self.engine.records()
        first = is_first(ctx.number, records)
        completed = any(r.state == "complete" for r in records)
        share = budget.trial_share(first=first, completed=completed)
        left_at_start = budget.search_left()

        def extend(best, granted):
            # The trial leading the search trains on towards its patience stop, a share at a time.
            if not leads_split(ctx.number, best, self.engine.records()):
                return 0.0
            extra = budget.extension(share, left_at_start, granted, self.later)
            if extra and not self.fold_export:
                # Its retrain may now be the finish's largest cost: reserve it before it trains on.
                budget.set_reserve(max(budget.reserve, self.scale * (granted + extra) + FINISH_OVERHEAD_S))
            return extra
        if budget.bounded and not completed and budget.search_left() < 0:
            self.console.warn(f"budget: no trial has completed within --timeout {config.timeout:g} s; trial "
                              f"#{ctx.number} gets {share:.0f} s so that there is a model to export")
        return fit_candidate(
            spec, self.ds, max_epochs=max_epochs, seed=config.seed + ctx.number,
            hooks=[on_epoch], max_params=config.max_params, time_limit=config.trial_timeout,
            latency="latency_ms" in config.objectives, deadline=self.deadline,
            share=share, min_epochs=min(MIN_EPOCHS, max_epochs), extend=extend,
            trace_cap=budget.trace_cap(share),
            reach=budget.reach(first),
            predict_val=((lambda v: self.keeps_outputs(ctx.number, v))
                         if self.selecting or self.fold_export else None),
            models=models if folds > 1 else None, callbacks=self.fit_callbacks(ctx.number, 1),
            policy=self.policy,
        )

    def _keep(self, ctx, outcome) -> None:
        """What a trial leaves: out-of-fold outputs and fold models for the export, and its
        record on the engine's trial."""
        from .ensemble import save_predictions
        from .training import out_of_fold

        config, ds = self.config, self.ds
        if outcome.state == "complete" and self.selecting:
            oof = outcome.oof
            if oof is None and self.folds == 1 and outcome.val_predictions is not None:
                oof = out_of_fold(ds, [outcome], 1, config.seed)
            if oof is not None:
                save_predictions(config.study_path, ctx.number, *oof, ds.fingerprint())
        if outcome.state == "complete" and self.fold_export and outcome.fold_weights:
            keep_fold_models(config, ds, self.engine, ctx.number, outcome)
        if outcome.value == outcome.value:  # what the live view printed, for status (pruned too)
            ctx.set_attr("val_loss", outcome.value)
        for key in ("best_epoch", "n_params", "epochs_run", "metrics", "seconds", "latency_ms", "rss_mb",
                    "fold_values", "fold_epochs", "first_epoch_seconds", "epoch_seconds"):
            value = getattr(outcome, key)
            # Latency and memory are NaN when not measured, the fold lists empty when not folded.
            if value == value and value != []:
                ctx.set_attr(key, value)

    def _end(self, ctx, run_id, outcome, dup, summary) -> None:
        """The MLflow run closed, the trial's line shown with the best so far, the finish's
        reserve re-estimated."""
        self.tracker.end_trial(run_id, outcome, {"duplicate_of": dup.number} if dup is not None else None)
        best = self.engine.best()
        if outcome.state == "complete" and (best is None or outcome.value < best.value):
            best_n, best_v = ctx.number, outcome.value
        elif best is not None:
            best_n, best_v = best.number, best.value
        else:
            best_n, best_v = None, None
        self.console.trial(ctx.number, outcome, summary, best_n, best_v)
        if self.budget.bounded:
            self.budget.set_reserve(finish_estimate(self.config, self.ds, self.engine))


def exports_folds(config, ds) -> bool:
    """Whether a cross-validated member is exported as its fold models (``--final folds``):
    classification and regression searches validated on more than one fold."""
    return (config.final == "folds" and ds.task_spec.kind in ("classification", "regression")
            and config.folds_for(ds.task_spec.kind, len(ds.X_val)) > 1)


def keep_fold_models(config, ds, engine, number, outcome) -> None:
    """Write trial ``number``'s fold weights when it is among the ``KEEP`` best completed trials,
    and remove those of trials that no longer are."""
    from .fold_models import KEEP, remove_fold_weights, save_fold_weights

    done = [(r.value, r.number) for r in engine.records() if r.state == "complete" and r.number != number]
    best = {n for _, n in sorted([*done, (outcome.value, number)])[:KEEP]}
    if number in best:
        save_fold_weights(config.study_path, number, outcome.fold_weights,
                          folds=config.folds_for(ds.task_spec.kind, len(ds.X_val)), fold_seed=config.seed,
                          fingerprint=ds.fingerprint())
    # Only completed trials' files: a trial another process is still recording keeps its own.
    remove_fold_weights(config.study_path, [n for _, n in done if n not in best])


def train_scale(ds) -> float:
    """Train+validation over the training split: how much longer a retrain's epoch takes."""
    return (len(ds.X_train) + len(ds.X_val)) / max(len(ds.X_train), 1)


def finish_estimate(config, ds, engine) -> float:
    """Seconds the finish would take if the search stopped now: retraining the trials the
    export would average (from their measured epoch times), plus scoring, export and logging."""
    from .budget import FINISH_OVERHEAD_S, retrain_seconds
    from .ensemble import ensemble_members

    best = engine.best()
    if best is None:
        return FINISH_OVERHEAD_S
    members = ensemble_members(engine.records(), best, config.ensemble_size(len(ds.X_val)))
    if exports_folds(config, ds):  # a member whose fold models were kept is not retrained
        from .fold_models import has_fold_weights

        members = [r for r in members if not has_fold_weights(config.study_path, r.number)]
    return FINISH_OVERHEAD_S + sum(retrain_seconds(r.attrs, train_scale(ds)) for r in members)


def search_over(budget, engine):
    """No trial starts once the search's part of --timeout is spent (the rest is the finish's)."""
    if not budget.bounded:
        return None
    return lambda: budget.search_over(completed=engine.best() is not None)
