"""A trial's later folds train its first fold's model again (seqsearch.candidate): the kept
model, reset, standardises a fold's mapped inputs exactly as a model built on the fold's own
statistics standardises the raw ones, and starts from the same weights."""

import numpy as np
import pytest

from conftest import make_classification, make_regression
from search_spaces import SearchSpace
from search_spaces.scaling import feature_std
from seqsearch.candidate import TrialModel, build_candidate, fold_inputs, fresh_session
from seqsearch.data.dataset import RawArrays
from seqsearch.data.framing import frame_task
from seqsearch.training import cross_validate, fit_candidate

CLF = frame_task(RawArrays(*make_classification(n=60, t=8, f=2)), name="waves", source="generated")
REG = frame_task(RawArrays(*make_regression(n=60, t=8, f=2)), name="level", source="generated")


def _spec(ds, scaling="global", augment="none"):
    space = SearchSpace(["conv"], {}, data_spec=ds.data_spec(), task_spec=ds.task_spec)
    return space.default_spec("conv", overrides={"train.scaling": scaling, "train.augment": augment,
                                                "train.batch_size": 16})


def test_mapped_inputs_standardise_as_the_folds_own_statistics_do():
    rng = np.random.default_rng(0)
    # Two dynamic channels (the second constant in the first fold), two static ones, a mask.
    X = rng.normal(3.0, 2.0, size=(20, 5, 5)).astype(np.float32)
    X[:, :, 4] = (rng.random((20, 5)) > 0.3).astype(np.float32)

    class Spec:
        n_features, n_static, masked, vocabulary = 5, 2, True, []

    first, fold = Spec(), Spec()
    first.feature_mean, first.feature_var = [1.0, 7.0, -2.0, 0.5, 0.0], [4.0, 0.0, 9.0, 0.25, 1.0]
    fold.feature_mean, fold.feature_var = [1.5, 6.0, -1.0, 0.4, 0.0], [2.0, 3.0, 16.0, 1.0, 1.0]
    mapped = fold_inputs(X, first, fold, global_scaling=True)
    m0, s0 = np.array(first.feature_mean), feature_std(first.feature_var)
    mf, sf = np.array(fold.feature_mean), feature_std(fold.feature_var)
    np.testing.assert_allclose((mapped[..., :4] - m0[:4]) / s0[:4], (X[..., :4] - mf[:4]) / sf[:4], atol=1e-5)
    assert np.array_equal(mapped[..., 4], X[..., 4])  # the mask channel is left alone
    # Per-series scaling: the model does not standardise dynamic channels with constants.
    per_series = fold_inputs(X, first, fold, global_scaling=False)
    assert np.array_equal(per_series[..., :2], X[..., :2])
    np.testing.assert_allclose(per_series[..., 2:4], mapped[..., 2:4])
    Spec.n_features, Spec.n_static, Spec.masked = 2, 0, False
    plain = X[..., :2]
    np.testing.assert_allclose((fold_inputs(plain, first, fold, True)[..., 0] - m0[0]) / s0[0],
                               (plain[..., 0] - mf[0]) / sf[0], atol=1e-5)
    assert fold_inputs(plain, first, fold, global_scaling=False) is plain  # nothing to map


@pytest.mark.parametrize("scaling", ["global", "per_series"])
def test_a_later_fold_trains_the_kept_model_from_the_state_a_new_build_starts_in(scaling):
    spec = _spec(CLF, scaling)
    models = TrialModel()
    try:
        first = fit_candidate(spec, CLF, max_epochs=2, seed=5, models=models)
        assert first.state == "complete" and models.kept is not None
        kept_model = models.kept[1].model
        fold = CLF.fold(1, 3, seed=0)
        assert fold.data_spec().feature_mean != CLF.data_spec().feature_mean
        cand, X_train, X_val = models.take(spec, fold, seed=5)
        assert cand.model is kept_model  # not built again
        assert cand.model.optimizer.iterations.numpy() == 0  # the optimiser starts over too
        reset = cand.model.predict(X_val, verbose=0)
    finally:
        models.release()
    assert models.kept is None
    fresh_session(5)
    new = build_candidate(spec, fold.data_spec(), fold.task_spec, None)
    np.testing.assert_allclose(reset, new.model.predict(fold.X_val, verbose=0), atol=1e-5)


def test_cross_validation_builds_one_model_for_all_folds(monkeypatch):
    from seqsearch import candidate

    builds = []
    real = candidate.build_candidate

    def counting(*a, **k):
        builds.append(1)
        return real(*a, **k)

    monkeypatch.setattr("seqsearch.training.build_candidate", counting)
    spec = _spec(CLF, "global", augment="jitter")
    models = TrialModel()
    try:
        first = fit_candidate(spec, CLF, max_epochs=2, seed=1, models=models)
        out = cross_validate(first, spec, CLF, 3, max_epochs=2, seed=1, models=models)
    finally:
        models.release()
    assert out.state == "complete" and len(out.fold_values) == 3 and np.isfinite(out.fold_values).all()
    assert len(builds) == 1


def test_a_fold_with_its_own_target_statistics_builds_its_own_model():
    spec = _spec(REG)
    models = TrialModel()
    try:
        assert fit_candidate(spec, REG, max_epochs=1, seed=0, models=models).state == "complete"
        assert models.take({**spec, "train.batch_size": 8}, REG.fold(1, 3, seed=0), seed=0) is None  # another spec
        assert models.kept is not None
        assert models.take(spec, REG.fold(1, 3, seed=0), seed=0) is None  # the head holds the targets' statistics
        # Released at once, and later folds build (and free) their own models.
        assert models.kept is None and models.off
        assert fit_candidate(spec, REG.fold(2, 3, seed=0), max_epochs=1, seed=0, models=models).state == "complete"
        assert models.kept is None
    finally:
        models.release()
