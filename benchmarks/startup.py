"""Start-up time of the commands that should not load TensorFlow (issue 7, benchmark 4).

    python benchmarks/startup.py

Times ``seqsearch --help``, ``seqsearch run --help`` and ``seqsearch status STUDY`` as fresh
processes (median of 7 after one warm-up, so the OS file cache is warm), checks in a separate
process that none of them imported TensorFlow, Keras or MLflow, and gives ``python -c "import
tensorflow"`` beside them for scale. The study for ``status`` is a real 3-trial search on
ItalyPowerDemand made first. Results go to ``benchmarks/results/startup.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "examples" / "data" / "ItalyPowerDemand.npz"
HEAVY = ("tensorflow", "keras", "mlflow", "optuna")


def timed(cmd, repeats=7):
    subprocess.run(cmd, check=True, capture_output=True)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 3)


def imported(args) -> list[str]:
    code = (
        "import sys; from click.testing import CliRunner; from seqsearch.cli import main; "
        f"r = CliRunner().invoke(main, {args!r}); assert r.exit_code == 0, r.output; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
    return [m for m in out.split(",") if m]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE / "results" / "startup.json"))
    args = ap.parse_args()
    py = [sys.executable, "-m", "seqsearch"]
    with tempfile.TemporaryDirectory() as wd:
        subprocess.run([*py, "run", str(DATA), "--trials", "3", "--max-epochs", "2", "--families", "rnn",
                        "--workdir", wd, "--study", "s", "-q"], check=True)
        commands = {
            "seqsearch --help": ["--help"],
            "seqsearch run --help": ["run", "--help"],
            "seqsearch status": ["status", "s", "--workdir", wd],
        }
        report = {"command": "python benchmarks/startup.py", "seconds": {}, "heavy_modules_imported": {}}
        for name, argv in commands.items():
            report["seconds"][name] = timed([*py, *argv])
            report["heavy_modules_imported"][name] = imported(argv)
    report["seconds"]['python -c "import tensorflow"'] = timed([sys.executable, "-c", "import tensorflow"], repeats=3)
    report["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
