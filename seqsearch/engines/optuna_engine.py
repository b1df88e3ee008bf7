"""Optuna engine: persistent local storage, TPE/random sampling, per-epoch pruning (median,
successive halving or Hyperband)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

from ..errors import SeqsearchError, TrialFailed, TrialPruned
from .base import (
    RETRY_REASONS,
    SURPLUS,
    Engine,
    TrialContext,
    TrialRecord,
    counts_towards_target,
    process_alive,
    process_token,
)

__all__ = ["OptunaEngine"]


_STATE = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}


class OptunaEngine(Engine):
    name = "optuna"
    order = 0  # the default engine
    samplers = ("tpe", "random", "nsga2")  # the first is the default

    def __init__(self, study_name: str, study_path: Path, *, storage: str | None = None, seed: int = 0,
                 sampler: str = "tpe", pruner: str = "median", max_epochs: int = 100, worker: int = 0,
                 objectives=("val_loss",)):
        self.study_name = study_name
        self.study_path = Path(study_path)
        self.storage_url = storage
        self.seed = seed
        self.sampler_name = sampler
        self.pruner_name = pruner
        self.max_epochs = max_epochs
        self.worker = worker  # parallel workers (--jobs) draw from different random streams
        self.objectives = list(objectives)
        self.study = None
        self.storage = None  # the Optuna storage object, once opened
        self.notices: list[str] = []  # one line each for the user (a journal healed on opening)
        self._read_only = False

    @classmethod
    def for_run(cls, config, study_path, *, storage=None, space=None, worker: int = 0) -> "OptunaEngine":
        return cls(config.study, study_path, storage=storage, seed=config.seed, sampler=config.sampler,
                   pruner=config.pruner, max_epochs=config.max_epochs, worker=worker,
                   objectives=config.objectives).open()

    @classmethod
    def for_reading(cls, study: str, study_path, *, storage=None) -> "OptunaEngine":
        return cls(study, study_path, storage=storage).load()

    @classmethod
    def holds(cls, study_path) -> bool:
        return (Path(study_path) / "optuna.journal").is_file()

    def _storage(self):
        import optuna

        if self.storage_url:
            import time

            for attempt in range(5):
                try:
                    # A worker on another machine that stops beating for 3 minutes has its trial
                    # failed by the next worker, and the trial's parameters run again (up to twice).
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # heartbeats are marked experimental
                        return optuna.storages.RDBStorage(
                            self.storage_url, heartbeat_interval=60, grace_period=180,
                            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2),
                        )
                except Exception as e:  # noqa: BLE001 - any driver/URL error is the user's to fix
                    text = str(e)
                    # Workers starting together on a new database race to create its tables:
                    # the loser finds them made and succeeds on a second try.
                    if "already exists" in text and attempt < 4:
                        time.sleep(0.5 + attempt)
                        continue
                    raise SeqsearchError(f"--storage {self.storage_url!r} cannot be opened: {text.splitlines()[0][:200]}") from None
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        from .heal import complete_prefix, heal_journal

        # A journal file is safe for several processes on one machine (no "database is locked").
        path = self.study_path / "optuna.journal"
        try:
            note = heal_journal(path, lock=JournalFileOpenLock(str(path)))
        except OSError:
            if not self._read_only:
                raise
            # `status` on a study it cannot write: read the complete records from a copy.
            import tempfile

            self._copy = tempfile.TemporaryDirectory(prefix="seqsearch-status-")
            data = path.read_bytes()
            good = complete_prefix(data)[0]
            path = Path(self._copy.name) / path.name
            path.write_bytes(data[:good])
            note = (f"optuna.journal ends in {len(data) - good} bytes that are not a complete record and the study "
                    "folder cannot be written; showing the complete records (run `seqsearch run` where it can write "
                    "to heal it)") if good < len(data) else None
        if note:
            self.notices.append(note)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))

    def open(self):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        storage = self.storage = self._storage()
        n_before = 0
        stored = None
        try:
            existing = optuna.load_study(study_name=self.study_name, storage=storage)
            n_before = len(existing.trials)
            stored = existing.user_attrs.get("objectives") or (["val_loss"] if len(existing.directions) == 1 else None)
        except KeyError:
            pass
        except ValueError:  # a multi-objective study loads only with its directions given
            existing = None
        if stored is not None and stored != self.objectives:
            raise SeqsearchError(
                f"study {self.study_name!r} was searched with --objectives {','.join(stored)}, not "
                f"{','.join(self.objectives)}; pass the same objectives or another --study"
            )
        # Offset the seed by the trials already run: a resumed study does not replay the
        # random draws it made before.
        seed = self.seed + n_before + 100_003 * self.worker
        if self.sampler_name == "random":
            sampler = optuna.samplers.RandomSampler(seed=seed)
        elif self.sampler_name == "nsga2":
            sampler = optuna.samplers.NSGAIISampler(seed=seed, population_size=16)
        else:
            sampler = optuna.samplers.TPESampler(
                seed=seed, multivariate=True, group=True, n_startup_trials=8
            )
        pruner = make_pruner(self.pruner_name, self.max_epochs)
        self.study = optuna.create_study(
            study_name=self.study_name, storage=storage, sampler=sampler, pruner=pruner,
            directions=["minimize"] * len(self.objectives), load_if_exists=True,
        )
        if "objectives" not in self.study.user_attrs:
            self.study.set_user_attr("objectives", self.objectives)
        if self.study.metric_names != list(self.objectives):  # named in optuna-dashboard and trials_dataframe
            self.study.set_metric_names(list(self.objectives))
        return self

    def load(self):
        """Open an existing study read-side (never creates one): for ``seqsearch status``."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        self._read_only = True
        try:
            self.storage = self._storage()
            self.study = optuna.load_study(study_name=self.study_name, storage=self.storage)
        except KeyError:
            raise SeqsearchError(f"the storage has no study named {self.study_name!r}") from None
        return self

    def recover_stale(self) -> list[int]:
        """Fail RUNNING trials whose worker on this machine is gone (killed, crashed) and queue
        their specs to run again; returns the failed trial numbers."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        failed = []
        storage = self.storage
        study_id = storage.get_study_id_from_name(self.study_name)
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if process_alive(t.user_attrs.get("worker", "")) is not False:
                continue
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
            try:
                storage.set_trial_user_attr(trial_id, "reason", RETRY_REASONS[0])
                storage.set_trial_state_values(trial_id, TrialState.FAIL)
            except UpdateFinishedTrialError:
                continue  # another worker recovered it first
            if t.params:
                self.study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
            failed.append(t.number)
        return failed

    def enqueue(self, named_specs: dict, limit: int | None = None) -> list[str]:
        """Queue fixed specs to run before sampled ones, skipping any the study already has;
        ``limit``: at most this many."""
        have = {json.dumps(r.spec, sort_keys=True) for r in self.records()}
        have |= {
            json.dumps(t.system_attrs.get("fixed_params", {}), sort_keys=True)
            for t in self.study.get_trials(deepcopy=False)
        }
        queued = []
        for name, spec in named_specs.items():
            if limit is not None and len(queued) >= limit:
                break
            if json.dumps(spec, sort_keys=True) in have:
                continue
            self.study.enqueue_trial(spec, user_attrs={"warm_start": name})
            queued.append(name)
        return queued

    def records(self) -> list[TrialRecord]:
        return [
            TrialRecord(
                number=t.number,
                state=_STATE.get(t.state.name, t.state.name.lower()),
                value=t.values[0] if t.values else None,
                spec=dict(t.params),
                attrs=dict(t.user_attrs),
                values=list(t.values) if t.values else None,
            )
            for t in self.study.get_trials(deepcopy=False)
        ]

    def pareto_front(self) -> list[TrialRecord]:
        """The completed trials no other trial beats on every objective (multi-objective)."""
        numbers = {t.number for t in self.study.best_trials} if len(self.objectives) > 1 else set()
        return [r for r in self.records() if r.number in numbers]

    def importances(self) -> dict:
        """Optuna's default importance of the parameters of completed trials (empty if too few)."""
        import optuna

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "few trials per regime": expected in small studies
                return dict(optuna.importance.get_param_importances(self.study, target=lambda t: t.values[0]))
        except (RuntimeError, ValueError, ZeroDivisionError):
            return {}

    def search(self, evaluate, n_trials: int, timeout: float | None = None, target: int | None = None,
               stop=None):
        """Run up to ``n_trials`` trials. ``target``: the study's total (``--trials``); with
        several workers on one study, each stops starting trials once the finished trials plus
        those running elsewhere reach it. ``stop()``: True when no further trial may start (the
        search's share of --timeout is spent); asked after each trial, so one always runs."""
        def stop_at_target(study, trial):
            if target is not None and self.n_finished() + self.n_running() >= target:
                study.stop()
            if stop is not None and stop():
                study.stop()

        def objective(trial):
            trial.set_user_attr("worker", process_token())
            if self._surplus(trial, target):
                # Lower-numbered trials already fill the target: give this one up, untrained,
                # and hand a queued spec (warm start, retry) back to the queue.
                fixed = trial.system_attrs.get("fixed_params")
                if fixed:
                    self.study.enqueue_trial(fixed, user_attrs={k: v for k, v in trial.user_attrs.items() if k != "worker"})
                trial.set_user_attr("reason", SURPLUS)
                self.study.stop()
                raise TrialFailed(SURPLUS)
            try:
                outcome = evaluate(self._context(trial))
            except KeyboardInterrupt:
                # Optuna fails the trial on the way out; mark it so a resume retries the spec.
                trial.set_user_attr("reason", RETRY_REASONS[1])
                if trial.params:
                    self.study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
                raise
            return self._result(trial, outcome)

        self.study.optimize(objective, n_trials=n_trials, timeout=timeout, catch=(TrialFailed,),
                            callbacks=[stop_at_target])

    def _surplus(self, trial, target) -> bool:
        """Whether the trials that count and those running ahead of ``trial`` fill ``target``."""
        if target is None:
            return False
        records = self.records()
        done = sum(counts_towards_target(r) for r in records)
        ahead = sum(r.state == "running" and r.number < trial.number for r in records)
        return done + ahead >= target

    def _context(self, trial) -> TrialContext:
        """What ``evaluate`` gets for an Optuna trial: its sampler, pruner and records."""
        def report(epoch, value):
            if value is None or not math.isfinite(value) or len(self.objectives) > 1:
                return  # Optuna prunes single-objective studies only
            trial.report(value, epoch)
            if trial.should_prune():
                raise TrialPruned(epoch, f"pruned after epoch {epoch + 1} ({self.pruner_name}: behind the "
                                         "trials that reached this epoch)")

        def find_duplicate(spec):
            key = json.dumps(spec, sort_keys=True)
            for r in self.records():
                if r.number != trial.number and r.state == "complete" and json.dumps(r.spec, sort_keys=True) == key:
                    return r
            return None

        return TrialContext(number=trial.number, hp=_hp(trial), report=report, set_attr=trial.set_user_attr,
                            find_duplicate=find_duplicate)

    def _result(self, trial, outcome):
        """An outcome as Optuna takes it: the objective value(s), or a pruned or failed trial."""
        import optuna

        if outcome.reason:
            trial.set_user_attr("reason", outcome.reason)
        if getattr(outcome, "too_slow", False):
            # Infeasible: TPE ranks it below every feasible trial, pruned ones included, and
            # stops proposing candidates like it that cannot finish within the budget.
            trial.set_constraint(TOO_SLOW_CONSTRAINT, 1.0)
        if outcome.state == "pruned":
            raise optuna.TrialPruned(outcome.reason)
        if outcome.state == "failed":
            raise TrialFailed(outcome.reason)
        if len(self.objectives) == 1:
            return outcome.value
        measured = {"val_loss": outcome.value, "params": float(outcome.n_params), "latency_ms": outcome.latency_ms}
        return tuple(measured[o] for o in self.objectives)


