"""The pipeline, in the order DESIGN.md draws it: data -> space -> engine -> training ->
tracking -> export. ``seqsearch run`` is a thin layer over ``run()``; the stages' work is in
``parts`` (the run's dataset, space and engine), ``workers`` (--jobs), ``evaluate`` (one
trial) and ``finish`` (leaderboard, retrain, export)."""

from __future__ import annotations

import gc
import time

from .config import RunConfig
from .data.kinds import get_kind
from .devices import apply_env, backend, cuda_ids, parse_gpus, process_env
from .engines import get_engine
from .errors import SeqsearchError
from .evaluate import make_evaluator, search_over
from .finish import RunResult, finish_run
from .parts import load_run_dataset, load_specs_file, open_engine, search_space
from .study import prepare_study_dir, study_lock, write_json
from .workers import Workers, freeze_heap

__all__ = ["run", "RunResult"]


def run(dataset, *, console=None, tracking_uri: str | None = None, storage: str | None = None, callbacks=None,
        **options) -> RunResult:
    """Search architectures for ``dataset`` and export the best model.

    ``options`` are those of :class:`seqsearch.config.RunConfig` (``trials``, ``max_epochs``,
    ``task``, ``study``, ``workdir``, ``seed``, ...). Returns a :class:`RunResult`.
    Raises :class:`seqsearch.errors.SeqsearchError` for input the user must fix.
    ``callbacks``: Keras callbacks given to every trial's fit (after seqsearch's own); the trials
    then train in this process (``jobs=1``).
    When Keras is not imported yet, it is imported without its scikit-learn wrappers and
    plotting helpers (``keras.wrappers``, ``keras.visualization``: seconds of start-up a search
    does not use); import keras before calling ``run`` to keep them.
    """
    from .budget import Budget
    from .progress import Console

    config = _config(dataset, options, storage, callbacks)
    gpu_ids = _devices(config)
    console = console or Console()
    # --timeout bounds the whole command, from here: start-up, search, retrain, export, logging.
    budget = Budget(config.timeout)
    # Everything that can be wrong with the input is found before the work directory is touched.
    ds, space, replay, info = _inputs(config)
    created = not config.study_path.exists()
    study_path = prepare_study_dir(config, ds, info)
    # --jobs workers start now: their own TensorFlow start-up (~10 s) runs on the cores this
    # process's start-up leaves idle, and they wait until the study is ready to join it.
    workers = Workers.spawn(config, storage, tracking_uri, min(config.jobs, config.trials) - 1, console,
                            budget.end_wall(), gpu_ids)
    try:
        get_kind(ds.kind).prepare(ds, study_path, console)  # while the workers start
        with console.phase(f"starting Keras on {backend()} and the study's storage"):
            engine, tracker = _open_study(config, study_path, storage, tracking_uri, space, info, console)
    except BaseException:
        workers.join()  # stopped before they touch the study
        if created:  # a start that failed (a tracking server that does not answer) leaves no study behind
            import shutil

            shutil.rmtree(study_path, ignore_errors=True)
        raise
    try:
        queued = _queue(config, engine, tracker, space, ds, replay)
        n_done = engine.n_finished()
        remaining = config.trials - n_done
        processes = max(1, min(config.jobs, remaining))  # no more processes than trials left
        console.header(info, config, n_done, queued, processes=processes)
    except BaseException:
        workers.join()
        raise
    status = "FAILED"
    freeze_heap()
    try:
        workers.release(processes - 1 if remaining > 0 else 0)
        try:
            if remaining > 0:
                engine.search(make_evaluator(config, ds, space, tracker, engine, console, budget, callbacks), remaining,
                              target=config.trials, stop=search_over(budget, engine))
        finally:
            workers.join()
        result = finish_run(config, ds, engine, tracker, console, study_path, budget)
        status = "FINISHED"
        return result
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        gc.unfreeze()
        tracker.close_study(status)


