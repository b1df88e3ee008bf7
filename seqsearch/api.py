"""The pipeline, in the order DESIGN.md draws it: data -> space -> engine -> training ->
tracking -> export. ``seqsearch run`` is a thin layer over ``run()``."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import RunConfig
from .progress import display_epoch
from .errors import SeqsearchError

__all__ = ["run", "RunResult"]


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
    ensemble: list = field(default_factory=list)  # the trials the exported model averages (best first)
    folds: int = 1  # completed trials were cross-validated on this many folds (val_loss: their mean)

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["study_path"], d["model_path"] = str(self.study_path), str(self.model_path)
        return d


def run(dataset, *, console=None, tracking_uri: str | None = None, storage: str | None = None, **options) -> RunResult:
    """Search architectures for ``dataset`` and export the best model.

    ``options`` are those of :class:`seqsearch.config.RunConfig` (``trials``, ``max_epochs``,
    ``task``, ``study``, ``workdir``, ``seed``, ...). Returns a :class:`RunResult`.
    Raises :class:`seqsearch.errors.SeqsearchError` for input the user must fix.
    """
    from ._backend import load_keras
    from .progress import Console

    config = RunConfig(dataset=str(dataset), **options)
    if storage and config.engine != "optuna":
        raise SeqsearchError("--storage is an Optuna storage URL; KerasTuner keeps its state in the study folder")
    console = console or Console()
    from .budget import Budget

    # --timeout bounds the whole command, from here: start-up, search, retrain, export, logging.
    budget = Budget(config.timeout)
    # Everything that can be wrong with the input is found before the work directory is touched.
    started = time.perf_counter()
    ds = _load_dataset(config)
    load_seconds = time.perf_counter() - started
    if config.jobs is None:  # --jobs not given: parallel under a long enough --timeout
        from .budget import auto_jobs

        config.jobs = auto_jobs(config.timeout, config.engine, data_bytes=ds.nbytes())
    space = _search_space(config, ds)
    replay = load_specs_file(config.specs_file, space) if config.specs_file else {}
    info = ds.describe()
    info["load_seconds"] = round(load_seconds, 2)
    # Resolved once for this run, its --jobs workers (they get config.to_dict()) and study.json.
    config.folds = info["folds"] = config.folds_for(ds.task_spec.kind, len(ds.X_val))
    ds.check_folds(config.folds)  # too few training sequences: said before anything is written
    created = not config.study_path.exists()
    study_path = _prepare_study_dir(config, ds, info)
    # --jobs workers start now: their own TensorFlow start-up (~10 s) runs on the cores this
    # process's start-up leaves idle, and they wait until the study is ready to join it.
    workers = _Workers.spawn(config, storage, tracking_uri, min(config.jobs, config.trials) - 1, console,
                             budget.end_wall())
    try:
        with console.phase("starting TensorFlow and the study's storage"):
            load_keras()

            from .tracking import Tracker

            if not tracking_uri:
                from .tracking import check_local_store

                check_local_store(study_path)  # damaged: said before the engine appends to the journal
            # The engine first: a study it refuses (other objectives) leaves the tracking store as it was.
            engine = _engine(config, study_path, storage, space)
            for note in getattr(engine, "notices", []):
                console.warn(note)
            _write_json(study_path / "run_config.json", config.to_dict())  # how to reload the data later
            tracker = Tracker(config.study, study_path, tracking_uri)
            with study_lock(study_path):  # several `seqsearch run` on one study share one parent run
                tracker.open_study(config.to_dict(), info)
    except BaseException:
        workers.join()  # stopped before they touch the study
        if created:  # a start that failed (a tracking server that does not answer) leaves no study behind
            import shutil

            shutil.rmtree(study_path, ignore_errors=True)
        raise
    try:
        stale = engine.recover_stale()
        if stale:
            tracker.fail_trials(stale, "worker process died")
        # Given specs first, then the warm start (the portfolio chosen on the tuning suite, or the
        # seed tutorials' models): a budget starts with candidates known to work, before the sampler
        # explores.
        queued = engine.enqueue(replay) if replay else []
        if config.warm_start != "none":
            from search_spaces import warm_start_specs

            # No more specs than the trials left: a short run is not left with a queue it never ran.
            room = config.trials - engine.n_finished() - len(queued)
            queued += engine.enqueue(warm_start_specs(space, config.warm_start, ds.task_spec.kind), limit=max(room, 0))
        n_done = engine.n_finished()
        remaining = config.trials - n_done
        processes = max(1, min(config.jobs, remaining))  # no more processes than trials left
        console.header(info, config, n_done, queued, processes=processes)
    except BaseException:
        workers.join()
        raise
    status = "FAILED"
    _freeze_heap()
    try:
        workers.release(processes - 1 if remaining > 0 else 0)
        try:
            if remaining > 0:
                engine.search(_evaluator(config, ds, space, tracker, engine, console, budget), remaining,
                              target=config.trials, stop=_search_over(budget, engine))
        finally:
            workers.join()
        result = _finish(config, ds, engine, tracker, console, study_path, budget)
        status = "FINISHED"
        return result
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        gc.unfreeze()
        tracker.close_study(status)


def _freeze_heap():
    """Move everything alive now (TensorFlow, Keras, MLflow, the data: ~500,000 objects) out of
    the garbage collector's sight for the search: each full collection (one per trial, and the
    automatic ones while graphs are traced) then costs microseconds instead of ~0.25 s."""
    gc.collect()
    gc.freeze()


def _load_dataset(config):
    """The dataset exactly as ``config`` frames it (the run, its --jobs workers, --trial exports)."""
    from .data import load_dataset

    if config.task == "forecasting":
        from .data.forecast import load_forecast

        return load_forecast(config.dataset, lookback=config.lookback, horizon=config.horizon, season=config.season,
                             target=config.target, id_col=config.id_col, time_col=config.time_col,
                             fillna=config.fillna, test_size=config.test_size, val_size=config.val_size)
    return load_dataset(
        config.dataset, task=config.task, target=config.target, id_col=config.id_col,
        time_col=config.time_col, seed=config.seed, test_size=config.test_size, val_size=config.val_size,
        static_cols=config.static_cols, fillna=config.fillna, text_col=config.text_col, tokens=config.tokens,
    )


def _engine(config, study_path, storage, space, worker: int = 0):
    from .engines import KerasTunerEngine, OptunaEngine

    if config.engine == "kerastuner":
        return KerasTunerEngine(config.study, study_path, space=space, seed=config.seed, sampler=config.sampler,
                                max_epochs=config.max_epochs, trials=config.trials).open()
    return OptunaEngine(
        config.study, study_path, storage=storage, seed=config.seed, sampler=config.sampler,
        pruner=config.pruner, max_epochs=config.max_epochs, worker=worker, objectives=config.objectives,
    ).open()


def _search_over(budget, engine):
    """No trial starts once the search's part of --timeout is spent (the rest is the finish's)."""
    if not budget.bounded:
        return None
    return lambda: budget.search_over(completed=engine.best() is not None)


class _Workers:
    """``--jobs``: more processes that search the same study beside this one (spawned, so each
    has its own TensorFlow runtime); this process retrains and exports once all are done.

    They are spawned before this process starts TensorFlow and opens the study (``spawn``) and
    wait, started up, until ``release(n)`` says how many of them join it (the others exit
    untouched: fewer trials left than processes, or a start that failed). The word is a shared
    integer without a lock (-1 until released), which a worker polls: a worker terminated while
    waiting can hold no lock that this process would then wait for."""

    def __init__(self, procs, go=None):
        self.procs, self._go = procs, go

    @classmethod
    def spawn(cls, config, storage, tracking_uri, n: int, console, end_wall=None) -> _Workers:
        if n <= 0:
            return cls([])
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        go = ctx.Value("i", -1, lock=False)
        procs = []
        for i in range(1, n + 1):
            # Daemons: if this process ends before releasing them, they end with it.
            p = ctx.Process(target=_worker_main, name=f"seqsearch-worker-{i}", daemon=True,
                            args=(config.to_dict(), storage, tracking_uri, i, console.quiet, end_wall, go))
            p.start()
            procs.append(p)
        return cls(procs, go)

    def release(self, n: int) -> None:
        """Workers 1..n join the study now; the others exit."""
        if self._go is not None and self._go.value < 0:
            self._go.value = max(0, n)

    def join(self) -> None:
        import sys

        if sys.exc_info()[0] is not None:  # interrupted or failed: do not leave workers training
            for p in self.procs:
                p.terminate()
        self.release(0)
        for p in self.procs:
            p.join()


def _worker_main(config_dict, storage, tracking_uri, worker, quiet, end_wall=None, go=None):
    """One ``--jobs`` worker: the same data, space and storage, trials only; its budget ends
    when the main process's does (``end_wall``, ``time.time()``). Spawned before the study is
    open, it starts up (TensorFlow, MLflow's modules) and then waits until ``go`` is set (no
    longer -1); it joins the study only if its number is at most ``go``."""
    import signal

    from ._backend import load_keras
    from .progress import Console
    from .tracking import Tracker, preload

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the main process, which stops us
    _exit_with_parent()
    config = RunConfig(**config_dict)
    ds = _load_dataset(config)
    space = _search_space(config, ds)
    load_keras()
    preload()
    if go is not None:
        while go.value < 0:
            time.sleep(0.05)
        if worker > go.value:
            return
    tracker = Tracker(config.study, config.study_path, tracking_uri)
    tracker.join_study()
    engine = _engine(config, config.study_path, storage, space, worker=worker)
    console = Console(quiet=quiet)
    console.live = False  # the main process owns the terminal's live line
    console.score_key = "val_accuracy" if ds.task_spec.categorical else "val_mae"
    remaining = config.trials - engine.n_finished() - engine.n_running()
    if remaining > 0:
        from .budget import Budget

        budget = Budget.until(config.timeout, end_wall)
        _freeze_heap()
        engine.search(_evaluator(config, ds, space, tracker, engine, console, budget), remaining,
                      target=config.trials, stop=_search_over(budget, engine))


def _exit_with_parent(poll: float = 1.0):
    """A ``--jobs`` worker whose main process is gone (killed with -9: it could not stop us)
    stops too, instead of training on alone. Its trial in flight stays RUNNING in the storage
    and the next run fails it as 'worker process died'."""
    import threading

    parent = os.getppid()

    def watch():
        while True:
            time.sleep(poll)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="seqsearch-parent-watch", daemon=True).start()


def load_specs_file(path, space) -> dict:
    """``--specs FILE``: a JSON list of specs (or ``{name: spec}``), each complete (a ``spec.json``
    from an export) or partial (``{"family": "rnn", "rnn.cell": "gru"}``: defaults fill the rest),
    checked against the space before anything runs."""
    try:
        data = json.loads(Path(path).expanduser().read_text())
    except OSError as e:
        raise SeqsearchError(f"--specs {path!r} cannot be read ({e.strerror})") from None
    except ValueError as e:
        raise SeqsearchError(f"--specs {path!r} is not valid JSON ({e})") from None
    if isinstance(data, dict) and "family" in data:
        data = [data]  # one spec on its own
    if isinstance(data, list):
        items = [(f"spec-{i}", spec) for i, spec in enumerate(data)]
    elif isinstance(data, dict):
        items = list(data.items())
    else:
        raise SeqsearchError(f"--specs {path!r} must hold a list of specs (or an object of named specs)")
    named = {}
    for name, spec in items:
        if not isinstance(spec, dict) or "family" not in spec:
            raise SeqsearchError(f"--specs {path!r}: {name} is not a spec (an object with a 'family' and parameters)")
        try:
            named[str(name)] = space.default_spec(spec["family"], overrides=spec)
        except (ValueError, KeyError) as e:
            raise SeqsearchError(f"--specs {path!r}: {name}: {e}") from None
    return named


def _search_space(config, ds):
    from search_spaces import SearchSpace

    from .space_file import load_space_file

    shaped = load_space_file(config.space_file) if config.space_file else {}
    families = config.families or shaped.get("families")
    fixed = {**shaped.get("fixed", {}), **config.fixed}
    cudnn_only = config.cudnn_only or shaped.get("cudnn_only", False)
    try:
        return SearchSpace(families, fixed, cudnn_only=cudnn_only, data_spec=ds.data_spec(), task_spec=ds.task_spec)
    except ValueError as e:
        where = f" (from --space {config.space_file})" if config.space_file else ""
        raise SeqsearchError(f"{e}{where}") from None


@contextlib.contextmanager
def study_lock(study_path: Path):
    """An exclusive lock on the study folder (processes of this machine): creating the MLflow
    parent run and exporting the best model happen once, not once per worker."""
    import fcntl

    with open(Path(study_path) / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_json(path: Path, data):
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def load_study_dataset(study_path: Path):
    """The study's dataset, loaded with the options of its last run and checked against the
    fingerprint the study was created with (for exporting another trial than the best)."""

    try:
        cfg = json.loads((study_path / "run_config.json").read_text())
        meta = json.loads((study_path / "study.json").read_text())
    except (OSError, ValueError):
        raise SeqsearchError(f"study folder {str(study_path)!r} lacks run_config.json; rerun `seqsearch run` once") from None
    config = RunConfig(**cfg)
    ds = _load_dataset(config)
    if ds.fingerprint() != meta.get("fingerprint"):
        raise SeqsearchError(
            f"{config.dataset} changed since study {config.study!r} ran (fingerprint {ds.fingerprint()}, "
            f"study {meta.get('fingerprint')}); a trial can only be retrained on its own data"
        )
    return config, ds


def export_trial(study_path: Path, number: int, storage: str | None = None) -> Path:
    """Retrain trial ``number`` (e.g. a Pareto-front member) on train+validation, score it on
    the test split and write it like ``best/`` to ``<study>/trial-<number>/``."""
    from .engines import KerasTunerEngine, OptunaEngine
    from .export import export_best
    from .study import read_export

    config, ds = load_study_dataset(study_path)
    if config.engine == "kerastuner":
        engine = KerasTunerEngine(config.study, study_path, space=None)
    else:
        engine = OptunaEngine(config.study, study_path, storage=storage).load()
    record = next((r for r in engine.records() if r.number == number), None)
    if record is None or record.state != "complete":
        state = "does not exist" if record is None else f"is {record.state}"
        raise SeqsearchError(f"trial {number} of study {config.study!r} {state}; pick a completed trial (seqsearch status)")
    out = study_path / f"trial-{number}"
    metrics = read_export(out)
    if not (metrics and metrics.get("trial") == number and metrics.get("dataset", {}).get("fingerprint") == ds.fingerprint()):
        export_best(record, ds, seed=config.seed, best_dir=out, study=config.study)
    return out


def _prepare_study_dir(config, ds, info) -> Path:
    path = config.study_path
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(prefix=".write-test-", dir=path):
            pass
    except OSError as e:
        raise SeqsearchError(f"cannot write to the work directory {str(path.parent)!r} ({e.strerror}); pass --workdir") from None
    meta_path = path / "study.json"
    meta = {"study": config.study, "dataset": info["name"], "fingerprint": info["fingerprint"], "task": info["task"],
            "folds": info.get("folds", 1)}
    if not meta_path.exists() and _create_exclusively(meta_path, json.dumps(meta, indent=2) + "\n"):
        return path
    # The study exists (or another worker created it a moment ago): it must be on the same data.
    try:
        old = json.loads(meta_path.read_text())
    except ValueError:
        old = None
    if old and (old.get("fingerprint"), old.get("task")) != (meta["fingerprint"], meta["task"]):
        raise SeqsearchError(
            f"study {config.study!r} was run on {old.get('dataset')!r} as {old.get('task')} "
            f"(fingerprint {old.get('fingerprint')}), not on this data/task; pass another --study"
        )
    if old and old.get("folds", 1) != meta["folds"]:
        # Cross-validated and single-split losses are not comparable: one study keeps one rule.
        raise SeqsearchError(
            f"study {config.study!r} validated its trials on {old.get('folds', 1)} fold(s), this run would use "
            f"{meta['folds']}; pass --folds {old.get('folds', 1)} to resume it, or another --study"
        )
    return path


def _create_exclusively(path: Path, text: str) -> bool:
    """Write ``path`` complete and only if it does not exist yet; False when another process
    (or thread) created it first. Workers started together race here (`--jobs`, or two
    `seqsearch run` commands on one study), so the temporary file is unique to the caller and
    the file appears with a hard link, which fails rather than overwrite."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: last writer wins, content is whole
            os.replace(tmp, path)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


