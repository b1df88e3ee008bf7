"""A finalist's fold models, kept for the export.

A cross-validated trial trains one model per fold, each stopped at the epoch its own held-out
fold found best. The export can average these instead of retraining the trial on
train+validation: a retrain has no data left to pick its epoch on, so it keeps whatever its last
step left, while every fold model was chosen on rows it did not train on, and the average of k
of them costs no training at the finish.

Each finalist that kept its out-of-fold outputs (``ensemble.save_predictions``) keeps its
folds' weights at their best epochs too, in ``fold_models/trial-N.npz`` of the study folder,
tied to the dataset's fingerprint. Only the ``KEEP`` best trials' files are kept. A fold's model
is rebuilt with the fold's own input (and target) statistics and given those weights
(:func:`build_fold_model`): it is the model that was scored on that fold.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["FOLD_MODELS", "KEEP", "save_fold_weights", "load_fold_weights", "remove_fold_weights",
           "build_fold_model", "has_fold_weights"]

FOLD_MODELS = "fold_models"
# Trials whose fold weights stay on disk: the best by validation loss. Greedy selection picks
# at most the ensemble's size (3 by default) among the finalists; a member without them is
# retrained.
KEEP = 10


def _file(study_path: Path, number: int) -> Path:
    return Path(study_path) / FOLD_MODELS / f"trial-{number}.npz"


def save_fold_weights(study_path: Path, number: int, fold_weights: list, *, folds: int, fold_seed: int,
                      fingerprint: str) -> None:
    """Keep trial ``number``'s weights per fold (written whole or not at all)."""
    path = _file(study_path, number)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"f{f}_{i}": np.asarray(w) for f, weights in enumerate(fold_weights) for i, w in enumerate(weights)}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, fingerprint=np.array(fingerprint), folds=np.array(folds), fold_seed=np.array(fold_seed),
                 trained=np.array(len(fold_weights)), **arrays)
    os.replace(tmp, path)


def load_fold_weights(study_path: Path, number: int, fingerprint: str, folds: int, fold_seed: int):
    """Trial ``number``'s weights per fold (a list, fold 0 first: the folds it trained), or None
    when none were kept for this dataset and these folds."""
    path = _file(study_path, number)
    try:
        with np.load(path, allow_pickle=False) as z:
            if (str(z["fingerprint"]) != fingerprint or int(z["folds"]) != folds
                    or int(z["fold_seed"]) != fold_seed):
                return None
            out = []
            for f in range(int(z["trained"])):
                n = sum(1 for k in z.files if k.startswith(f"f{f}_"))
                out.append([z[f"f{f}_{i}"] for i in range(n)])
            return out
    except (OSError, KeyError, ValueError):  # absent, half-copied, or pruned by another worker
        return None


def has_fold_weights(study_path: Path, number: int) -> bool:
    return _file(study_path, number).is_file()


def remove_fold_weights(study_path: Path, numbers) -> None:
    """Remove the fold weights kept for these trials (those that fell out of the best)."""
    for number in numbers:
        _file(study_path, number).unlink(missing_ok=True)


def build_fold_model(spec, dataset, fold: int, folds: int, fold_seed: int, weights, seed: int, specs=None):
    """Fold ``fold``'s model of ``spec``: built with that fold's own statistics (the inputs'
    scaling, a regression head's targets) and given the weights it ended its fold with.
    ``specs``: a list that gets the (DataSpec, TaskSpec) it was built with (a streaming export
    rebuilds it from them)."""
    from .candidate import build_candidate, fresh_session

    part = dataset.fold(fold, folds, fold_seed)
    fresh_session(seed)
    data_spec = part.data_spec()
    if specs is not None:
        specs.append((data_spec, part.task_spec))
    model = build_candidate(spec, data_spec, part.task_spec, None).model
    model.set_weights(weights)
    return model