PRUNERS = ("median", "sha", "hyperband", "none")
# The first rung of successive halving and Hyperband, in epochs: one or two epochs say more
# about the learning rate than about the architecture.
MIN_RESOURCE = 3


# The constraint a trial stopped as too slow for the budget violates (> 0: infeasible).
TOO_SLOW_CONSTRAINT = "too_slow_for_the_budget"


def make_pruner(name: str, max_epochs: int):
    """Pruners fed once per epoch (the epoch is the resource), from the first trial on: queued
    warm-start specs are stopped like any other. Successive halving (the default) and Hyperband
    keep the best 1/3 of the trials at each rung (Optuna steps 3, 9, 27, 81: after epochs 4, 10,
    28, 82 counted from 1), asynchronously: a trial is compared with those that reached its rung
    before it, so a budget goes to the candidates
    that lead early; median stops a trial whose loss is worse than the median of earlier trials
    at the same epoch."""
    import optuna

    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=min(5, max(max_epochs // 4, 1)))
    if name == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=min(MIN_RESOURCE, max(max_epochs, 1)),
                                                      reduction_factor=3)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=min(MIN_RESOURCE, max(max_epochs, 1)),
                                              max_resource=max(max_epochs, 1), reduction_factor=3)
    raise SeqsearchError(f"--pruner {name!r}: choose from {', '.join(PRUNERS)}")


def _hp(trial):
    from search_spaces import OptunaHP

    return OptunaHP(trial)
