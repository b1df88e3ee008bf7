"""Several inputs and streaming, measured.

    python benchmarks/multi_input.py [--budget 120] [--parts inputs,streaming]

``inputs``: the generated two-rate wearable set (``examples/data/make_wearable.py``: 400
examples of a 120-step accelerometer and a heart rate of up to 12 readings, four activities that
only both inputs tell apart) split once, 300 to search on and 100 to test, and searched for
``--budget`` seconds (``--timeout``, the budget and not ``--trials`` ending each) three ways: both inputs, the accelerometer alone, the heart
rate alone. Reports the test accuracy, trials and wall time of each.

``streaming``: BasicMotions (shipped) searched with ``--streamable`` for ``--budget`` seconds,
then ``seqsearch export --streaming --chunk 10``: the test accuracy of the streamable model, the
export's wall time (four formats, each streamed through the parity check), and the ONNX
streaming model's time per call (one series, onnxruntime on one thread) for chunks of 1 and 10
steps.

One run at a time, nothing else running. Results go to ``benchmarks/results/multi_input.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "examples" / "data"))
OUT = HERE / "results" / "multi_input.json"


def seqsearch(*args):
    started = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "seqsearch", *map(str, args)], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"seqsearch {' '.join(map(str, args))} failed:\n{r.stderr[-3000:]}")
    return r, time.perf_counter() - started


def searched(npz, work, budget):
    r, wall = seqsearch("run", npz, "--workdir", work, "--timeout", budget, "--trials", 1000, "--json", "-q")
    result = json.loads(r.stdout)
    return {"test_accuracy": round(result["test_metrics"]["accuracy"], 4), "trials": result["n_trials"],
            "wall_s": round(wall, 1), "best": result["best_summary"]}


def inputs_part(budget, work):
    from make_wearable import make

    d = make()
    order = np.random.default_rng(0).permutation(len(d["y"]))
    train, test = order[:300], order[300:]
    common = {"classes": d["classes"]}
    files = {
        "both": dict(X_accel=d["X_accel"][train], X_heart=d["X_heart"][train], lengths_heart=d["lengths_heart"][train],
                     y=d["y"][train], X_accel_test=d["X_accel"][test], X_heart_test=d["X_heart"][test],
                     lengths_heart_test=d["lengths_heart"][test], y_test=d["y"][test], **common),
        "accel_only": dict(X_train=d["X_accel"][train], y_train=d["y"][train], X_test=d["X_accel"][test],
                           y_test=d["y"][test], **common),
        "heart_only": dict(X_train=d["X_heart"][train], y_train=d["y"][train], X_test=d["X_heart"][test],
                           y_test=d["y"][test], lengths_train=d["lengths_heart"][train],
                           lengths_test=d["lengths_heart"][test], **common),
    }
    out = {}
    for name, arrays in files.items():
        path = Path(work) / f"wearable_{name}.npz"
        np.savez(path, **arrays)
        out[name] = searched(path, Path(work) / "runs", budget)
        print(name, out[name], flush=True)
    return out


def streaming_part(budget, work):
    import shutil

    npz = Path(work) / "BasicMotions.npz"
    shutil.copy(REPO / "examples" / "data" / "BasicMotions.npz", npz)
    runs = Path(work) / "runs"
    r, wall = seqsearch("run", npz, "--workdir", runs, "--timeout", budget, "--trials", 1000, "--streamable", "--json", "-q")
    result = json.loads(r.stdout)
    _, export_s = seqsearch("export", "BasicMotions", "--workdir", runs, "--streaming", "--chunk", 10)
    folder = runs / "BasicMotions" / "export-streaming"
    manifest = json.loads((folder / "manifest.json").read_text())
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
    size = sum(p["size"] for p in manifest["streaming"]["state_parts"])
    series = np.load(npz)["X_test"][0].astype("float32")
    per_call = {}
    for chunk in (1, 10):
        state = np.zeros((1, size), np.float32)
        times = []
        for _ in range(3):
            for start in range(0, len(series), chunk):
                t0 = time.perf_counter()
                _, state = session.run(["output", "next_state"], {"chunk": series[None, start:start + chunk], "state": state})
                times.append(time.perf_counter() - t0)
        per_call[f"chunk_{chunk}_ms"] = round(1000 * float(np.median(times)), 3)
    out = {"test_accuracy": round(result["test_metrics"]["accuracy"], 4), "search_wall_s": round(wall, 1),
           "best": result["best_summary"], "trials": result["n_trials"], "state_size": size, "export_wall_s": round(export_s, 1),
           "parity": {f: v["max_abs_diff"] for f, v in manifest["formats"].items()}, "onnx_per_call": per_call}
    print("streaming", out, flush=True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=120)
    parser.add_argument("--parts", default="inputs,streaming")
    parser.add_argument("--label", default=None)
    args = parser.parse_args()
    results = {"budget_s": args.budget}
    with tempfile.TemporaryDirectory() as work:
        if "inputs" in args.parts:
            results["inputs"] = inputs_part(args.budget, work)
        if "streaming" in args.parts:
            results["streaming"] = streaming_part(args.budget, work)
    existing = json.loads(OUT.read_text()) if OUT.is_file() else {}
    existing[args.label or f"budget-{args.budget}"] = results
    OUT.write_text(json.dumps(existing, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
