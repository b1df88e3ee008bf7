"""The MLflow record of a study, through ``seqsearch.tracking.Tracker`` alone: one experiment,
one parent run that a resumed run and --jobs workers share, one child run per trial whose
metrics never let a pruned trial's single-split loss sort above a finalist's fold mean."""

import math

import pytest
from mlflow import MlflowClient

from seqsearch.local_store import local_tracking_uri
from seqsearch.tracking import RANKING_METRIC, ROLE, STATE, TRIAL, Tracker
from seqsearch.training import TrialOutcome


def _client(study_path):
    return MlflowClient(tracking_uri=local_tracking_uri(study_path))


def test_a_resumed_study_keeps_its_parent_run_and_each_invocations_config(tmp_path):
    first = Tracker("s", tmp_path)
    parent = first.open_study({"seed": 0, "trials": 5, "fixed": {"a": 1}}, {"task": "classification", "classes": ["x"]})
    again = Tracker("s", tmp_path)
    assert again.open_study({"seed": 0, "trials": 9}, {"task": "classification"}) == parent
    run = _client(tmp_path).get_run(parent)
    assert run.data.tags[ROLE] == "study" and run.data.tags["seqsearch.invocations"] == "2"
    # Params are write-once: the first invocation's; every invocation's config is an artifact.
    assert run.data.params["config.trials"] == "5" and "config.fixed" not in run.data.params
    assert run.data.params["dataset.task"] == "classification" and "dataset.classes" not in run.data.params
    logged = [f.path for f in _client(tmp_path).list_artifacts(parent, "invocations")]
    assert len(logged) == 2
    worker = Tracker("s", tmp_path)
    assert worker.join_study() == parent  # a --jobs worker lands its trials under the same parent
    with pytest.raises(RuntimeError, match="no parent run"):
        Tracker("other", tmp_path).join_study()


def test_trial_runs_log_epochs_from_one_and_rank_only_finalists_by_best_val_loss(tmp_path):
    tracker = Tracker("s", tmp_path)
    tracker.open_study({}, {"task": "classification"})
    done = tracker.start_trial(0, {"family": "conv", "conv.arch": "fcn"}, {"family": "conv", "summary": "fcn 3x128 k8"})
    for epoch, loss in enumerate([0.9, 0.5, 0.6]):
        tracker.log_epoch(done, epoch, {"val_loss": loss, "loss": loss})
    for epoch, loss in enumerate([0.7, 0.4]):  # the second fold's own curve
        tracker.log_epoch(done, epoch, {"val_loss": loss}, fold=2)
    tracker.end_trial(done, TrialOutcome(state="complete", value=0.45, best_epoch=1, epochs_run=3, n_params=10,
                                         seconds=2.0, metrics={"val_loss": 0.45}, fold_values=[0.5, 0.4],
                                         summary_text="Model: conv"))
    pruned = tracker.start_trial(1, {"family": "rnn"}, {})
    tracker.end_trial(pruned, TrialOutcome(state="pruned", value=0.1, best_epoch=0, epochs_run=4, n_params=5,
                                           metrics={"val_loss": 0.1}, reason="pruned after epoch 4"))
    c = _client(tmp_path)
    a, b = c.get_run(done), c.get_run(pruned)
    # A pruned trial ended as asked: FINISHED, its state in a tag; the names say the architecture.
    assert a.info.status == "FINISHED" and b.info.status == "FINISHED" and b.data.tags[STATE] == "pruned"
    assert a.info.run_name == "#000 fcn 3x128 k8" and b.info.run_name == "#001"
    assert [m.value for m in c.get_metric_history(done, "fold2_val_loss")] == [0.7, 0.4]
    assert a.data.metrics[RANKING_METRIC] == 0.45 and RANKING_METRIC not in b.data.metrics
    assert a.data.tags[TRIAL] == "0" and a.data.tags[STATE] == "complete" and a.data.params["conv.arch"] == "fcn"
    assert [m.step for m in c.get_metric_history(done, "val_loss")] == [1, 2, 3]
    assert a.data.metrics["best_val_loss"] == 0.45 and a.data.metrics["best_epoch"] == 2
    assert [m.value for m in sorted(c.get_metric_history(done, "fold_val_loss"), key=lambda m: m.step)] == [0.5, 0.4]
    # The pruned trial's lower single-split loss is not a best_val_loss: sorting cannot rank it first.
    assert "best_val_loss" not in b.data.metrics and b.data.metrics["split_best_val_loss"] == 0.1
    assert b.data.tags["seqsearch.reason"] == "pruned after epoch 4" and b.data.tags["seqsearch.pruned_at_epoch"] == "4"
    assert "model_summary.txt" in [f.path for f in c.list_artifacts(done)]
    assert not math.isnan(a.data.metrics["seconds"]) and "rss_mb" not in a.data.metrics  # NaN: not logged
    assert {r.info.run_id for r in tracker.trial_runs()} == {done, pruned}


