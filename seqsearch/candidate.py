"""One candidate's model, ready to train: built in a fresh Keras session with the fit function
its recipe needs, and kept over a cross-validated trial's folds.

A later fold of a trial trains the same architecture from the same initial state on other
rows. Building it anew costs a build and, above all, another tracing of its training,
validation and prediction graphs (1.5-3 s a fold on a 400-step series, more than a short
fold's epochs). :class:`TrialModel` keeps the first fold's model and restores its initial
weights and optimiser state for each later fold, so a fold costs its epochs.

The model holds its first fold's input statistics as graph constants (``standardize``). A later
fold's inputs are mapped so that those constants standardise them exactly as the fold's own
statistics would (:func:`fold_inputs`); the recipe's augmentation reads the statistics the
mapped inputs are in. Where no exact mapping exists (regression targets scaled with the fold's
statistics: another head), the fold builds its own model as before."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Candidate", "fresh_session", "release_session", "build_candidate", "TrialModel", "fold_inputs"]


@dataclass
class Candidate:
    model: object  # what is scored and exported
    trainer: object | None  # the teacher-forced model that trains ``model``'s weights (or None)
    fit: object  # fit(X, y, **kw) through the recipe's batch feeding
    n_params: int
    data_spec: object  # the input statistics the model's constants hold
    task_spec: object


def fresh_session(seed: int, policy: str = "float32"):
    """An empty Keras session seeded with ``seed``, building at the dtype ``policy`` ("float32",
    or a mixed one for a trial: ``search_spaces.precision``). Exports always build at float32."""
    import keras

    # Each candidate starts from an empty graph. The garbage of the one before was collected
    # when it ended (a full collection costs ~0.2 s with TensorFlow loaded: once is enough).
    keras.backend.clear_session(free_memory=False)  # also resets the dtype policy to float32
    keras.utils.set_random_seed(seed)
    if policy != "float32":
        keras.config.set_dtype_policy(policy)


# JAX keeps every jitted train and validation step it compiled, models long gone included, and
# Keras does not clear them: a search's memory grew ~60 MB a trial on JAX. Clearing them with
# every trial kept it flat but made trials about 3x slower (the small functions every trial
# shares are compiled again), so they are cleared, and the freed heap handed back, whenever the
# process has grown this much since the last time: a trial's own compilations take ~450 MB
# while it runs, so at 512 MB every other trial paid for a clearing (``benchmarks/backends.py
# --memory``).
JAX_CACHE_GROWTH_MB = 1536.0
_jax_floor_mb: float | None = None  # this process's resident memory after the last clearing


def release_session() -> None:
    """Free the Keras session and the garbage of the models it held; on JAX also its compiled
    functions, once they have grown by ``JAX_CACHE_GROWTH_MB``."""
    global _jax_floor_mb
    import keras

    keras.backend.clear_session()
    if keras.backend.backend() != "jax":
        return
    from .measure import process_rss_mb

    rss = process_rss_mb()
    if _jax_floor_mb is None:
        _jax_floor_mb = rss
    elif rss - _jax_floor_mb > JAX_CACHE_GROWTH_MB:
        import jax

        jax.clear_caches()
        _return_freed_memory()
        _jax_floor_mb = process_rss_mb()


def _return_freed_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc), so that resident memory shows
    what the caches' clearing freed; elsewhere nothing."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def build_candidate(spec, data_spec, task_spec, max_params) -> Candidate | None:
    """The model to score and export and a ``fit(X, y, **kw)`` that trains it, through the
    teacher-forced trainer where the family has one (its second input is the targets;
    validation still runs the model's own autoregressive graph). Over ``max_params``: a
    candidate without a model (its ``n_params`` says by how much)."""
    from search_spaces import build_models, compile_model

    model, trainer = build_models(spec, data_spec, task_spec)
    n_params = int(model.count_params())
    if max_params is not None and n_params > max_params:
        return Candidate(None, None, None, n_params, data_spec, task_spec)
    if trainer is None:
        compile_model(model, spec, task_spec)
    else:
        compile_model(trainer, spec, task_spec)
        compile_model(model, spec, task_spec, optimizer=trainer.optimizer)
    fit = fitter(spec, model, trainer, data_spec, task_spec)
    return Candidate(model, trainer, fit, n_params, data_spec, task_spec)


def fitter(spec, model, trainer, data_spec, task_spec):
    """``fit(X, y, **kw)`` for a built model: the recipe's batch transform (its augmentation
    scaled by ``data_spec``'s statistics) and label targets, or the teacher-forced trainer."""
    from .augment import batch_transform
    from .feeding import fit_batched

    if trainer is None:
        transform, targets = batch_transform(spec, data_spec, task_spec)

        def fit(X, y, **kw):
            return fit_batched(model.fit, X, y, transform=transform, targets=targets, **kw)

        return fit

    def fit(X, y, validation_data=None, **kw):
        if validation_data is not None:
            Xv, yv = validation_data
            validation_data = ([Xv, yv], yv)
        return fit_batched(trainer.fit, [X, y], y, validation_data=validation_data, **kw)

    return fit


def fold_inputs(X, first, fold, global_scaling: bool):
    """``X`` of a fold whose own input statistics are ``fold`` (a DataSpec), mapped for a model
    whose constants hold ``first``'s: ``(x - m_fold) / s_fold * s_first + m_first`` on the
    channels the model standardises with constants (the dynamic ones under global scaling,
    static ones always), so that ``(x' - m_first) / s_first`` is the fold's own standardised
    input. Per-series and unscaled channels, the mask channel and token ids are left as they
    are. Returns ``X`` itself when nothing changes."""
    from search_spaces.scaling import feature_std

    n_static, masked = int(first.n_static), bool(getattr(first, "masked", False))
    n_dynamic = int(first.n_features) - n_static - int(masked)
    channels = list(range(n_dynamic)) if global_scaling and not getattr(first, "vocabulary", None) else []
    channels += list(range(n_dynamic, n_dynamic + n_static))
    if not channels:
        return X
    m0, s0 = np.asarray(first.feature_mean, np.float64), feature_std(first.feature_var).astype(np.float64)
    mf, sf = np.asarray(fold.feature_mean, np.float64), feature_std(fold.feature_var).astype(np.float64)
    out = np.array(X, dtype=np.float32, copy=True)
    for c in channels:
        out[..., c] = ((X[..., c] - mf[c]) / sf[c] * s0[c] + m0[c]).astype(np.float32)
    return out


class TrialModel:
    """One trial's model kept from its first fold for its later ones (see the module's note).
    ``release()`` (always, when the trial ends) frees it with the Keras session."""

    def __init__(self):
        self.kept = None  # (spec, candidate, initial weights of model and trainer, optimiser state)
        self.off = False  # a fold needed a model of its own: every later fold builds its own too

    def keep(self, spec, candidate: Candidate) -> None:
        if self.off or self.kept is not None:
            return
        trains = candidate.trainer or candidate.model
        weights = [m.get_weights() for m in (candidate.model, candidate.trainer) if m is not None]
        optimizer = [np.array(v.numpy()) for v in trains.optimizer.variables]
        self.kept = (dict(spec), candidate, weights, optimizer)

    def take(self, spec, dataset, seed: int):
        """``(candidate, X_train, X_val)`` for this fold from the kept model, reset to its
        initial state, with the fold's inputs mapped (``fold_inputs``); None when nothing is
        kept for ``spec`` or the fold needs a model of its own (other target statistics,
        another input shape)."""
        if self.kept is None or self.kept[0] != dict(spec):
            return None
        import keras

        from search_spaces.space import recipe_values

        _, cand, weights, optimizer = self.kept
        first, fold = cand.data_spec, dataset.data_spec()
        same = ("timesteps", "n_features", "n_static", "masked", "vocabulary")
        if (dataset.task_spec.to_dict() != cand.task_spec.to_dict()
                or any(getattr(first, k, None) != getattr(fold, k, None) for k in same)):
            # Folds of one trial differ alike (a regression head's target statistics): the
            # first fold's model is of no further use, and each fold's own is freed as before.
            self.release()
            self.off = True
            return None
        keras.utils.set_random_seed(seed)
        for m, w in zip([m for m in (cand.model, cand.trainer) if m is not None], weights):
            m.set_weights(w)
        for v, value in zip((cand.trainer or cand.model).optimizer.variables, optimizer):
            v.assign(value)
        global_scaling = recipe_values(spec).get("scaling") == "global"
        X_train = fold_inputs(dataset.X_train, first, fold, global_scaling)
        X_val = fold_inputs(dataset.X_val, first, fold, global_scaling)
        # The augmentation is scaled by the statistics the inputs are in: the first fold's where
        # they were mapped, the fold's own where the model scales each series itself.
        stats = first if global_scaling else fold
        fit = fitter(spec, cand.model, cand.trainer, stats, cand.task_spec)
        return Candidate(cand.model, cand.trainer, fit, cand.n_params, first, cand.task_spec), X_train, X_val

    def release(self) -> None:
        if self.kept is not None:
            self.kept = None
            release_session()
