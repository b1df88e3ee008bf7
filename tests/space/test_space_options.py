"""Shaping the space: --space files, --cudnn-only, warm-start seeds."""

import optuna
import pytest

from search_spaces import OptunaHP, SearchSpace, cudnn_eligible, seed_specs
from seqsearch.errors import SeqsearchError
from seqsearch.space_file import load_space_file


def test_toml_space_file(tmp_path):
    f = tmp_path / "space.toml"
    f.write_text(
        'families = ["rnn", "transformer"]\ncudnn_only = true\n'
        '[set]\n"rnn.units" = [32, 64]\n"train.learning_rate" = [0.0005, 0.005]\n'
        "[set.transformer]\nblocks = 2\n"
    )
    shaped = load_space_file(f)
    assert shaped == {
        "families": ["rnn", "transformer"], "cudnn_only": True,
        "fixed": {"rnn.units": [32, 64], "train.learning_rate": [0.0005, 0.005], "transformer.blocks": 2},
    }
    space = SearchSpace(shaped["families"], shaped["fixed"], cudnn_only=shaped["cudnn_only"])
    spec = space.default_spec("transformer")
    assert spec["transformer.blocks"] == 2 and 0.0005 <= spec["train.learning_rate"] <= 0.005


def test_yaml_space_file(tmp_path):
    f = tmp_path / "space.yaml"
    f.write_text("families: [rnn]\nset:\n  rnn:\n    cell: [gru]\n")
    assert load_space_file(f) == {"families": ["rnn"], "fixed": {"rnn.cell": ["gru"]}}


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("a.toml", "families = [", "is not valid TOML"),
        ("a.toml", "famlies = ['rnn']", "unknown key\\(s\\) \\['famlies'\\]"),
        ("a.toml", "families = 'rnn'", "families must be a list of names"),
        ("a.yaml", "families: [rnn\n", "is not valid YAML"),
        ("a.json", "{}", "use .toml, .yaml or .yml"),
    ],
)
def test_bad_space_files(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(SeqsearchError, match=message):
        load_space_file(tmp_path / name)


def test_cudnn_only_keeps_every_sample_eligible():
    space = SearchSpace(families=["rnn", "rnn_bottleneck"], cudnn_only=True)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        spec = space.sample(OptunaHP(trial))
        study.tell(trial, 0.0)
        assert cudnn_eligible(spec), spec
    assert not cudnn_eligible(SearchSpace().default_spec(overrides={"rnn.cell": "simple_rnn"}))
    assert not cudnn_eligible(SearchSpace().default_spec(overrides={"rnn.recurrent_dropout": 0.2}))


def test_seed_specs_cover_every_family_and_fit_the_space():
    space = SearchSpace()
    seeds = seed_specs(space)
    assert {s["family"] for s in seeds.values()} == {"rnn", "transformer", "rnn_bottleneck", "tlb", "encdec", "transformer_encdec", "mlp"}
    assert seeds["seed001_bilstm"]["rnn.bidirectional"] is True
    for spec in seeds.values():
        assert space.validate_spec(spec) == spec
    # A narrowed space drops the seeds that no longer fit.
    assert list(seed_specs(SearchSpace(families=["rnn"], fixed={"rnn.units": [16, 32]}))) == ["seed000_simple_rnn"]


def test_the_portfolio_fits_the_space_of_short_long_and_multichannel_series():
    """Every portfolio spec replays through the space it will be queued in, in selection order."""
    from search_spaces import DataSpec, TaskSpec, portfolio_specs
    from search_spaces.portfolio import load_portfolio

    entries = load_portfolio()["classification"]
    assert 1 <= len(entries) <= 10 and len({n for n, _, _ in entries}) == len(entries)
    task = TaskSpec(kind="classification", n_outputs=4, classes=list("abcd"))
    for steps, channels in ((24, 1), (1460, 1), (60, 6)):
        data = DataSpec(timesteps=steps, n_features=channels, feature_mean=[0.0] * channels,
                        feature_var=[1.0] * channels)
        space = SearchSpace(data_spec=data, task_spec=task)
        specs = portfolio_specs(space, "classification")
        assert list(specs) == [n for n, _, _ in entries], steps
        for (name, family, values), spec in zip(entries, specs.values()):
            assert spec["family"] == family and space.validate_spec(spec) == spec
            assert all(spec[k] == v for k, v in values.items() if not k.startswith("front.") or steps <= 256)


def test_the_conv_stem_shortens_only_long_fixed_length_series():
    """conv.stem (average pooling before the convolutions) is asked only over 256 steps (default
    1: every step); padded series and seq2seq keep every step; the user may still fix it."""
    from search_spaces import DataSpec, TaskSpec

    task = TaskSpec(kind="classification", n_outputs=2, classes=["a", "b"])

    def stem(steps, task=task, fixed=None, **data):
        space = SearchSpace(data_spec=DataSpec(timesteps=steps, n_features=1, feature_mean=[0.0], feature_var=[1.0],
                                               **data), task_spec=task, fixed=fixed)
        p = next(p for p in space.params("conv") if p.name == "stem")
        return p.current_options(), space.default_spec("conv")["conv.stem"]

    assert stem(256) == ((1,), 1)
    assert stem(427) == ((1, 2, 4, 8), 1)
    assert stem(1460) == ((1, 2, 4, 8), 1)
    assert stem(427, masked=True) == ((1,), 1)
    s2s = TaskSpec(kind="seq2seq", n_outputs=3, classes=["0", "1", "2"], output_steps=427)
    assert stem(427, task=s2s) == ((1,), 1)
    assert stem(427, fixed={"conv.stem": 8}) == ((8,), 8)
    with pytest.raises(ValueError, match=r"\[2\] not among \[1\]"):
        stem(100, fixed={"conv.stem": 2})


def test_warm_start_kinds(tmp_path):
    from search_spaces import DataSpec, TaskSpec, warm_start_specs
    from search_spaces.portfolio import load_portfolio, portfolio_specs

    data = DataSpec(timesteps=9, n_features=1, feature_mean=[0.0], feature_var=[1.0])
    clf = TaskSpec(kind="classification", n_outputs=2, classes=["a", "b"])
    s2s = TaskSpec(kind="seq2seq", n_outputs=3, classes=["0", "1", "2"], output_steps=9)
    space = SearchSpace(data_spec=data, task_spec=clf)
    assert list(warm_start_specs(space, "portfolio", "classification")) == [n for n, _, _ in load_portfolio()["classification"]]
    assert list(warm_start_specs(space, "seeds", "classification")) == list(seed_specs(space))
    assert warm_start_specs(space, "none", "classification") == {}
    # A task the portfolio holds no section for starts from the seeds.
    s2s_space = SearchSpace(data_spec=data, task_spec=s2s)
    assert list(warm_start_specs(s2s_space, "portfolio", "seq2seq")) == list(seed_specs(s2s_space))
    with pytest.raises(ValueError, match="warm start must be one of portfolio, seeds, none"):
        warm_start_specs(space, "best", "classification")
    # A damaged portfolio file is refused with what is wrong.
    bad = tmp_path / "p.json"
    bad.write_text('{"tasks": {"classification": [{"name": "x", "family": "conv"}]}}')
    with pytest.raises(ValueError, match="needs name, family and values"):
        portfolio_specs(space, "classification", bad)


def test_greedy_portfolio_picks_complementary_members_on_a_constructed_case():
    """'generalist' is second best everywhere; 'a_only' and 'b_only' each win one set by far. The
    greedy choice starts with the generalist (best mean alone), then adds the specialists in the
    order of their gain, and never a candidate that adds nothing."""
    from search_spaces.portfolio import greedy_portfolio, normalised_losses

    losses = {
        "A": {"generalist": 0.5, "a_only": 0.1, "b_only": 2.0, "useless": 1.9, "failed": None},
        "B": {"generalist": 0.5, "a_only": 2.0, "b_only": 0.2, "useless": 1.9, "failed": None},
        "C": {"generalist": 0.3, "a_only": 2.5, "b_only": 2.5, "useless": 2.0, "failed": float("nan")},
    }
    norm = normalised_losses(losses, min_span=0.1)
    assert norm["A"]["a_only"] == 0.0 and norm["A"]["failed"] == 2.0 and norm["C"]["generalist"] == 0.0
    assert norm["A"]["generalist"] == pytest.approx(0.4 / 1.1)  # 1 = the median of 0.1, 0.5, 1.9, 2.0
    chosen = greedy_portfolio(norm, size=4, min_gain=0.01)
    assert [n for n, _ in chosen] == ["generalist", "a_only", "b_only"]
    assert chosen[-1][1] == 0.0
    # A floor on the span: on a set every candidate solves, tiny differences count as little.
    solved = normalised_losses({"S": {"x": 0.0001, "y": 0.002, "z": 0.004}}, min_span=0.1)["S"]
    assert solved["z"] < 0.05
    assert greedy_portfolio(norm, size=1) == [("generalist", chosen[0][1])]
