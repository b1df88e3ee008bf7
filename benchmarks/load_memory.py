"""Loading a large ``.npz``: wall time and peak memory (issue 4, scale).

    python benchmarks/load_memory.py --gb 1

Writes a generated classification dataset of about ``--gb`` GiB of float32 (``X`` of shape
(n, 256, 16), labels from the sign of channel 0's mean) with ``numpy.savez`` into a temporary
folder, then, in a fresh process, runs what ``seqsearch run`` does before the first trial:
``load_dataset`` (read, check, stratified train/validation/test split), the input statistics
for the model (``data_spec``) and the dataset fingerprint. The child's peak resident memory
(``ru_maxrss``) is compared with the size of ``X``. Results go to
``benchmarks/results/load_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

CHILD = r"""
import json, resource, sys, time
started = time.perf_counter()
import numpy as np
from seqsearch.data import load_dataset
imported = time.perf_counter()
ds = load_dataset(sys.argv[1])
loaded = time.perf_counter()
ds.data_spec(); ds.fingerprint(); ds.describe()
done = time.perf_counter()
print(json.dumps({"import_s": imported - started, "load_s": loaded - imported, "stats_s": done - loaded,
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "splits": [len(ds.X_train), len(ds.X_val), len(ds.X_test)]}))
"""

BASELINE = "import resource, numpy, seqsearch.data; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)"


def write(path, gb, t=256, f=16, seed=0):
    import numpy as np

    n = int(gb * 2**30 / (t * f * 4))
    rng = np.random.default_rng(seed)
    X = np.empty((n, t, f), np.float32)
    for i in range(0, n, 4096):
        X[i:i + 4096] = rng.standard_normal((min(4096, n - i), t, f), dtype=np.float32)
    y = (X[:, :, 0].mean(axis=1) > 0).astype(np.int64)
    np.savez(path, X=X, y=y)
    return X.nbytes, X.shape


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=1.0)
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.npz"
        t0 = time.perf_counter()
        # Written by a child too: a parent that held X would pass its peak on to the children
        # (Linux keeps ru_maxrss across fork and exec).
        made = subprocess.run([sys.executable, "-c", f"import json, sys; sys.path.insert(0, {str(HERE)!r}); "
                               f"from load_memory import write; print(json.dumps(write({str(path)!r}, {args.gb})))"],
                              env=env, capture_output=True, text=True, check=True).stdout
        nbytes, shape = json.loads(made)
        write_s = time.perf_counter() - t0
        base = int(subprocess.run([sys.executable, "-c", BASELINE], env=env, capture_output=True, text=True,
                                  check=True).stdout)
        out = subprocess.run([sys.executable, "-c", CHILD, str(path)], env=env, capture_output=True, text=True,
                             check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        file_bytes = path.stat().st_size
    peak = r["peak_rss_bytes"]
    result = {
        "x_shape": list(shape), "x_bytes": nbytes, "file_bytes": file_bytes, "write_s": round(write_s, 1),
        "load_s": round(r["load_s"], 2), "stats_s": round(r["stats_s"], 2), "splits": r["splits"],
        "peak_rss_bytes": peak, "baseline_rss_bytes": base,
        "copies_of_X": round((peak - base) / nbytes, 2),
        "machine": {"cpus": os.cpu_count()},
    }
    print(json.dumps(result, indent=2))
    dest = HERE / "results" / "load_memory.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
