"""KerasTuner engine: Hyperband, Bayesian optimisation or random search over the same space.

The engine drives a KerasTuner *oracle* directly (create trial, report, end trial), without a
``Tuner``: candidates are built from a spec by ``search_spaces`` and trained by
``seqsearch.training`` exactly as under Optuna, and the oracle only decides what to try next
(and, for Hyperband, for how many epochs). Its state lives in ``<study>/kerastuner/``; a rerun
reloads it and continues, and a trial that was running when its worker died is failed and
retried by the oracle (as a new seqsearch trial number, ``retry_of`` the dead one). seqsearch's
own bookkeeping per trial (state, reason, best epoch,
metrics, the MLflow run) is a JSON file beside the oracle's files.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from ..errors import SeqsearchError
from .base import RETRY_REASONS, Engine, TrialContext, TrialRecord, process_alive, process_token
from .heal import heal_json_files
from .kt_internals import set_project_dir

__all__ = ["KerasTunerEngine", "ORACLES"]

ORACLES = ("hyperband", "bayesian", "random")
_TUNER_ID = "seqsearch"


class KerasTunerEngine(Engine):
    name = "kerastuner"
    order = 10
    samplers = ORACLES  # the first is the default
    takes_storage = False  # its state lives in the study folder

    def __init__(self, study_name: str, study_path: Path, *, space, seed: int = 0, sampler: str = "hyperband",
                 max_epochs: int = 100, trials: int = 20):
        if sampler not in ORACLES:
            raise SeqsearchError(f"--sampler {sampler!r} is not a KerasTuner oracle; choose from {', '.join(ORACLES)}")
        self.study_name = study_name
        self.study_path = Path(study_path)
        self.space = space
        self.seed = seed
        self.sampler_name = sampler
        self.max_epochs = max_epochs
        self.trials = trials
        self.dir = self.study_path / "kerastuner"
        self.attrs_dir = self.dir / "seqsearch"
        self.oracle = None
        self.notices: list[str] = []  # one line each for the user (damaged state files moved aside)

    @classmethod
    def for_run(cls, config, study_path, *, storage=None, space=None, worker: int = 0) -> "KerasTunerEngine":
        return cls(config.study, study_path, space=space, seed=config.seed, sampler=config.sampler,
                   max_epochs=config.max_epochs, trials=config.trials).open()

    @classmethod
    def for_reading(cls, study: str, study_path, *, storage=None) -> "KerasTunerEngine":
        # seqsearch's per-trial records: the oracle itself is not needed to read them.
        return cls(study, study_path, space=None)

    @classmethod
    def holds(cls, study_path) -> bool:
        return (Path(study_path) / "kerastuner" / "seqsearch").is_dir()

    # -- setup -------------------------------------------------------------------------------
    def _declared_space(self):
        """Every parameter of every family declared up front, so the oracle samples all of
        them from the first trial (a trial asks only for the chosen family's active ones)."""
        import keras_tuner as kt
        from search_spaces import KerasTunerHP

        hp = kt.HyperParameters()
        self.space.declare(KerasTunerHP(hp))
        return hp

    def open(self):
        import keras_tuner as kt

        self.attrs_dir.mkdir(parents=True, exist_ok=True)
        objective = kt.Objective("val_loss", direction="min")
        # A failing candidate is an outcome: it must never stop the study, nor be retried.
        common = dict(objective=objective, seed=self.seed, hyperparameters=self._declared_space(),
                      max_retries_per_trial=0, max_consecutive_failed_trials=2**31 - 1)
        if self.sampler_name == "hyperband":
            oracle = kt.oracles.HyperbandOracle(max_epochs=self.max_epochs, factor=3, hyperband_iterations=None,
                                                **common)
        elif self.sampler_name == "bayesian":
            oracle = kt.oracles.BayesianOptimizationOracle(max_trials=self.trials, num_initial_points=8, **common)
        else:
            oracle = kt.oracles.RandomSearchOracle(max_trials=self.trials, **common)
        set_project_dir(oracle, str(self.dir), self.study_name)
        project = self.dir / self.study_name
        self.notices += heal_json_files([*sorted(project.glob("trial_*/trial.json")), *sorted(self.attrs_dir.glob("trial_*.json")),
                                         self.dir / "warm_start.json", project / "oracle.json"])
        self._replace_damaged_trials(oracle, project)
        if (project / "oracle.json").is_file():
            try:
                oracle.reload()
            except Exception as e:  # noqa: BLE001 - a damaged or foreign project
                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
                raise SeqsearchError(
                    f"the KerasTuner state in {str(self.dir)!r} cannot be reloaded ({first}); "
                    "pass another --study"
                ) from None
        elif any(project.glob("trial_*/trial.json")):
            # oracle.json was damaged (moved aside): the oracle starts a new schedule, knowing
            # the trials, so new trial ids continue after theirs instead of reusing their folders.
            from keras_tuner.engine import trial as trial_module

            for fname in sorted(project.glob("trial_*/trial.json")):
                trial = trial_module.Trial.load(str(fname))
                oracle.trials[trial.trial_id] = trial
        oracle.max_trials = None  # --trials is enforced here, counting only trials that ran
        oracle.verbose = 0
        self.oracle = oracle
        return self

    @staticmethod
    def _replace_damaged_trials(oracle, project: Path):
        """A trial folder whose trial.json was moved aside gets a failed placeholder trial: the
        oracle's state can still name it, and the next trial id does not land on its folder."""
        from keras_tuner.engine import trial as trial_module

        for folder in sorted(project.glob("trial_*")):
            if folder.is_dir() and not (folder / "trial.json").exists():
                trial = trial_module.Trial(oracle.hyperparameters.copy(), trial_id=folder.name[len("trial_"):],
                                           status=trial_module.TrialStatus.FAILED)
                trial.message = "its trial.json was damaged"
                trial.save(str(folder / "trial.json"))

    # -- bookkeeping -------------------------------------------------------------------------
    def _attrs_path(self, number: int) -> Path:
        return self.attrs_dir / f"trial_{number:05d}.json"

    def _write(self, number: int, record: dict):
        _write_atomic(self._attrs_path(number), json.dumps(record, default=str))

    def _read_all(self) -> list[dict]:
        out = []
        for f in sorted(self.attrs_dir.glob("trial_*.json")):
            try:
                out.append(json.loads(f.read_text()))
            except ValueError:
                continue
        return out

    def records(self) -> list[TrialRecord]:
        return [
            TrialRecord(number=r["number"], state=r["state"], value=r.get("value"), spec=r.get("spec", {}),
                        attrs=r.get("attrs", {}))
            for r in self._read_all()
        ]

    def importances(self) -> dict:
        return {}

    def recover_stale(self) -> list[int]:
        """Trials left running by a worker that died: recorded as failed (the oracle retries
        their values when the search continues)."""
        failed = []
        for r in self._read_all():
            if r["state"] == "running" and process_alive(r.get("attrs", {}).get("worker", "")) is False:
                r["state"] = "failed"
                r.setdefault("attrs", {})["reason"] = RETRY_REASONS[0]
                self._write(r["number"], r)
                failed.append(r["number"])
        return failed

    def enqueue(self, named_specs: dict, limit: int | None = None) -> list[str]:
        """Warm start: these specs replace the oracle's proposals for the next trials; ``limit``:
        at most this many."""
        have = {json.dumps(r.spec, sort_keys=True) for r in self.records()}
        queue_file = self.dir / "warm_start.json"
        queue = json.loads(queue_file.read_text()) if queue_file.is_file() else []
        queued = []
        for name, spec in named_specs.items():
            if limit is not None and len(queued) >= limit:
                break
            key = json.dumps(spec, sort_keys=True)
            if key in have or any(json.dumps(s, sort_keys=True) == key for _, s in queue):
                continue
            queue.append([name, spec])
            queued.append(name)
        _write_atomic(queue_file, json.dumps(queue))
        return queued

    def _pop_warm(self):
        queue_file = self.dir / "warm_start.json"
        if not queue_file.is_file():
            return None
        queue = json.loads(queue_file.read_text())
        if not queue:
            return None
        item = queue.pop(0)
        _write_atomic(queue_file, json.dumps(queue))
        return item

    # -- search ------------------------------------------------------------------------------
    def search(self, evaluate, n_trials: int, timeout: float | None = None, target: int | None = None,
               stop=None):
        from keras_tuner.engine import trial as trial_module

        started = time.monotonic()
        ran = 0
        while ran < n_trials:
            if timeout is not None and time.monotonic() - started >= timeout:
                break
            if stop is not None and ran and stop():  # asked after each trial, so one always runs
                break
            if target is not None and self.n_finished() + self.n_running() >= target:
                break
            trial = self.oracle.create_trial(_TUNER_ID)
            if trial.status == trial_module.TrialStatus.STOPPED:
                break
            if trial.status == trial_module.TrialStatus.IDLE:
                time.sleep(0.2)
                continue
            number, record, epochs = self._start_record(trial)
            ctx = self._context(trial, number, record, epochs)
            try:
                outcome = evaluate(ctx)
            except KeyboardInterrupt:
                record["state"] = "failed"
                record["attrs"]["reason"] = RETRY_REASONS[1]
                self._write(number, record)
                raise
            finally:
                record["spec"] = ctx.spec or record["spec"]
            self._end(trial, number, record, outcome)
            ran += 1

    def _start_record(self, trial):
        """seqsearch's record of a trial the oracle created: numbered in the order trials start
        (MLflow runs, status; a trial the oracle retries after its worker died keeps its oracle
        id but gets a new number), with a warm-start spec for a fresh candidate, and what it
        was promoted from (Hyperband). Returns (number, record, epoch budget)."""
        existing = self._read_all()
        number = max((r["number"] for r in existing), default=-1) + 1
        retry_of = [r["number"] for r in existing if r.get("attrs", {}).get("kerastuner_trial") == trial.trial_id]
        values = trial.hyperparameters.values
        warm = None
        if "tuner/trial_id" not in values:  # a fresh candidate (not a Hyperband promotion)
            warm = self._pop_warm()
            if warm is not None:
                values.update(warm[1])
        epochs = int(values.get("tuner/epochs", self.max_epochs))
        record = {"number": number, "state": "running", "value": None, "spec": {},
                  "attrs": {"worker": process_token(), "epochs_budget": epochs, "kerastuner_trial": trial.trial_id}}
        if retry_of:
            record["attrs"]["retry_of"] = retry_of[-1]
        if "tuner/trial_id" in values:
            promoted = [r["number"] for r in existing
                        if r.get("attrs", {}).get("kerastuner_trial") == values["tuner/trial_id"] and r["state"] == "complete"]
            if promoted:
                record["attrs"]["promoted_from"] = promoted[-1]
        if warm is not None:
            record["attrs"]["warm_start"] = warm[0]
        self._write(number, record)
        return number, record, epochs

    def _context(self, trial, number, record, epochs) -> TrialContext:
        """What ``evaluate`` gets for a KerasTuner trial: its hyperparameters and its record."""
        from search_spaces import KerasTunerHP

        def set_attr(key, value):
            record["attrs"][key] = value
            if ctx.spec:  # drawn by now: kept even if this worker dies mid-trial
                record["spec"] = ctx.spec
            self._write(number, record)

        def find_duplicate(spec):
            key = json.dumps(spec, sort_keys=True)
            for r in self.records():
                # Hyperband promotes a candidate with a larger epoch budget: not a duplicate.
                if (r.number != number and r.state == "complete" and r.attrs.get("epochs_budget") == epochs
                        and json.dumps(r.spec, sort_keys=True) == key):
                    return r
            return None

        ctx = TrialContext(number=number, hp=KerasTunerHP(trial.hyperparameters), report=lambda e, v: None,
                           set_attr=set_attr, find_duplicate=find_duplicate, max_epochs=epochs)
        return ctx

    def _end(self, trial, number, record, outcome) -> None:
        """The outcome on seqsearch's record and handed to the oracle."""
        from keras_tuner.engine import trial as trial_module

        record["state"] = outcome.state
        record["value"] = outcome.value if math.isfinite(outcome.value) else None
        if outcome.reason:
            record["attrs"]["reason"] = outcome.reason
        self._write(number, record)
        if outcome.state == "complete":
            self.oracle.update_trial(trial.trial_id, {"val_loss": float(outcome.value)},
                                     step=max(outcome.best_epoch, 0))
            trial.status = trial_module.TrialStatus.COMPLETED
        else:
            trial.status = trial_module.TrialStatus.FAILED
            trial.message = outcome.reason or outcome.state
        self.oracle.end_trial(trial)
        # end_trial saves before it drops the trial from the ongoing ones; saved so, a reload
        # would run the finished trial again. Save once more without it.
        self.oracle.save()


def _write_atomic(path: Path, text: str):
    """Whole or not at all: a crash leaves the previous version, never half a file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
