"""XLA (``jit_compile``) per family (issue 7, speed work).

    python benchmarks/jit_compile.py --epochs 30 --draws 3

For each dataset (ItalyPowerDemand: 24 steps, 1 channel; BasicMotions: 100 steps, 6 channels;
the seed's reversal task for the sequence-output families; ``--datasets generated4k`` adds a
generated set with about 75 batches an epoch) and each family, the family's
default spec, its cell variants (SimpleRNN / LSTM / GRU where the family has a cell) and
``--draws`` random specs of that family are each trained twice in this process, once compiled
with ``jit_compile=False`` and once with ``True``, from the same seed, for ``--epochs`` epochs with
per-epoch validation (patience above the epoch count, so both train every epoch). Recorded per
run: the first epoch (tracing, and XLA's compilation when on), the median later epoch, and the
whole fit. ``speedup`` = time without XLA / time with it, for the whole fit (what a trial of
that many epochs pays) and for a later epoch (what each extra epoch pays); ``break_even_epochs``
is how many epochs a trial must run before XLA's compile time is repaid. Order alternates
between specs so neither setting always runs on warmer caches. Then 16 small GRU candidates are
fitted one after another in a fresh process each way, released as seqsearch releases a trial,
and the process's resident memory is recorded after each (XLA's compiled programs are cached
for the process's life). Results go to
``benchmarks/results/jit_compile.json``; the summary gives each family's median speedups.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
DATA = HERE.parent / "examples" / "data"
DATASETS = {
    "ItalyPowerDemand": ["rnn", "transformer", "rnn_bottleneck", "tlb"],
    "BasicMotions": ["rnn", "transformer", "rnn_bottleneck", "tlb"],
    "reversal": ["rnn", "transformer", "encdec"],
    # About 75 batches an epoch where the archives have 2 or 3 (benchmarks/feeding.py makes it).
    "generated4k": ["rnn", "transformer", "rnn_bottleneck", "tlb"],
}


def variants(space, family, draws, seed):
    """(label, spec): the default, its cell variants, then random draws of the family."""
    import optuna

    from search_spaces import OptunaHP

    out = [("default", space.default_spec(family))]
    cell = f"{family}.cell"
    if any(p.name == "cell" for p in space.params(family)):
        for c in ("simple_rnn", "lstm", "gru"):
            if c != out[0][1].get(cell):
                try:
                    out.append((c, space.default_spec(family, {cell: c})))
                except ValueError:
                    pass
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    n = 0
    while n < draws:
        spec = space.sample(OptunaHP(study.ask()))
        if spec.get("family") != family:
            continue
        out.append((f"random{n}", spec))
        n += 1
    return out


def fit_once(spec, ds, epochs, jit, seed):
    import keras

    from search_spaces import build_models, compile_model

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model, trainer = build_models(spec, ds.data_spec(), ds.task_spec)
    net = trainer or model
    compile_model(net, spec, ds.task_spec, jit_compile=jit)
    X, Xv = ds.X_train, ds.X_val
    if trainer is not None:  # teacher forcing: the targets are the second input
        X, Xv = [ds.X_train, ds.y_train], [ds.X_val, ds.y_val]
    from feeding import timed_fit

    got = timed_fit(net, X, ds.y_train, validation_data=(Xv, ds.y_val), epochs=epochs,
                    batch_size=int(spec["train.batch_size"]))
    return {**got, "jit_used": bool(net.jit_compile)}


def memory_probe(jit: bool, trials: int = 16):
    """Resident memory after each of ``trials`` small GRU fits in one process, released the way
    seqsearch releases a trial (``clear_session`` and the gradient registry)."""
    import keras

    from search_spaces import SearchSpace, build_models, compile_model
    from seqsearch.data import load_dataset
    from seqsearch.measure import process_rss_mb
    from seqsearch.tf_internals import released_gradients

    ds = load_dataset(DATA / "ItalyPowerDemand.npz")
    space = SearchSpace(["rnn"], data_spec=ds.data_spec(), task_spec=ds.task_spec)
    rss = []
    for i in range(trials):
        with released_gradients():
            keras.backend.clear_session(free_memory=False)
            keras.utils.set_random_seed(i)
            spec = space.default_spec("rnn", {"rnn.cell": "gru", "rnn.units": 16, "train.learning_rate": 1e-3 * (1 + i / 10)})
            model, _ = build_models(spec, ds.data_spec(), ds.task_spec)
            compile_model(model, spec, ds.task_spec, jit_compile=jit)
            model.fit(ds.X_train, ds.y_train, validation_data=(ds.X_val, ds.y_val), epochs=2, verbose=0)
            del model
        keras.backend.clear_session()
        rss.append(round(process_rss_mb(), 1))
    return rss


def memory_check():
    import subprocess

    memory = {}
    for mode in ("no_xla", "xla"):  # each in a fresh process: XLA's cache outlives clear_session
        out = subprocess.run([sys.executable, __file__, "--memory-probe", mode], capture_output=True, text=True, check=True)
        rss = json.loads(out.stdout.strip().splitlines()[-1])
        slope = statistics.linear_regression(range(1, len(rss)), rss[1:]).slope
        memory[mode] = {"rss_mb_after_each_trial": rss, "growth_mb_per_trial": round(slope, 1)}
    print(json.dumps({k: v["growth_mb_per_trial"] for k, v in memory.items()}))
    return memory


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--datasets", default="ItalyPowerDemand,BasicMotions,reversal")
    ap.add_argument("--out", default=str(HERE / "results" / "jit_compile.json"))
    ap.add_argument("--memory-only", action="store_true",
                    help="only the memory check (to benchmarks/results/jit_compile_memory.json)")
    ap.add_argument("--memory-probe", choices=("xla", "no_xla"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.memory_probe:
        from seqsearch._backend import load_keras

        load_keras()
        print(json.dumps(memory_probe(args.memory_probe == "xla")))
        return

    from search_spaces import SearchSpace
    from seqsearch._backend import load_keras
    from seqsearch.data import load_dataset

    if args.memory_only:
        memory = memory_check()
        out = HERE / "results" / "jit_compile_memory.json"
        out.write_text(json.dumps({"command": "python benchmarks/jit_compile.py --memory-only",
                                   "memory_16_gru_trials": memory}, indent=2) + "\n")
        return
    load_keras()
    rows = []
    flip = False
    tmp = tempfile.TemporaryDirectory()
    for name in args.datasets.split(","):
        if name == "generated4k":
            from feeding import generated

            ds = load_dataset(generated(Path(tmp.name) / "generated4k.npz"))
        else:
            ds = load_dataset(DATA / f"{name}.npz")
        space = SearchSpace(DATASETS[name], data_spec=ds.data_spec(), task_spec=ds.task_spec)
        for family in space.families:
            for label, spec in variants(space, family, args.draws, args.seed):
                spec["train.patience"] = 40
                runs = {}
                if not rows:  # warm-up: TensorFlow's one-off start-up is neither side's cost
                    fit_once(spec, ds, 2, False, 0)
                for jit in ((True, False) if flip else (False, True)):
                    try:
                        runs[jit] = fit_once(spec, ds, args.epochs, jit, args.seed)
                    except Exception as e:  # noqa: BLE001 - XLA may not compile an op: record it
                        runs[jit] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
                flip = not flip
                row = {"dataset": name, "family": family, "variant": label, "no_xla": runs[False], "xla": runs[True]}
                if "error" not in runs[True]:
                    a, b = runs[False], runs[True]
                    row["speedup_fit"] = round(a["fit_s"] / b["fit_s"], 3)
                    row["speedup_epoch"] = round(a["later_epoch_s"] / b["later_epoch_s"], 3)
                    saved = a["later_epoch_s"] - b["later_epoch_s"]
                    extra = b["first_epoch_s"] - a["first_epoch_s"]
                    row["break_even_epochs"] = round(1 + extra / saved, 1) if saved > 0 else None
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k not in ("no_xla", "xla")}), flush=True)
    summary = {}
    for name in args.datasets.split(","):
        for family in DATASETS[name]:
            got = [r for r in rows if r["dataset"] == name and r["family"] == family and "speedup_fit" in r]
            if got:
                summary[f"{name}/{family}"] = {
                    "specs": len(got),
                    "median_speedup_fit": round(statistics.median(r["speedup_fit"] for r in got), 3),
                    "median_speedup_epoch": round(statistics.median(r["speedup_epoch"] for r in got), 3),
                    "median_first_epoch_s": {
                        "no_xla": round(statistics.median(r["no_xla"]["first_epoch_s"] for r in got), 2),
                        "xla": round(statistics.median(r["xla"]["first_epoch_s"] for r in got), 2),
                    },
                }
    memory = memory_check()
    report = {
        "command": f"python benchmarks/jit_compile.py --epochs {args.epochs} --draws {args.draws}"
                   + (f" --datasets {args.datasets}" if args.datasets != ap.get_default("datasets") else "")
                   + (f" --out {args.out}" if args.out != ap.get_default("out") else ""),
        "epochs": args.epochs,
        "summary": summary,
        "memory_16_gru_trials": memory,
        "rows": rows,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
