"""--timeout bounds the whole command: trial shares, the too-slow stop, finalist-only folds and
the ranking rule, seeds pruned like any trial, a retrain shortened to fit."""

import importlib.util
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from search_spaces import SearchSpace
from seqsearch import budget as B
from seqsearch.engines import OptunaEngine
from seqsearch.engines.base import TrialRecord
from seqsearch.errors import TrialPruned
from seqsearch.training import TrialOutcome

from conftest import REPO as ROOT


def _record(number, best_epoch, epoch_seconds, first=None, value=1.0):
    attrs = {"best_epoch": best_epoch, "epoch_seconds": epoch_seconds, "first_epoch_seconds": first or epoch_seconds}
    return TrialRecord(number=number, state="complete", value=value, spec={}, attrs=attrs)


def test_retrain_estimate_counts_tracing_once_and_scales_with_the_data():
    r = _record(0, best_epoch=9, epoch_seconds=1.0, first=4.0)
    assert B.retrain_seconds(r.attrs, 1.0) == pytest.approx(4.0 + 9 * 1.0)
    assert B.retrain_seconds(r.attrs, 1.25) == pytest.approx(1.25 * 13.0)


def test_plan_finish_keeps_everything_that_fits():
    members = [_record(0, 9, 1.0), _record(1, 4, 1.0)]
    plan = B.plan_finish(members, 100.0, 1.0)
    assert [r.number for r in plan.members] == [0, 1] and plan.epochs == [10, 5] and plan.note is None


def test_plan_finish_drops_members_before_it_cuts_epochs():
    members = [_record(0, 9, 1.0), _record(1, 9, 1.0), _record(2, 9, 1.0)]
    plan = B.plan_finish(members, 21.0, 1.0)
    assert [r.number for r in plan.members] == [0, 1] and plan.epochs == [10, 10]
    assert plan.note.startswith("budget: averaging the best 2 of 3 trials")


def test_plan_finish_shortens_the_best_trial_and_says_so():
    members = [_record(3, 39, 1.0, first=5.0), _record(4, 9, 1.0)]
    plan = B.plan_finish(members, 15.0, 1.0)
    assert [r.number for r in plan.members] == [3]
    assert plan.epochs == [11]  # the first epoch (5 s) and ten more of 1 s
    assert "retraining trial #3 for 11 of its 40 epochs" in plan.note and "1 other trial(s) left out" in plan.note
    # Nothing left at all: still one epoch, never zero.
    assert B.plan_finish(members, -5.0, 1.0).epochs == [1]


def test_the_retrain_may_use_a_little_of_the_allowed_overrun():
    b = B.Budget(300.0, started=time.perf_counter() - 290.0)  # 10 s left
    assert b.retrain_left() == pytest.approx(10.0 - B.FINISH_OVERHEAD_S + B.FINISH_SLACK * 300, abs=0.5)
    # A retrain of 4 one-second epochs with 1 s too few in hand runs whole, within 1.1 x T.
    members = [_record(0, 3, 1.0, first=1.0)]
    assert B.plan_finish(members, 3.0, 1.0).epochs == [3]
    assert B.plan_finish(members, 3.0 + B.FINISH_SLACK * 300, 1.0).epochs == [4]
    assert B.Budget(None).retrain_left() == math.inf


def test_no_timeout_means_no_bound():
    b = B.Budget(None)
    assert not b.bounded and b.search_deadline() is None and b.trial_share() is None and math.isinf(b.left())
    plan = B.plan_finish([_record(0, 99, 10.0)], b.left(), 1.0)
    assert plan.epochs == [100] and plan.note is None