# With --folds, only trials whose first-fold loss is among this many best so far (or among the
# ensemble's size, if larger) are cross-validated: the finalists. A trial whose first fold is
# worse than every fold of the best cross-validated trial is not one either: on the suite, none
# such ever won on the fold mean, and their folds cost twice their first.
FINALISTS = 3


def _not_finalist(value, rank, finalists, folds, bar) -> str | None:
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


def _is_first(number, records) -> bool:
    """Whether trial ``number`` is the study's first to start (it gets the short first share):
    no other trial has started (queued warm-start specs wait in the storage unstarted). Not
    every trial that starts before one has finished: with --jobs the others start beside the
    first and get ordinary shares."""
    return not any(r.number != number and r.state != "waiting" for r in records)


def _leads(number, value, records) -> bool:
    """Whether ``value`` beats every other trial's loss on the first fold (the validation split):
    the completed trials', and those of trials still in their later folds (another --jobs
    process cross-validating them). With none of them yet, no trial leads."""
    others = [r.attrs.get("split_value", r.value) for r in records
              if r.number != number and (r.state == "complete"
                                         or (r.state == "running" and r.attrs.get("split_value") is not None))]
    return bool(others) and value < min(others)


def _evaluator(config, ds, space, tracker, engine, console, budget):
    from dataclasses import replace

    from search_spaces import cudnn_eligible, spec_summary

    from .budget import FINISH_OVERHEAD_S, FOLD_SHARE, MIN_EPOCHS
    from .ensemble import save_predictions
    from .training import TrialOutcome, cross_validate, fit_candidate, out_of_fold

    folds = config.folds_for(ds.task_spec.kind, len(ds.X_val))  # resolved by run(): config.folds
    finalists = max(FINALISTS, config.ensemble_size(len(ds.X_val)))
    # The trial training when the search's part of --timeout runs out stops there; that end
    # moves as the finish's reserve is re-estimated after every trial.
    deadline = budget.search_deadline if budget.bounded else None
    # What a second of a trial's first fold costs after it: its other folds (if it is a
    # finalist) and its retrain on train+validation.
    scale = _train_scale(ds)
    later = (FOLD_SHARE * (folds - 1) if folds > 1 else 0.0) + scale

    def finalist_rank(number, value) -> int:
        """How many other trials did better on the first fold (the validation split)."""
        return sum(1 for r in engine.records()
                   if r.number != number and r.attrs.get("split_value") is not None and r.attrs["split_value"] < value)

    def finalist_bar(number):
        """The best cross-validated trial (by fold mean) and its worst fold's loss, or None."""
        done = [r for r in engine.records() if r.number != number and r.state == "complete" and r.attrs.get("fold_values")]
        if not done:
            return None
        best = min(done, key=lambda r: r.value)
        return best.number, max(best.attrs["fold_values"])

    # Greedy ensemble selection chooses among the finalists by their out-of-fold outputs: a
    # finalist keeps them (one prediction pass per fold). Sequence-to-sequence models (their
    # trainer is another graph) and forecasting windows keep the rule.
    selecting = (config.ensemble_size(len(ds.X_val)) > 1 and config.ensemble_selection == "greedy"
                 and ds.task_spec.kind in ("classification", "regression"))

    def keeps_outputs(number, value) -> bool:
        """Whether a trial whose first fold ended at ``value`` is one the selection may choose."""
        if folds > 1:
            return _not_finalist(value, finalist_rank(number, value), finalists, folds, finalist_bar(number)) is None
        better = sum(1 for r in engine.records() if r.number != number and r.state == "complete" and r.value < value)
        return better < finalists

    def leads(number, value) -> bool:
        return _leads(number, value, engine.records())

    def evaluate(ctx):
        try:
            spec = space.sample(ctx.hp)
        except ValueError as e:  # a space that cannot be sampled is a configuration error
            raise SeqsearchError(f"search space error: {e}") from None
        ctx.spec = spec
        console.begin_trial()
        max_epochs = ctx.max_epochs or config.max_epochs
        summary = spec_summary(spec)
        tags = {"family": spec["family"], "summary": summary, "cudnn_eligible": cudnn_eligible(spec)}
        fam = spec["family"]
        for key in ("cell", "bidirectional"):
            if f"{fam}.{key}" in spec:
                tags[key] = spec[f"{fam}.{key}"]
        run_id = tracker.start_trial(ctx.number, spec, tags)
        ctx.set_attr("summary", summary)
        ctx.set_attr("mlflow_run_id", run_id)
        outcome = None
        dup = None
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
                fold = (1, folds) if folds > 1 else None

                def on_epoch(epoch, logs):
                    tracker.log_epoch(run_id, epoch, logs)
                    console.epoch(ctx.number, epoch, max_epochs, logs, summary, fold=fold)
                    ctx.report(epoch, logs.get("val_loss"))

                records = engine.records()
                first = _is_first(ctx.number, records)
                completed = any(r.state == "complete" for r in records)
                share = budget.trial_share(first=first, completed=completed)
                left_at_start = budget.search_left()

                def extend(best, granted):
                    # The trial leading the search trains on towards its patience stop, a share at a time.
                    if not leads(ctx.number, best):
                        return 0.0
                    extra = budget.extension(share, left_at_start, granted, later)
                    if extra:
                        # Its retrain may now be the finish's largest cost: reserve it before it trains on.
                        budget.set_reserve(max(budget.reserve, scale * (granted + extra) + FINISH_OVERHEAD_S))
                    return extra
                if budget.bounded and not completed and budget.search_left() < 0:
                    console.warn(f"budget: no trial has completed within --timeout {config.timeout:g} s; trial "
                                 f"#{ctx.number} gets {share:.0f} s so that there is a model to export")
                outcome = fit_candidate(
                    spec, ds, max_epochs=max_epochs, seed=config.seed + ctx.number,
                    hooks=[on_epoch], max_params=config.max_params, time_limit=config.trial_timeout,
                    latency="latency_ms" in config.objectives, deadline=deadline,
                    share=share, min_epochs=min(MIN_EPOCHS, max_epochs), extend=extend,
                    trace_cap=budget.trace_cap(share),
                    reach=budget.reach(first),
                    predict_val=(lambda v: keeps_outputs(ctx.number, v)) if selecting else None,
                )
                if outcome.too_slow:
                    ctx.set_attr("too_slow", True)  # the sampler ranks it infeasible
                if folds > 1 and outcome.state == "complete":
                    console.fold(ctx.number, 1, folds, outcome, summary)
                    ctx.set_attr("split_value", outcome.value)
                    not_finalist = _not_finalist(outcome.value, finalist_rank(ctx.number, outcome.value), finalists,
                                                 folds, finalist_bar(ctx.number))
                if folds > 1 and outcome.state == "complete" and not_finalist:
                    # Not a finalist: its single-split loss must never outrank a finalist's fold
                    # mean, so it ends pruned (below every completed trial, for the sampler too).
                    outcome = replace(outcome, state="pruned", reason=not_finalist)
                elif folds > 1 and outcome.state == "complete":
                    outcome = cross_validate(
                        outcome, spec, ds, folds, max_epochs=max_epochs, seed=config.seed + ctx.number,
                        fold_seed=config.seed, max_params=config.max_params, time_limit=config.trial_timeout,
                        deadline=deadline, fold_share=budget.fold_share(outcome.seconds - outcome.trace_seconds),
                        on_epoch=lambda f, epoch, logs: console.epoch(ctx.number, epoch, max_epochs, logs, summary,
                                                                      fold=(f + 1, folds)),
                        on_fold=lambda f, o: console.fold(ctx.number, f + 1, folds, o, summary),
                    )
            if outcome.state == "complete" and selecting:
                oof = outcome.oof
                if oof is None and folds == 1 and outcome.val_predictions is not None:
                    oof = out_of_fold(ds, [outcome], 1, config.seed)
                if oof is not None:
                    save_predictions(config.study_path, ctx.number, *oof, ds.fingerprint())
            if outcome.value == outcome.value:  # what the live view printed, for status (pruned too)
                ctx.set_attr("val_loss", outcome.value)
            for key in ("best_epoch", "n_params", "epochs_run", "metrics", "seconds", "latency_ms", "rss_mb",
                        "fold_values", "fold_epochs", "first_epoch_seconds", "epoch_seconds"):
                value = getattr(outcome, key)
                # Latency and memory are NaN when not measured, the fold lists empty when not folded.
                if value == value and value != []:
                    ctx.set_attr(key, value)
            return outcome
        finally:
            if outcome is None:  # interrupted or a configuration error: close the run honestly
                outcome = TrialOutcome(state="failed", reason="interrupted")
            tracker.end_trial(run_id, outcome, {"duplicate_of": dup.number} if dup is not None else None)
            best = engine.best()
            if outcome.state == "complete" and (best is None or outcome.value < best.value):
                best_n, best_v = ctx.number, outcome.value
            elif best is not None:
                best_n, best_v = best.number, best.value
            else:
                best_n, best_v = None, None
            console.trial(ctx.number, outcome, summary, best_n, best_v)
            if budget.bounded:
                budget.set_reserve(_finish_estimate(config, ds, engine))

    return evaluate


