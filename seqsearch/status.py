"""``seqsearch status``: a study's trials, states and leaderboard, read from its storage.

Reads the Optuna storage (and the best model's ``metrics.json``) only: no TensorFlow, no MLflow,
so it answers in about a second and is safe to run while workers are training.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

from .errors import SeqsearchError
from .progress import display_epoch

__all__ = ["study_status", "format_status"]


def study_status(study: str, workdir="seqsearch-runs", storage: str | None = None) -> dict:
    from .config import check_study_name, study_dir
    from .engines import engine_in, get_engine

    check_study_name(study)
    path = study_dir(workdir, study)
    name = "optuna" if storage is not None else engine_in(path)  # --storage: an Optuna storage URL
    if name is None:
        root = Path(workdir).expanduser().resolve()
        found = sorted(q.name for q in root.glob("*/") if engine_in(q))
        have = f"; studies there: {', '.join(found)}" if found else ""
        raise SeqsearchError(f"no study {study!r} in {str(root)!r}{have}")
    engine = get_engine(name).for_reading(study, path, storage=storage)
    records = engine.records()
    notices = list(getattr(engine, "notices", []))
    trials = []
    for r in records:
        a = r.attrs
        trials.append({
            "trial": r.number,
            "state": r.state,
            # The trial's best validation loss, as `run` printed it (a pruned trial's Optuna value is
            # its last reported one, not its best).
            "val_loss": _finite(a.get("val_loss", r.value)),
            "score": None,
            "epochs": a.get("epochs_run"),
            "best_epoch": display_epoch(a.get("best_epoch")),
            "seconds": round(a["seconds"], 1) if isinstance(a.get("seconds"), (int, float)) else None,
            "params": a.get("n_params"),
            "device": a.get("device"),  # what trained it: "CPU", "GPU 1 NVIDIA H200"
            "architecture": a.get("summary", ""),
            "reason": a.get("reason") or ("duplicate of #%s" % a["duplicate_of"] if "duplicate_of" in a else ""),
            "metrics": a.get("metrics", {}),
        })
    score_key = _score_key(trials)
    for t in trials:
        t["score"] = t.pop("metrics").get(score_key)
    counts = {s: sum(t["state"] == s for t in trials) for s in ("complete", "pruned", "failed", "running", "waiting")}
    leaderboard = sorted((t for t in trials if t["state"] == "complete" and t["val_loss"] is not None),
                         key=lambda t: (t["val_loss"], t["trial"]))
    best_model = None
    metrics_file = path / "best" / "metrics.json"
    if metrics_file.is_file():
        try:
            m = json.loads(metrics_file.read_text())
            from .study import exported_trials

            best_model = {"trial": m.get("trial"), "members": exported_trials(m), "summary": m.get("summary"),
                          "test": m.get("test"), "path": str(path / "best" / "model.keras")}
        except ValueError:
            best_model = None
    folds = 1
    with contextlib.suppress(OSError, ValueError, AttributeError):
        folds = int(json.loads((path / "study.json").read_text()).get("folds", 1))
    return {"study": study, "path": str(path), "score_key": score_key, "counts": counts, "trials": trials, "folds": folds,
            "leaderboard": [t["trial"] for t in leaderboard], "best_model": best_model, "notices": notices}


def _finite(value):
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def _score_key(trials) -> str:
    for t in trials:
        for key in ("val_accuracy", "val_mae"):
            if key in t["metrics"]:
                return key
    return "val_accuracy"


def format_status(status: dict, top: int = 10) -> str:
    from .progress import format_table

    key = status["score_key"]
    c = status["counts"]
    lines = [f"study {status['study']!r} ({status['path']})",
             f"trials: {len(status['trials'])} ({c['complete']} complete, {c['pruned']} pruned, {c['failed']} failed, "
             f"{c['running']} running, {c['waiting']} queued)"]
    if status.get("folds", 1) > 1:
        lines.append(f"validation: completed trials cross-validated on {status['folds']} folds of train+val "
                     "(val_loss and the score are the folds' means)")
    lines.append("")
    rows = [dict(t, **{key: t["score"], "seconds": f"{t['seconds']:.1f}" if t["seconds"] is not None else None})
            for t in status["trials"]]
    lines.append(format_table(rows, ["trial", "state", "val_loss", key, "epochs", "seconds", "device", "architecture",
                                    "reason"]))
    by_number = {t["trial"]: t for t in rows}
    board = [by_number[n] for n in status["leaderboard"][:top]]
    if board:
        lines += ["", f"leaderboard (top {len(board)} of {len(status['leaderboard'])} completed, by val_loss):",
                  format_table(board, ["trial", "val_loss", key, "best_epoch", "params", "architecture"])]
    b = status["best_model"]
    if b:
        test = ", ".join(f"{k} {v:.4g}" for k, v in (b.get("test") or {}).items())
        members = b.get("members") or [b["trial"]]
        which = f"trial #{b['trial']}" if len(members) == 1 else "trials " + ", ".join(f"#{n}" for n in members)
        lines += ["", f"best model: {which} ({b['summary']}), test: {test}", f"  {b['path']}"]
    return "\n".join(lines)