def test_shares_reserve_and_the_first_trial():
    b = B.Budget(300.0)
    assert b.reserve == B.FINISH_OVERHEAD_S
    b.set_reserve(1000.0)
    assert b.reserve == pytest.approx(B.RESERVE_SHARE * 300)  # capped
    b.set_reserve(30.0)
    assert b.search_deadline() == pytest.approx(b.end - 30.0)
    share = b.trial_share()
    assert share == pytest.approx((300 - 30) / B.TRIAL_SHARES, rel=0.01)
    # Before anything completed, a trial gets a small share: a first result comes fast.
    assert b.trial_share(first=True) == pytest.approx(max(B.FIRST_SHARE * 300, B.FIRST_MIN_S))
    assert B.Budget(60.0).trial_share(first=True) == B.FIRST_MIN_S
    # Too slow only past an ordinary trial's least share (the first trial), or its own share.
    assert b.reach(True) == B.MIN_SHARE_S and b.reach(False) is None and B.Budget(None).reach(True) is None
    assert B.Budget(3600.0).trial_share(first=True) == pytest.approx(B.FIRST_SHARE * 3600)
    # A short budget still gives a trial a few seconds, never more than half what is left.
    short = B.Budget(10.0)
    left = short.search_left()
    assert 0 < short.trial_share() <= left / 2


def test_until_a_trial_completes_the_search_may_run_a_little_past_its_end():
    b = B.Budget(10.0, started=time.perf_counter() - 12.0)  # 2 s past the end
    assert b.search_over(completed=True)
    assert not b.search_over(completed=False)
    assert b.trial_share(completed=False) == B.MIN_SHARE_S
    late = B.Budget(10.0, started=time.perf_counter() - 10.0 - B.OVERRUN_S - 5)
    assert late.search_over(completed=False)
    assert not B.Budget(None).search_over(completed=False)


def test_a_finalists_later_folds_take_about_as_long_as_its_first():
    assert B.Budget(None).fold_share(10.0) is None
    assert B.Budget(300.0).fold_share(10.0) == pytest.approx(B.FOLD_SHARE * 10.0)


def test_a_fold_stopped_by_its_share_does_not_end_the_cross_validation(monkeypatch):
    from seqsearch import training
    from seqsearch.data import load_dataset

    calls = []

    def fake_fit(spec, dataset, **kw):
        calls.append(kw)
        return TrialOutcome(state="complete", value=0.5, best_epoch=3, epochs_run=4, reason="stopped in epoch 4 at "
                            "the end of its 5 s share of the budget", budget_stop="share", metrics={"val_loss": 0.5})

    monkeypatch.setattr(training, "fit_candidate", fake_fit)
    from conftest import make_classification

    X, y = make_classification()
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        np.savez(Path(d) / "c.npz", X=X, y=y)
        ds = load_dataset(Path(d) / "c.npz", seed=0)
    first = TrialOutcome(state="complete", value=0.3, best_epoch=3, epochs_run=4, seconds=5.0, metrics={"val_loss": 0.3})
    out = training.cross_validate(first, {}, ds, 3, max_epochs=50, seed=0, fold_share=5.5)
    assert len(out.fold_values) == 3 and out.reason is None
    assert all(kw["share"] == 5.5 and kw["min_epochs"] == 1 for kw in calls)


def test_a_worker_budget_ends_with_the_main_process():
    main = B.Budget(100.0)
    worker = B.Budget.until(100.0, main.end_wall())
    assert worker.end == pytest.approx(main.end, abs=0.05)


def _fake_engine(tmp_path, n_queued, n_trials):
    """An Optuna study with the default pruner (successive halving) whose first queued spec
    learns well and the other queued ones badly, then sampled ones."""
    (tmp_path / "s").mkdir(exist_ok=True)
    engine = OptunaEngine("s", tmp_path / "s", max_epochs=30, sampler="random", pruner="sha").open()
    space = SearchSpace(families=["rnn"])
    seeds = {f"seed{i}": space.default_spec("rnn", {"train.learning_rate": 1e-3 if i == 0 else 1e-2})
             for i in range(n_queued)}
    engine.enqueue(seeds)

    def evaluate(ctx):
        spec = space.sample(ctx.hp)
        gap = abs(math.log10(spec["train.learning_rate"]) + 3)
        losses = []
        try:
            for epoch in range(30):
                losses.append(1 / (epoch + 1) + gap)
                ctx.report(epoch, losses[-1])
        except TrialPruned as e:
            return TrialOutcome(state="pruned", value=min(losses), reason=e.reason)
        return TrialOutcome(state="complete", value=min(losses), best_epoch=len(losses) - 1)

    engine.search(evaluate, n_trials=n_trials)
    return engine