def _train_scale(ds) -> float:
    """Train+validation over the training split: how much longer a retrain's epoch takes."""
    return (len(ds.X_train) + len(ds.X_val)) / max(len(ds.X_train), 1)


def _finish_estimate(config, ds, engine) -> float:
    """Seconds the finish would take if the search stopped now: retraining the trials the
    export would average (from their measured epoch times), plus scoring, export and logging."""
    from .budget import FINISH_OVERHEAD_S, retrain_seconds
    from .ensemble import ensemble_members

    best = engine.best()
    if best is None:
        return FINISH_OVERHEAD_S
    members = ensemble_members(engine.records(), best, config.ensemble_size(len(ds.X_val)))
    return FINISH_OVERHEAD_S + sum(retrain_seconds(r.attrs, _train_scale(ds)) for r in members)


def _leaderboard(engine, score_key):
    rows = []
    for r in engine.records():
        if r.state != "complete":
            continue
        rows.append({
            "trial": r.number,
            "val_loss": r.value,
            score_key: r.attrs.get("metrics", {}).get(score_key),
            "best_epoch": display_epoch(r.attrs.get("best_epoch")),
            "params": r.attrs.get("n_params"),
            "architecture": r.attrs.get("summary", ""),
        })
    rows.sort(key=lambda row: (row["val_loss"], row["trial"]))
    return rows


