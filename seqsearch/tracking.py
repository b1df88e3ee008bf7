"""MLflow tracking: one experiment per study, one parent run for the study, one nested child
run per trial. Everything goes through ``MlflowClient`` with explicit run ids, so no global
"active run" leaks between trials or into the user's own MLflow code."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .errors import SeqsearchError, one_line
from .local_store import local_tracking_uri, quiet_mlflow, relocate_store, start_local_store

__all__ = ["Tracker", "STATE_TO_STATUS", "RANKING_METRIC", "trial_run_name"]

ROLE = "seqsearch.role"
TRIAL = "seqsearch.trial"
STATE = "seqsearch.state"
# A pruned trial ended as asked (its state says pruned), a failed one did not.
STATE_TO_STATUS = {"complete": "FINISHED", "pruned": "FINISHED", "failed": "FAILED"}
# The value the leaderboard ranks trials by (the folds' mean for cross-validated finalists),
# logged on the completed trials only: sorting the runs by it never puts a pruned trial's
# single-split loss above a finalist.
RANKING_METRIC = "ranking_val_loss"


def preload():
    """Import MLflow's client and its SQL store (what a --jobs worker does while it waits for
    the study: joining it then costs no imports)."""
    quiet_mlflow()
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    from mlflow import MlflowClient  # noqa: F401


class Tracker:
    def __init__(self, study: str, study_path: Path, tracking_uri: str | None = None):
        self.study = study
        self.study_path = Path(study_path)
        self.uri = tracking_uri or local_tracking_uri(self.study_path)
        # A tracking server decides where artifacts live (it may proxy them); only the local
        # store gets the study folder.
        self.artifact_root = None if tracking_uri else (self.study_path / "mlartifacts").as_uri()
        self._client = None
        self.remote = bool(tracking_uri) and not tracking_uri.startswith(("sqlite:", "file:", "/"))
        self.experiment_id = None
        self.parent_id = None

    @property
    def client(self):
        if self._client is None:
            if self.remote:
                # MLflow retries a server that does not answer for minutes (7 retries, doubling
                # waits, 120 s timeouts); a few seconds tell a missing server from a slow one.
                # The user's own settings win.
                for name, value in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3"),
                                    ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
                                    ("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")):
                    os.environ.setdefault(name, value)
            quiet_mlflow()
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    # -- study -------------------------------------------------------------------------------
    def open_study(self, config: dict, dataset_info: dict) -> str:
        if self.artifact_root is not None:
            if not start_local_store(self.study_path):
                relocate_store(self.study_path, self.study)
        c = self.client
        try:
            exp = c.get_experiment_by_name(self.study)
        except Exception as e:  # noqa: BLE001 - MLflow wraps connection errors in its own types
            if not self.remote:
                raise
            raise SeqsearchError(f"--tracking-uri {self.uri!r} does not answer ({one_line(e, 200)}); start the "
                                 "tracking server or leave out --tracking-uri for the study's own store") from None
        if exp is None:
            self.experiment_id = c.create_experiment(
                self.study, artifact_location=self.artifact_root, tags={"seqsearch.study": self.study}
            )
        else:
            if exp.lifecycle_stage == "deleted":
                c.restore_experiment(exp.experiment_id)
            self.experiment_id = exp.experiment_id
        found = c.search_runs([self.experiment_id], f"tags.`{ROLE}` = 'study'", max_results=1)
        if found:
            self.parent_id = found[0].info.run_id
            c.update_run(self.parent_id, status="RUNNING")
            resumed = int(found[0].data.tags.get("seqsearch.invocations", "1")) + 1
            c.set_tag(self.parent_id, "seqsearch.invocations", str(resumed))
        else:
            run = c.create_run(
                self.experiment_id,
                run_name=self.study,
                tags={ROLE: "study", "seqsearch.invocations": "1", "seqsearch.task": dataset_info["task"]},
            )
            self.parent_id = run.info.run_id
            from mlflow.entities import Param

            params = {f"config.{k}": v for k, v in config.items() if k not in ("fixed",)}
            params.update({f"dataset.{k}": v for k, v in dataset_info.items() if k != "classes"})
            c.log_batch(self.parent_id, params=[Param(k, _str(v)) for k, v in params.items()])
            c.log_dict(self.parent_id, dataset_info, "dataset.json")
        # Each invocation's configuration is kept (params are write-once in MLflow).
        c.log_dict(self.parent_id, config, f"invocations/config-{int(time.time() * 1000)}.json")
        return self.parent_id

    def join_study(self) -> str:
        """Attach to the study's existing parent run (a ``--jobs`` worker: the main process
        opened it, so every trial lands under the one parent)."""
        c = self.client
        exp = c.get_experiment_by_name(self.study)
        found = c.search_runs([exp.experiment_id], f"tags.`{ROLE}` = 'study'", max_results=1) if exp else []
        if not found:
            raise RuntimeError(f"study {self.study!r} has no parent run to join")
        self.experiment_id, self.parent_id = exp.experiment_id, found[0].info.run_id
        return self.parent_id

    def close_study(self, status: str = "FINISHED"):
        if self.parent_id:
            self.client.set_terminated(self.parent_id, status=status)

    # -- trials ------------------------------------------------------------------------------
    def start_trial(self, number: int, spec: dict, tags: dict) -> str:
        from mlflow.entities import Param

        c = self.client
        run = c.create_run(
            self.experiment_id,
            run_name=trial_run_name(number, tags.get("summary", "")),
            tags={
                "mlflow.parentRunId": self.parent_id,
                ROLE: "trial",
                TRIAL: str(number),
                STATE: "running",
                **{f"seqsearch.{k}": _str(v) for k, v in tags.items()},
            },
        )
        c.log_batch(run.info.run_id, params=[Param(k, _str(v)) for k, v in spec.items()])
        return run.info.run_id

    def log_epoch(self, run_id: str, epoch: int, logs: dict, fold: int | None = None):
        """One epoch's metrics; a later fold's (``fold`` 2..K) as ``fold<K>_<metric>``, so each
        fold has its own curves (fold 1's are the plain names)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        prefix = f"fold{fold}_" if fold and fold > 1 else ""
        # Steps count epochs from 1, as the live view, status and the leaderboard do.
        self.client.log_batch(run_id, metrics=[Metric(f"{prefix}{k}", float(v), now, epoch + 1)
                                               for k, v in logs.items()])

    def end_trial(self, run_id: str, outcome, extra_tags: dict | None = None):
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        metrics = {"n_params": outcome.n_params, "seconds": outcome.seconds, "epochs_run": outcome.epochs_run}
        if outcome.rss_mb == outcome.rss_mb:  # measured (not NaN)
            metrics["rss_mb"] = outcome.rss_mb
        if outcome.best_epoch >= 0:
            metrics["best_epoch"] = outcome.best_epoch + 1  # counted from 1
            # Only completed trials (cross-validated finalists, with --folds) log best_*: a pruned
            # trial's single-split loss logs as split_best_* so that sorting the runs by
            # best_val_loss never ranks it above a finalist's fold mean.
            prefix = "best_" if outcome.state == "complete" else "split_best_"
            metrics.update({f"{prefix}{k}": v for k, v in outcome.metrics.items()})
        if outcome.state == "complete" and outcome.value == outcome.value:
            metrics[RANKING_METRIC] = outcome.value
        tags = {STATE: outcome.state, **(extra_tags or {})}
        if outcome.reason:
            tags["seqsearch.reason"] = outcome.reason[:5000]
        if outcome.state == "pruned" and outcome.epochs_run:
            tags["seqsearch.pruned_at_epoch"] = outcome.epochs_run  # its last epoch, counted from 1
        if outcome.summary_text:
            self.client.log_text(run_id, outcome.summary_text, "model_summary.txt")
        # Cross-validated: best_val_loss is the folds' mean; fold_val_loss has one step per fold.
        folds = [Metric("fold_val_loss", float(v), now, i) for i, v in enumerate(outcome.fold_values)]
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()] + folds,
            tags=[RunTag(k, _str(v)) for k, v in tags.items()],
        )
        self.client.set_terminated(run_id, status=STATE_TO_STATUS[outcome.state])

    def fail_trials(self, numbers, reason: str):
        """Close the child runs of trials whose worker died (the engine failed them too)."""
        for n in numbers:
            for run in self.client.search_runs(
                [self.experiment_id], f"tags.`{TRIAL}` = '{int(n)}' and tags.`{STATE}` = 'running'"
            ):
                self.client.set_tag(run.info.run_id, STATE, "failed")
                self.client.set_tag(run.info.run_id, "seqsearch.reason", reason)
                self.client.set_terminated(run.info.run_id, status="FAILED")

    def tag_ranking(self, ranked, members):
        """After the search: each completed trial's place on the leaderboard (``ranked``: trial
        numbers, best first) as ``seqsearch.rank``, ``seqsearch.winner`` on the best, and
        ``seqsearch.ensemble_member`` on the trials the export averages (``members``)."""
        from mlflow.entities import RunTag

        place = {int(n): i + 1 for i, n in enumerate(ranked)}
        members = {int(n) for n in members}
        for run in self.trial_runs():
            trial = int(run.data.tags.get(TRIAL, -1))
            tags = {"seqsearch.winner": "true" if place.get(trial) == 1 else "false",
                    "seqsearch.ensemble_member": "true" if trial in members else "false"}
            if trial in place:
                tags["seqsearch.rank"] = str(place[trial])
            if any(run.data.tags.get(k) != v for k, v in tags.items()):
                self.client.log_batch(run.info.run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def trial_runs(self):
        return self.client.search_runs([self.experiment_id], f"tags.`{ROLE}` = 'trial'", max_results=50000)

    # -- results -----------------------------------------------------------------------------
    def log_leaderboard(self, csv_text: str):
        self.client.log_text(self.parent_id, csv_text, "leaderboard.csv")

    def log_pareto(self, csv_text: str, numbers):
        """The Pareto front: a CSV on the parent run, its trial numbers as a parent tag, and a
        ``seqsearch.pareto`` tag on every trial run (true on the front, false elsewhere)."""
        c = self.client
        c.log_text(self.parent_id, csv_text, "pareto_front.csv")
        c.set_tag(self.parent_id, "seqsearch.pareto_front", ",".join(str(n) for n in numbers))
        on_front = {int(n) for n in numbers}
        for run in c.search_runs([self.experiment_id], f"tags.`{ROLE}` = 'trial'", max_results=50000):
            trial = int(run.data.tags.get(TRIAL, -1))
            c.set_tag(run.info.run_id, "seqsearch.pareto", "true" if trial in on_front else "false")

    def val_loss_curves(self, numbers) -> dict:
        """Per-epoch validation loss of the given trials, from their child runs."""
        curves = {}
        for n in numbers:
            runs = self.client.search_runs([self.experiment_id], f"tags.`{TRIAL}` = '{int(n)}'", max_results=1)
            if runs:
                hist = self.client.get_metric_history(runs[0].info.run_id, "val_loss")
                curves[n] = [m.value for m in sorted(hist, key=lambda m: m.step)]
        return curves

    def log_figures(self, figures: dict):
        import matplotlib.pyplot as plt

        for name, fig in figures.items():
            self.client.log_figure(self.parent_id, fig, name)
            plt.close(fig)

    def log_best(self, model, best_dir: Path, metrics: dict, input_example):
        """Best spec, metrics and test scores on the parent run; the model as an MLflow
        LoggedModel the parent run outputs (its params the spec, the test scores its metrics),
        registered as ``<study>@best``. Returns the model's ``models:/`` URI."""
        from mlflow.entities import Metric

        from .mlflow_model import log_logged_model
        from .study import exported_trials, library_versions

        c = self.client
        for name in ("spec.json", "metrics.json"):
            c.log_artifact(self.parent_id, str(best_dir / name), "best")
        v = library_versions()
        # Named, not inferred: inference would load the model in a fresh process to guess them.
        reqs = [f"{p}=={v[p]}" for p in ("keras", "tensorflow", "numpy", "pandas") if p in v]
        members = ",".join(map(str, exported_trials(metrics)))
        tags = {"seqsearch.trials": members, "seqsearch.task": metrics["task"],
                "seqsearch.summary": metrics.get("summary", "")}
        spec = json.loads((best_dir / "spec.json").read_text())
        if isinstance(spec, list):  # an ensemble's members, best first
            spec = {f"member{i}.{k}": v for i, member in enumerate(spec, 1) for k, v in member.items()}
        classes = metrics.get("classes") if metrics["task"] == "classification" else None
        model_id, exported = log_logged_model(c, self.experiment_id, self.parent_id, model, input_example,
                                              classes, reqs, spec, tags)
        now = int(time.time() * 1000)
        flat = {f"test_{k}": v for k, v in metrics["test"].items()}
        flat.update({f"baseline_{k}": v for k, v in (metrics.get("baseline") or {}).items() if k != "method"})
        flat.update({f"baseline_{name}_{k}": v for name, scores in (metrics.get("baselines") or {}).items()
                     for k, v in scores.items() if k in ("mae", "rmse", "mape", "smape")})
        flat["best_trial"] = metrics["trial"]
        flat["best_val_loss"] = metrics["val_loss"]
        # On the parent run, and (model_id) on the LoggedModel: the Models tab shows them.
        c.log_batch(self.parent_id, metrics=[Metric(k, float(v), now, 0, model_id=model_id) for k, v in flat.items()])
        model_uri = f"models:/{model_id}"
        import contextlib
        import io

        import mlflow

        mlflow.set_tracking_uri(self.uri)
        # The registry prints "Successfully registered model ..." on stderr; the run's own
        # output already says where the model went.
        with contextlib.redirect_stderr(io.StringIO()):
            version = mlflow.register_model(model_uri, self.study)
        # models:/<study>@best always names the current best, whatever its version number.
        c.set_registered_model_alias(self.study, "best", str(version.version))
        self._describe_version(version.version, metrics)
        for key, value in {"seqsearch.best_trial": metrics["trial"], "seqsearch.best_summary": metrics.get("summary", ""),
                           "seqsearch.logged_model_trial": metrics["trial"], "seqsearch.logged_model_members": members,
                           "seqsearch.best_model_uri": model_uri,
                           "seqsearch.best_model_format": "savedmodel" if exported else "keras"}.items():
            c.set_tag(self.parent_id, key, str(value))
        return model_uri

    def _describe_version(self, version, metrics: dict) -> None:
        """The registry version says what it is: architecture, test scores, the data it was
        trained on; tags for the trial(s), the task and each test metric."""
        from .study import exported_trials

        test = ", ".join(f"{k} {v:.4g}" for k, v in metrics["test"].items())
        data = metrics.get("dataset") or {}
        text = (f"{metrics.get('summary', '')}. Test ({data.get('n_test')} sequences): {test}. Trained on "
                f"{data.get('name')} (fingerprint {data.get('fingerprint')}) for study {self.study!r}.")
        self.client.update_model_version(self.study, version, description=text)
        tags = {"seqsearch.trials": ",".join(map(str, exported_trials(metrics))), "seqsearch.task": metrics["task"],
                "seqsearch.fingerprint": data.get("fingerprint", ""),
                **{f"test_{k}": f"{v:.6g}" for k, v in metrics["test"].items()}}
        for key, value in tags.items():
            self.client.set_model_version_tag(self.study, version, key, str(value))

    def logged_model_trials(self) -> list[int] | None:
        """The trial(s) whose model (one, or their average) is logged on the parent run; None if
        none finished logging."""
        tags = self.client.get_run(self.parent_id).data.tags
        tag = tags.get("seqsearch.logged_model_members", tags.get("seqsearch.logged_model_trial"))
        return [int(t) for t in tag.split(",")] if tag else None


def _str(v) -> str:
    s = v if isinstance(v, str) else json.dumps(v)
    return s[:6000]


def trial_run_name(number: int, summary: str) -> str:
    """A trial's MLflow run name: its number and architecture (``#012 lstm 2x64 bi``)."""
    summary = " ".join(str(summary).split())
    return f"#{number:03d} {summary[:90]}".rstrip()