def test_warm_start_specs_are_pruned_like_any_trial(tmp_path):
    engine = _fake_engine(tmp_path, n_queued=4, n_trials=6)
    seeds = [r for r in engine.records() if "warm_start" in r.attrs]
    assert len(seeds) == 4
    assert seeds[0].state == "complete"
    pruned = [r for r in seeds[1:] if r.state == "pruned"]
    assert pruned, [(r.number, r.state) for r in seeds]
    # At the first rung (epoch 3), not after a full training.
    assert all(r.attrs.get("reason", "").startswith("pruned after epoch 4") for r in pruned)


def test_the_search_stops_when_told(tmp_path):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 2

    (tmp_path / "s").mkdir()
    engine = OptunaEngine("s", tmp_path / "s", sampler="random", pruner="none").open()
    space = SearchSpace(families=["rnn"])

    def evaluate(ctx):
        space.sample(ctx.hp)
        return TrialOutcome(state="complete", value=1.0, best_epoch=0)

    engine.search(evaluate, n_trials=50, stop=stop)
    assert len(engine.records()) == 3  # asked after each trial: the third says stop


def test_too_slow_trials_are_infeasible_for_the_sampler(tmp_path):
    import optuna

    from seqsearch.engines.optuna_engine import TOO_SLOW_CONSTRAINT

    (tmp_path / "s").mkdir()
    engine = OptunaEngine("s", tmp_path / "s", sampler="tpe", pruner="none").open()
    space = SearchSpace(families=["rnn"])

    def evaluate(ctx):
        space.sample(ctx.hp)
        if ctx.number == 0:
            return TrialOutcome(state="pruned", value=0.1, reason="too slow for the budget", too_slow=True)
        return TrialOutcome(state="complete", value=1.0, best_epoch=0)

    engine.search(evaluate, n_trials=2)
    slow, ok = engine.study.get_trials()
    assert slow.state == optuna.trial.TrialState.PRUNED and slow.constraints == {TOO_SLOW_CONSTRAINT: 1.0}
    assert ok.constraints == {}
    # TPE puts it below the feasible trials, even one with a worse loss.
    from optuna.samplers._tpe.sampler import _split_trials

    below, above = _split_trials(engine.study, [slow, ok], 1)
    assert below == [ok] and above == [slow]


# -- with TensorFlow ---------------------------------------------------------------------------


