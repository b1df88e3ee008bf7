"""What a trial measures about itself besides its loss: the prediction latency of a fixed batch
(an objective of multi-objective studies) and the process's resident memory after it."""

from __future__ import annotations

import os
import time

import numpy as np

__all__ = ["LATENCY_BATCH", "measure_latency", "process_rss_mb"]

LATENCY_BATCH = 32


def measure_latency(model, X, repeats: int = 7) -> float:
    """Median milliseconds to predict one batch of ``LATENCY_BATCH`` sequences (after a warm-up
    call that traces the graph); the batch is cycled from ``X`` when it has fewer rows."""
    batch = np.resize(X, (LATENCY_BATCH, *X.shape[1:])).astype("float32")
    model.predict_on_batch(batch)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.predict_on_batch(batch)
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times))


def process_rss_mb() -> float:
    """This process's resident memory in MiB now (Linux); elsewhere its peak so far."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10
