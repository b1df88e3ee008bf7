"""--objectives val_loss,params / latency_ms: a Pareto front, printed, logged, exportable."""

import json

import numpy as np
import pytest

import keras
from conftest import make_classification
from test_cli import seqsearch
from test_end_to_end import _runs

pytestmark = pytest.mark.slow


def test_pareto_front_is_reported_logged_and_any_member_exports(tmp_path):
    X, y = make_classification(n=40, t=8, f=1)
    np.savez(tmp_path / "m.npz", X=X, y=y)
    wd = tmp_path / "runs"
    args = ["run", tmp_path / "m.npz", "--workdir", wd, "--trials", 5, "--max-epochs", 1, "--folds", 1, "--families", "rnn",
            "--objectives", "val_loss,params,latency_ms", "--sampler", "nsga2"]
    r = seqsearch(*args, "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout)
    front = result["pareto_front"]
    assert front and all(set(row) >= {"trial", "val_loss", "params", "latency_ms"} for row in front)
    # Nobody on the front is beaten on every objective by another completed trial.
    study_path = wd / "m"
    from test_end_to_end import _optuna_trials

    done = [t for t in _optuna_trials(study_path, "m") if t.state.name == "COMPLETE"]
    for row in front:
        mine = (row["val_loss"], row["params"], row["latency_ms"])
        assert not any(all(a <= b for a, b in zip(t.values, mine)) and tuple(t.values) != mine for t in done)
        assert row["latency_ms"] > 0
    # The best export is the front's lowest validation loss.
    assert result["best_trial"] == min(front, key=lambda row: row["val_loss"])["trial"]
    c, parents, children = _runs(study_path, "m")
    tags = parents[0].data.tags
    assert tags["seqsearch.pareto_front"] == ",".join(str(row["trial"]) for row in front)
    assert "pareto_front.csv" in [a.path for a in c.list_artifacts(parents[0].info.run_id)]
    assert "plots/pareto_front.png" in [a.path for a in c.list_artifacts(parents[0].info.run_id, "plots")]
    on_front = {int(ch.data.tags["seqsearch.trial"]) for ch in children if ch.data.tags.get("seqsearch.pareto") == "true"}
    assert on_front == {row["trial"] for row in front}
    # Another member of the front exports like the best does.
    other = max(front, key=lambda row: row["val_loss"])["trial"]
    e = seqsearch("export", "m", "--workdir", wd, "--trial", other, "--format", "keras")
    assert e.returncode == 0, e.stderr[-2000:]
    meta = json.loads((study_path / f"trial-{other}" / "metrics.json").read_text())
    assert meta["trial"] == other and "accuracy" in meta["test"]
    model = keras.saving.load_model(study_path / f"export-trial-{other}" / "model.keras")
    assert model.predict(X[:2], verbose=0).shape == (2, len(set(y.tolist())))
    # The objectives are part of the study: another set is refused, nothing lost.
    r = seqsearch("run", tmp_path / "m.npz", "--workdir", wd, "--trials", 6, "--folds", 1,
                  "--objectives", "val_loss,params")
    assert r.returncode == 2 and "was searched with --objectives val_loss,params,latency_ms" in r.stderr
    assert len(_optuna_trials(study_path, "m")) == 5
    e = seqsearch("export", "m", "--workdir", wd, "--trial", 99, "--format", "keras")
    assert e.returncode == 2 and "trial 99 of study 'm' does not exist" in e.stderr
