"""``--jobs``: the worker processes that search one study beside the main process, spawned
before it starts TensorFlow and released once the study is open; and freezing the heap that
each searching process does before its trials."""

from __future__ import annotations

import gc
import os
import time

from .config import RunConfig
from .devices import apply_env, process_env
from .evaluate import make_evaluator, search_over
from .parts import load_run_dataset, open_engine, search_space

__all__ = ["Workers", "worker_main", "exit_with_parent", "freeze_heap"]


def freeze_heap():
    """Move everything alive now (TensorFlow, Keras, MLflow, the data: ~500,000 objects) out of
    the garbage collector's sight for the search: each full collection (one per trial, and the
    automatic ones while graphs are traced) then costs microseconds instead of ~0.25 s."""
    gc.collect()
    gc.freeze()


class Workers:
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
    def spawn(cls, config, storage, tracking_uri, n: int, console, end_wall=None, gpu_ids=()) -> Workers:
        """``n`` workers; worker i gets ``gpu_ids[i % len]`` (``devices.cuda_ids``) as its GPU."""
        if n <= 0:
            return cls([])
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        go = ctx.Value("i", -1, lock=False)
        procs = []
        for i in range(1, n + 1):
            # Daemons: if this process ends before releasing them, they end with it.
            p = ctx.Process(target=worker_main, name=f"seqsearch-worker-{i}", daemon=True,
                            args=(config.to_dict(), storage, tracking_uri, i, console.quiet, end_wall, go,
                                  process_env(list(gpu_ids), i)))
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


def worker_main(config_dict, storage, tracking_uri, worker, quiet, end_wall=None, go=None, env=None):
    """One ``--jobs`` worker: the same data, space and storage, trials only; its budget ends
    when the main process's does (``end_wall``, ``time.time()``). Spawned before the study is
    open, it sets ``env`` (its GPU: ``devices.process_env``), starts up (TensorFlow, MLflow's
    modules) and then waits until ``go`` is set (no longer -1); it joins the study only if its
    number is at most ``go``."""
    import signal

    apply_env(env or {})  # before its backend starts: the GPU it trains on

    from ._backend import load_keras
    from .progress import Console, score_key
    from .tracking import Tracker, preload

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the main process, which stops us
    exit_with_parent()
    config = RunConfig(**config_dict)
    ds = load_run_dataset(config)
    space = search_space(config, ds)
    load_keras()
    preload()
    if go is not None:
        while go.value < 0:
            time.sleep(0.05)
        if worker > go.value:
            return
    tracker = Tracker(config.study, config.study_path, tracking_uri)
    tracker.join_study()
    engine = open_engine(config, config.study_path, storage, space, worker=worker)
    console = Console(quiet=quiet)
    console.live = False  # the main process owns the terminal's live line
    console.score_key = score_key(ds.task_spec.categorical)
    remaining = config.trials - engine.n_finished() - engine.n_running()
    if remaining > 0:
        from .budget import Budget

        budget = Budget.until(config.timeout, end_wall)
        freeze_heap()
        engine.search(make_evaluator(config, ds, space, tracker, engine, console, budget), remaining,
                      target=config.trials, stop=search_over(budget, engine))


def exit_with_parent(poll: float = 1.0):
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