def test_trials_of_a_dead_worker_are_closed_as_failed_and_the_pareto_front_tagged(tmp_path):
    tracker = Tracker("s", tmp_path)
    tracker.open_study({}, {"task": "classification"})
    running = tracker.start_trial(3, {"family": "rnn"}, {})
    other = tracker.start_trial(4, {"family": "rnn"}, {})
    tracker.fail_trials([3], "worker process died")
    c = _client(tmp_path)
    run = c.get_run(running)
    assert run.info.status == "FAILED" and run.data.tags[STATE] == "failed"
    assert run.data.tags["seqsearch.reason"] == "worker process died"
    assert c.get_run(other).info.status == "RUNNING"
    tracker.log_pareto("trial,val_loss\n4,0.3\n", [4])
    assert c.get_run(other).data.tags["seqsearch.pareto"] == "true"
    assert c.get_run(running).data.tags["seqsearch.pareto"] == "false"
    assert c.get_run(tracker.parent_id).data.tags["seqsearch.pareto_front"] == "4"
    tracker.close_study("FINISHED")
    assert c.get_run(tracker.parent_id).info.status == "FINISHED"


def test_the_leaderboard_places_winner_and_members_are_tags_on_the_trial_runs(tmp_path):
    tracker = Tracker("s", tmp_path)
    tracker.open_study({}, {"task": "classification"})
    runs = {}
    for n, (state, value) in enumerate([("complete", 0.5), ("pruned", 0.1), ("complete", 0.3), ("failed", None)]):
        runs[n] = tracker.start_trial(n, {"family": "rnn"}, {"summary": f"gru {n}"})
        tracker.end_trial(runs[n], TrialOutcome(state=state, value=math.nan if value is None else value,
                                                best_epoch=0, epochs_run=1, metrics={"val_loss": value or 0.0}))
    tracker.tag_ranking([2, 0], members=[2, 0])
    tracker.tag_ranking([2, 0], members=[2, 0])  # again (a resumed finish): nothing changes
    c = _client(tmp_path)
    tags = {n: c.get_run(r).data.tags for n, r in runs.items()}
    assert [tags[n].get("seqsearch.rank") for n in range(4)] == ["2", None, "1", None]
    assert [tags[n]["seqsearch.winner"] for n in range(4)] == ["false", "false", "true", "false"]
    assert [tags[n]["seqsearch.ensemble_member"] for n in range(4)] == ["true", "false", "true", "false"]
    # Sorted by the ranking metric, the pruned trial's lower split loss does not come first.
    found = c.search_runs([tracker.experiment_id], f"tags.`{ROLE}` = 'trial'", order_by=[f"metrics.{RANKING_METRIC} ASC"])
    assert [r.data.tags[TRIAL] for r in found][:2] == ["2", "0"]
    assert c.get_run(runs[3]).info.status == "FAILED"