def _pareto(config, engine, tracker, console) -> list[dict]:
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
    return rows


def _finish(config, ds, engine, tracker, console, study_path, budget=None) -> RunResult:
    records = engine.records()
    states = {s: sum(r.state == s for r in records) for s in ("complete", "pruned", "failed", "running")}
    best = engine.best()
    if best is None:
        reasons = [r.attrs.get("reason") for r in records if r.attrs.get("reason")]
        hint = f" (e.g. {reasons[-1]})" if reasons else ""
        fix = "raise --max-epochs/--max-params or check the data"
        if config.timeout and (not reasons or any(r.attrs.get("too_slow") for r in records)):
            fix = f"the --timeout of {config.timeout:g} s is too short for this data: raise it"
        raise SeqsearchError(
            f"no trial of study {config.study!r} completed: {states['pruned']} pruned, "
            f"{states['failed']} failed{hint}; {fix}"
        )
    score_key = console.score_key or ("val_accuracy" if ds.task_spec.categorical else "val_mae")
    rows = _leaderboard(engine, score_key)
    console.leaderboard(rows)
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    tracker.log_leaderboard(buf.getvalue())
    from .plots import study_figures

    with console.phase("logging the leaderboard and figures to MLflow"):
        curves = tracker.val_loss_curves([row["trial"] for row in rows[:5]])
        tracker.log_figures(study_figures(records, curves, engine.importances()))
    front = _pareto(config, engine, tracker, console) if len(config.objectives) > 1 else []

    from .ensemble import select_members
    from .study import exported_trials

    _, y_pool = ds.train_val
    members, weights, selection = select_members(
        records, best, config.ensemble_size(len(ds.X_val)), method=config.ensemble_selection,
        study_path=study_path, y=y_pool,
        categorical=ds.task_spec.categorical, fingerprint=ds.fingerprint())
    epochs = None
    if budget is not None and budget.bounded:
        from .budget import plan_finish

        # What is left of --timeout pays for the retrain: shortened, and said so, if it must be.
        plan = plan_finish(members, budget.retrain_left(), _train_scale(ds))
        kept = {r.number for r in plan.members}
        weights = [w for r, w in zip(members, weights) if r.number in kept]
        members, epochs = plan.members, plan.epochs
        if plan.note:
            console.warn(plan.note)
    with study_lock(study_path):  # two processes finishing one study: one retrains, one reuses
        metrics, model = _export_and_log(config, ds, tracker, console, members, study_path, epochs,
                                         weights=weights, selection=selection)
    best_dir = study_path / "best"
    test_txt = ", ".join(f"{k} {v:.4f}" for k, v in metrics["test"].items())
    console.echo(f"test ({metrics['dataset']['n_test']} sequences): {test_txt}")
    base = metrics.get("baseline")
    if base:
        name = f"seasonal naive (season {base['season']})" if base["season"] > 1 else "naive (last value)"
        ratio = metrics["test"]["mae"] / base["mae"] if base["mae"] > 0 else float("nan")
        console.echo(f"baseline {name}: " + ", ".join(f"{k} {base[k]:.4f}" for k in ("mae", "rmse", "mape", "smape"))
                     + f"; model MAE / baseline MAE = {ratio:.3f}" + (" (the model wins)" if ratio < 1 else " (the baseline wins)"))
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
        baseline=metrics.get("baseline"),
        ensemble=exported_trials(metrics),
        folds=config.folds,  # resolved by run()
    )