def _config(dataset, options, storage, callbacks) -> RunConfig:
    """The run's options checked; user callbacks keep the trials in this process."""
    config = RunConfig(dataset=str(dataset), **options)
    if callbacks:
        if (config.jobs or 1) > 1:
            raise SeqsearchError(f"callbacks= are Python objects of this process; with jobs={config.jobs} other "
                                 "processes train trials: pass jobs=1 (or leave jobs out)")
        config.jobs = 1
    if storage and not get_engine(config.engine).takes_storage:
        raise SeqsearchError(f"--storage is an Optuna storage URL; --engine {config.engine} keeps its state in the "
                             "study folder")
    return config


def _devices(config) -> list[str]:
    """The run's GPUs (--gpus; default every visible one) as CUDA_VISIBLE_DEVICES entries, one
    per process round-robin; this process's is set now, before its backend starts."""
    backend()  # an unknown KERAS_BACKEND is refused before anything is written
    if config.gpus is None:
        config.gpus = parse_gpus(None)
    gpu_ids = cuda_ids(config.gpus)  # read before this process narrows its own view
    apply_env(process_env(gpu_ids, 0))
    return gpu_ids


def _inputs(config):
    """The run's dataset, space, --specs and description, with the processes and folds resolved
    (before anything is written: every input error is said first)."""
    started = time.perf_counter()
    ds = load_run_dataset(config)
    load_seconds = time.perf_counter() - started
    if config.jobs is None:  # --jobs not given: parallel under a long enough --timeout
        from .budget import auto_jobs

        config.jobs = auto_jobs(config.timeout, config.engine, data_bytes=ds.nbytes(), gpus=len(config.gpus or []))
    space = search_space(config, ds)
    replay = load_specs_file(config.specs_file, space) if config.specs_file else {}
    info = ds.describe()
    info["load_seconds"] = round(load_seconds, 2)
    # Resolved once for this run, its --jobs workers (they get config.to_dict()) and study.json.
    config.folds = info["folds"] = config.folds_for(ds.task_spec.kind, len(ds.X_val))
    ds.check_folds(config.folds)  # too few training sequences: said before anything is written
    return ds, space, replay, info


def _open_study(config, study_path, storage, tracking_uri, space, info, console):
    """TensorFlow started, the engine and the MLflow tracker opened on the study."""
    from ._backend import load_keras

    load_keras(lean=True)
    from .budget import usable_cores
    from .devices import describe

    info["devices"] = describe(usable_cores(), config.precision, config.gpus)

    from .tracking import Tracker

    if not tracking_uri:
        from .local_store import check_local_store

        check_local_store(study_path)  # damaged: said before the engine appends to the journal
    # The engine first: a study it refuses (other objectives) leaves the tracking store as it was.
    engine = open_engine(config, study_path, storage, space)
    for note in getattr(engine, "notices", []):
        console.warn(note)
    write_json(study_path / "run_config.json", config.to_dict())  # how to reload the data later
    tracker = Tracker(config.study, study_path, tracking_uri)
    with study_lock(study_path):  # several `seqsearch run` on one study share one parent run
        tracker.open_study(config.to_dict(), info)
    return engine, tracker


def _queue(config, engine, tracker, space, ds, replay) -> list:
    """Stale trials failed; the given specs queued first, then the warm start (the portfolio
    chosen on the tuning suite, or the seed tutorials' models): a budget starts with candidates
    known to work, before the sampler explores. Returns the queued specs' names."""
    stale = engine.recover_stale()
    if stale:
        tracker.fail_trials(stale, "worker process died")
    queued = engine.enqueue(replay) if replay else []
    if config.warm_start != "none":
        from search_spaces import warm_start_specs

        # No more specs than the trials left: a short run is not left with a queue it never ran.
        room = config.trials - engine.n_finished() - len(queued)
        queued += engine.enqueue(warm_start_specs(space, config.warm_start, ds.task_spec.kind), limit=max(room, 0))
    return queued