def _long_series(tmp_path, n_train=48, n_test=24, length=400):
    spec = importlib.util.spec_from_file_location("make_long_series", ROOT / "examples" / "data" / "make_long_series.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path / "long.npz"
    np.savez(path, **module.make(n_train, n_test, length, seed=3))
    return path


def test_a_candidate_that_cannot_reach_three_epochs_in_its_share_is_pruned_as_too_slow(clf_npz):
    from seqsearch.data import load_dataset
    from seqsearch.training import TOO_SLOW, fit_candidate

    ds = load_dataset(clf_npz, seed=0)
    spec = SearchSpace(families=["rnn"], data_spec=ds.data_spec(), task_spec=ds.task_spec).default_spec("rnn")
    # Tracing does not count against the share, training does: three epochs cannot fit in 1 ms.
    o = fit_candidate(spec, ds, max_epochs=50, seed=0, share=0.001, min_epochs=3)
    assert o.state == "pruned" and o.too_slow and o.reason.startswith(TOO_SLOW), o.reason
    assert "tracing" in o.reason and o.trace_seconds > 0
    assert o.epochs_run < 3 and o.first_epoch_seconds > 0
    # Tracing longer than its allowance is too slow as well.
    o = fit_candidate(spec, ds, max_epochs=50, seed=0, share=5.0, min_epochs=3, trace_cap=0.001)
    assert o.state == "pruned" and o.too_slow and "tracing its graphs took" in o.reason, o.reason
    # The run's first trial: a share too short for three epochs, but a reach they fit in. It
    # trains past its share to them and completes, at the end of its share.
    o = fit_candidate(spec, ds, max_epochs=50, seed=0, share=0.001, min_epochs=3, reach=60.0)
    assert o.state == "complete" and not o.too_slow and o.epochs_run == 3, o.reason
    assert "share of the budget" in o.reason, o.reason


def test_a_share_excludes_tracing_and_the_leader_is_granted_more(clf_npz, monkeypatch):
    from seqsearch import fit_callbacks
    from seqsearch.data import load_dataset
    from seqsearch.training import fit_candidate

    ds = load_dataset(clf_npz, seed=0)
    spec = SearchSpace(families=["rnn"], data_spec=ds.data_spec(), task_spec=ds.task_spec).default_spec("rnn")
    spec = {**spec, "train.patience": 100_000}
    # A share shorter than the tracing (seconds on any machine) still trains its epochs: the
    # trial stops at the share's end, complete, with the tracing measured apart.
    o = fit_candidate(spec, ds, max_epochs=10_000, seed=0, share=1.0, min_epochs=3)
    assert o.state == "complete" and not o.too_slow and "share of the budget" in o.reason, o.reason
    assert o.epochs_run >= 3 and o.epoch_seconds > 0 and o.trace_seconds > 0.2
    assert o.seconds > 1.0 + o.trace_seconds * 0.9
    asked = []
    monkeypatch.setattr(fit_callbacks, "still_improving", lambda history: True)

    def extend(best, granted):  # leads twice, then no longer
        asked.append((best, granted))
        return 1.0 if len(asked) <= 2 else 0.0

    o = fit_candidate(spec, ds, max_epochs=10_000, seed=0, share=1.0, min_epochs=1, extend=extend)
    assert o.state == "complete" and "3 s share of the budget (extended from 1 s while it led" in o.reason, o.reason
    assert [g for _, g in asked] == [1.0, 2.0, 3.0] and all(b >= o.value for b, _ in asked)


def test_with_parallel_processes_only_the_first_trial_gets_the_short_share_and_a_leader_is_seen():
    from seqsearch.evaluate import is_first, leads_split

    def rec(number, state, value=None, **attrs):
        return TrialRecord(number=number, state=state, value=value, spec={}, attrs=attrs)

    # #1 starts in a second process while #0 still trains its first fold: #1 is not the first.
    assert is_first(0, [rec(0, "running"), rec(1, "waiting"), rec(2, "waiting")])  # queued specs wait
    assert not is_first(1, [rec(0, "running"), rec(1, "running"), rec(2, "waiting")])
    assert not is_first(5, [rec(0, "complete", 0.5), rec(5, "running")])  # a resumed study
    # #1's share ends while #0 is cross-validating (its first fold done): #1 may lead against it.
    records = [rec(0, "running", split_value=1.0), rec(1, "running")]
    assert leads_split(1, 0.9, records) and not leads_split(1, 1.1, records)
    assert not leads_split(1, 0.9, [rec(0, "running"), rec(1, "running")])  # nothing measured yet
    # A completed trial counts by its first fold; a pruned one not at all.
    records = [rec(0, "complete", 0.7, split_value=0.8), rec(2, "pruned", 0.1), rec(1, "running")]
    assert leads_split(1, 0.75, records) and not leads_split(1, 0.85, records)


def test_only_a_trial_still_improving_may_train_on():
    from seqsearch.fit_callbacks import still_improving

    def h(*losses):
        return [{"val_loss": v} for v in losses]

    assert still_improving(h(3, 2, 1))
    assert still_improving(h(5, 4, 3, 2, 1, 1.5, 1.6))  # best 3 epochs ago: the last 3 count
    assert not still_improving(h(5, 1, 2, 3, 4, 5))
    # Over 12 epochs the last quarter counts.
    assert still_improving(h(*range(20, 4, -1), 6, 7, 8, 9))
    assert not still_improving(h(*range(20, 4, -1), 6, 7, 8, 9, 10, 11))
    # A gain of a hair (under 1% of the best before) is a plateau, not progress.
    assert not still_improving(h(1.40, 1.35, 1.33, 1.3231, 1.34, 1.33, 1.3225, 1.35, 1.36))
    assert still_improving(h(1.40, 1.35, 1.33, 1.3231, 1.34, 1.33, 1.30, 1.35, 1.36))
    assert not still_improving(h(0.5, 0.5, 0.5))  # with 3 epochs: against the first
    assert not still_improving(h(float("nan")))
    assert not still_improving(h(1.0))


def test_the_leaders_extension_is_capped():
    b = B.Budget(300.0)
    left = b.search_left()
    assert b.extension(10.0, left, granted=10.0) == pytest.approx(10.0)
    cap = B.LEADER_SHARE * left
    assert b.extension(10.0, left, granted=cap - 4.0) == pytest.approx(4.0, abs=0.01)
    assert b.extension(10.0, left, granted=cap) == 0.0
    # What its other folds and retrain will cost counts too: 3 folds and a retrain, 4.45 s per second.
    later = B.FOLD_SHARE * 2 + 1.25
    assert b.extension(10.0, left, granted=cap / (1 + later), later=later) == 0.0
    assert b.extension(10.0, left, granted=cap / (1 + later) - 10.0, later=later) == pytest.approx(10.0, abs=0.01)
    # Never more than the search time left now allows.
    late = B.Budget(300.0, started=time.perf_counter() - 250.0)
    assert late.extension(10.0, left, granted=10.0, later=later) == pytest.approx(late.search_left() / (1 + later), abs=0.05)
    assert B.Budget(None).extension(None, math.inf, 1.0) == 0.0
    assert b.trace_cap(5.0) == B.TRACE_S and b.trace_cap(60.0) == 60.0 and b.trace_cap(None) is None


def test_long_series_are_searched_behind_a_front_that_shortens_them(tmp_path):
    from search_spaces import build_model, seed_specs
    from seqsearch.data import load_dataset

    ds = load_dataset(_long_series(tmp_path, length=1000), seed=0)
    space = SearchSpace(data_spec=ds.data_spec(), task_spec=ds.task_spec)
    kind = next(p for p in space.params("front") if p.name == "kind")
    assert kind.options == ("patch", "conv", "pool") and kind.get_default() == "patch"
    seeds = seed_specs(space)
    assert seeds and all(s["front.kind"] == "patch" and s["front.patch"] == 8 for s in seeds.values())
    model = build_model(seeds["seed000_transformer"], ds.data_spec(), ds.task_spec)
    # The attention behind the front sees 1000 / 8 = 125 steps.
    assert model.get_layer("front_norm").output.shape[1] == 125
    # The convolutional family reads every step (global average pooling, linear cost): no front.
    conv = space.default_spec("conv")
    assert not any(k.startswith("front.") for k in conv) and space.validate_spec(conv) == conv
    assert build_model(conv, ds.data_spec(), ds.task_spec).get_layer("fcn_2_relu").output.shape[1] == 1000
    # Fixing any front parameter leaves the whole front end to the user, for every family.
    mine = SearchSpace(data_spec=ds.data_spec(), task_spec=ds.task_spec, fixed={"front.kind": "none"})
    assert next(p for p in mine.params("front") if p.name == "kind").options == ("none",)
    assert mine.default_spec("conv")["front.kind"] == "none"
    stacked = SearchSpace(data_spec=ds.data_spec(), task_spec=ds.task_spec, fixed={"front.kind": "conv"})
    spec = stacked.default_spec("rnn", {"front.layers": 3, "front.stride": 4})
    model = build_model(spec, ds.data_spec(), ds.task_spec)
    assert model.get_layer("front_relu_2").output.shape[1] == 250  # three blocks, the first strided


def _run(dataset, tmp_path, **options):
    import seqsearch
    from seqsearch.progress import Console

    return seqsearch.run(dataset, workdir=tmp_path / "runs", console=Console(quiet=True), seed=0, **options)


def test_parallel_by_default_only_under_a_long_enough_timeout(monkeypatch):
    monkeypatch.setattr(B, "available_bytes", lambda: None)  # this machine's memory does not decide here
    monkeypatch.setattr(B, "usable_cores", lambda: 8)
    assert B.auto_jobs(300.0) == B.AUTO_JOBS_MAX == 4  # one per core, at most 4
    assert B.auto_jobs(B.AUTO_JOBS_MIN_TIMEOUT) == 4
    assert B.auto_jobs(B.AUTO_JOBS_MIN_TIMEOUT - 1) == 1  # a worker's start-up would not pay
    assert B.auto_jobs(None) == 1  # no --timeout: one process, the same trials for the same seed
    assert B.auto_jobs(300.0, engine="kerastuner") == 1
    monkeypatch.setattr(B, "usable_cores", lambda: 2)
    assert B.auto_jobs(300.0) == 2
    assert B.auto_jobs(300.0, gpus=3) == 3  # on GPUs: one process per GPU, whatever the cores
    assert B.auto_jobs(60.0, gpus=3) == 1
    # No more processes than half the available memory holds, each with its copy of the data.
    monkeypatch.setattr(B, "usable_cores", lambda: 4)
    monkeypatch.setattr(B, "available_bytes", lambda: 8 * 2**30)
    assert B.auto_jobs(300.0) == 2  # 4 GB for processes of 1.5 GB
    assert B.auto_jobs(300.0, data_bytes=2.5 * 2**30) == 1
    monkeypatch.setattr(B, "available_bytes", lambda: None)  # unknown: cores decide
    assert B.auto_jobs(300.0, data_bytes=2.5 * 2**30) == 4


def test_the_run_chooses_the_jobs_and_an_explicit_jobs_wins(monkeypatch, tmp_path):
    from conftest import make_classification
    from seqsearch.config import RunConfig
    from seqsearch.errors import SeqsearchError

    assert RunConfig(dataset="x.npz", timeout=300.0).jobs is None  # chosen once the data is loaded
    assert RunConfig(dataset="x.npz", timeout=300.0, jobs=3).jobs == 3
    with pytest.raises(SeqsearchError, match="--jobs must be an integer"):
        RunConfig(dataset="x.npz", jobs=0)
    # Through the run: the resolved count is what the study's run_config.json records and what
    # the workers get. 119 s is under the threshold: one process, even on many cores.
    monkeypatch.setattr(B, "usable_cores", lambda: 4)
    X, y = make_classification(n=30, t=6, f=1)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    r = _run(tmp_path / "d.npz", tmp_path, trials=1, max_epochs=1, folds=1, timeout=119.0,
             families=["rnn"], warm_start="none")
    assert json.loads((r.study_path / "run_config.json").read_text())["jobs"] == 1


@pytest.mark.slow
def test_a_tiny_budget_with_a_slow_candidate_finishes_in_time(tmp_path):
    data = _long_series(tmp_path, n_train=64, length=600)
    space_file = tmp_path / "specs.json"
    # First a slow candidate (three 128-unit bidirectional LSTM layers over 300 steps), then a fast one.
    space_file.write_text(json.dumps([
        {"family": "rnn", "rnn.cell": "lstm", "rnn.layers": 3, "rnn.units": 128, "rnn.bidirectional": True,
         "front.kind": "conv", "front.stride": 2},
        {"family": "rnn", "rnn.cell": "gru", "rnn.layers": 1, "rnn.units": 16, "front.kind": "pool", "front.pool": 8},
    ]))
    timeout = 45.0
    started = time.perf_counter()
    # Two processes (as a longer --timeout gets by default): a worker ends with the main process's clock.
    r = _run(data, tmp_path, trials=1000, timeout=timeout, specs_file=str(space_file), folds=1, ensemble=1, jobs=2)
    wall = time.perf_counter() - started
    assert wall <= 1.1 * timeout + 15, wall
    engine = OptunaEngine(r.study, r.study_path).load()
    records = engine.records()
    slow = records[0]
    assert slow.state == "pruned" and slow.attrs.get("too_slow") is True
    assert slow.attrs["reason"].startswith("too slow for the budget"), slow.attrs["reason"]
    # Both processes trained trials (a trial queued but never started has no worker), and none
    # was left running.
    assert len({t.attrs["worker"] for t in records if "worker" in t.attrs}) == 2, [(t.number, t.state) for t in records]
    assert not [t for t in records if t.state == "running"], [(t.number, t.state) for t in records]
    assert r.states["complete"] >= 1 and (r.study_path / "best" / "model.keras").is_file()


def test_a_finalist_is_among_the_best_first_folds_and_within_the_leaders_folds():
    from seqsearch.evaluate import not_finalist

    assert not_finalist(1.30, 0, 3, 3, None) is None  # the first to complete
    assert not_finalist(1.36, 1, 3, 3, (1, 1.37)) is None  # within the best one's folds
    why = not_finalist(1.389, 1, 3, 3, (1, 1.3695))
    assert why.startswith("not a finalist") and "worse than every fold of #1" in why and "(worst fold 1.369)" in why
    why = not_finalist(0.5, 3, 3, 3, (1, 2.0))
    assert why.startswith("not a finalist") and "3 trials did better" in why


@pytest.mark.slow
def test_only_finalists_are_cross_validated_and_only_they_rank(tmp_path):
    import mlflow

    from seqsearch.status import study_status

    from conftest import make_classification

    X, y = make_classification(n=60, t=12)
    data = tmp_path / "d.npz"
    np.savez(data, X=X, y=y)
    specs = tmp_path / "specs.json"
    base = {"family": "rnn", "rnn.cell": "gru", "rnn.layers": 1, "rnn.units": 16, "front.kind": "none",
            "train.patience": 10}
    # A trial that learns, then one that barely moves in 8 epochs (learning rate 1e-4): not a finalist.
    specs.write_text(json.dumps([{**base, "train.learning_rate": 1e-2}, {**base, "train.learning_rate": 1e-4}]))
    r = _run(data, tmp_path, trials=2, max_epochs=8, folds=2, ensemble=1, warm_start=False, specs_file=str(specs),
             pruner="none")
    engine = OptunaEngine(r.study, r.study_path).load()
    first, second = engine.records()
    assert first.state == "complete" and len(first.attrs["fold_values"]) == 2
    # Among the 3 best, but worse than every fold of the cross-validated one.
    assert second.state == "pruned" and second.attrs["reason"].startswith("not a finalist"), second.attrs
    assert "worse than every fold of #0" in second.attrs["reason"], second.attrs["reason"]
    assert second.attrs["split_value"] > max(first.attrs["fold_values"])
    assert "fold_values" not in second.attrs and second.attrs["split_value"] > first.attrs["split_value"]
    # Ranked nowhere above the finalist: leaderboard, status, MLflow's best_val_loss.
    assert [row["trial"] for row in r.leaderboard] == [0]
    assert study_status(r.study, tmp_path / "runs")["leaderboard"] == [0]
    client = mlflow.MlflowClient(r.tracking_uri)
    runs = {int(run.data.tags["seqsearch.trial"]): run for run in client.search_runs(
        [client.get_experiment_by_name(r.study).experiment_id], "tags.`seqsearch.role` = 'trial'")}
    assert "best_val_loss" in runs[0].data.metrics and "best_val_loss" not in runs[1].data.metrics
    assert "split_best_val_loss" in runs[1].data.metrics

