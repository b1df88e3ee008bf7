"""A finished (or running) study, reopened from Python without searching again:
``seqsearch.load_study(name, workdir=...)``. Its trials and leaderboard come from the engine's
storage (as ``seqsearch status`` reads them); its models from the study folder: the exported
best model, and any completed trial's model (its fold models averaged where the search kept
them, else retrained once on train+validation and kept in ``<study>/trial-<N>/``, as
``seqsearch export --trial N`` does)."""

from __future__ import annotations

from pathlib import Path

from .errors import SeqsearchError

__all__ = ["load_study", "StudyResults"]


def load_study(study: str, workdir="seqsearch-runs", storage: str | None = None) -> "StudyResults":
    """The study ``study`` in ``workdir`` (``storage``: its Optuna storage URL, if not the
    study folder's own journal)."""
    from .local_store import relocate_store
    from .status import study_status

    status = study_status(study, workdir=workdir, storage=storage)
    relocate_store(Path(status["path"]), study)  # a moved or copied study: its MLflow files are these
    return StudyResults(status, storage)


class StudyResults:
    """What a study holds: ``trials`` (one dict per trial, as ``seqsearch status`` lists them),
    ``leaderboard`` (a pandas DataFrame of the completed trials, best first), ``best_model()``,
    ``get_best_models(n)``, ``predict(X)`` and ``optuna_study``."""

    def __init__(self, status: dict, storage: str | None = None):
        self.name = status["study"]
        self.path = Path(status["path"])
        self.score_key = status["score_key"]
        self.trials = status["trials"]
        self._ranked = list(status["leaderboard"])
        self._storage = storage
        self._best = None

    def __repr__(self) -> str:
        return f"StudyResults({self.name!r}, {len(self.trials)} trials, {len(self._ranked)} completed)"

    @property
    def leaderboard(self):
        """The completed trials by validation loss (the folds' mean where cross-validated)."""
        import pandas as pd

        by_number = {t["trial"]: t for t in self.trials}
        rows = [{"rank": i + 1, "trial": n, "val_loss": by_number[n]["val_loss"], self.score_key: by_number[n]["score"],
                 "best_epoch": by_number[n]["best_epoch"], "params": by_number[n]["params"],
                 "seconds": by_number[n]["seconds"], "architecture": by_number[n]["architecture"]}
                for i, n in enumerate(self._ranked)]
        return pd.DataFrame(rows, columns=["rank", "trial", "val_loss", self.score_key, "best_epoch", "params",
                                           "seconds", "architecture"])

    @property
    def optuna_study(self):
        """The study's ``optuna.Study`` (Optuna engine only)."""
        from .engines import engine_in, get_engine

        name = "optuna" if self._storage is not None else engine_in(self.path)
        if name != "optuna":
            raise SeqsearchError(f"study {self.name!r} was searched with --engine {name}; it has no Optuna study")
        return get_engine(name).for_reading(self.name, self.path, storage=self._storage).study

    def best_model(self):
        """The exported best model (``best/model.keras``: an average where the search picked one)."""
        if self._best is None:
            path = self.path / "best" / "model.keras"
            if not path.is_file():
                raise SeqsearchError(f"study {self.name!r} has no exported model yet; let `seqsearch run` finish")
            from .model_file import load_model

            self._best = load_model(path)
        return self._best

    def get_best_models(self, n: int = 1) -> list:
        """The models of the ``n`` best completed trials, best first, each on its own (not the
        exported average): its fold models averaged where the search kept them, else retrained
        once on train+validation (kept in ``<study>/trial-<N>/`` for the next call)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise SeqsearchError(f"get_best_models(n): n must be a positive integer, got {n!r}")
        from .finish import export_trial
        from .model_file import load_model

        return [load_model(export_trial(self.path, number, storage=self._storage) / "model.keras")
                for number in self._ranked[:n]]

    def predict(self, X, **kwargs):
        """The exported best model's predictions for ``X`` (raw sequences, or raw strings for a
        text or pairs study)."""
        from .data.text import predict_any

        return predict_any(self.best_model(), X, **kwargs)