def _export_and_log(config, ds, tracker, console, members, study_path, epochs=None, weights=None, selection=None):
    from .export import export_best
    from .study import exported_trials, exported_weights, read_export, retrain_epochs

    best = members[0]
    best_dir = study_path / "best"
    metrics = read_export(best_dir)
    model = None
    numbers = [r.number for r in members]
    epochs = epochs or [int(r.attrs.get("best_epoch", 0)) + 1 for r in members]
    weights = [w / sum(weights) for w in weights] if weights else [1.0 / len(members)] * len(members)
    if (metrics and exported_trials(metrics) == numbers and retrain_epochs(metrics) == epochs
            and all(abs(a - b) <= 1e-4 for a, b in zip(exported_weights(metrics), weights))
            and metrics.get("dataset", {}).get("fingerprint") == ds.fingerprint()):
        which = f"trial #{best.number}" if len(members) == 1 else "trials " + ", ".join(f"#{n}" for n in numbers)
        console.echo(f"\nbest {which} unchanged; keeping the export in {best_dir}")
    else:
        if len(members) == 1:
            console.echo(f"\nretraining trial #{best.number} ({best.attrs.get('summary', '')}) on train+val "
                         f"for {epochs[0]} epochs ...")
        elif selection == "greedy":
            console.echo(f"\nretraining {len(members)} trials on train+val; the export averages them with the "
                         f"weights greedy selection gave on out-of-fold predictions:")
            for r, e, w in zip(members, epochs, weights):
                console.echo(f"  #{r.number} {r.attrs.get('summary', '')} (weight {w:.2f}, val_loss {r.value:.4g}, "
                             f"{e} epochs)")
        else:
            console.echo(f"\nretraining the {len(members)} best trials on train+val; the export averages them:")
            for r, e in zip(members, epochs):
                console.echo(f"  #{r.number} {r.attrs.get('summary', '')} (val_loss {r.value:.4g}, {e} epochs)")
        model, metrics = export_best(members, ds, seed=config.seed, best_dir=best_dir, study=config.study,
                                     progress=lambda text, always=False: console.status("  " + text, always=always),
                                     epochs=epochs, weights=weights if len(members) > 1 else None,
                                     selection=selection if len(members) > 1 or selection == "greedy" else None)
    if tracker.logged_model_trials() != numbers:
        from . import load_model

        if ds.test_texts is not None:
            # MLflow's exported-model form has no string signature: text and pairs studies log
            # their token model (best/model.keras and the SavedModel export take raw text).
            logged = load_model(best_dir / "token_model.keras")
        else:
            logged = model if model is not None else load_model(best_dir / "model.keras")
        with console.phase("logging the best model to MLflow"):
            model_uri = tracker.log_best(logged, best_dir, metrics, ds.X_test[:2])
        console.echo(f"logged to MLflow as {model_uri}")
    return metrics, model
