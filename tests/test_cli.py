"""The command line as a user meets it: instant help, one-line errors with exit code 2."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import make_classification


def seqsearch(*args, cwd=None, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "seqsearch", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=timeout,
    )


def test_help_is_instant_and_does_not_import_tensorflow():
    code = (
        "import sys; from click.testing import CliRunner; from seqsearch.cli import main; "
        "r = CliRunner().invoke(main, ['run', '--help']); assert r.exit_code == 0, r.output; "
        "assert '--max-epochs' in r.output; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'optuna', 'mlflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_spaces_lists_families_and_recipe():
    r = seqsearch("spaces")
    assert r.returncode == 0
    assert "rnn.cell" in r.stdout and "one of lstm, gru, simple_rnn" in r.stdout
    assert "train.scaling" in r.stdout
    assert "conv.arch" in r.stdout and "one of fcn, resnet, inception" in r.stdout


def test_spaces_seeds_lists_the_portfolio_in_order_then_the_seed_specs():
    from search_spaces.portfolio import load_portfolio

    r = seqsearch("spaces", "--seeds")
    assert r.returncode == 0, r.stderr
    out = r.stdout[r.stdout.index("portfolio for classification"):]
    names = [n for n, _, _ in load_portfolio()["classification"]]
    assert [out.index(f"  {n} ") for n in names] == sorted(out.index(f"  {n} ") for n in names)
    assert out.index(names[-1]) < out.index("seed specs (--warm-start seeds") < out.index("seed000_simple_rnn")


def _assert_clean_error(r, message):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ") or lines[0].startswith("Error: ")
    assert message in lines[0], lines[0]


@pytest.fixture
def existing_workdir(tmp_path):
    """A work directory with a study already in it; bad input must not touch it."""
    wd = tmp_path / "runs"
    (wd / "old").mkdir(parents=True)
    (wd / "old" / "study.json").write_text('{"study": "old", "fingerprint": "abc", "task": "classification"}')
    (wd / "old" / "optuna.journal").write_text("keep me\n")
    return wd


def _snapshot(wd):
    return sorted((str(p.relative_to(wd)), p.read_bytes()) for p in wd.rglob("*") if p.is_file())


BAD_CASES = [
    ("missing.npz", [], "does not exist"),
    ("data.txt", [], "extension '.txt'; supported: .npz, .csv, .parquet, .ts"),
    ("rank4.npz", [], "rank 4"),
    ("mismatch.npz", [], "X has 5 sequences but y has 4 targets; they must match"),
    ("nan.npz", [], "NaN or infinite value(s)"),
    ("good.csv", ["--target", "kind"], "--target 'kind' is not a column of the file; columns: id, time, label, x0"),
    ("good.npz", ["--trials", "0"], "--trials must be an integer in [1, 1000000], got 0"),
    ("good.npz", ["--study", "../escape"], "is not a valid study name"),
    ("good.npz", ["--set", "rnn.cell=transformerish"], "not among"),
    ("good.npz", ["--families", "rnn,nope"], "unknown family 'nope'"),
    ("good.npz", ["--engine", "kerastuner", "--sampler", "tpe"], "--sampler 'tpe' is not available with --engine kerastuner; choose from hyperband, bayesian, random"),
    ("good.npz", ["--sampler", "bayesian"], "--sampler 'bayesian' is not available with --engine optuna; choose from tpe, random"),
    ("good.npz", ["--engine", "kerastuner", "--pruner", "median"], "--pruner applies to --engine optuna"),
    ("good.npz", ["--engine", "kerastuner", "--jobs", "2"], "--jobs needs --engine optuna"),
    ("good.npz", ["--engine", "kerastuner", "--storage", "sqlite:///x.db"], "--storage is an Optuna storage URL"),
    ("good.npz", ["--jobs", "0"], "--jobs must be an integer in [1, 64], got 0"),
    ("good.npz", ["--trial-timeout", "-1"], "--trial-timeout must be a positive number of seconds"),
    ("good.npz", ["--static-cols", "a"], "--static-cols names CSV/Parquet columns"),
    ("good.npz", ["--objectives", "params"], "--objectives 'params': start with val_loss"),
    ("good.npz", ["--objectives", "val_loss,speed"], "--objectives 'val_loss,speed': start with val_loss"),
    ("good.npz", ["--objectives", "val_loss,params", "--pruner", "median"], "--pruner cannot stop multi-objective trials"),
    ("good.npz", ["--sampler", "nsga2"], "--sampler nsga2 is a multi-objective sampler"),
    ("good.npz", ["--engine", "kerastuner", "--objectives", "val_loss,params"], "needs --engine optuna"),
    ("good.npz", ["--specs", "bad_specs.json"], "--specs 'bad_specs.json': spec-0: spec value rnn.units=17 is not one of [16, 32, 64, 128]"),
    ("good.npz", ["--specs", "data.txt"], "--specs 'data.txt' is not valid JSON"),
    ("good.npz", ["--fillna", "mean"], "Invalid value for '--fillna': 'mean' is not one of"),
    ("good.npz", ["--warm-start", "best"], "Invalid value for '--warm-start': 'best' is not one of"),
    ("good.npz", ["--warm-start", "seeds", "--no-warm-start"], "--no-warm-start contradicts --warm-start seeds"),
]


@pytest.mark.parametrize("name, extra, message", BAD_CASES, ids=[c[0] + str(i) for i, c in enumerate(BAD_CASES)])
def test_bad_input_one_line_exit_2_workdir_untouched(tmp_path, existing_workdir, name, extra, message):
    from conftest import write_long_csv

    X, y = make_classification(n=12, t=4, f=1, classes=("p", "q"))
    np.savez(tmp_path / "good.npz", X=X, y=y)
    write_long_csv(tmp_path / "good.csv", X, y)
    np.savez(tmp_path / "rank4.npz", X=np.zeros((4, 3, 2, 2)), y=np.zeros(4))
    np.savez(tmp_path / "mismatch.npz", X=np.zeros((5, 3, 1)), y=np.array([0, 1, 0, 1]))
    np.savez(tmp_path / "nan.npz", X=np.full((6, 3, 1), np.nan), y=np.array([0, 1] * 3))
    (tmp_path / "data.txt").write_text("1,2,3\n")
    (tmp_path / "bad_specs.json").write_text('[{"family": "rnn", "rnn.units": 17}]')
    before = _snapshot(existing_workdir)
    r = seqsearch("run", tmp_path / name, "--workdir", existing_workdir, *extra, cwd=tmp_path)
    _assert_clean_error(r, message)
    assert _snapshot(existing_workdir) == before
    assert not (tmp_path / "seqsearch-runs").exists()


def test_study_of_another_dataset_is_refused_and_kept(tmp_path, existing_workdir):
    X, y = make_classification(n=12, t=4, f=1, classes=("p", "q"))
    np.savez(tmp_path / "good.npz", X=X, y=y)
    before = _snapshot(existing_workdir)
    r = seqsearch("run", tmp_path / "good.npz", "--workdir", existing_workdir, "--study", "old")
    _assert_clean_error(r, "study 'old' was run on")
    assert _snapshot(existing_workdir) == before


def test_ui_without_a_study_says_so(tmp_path):
    r = seqsearch("ui", "--workdir", tmp_path / "nothing")
    _assert_clean_error(r, "no study in")


def test_unwritable_workdir_is_one_line(tmp_path):
    X, y = make_classification(n=12, t=4, f=1, classes=("p", "q"))
    np.savez(tmp_path / "good.npz", X=X, y=y)
    (tmp_path / "afile").write_text("not a folder")
    r = seqsearch("run", tmp_path / "good.npz", "--workdir", tmp_path / "afile" / "runs")
    _assert_clean_error(r, "cannot write to the work directory")
    assert (tmp_path / "afile").read_text() == "not a folder"


def test_workers_starting_together_create_the_study_once(tmp_path):
    """`--jobs N` and several `seqsearch run` commands on one study start at the same moment:
    each must find or create study.json whole, none may fail on another's temporary file, and
    a worker on other data is still refused. (CI once failed here with a shared `study.tmp`.)"""
    import json
    import threading
    from types import SimpleNamespace

    from seqsearch.study import prepare_study_dir
    from seqsearch.errors import SeqsearchError

    info = {"name": "w", "fingerprint": "f1", "task": "classification"}
    for round_ in range(25):
        config = SimpleNamespace(study="w", study_path=tmp_path / f"r{round_}" / "w")
        barrier, errors = threading.Barrier(8), []

        def worker():
            barrier.wait()
            try:
                prepare_study_dir(config, None, info)
            except Exception as e:  # noqa: BLE001 - collected and reported below
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert json.loads((config.study_path / "study.json").read_text())["fingerprint"] == "f1"
        assert sorted(p.name for p in config.study_path.iterdir()) == ["study.json"]
    with pytest.raises(SeqsearchError, match="not on this data/task"):
        prepare_study_dir(config, None, {**info, "fingerprint": "f2"})


def test_help_groups_every_run_option_and_shows_whole_descriptions():
    from click.testing import CliRunner

    from seqsearch.cli import _RunCommand, main

    grouped = [n for _, names in _RunCommand.option_groups for n in names]
    import click

    options = [p.name for p in main.commands["run"].params if isinstance(p, click.Option)]
    assert sorted(options) == sorted(grouped)
    assert len(grouped) == len(set(grouped))
    out = CliRunner().invoke(main, ["run", "--help"]).output
    titles = [line[:-1] for line in out.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert titles == [t for t, _ in _RunCommand.option_groups]
    assert out.index("--trials") < out.index("--task") < out.index("--workdir")
    top = CliRunner().invoke(main, ["--help"]).output
    commands = top[top.index("Commands:"):]
    assert "..." not in commands and all(f"  {name} " in commands for name in main.commands)


def test_readme_documents_every_cli_option():
    """The README's CLI reference is the user's manual: an option missing there is a bug."""
    from conftest import REPO
    from seqsearch.cli import main

    readme = (REPO / "README.md").read_text()
    missing = [f"{name} {opt}" for name, cmd in main.commands.items() for p in cmd.params
               for opt in p.opts + p.secondary_opts if opt.startswith("--") and opt not in readme]
    assert missing == []
