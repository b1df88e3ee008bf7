"""``seqsearch`` command line: a thin click layer over ``seqsearch.api``.

Nothing heavy is imported at module level: ``seqsearch --help`` never loads TensorFlow.
"""

from __future__ import annotations

import json
import math
import os
import sys

import click

from .boundary import guarded, set_log_dir
from .errors import SeqsearchError, one_line
from search_spaces.portfolio import WARM_STARTS

from .config import ENGINES, ENSEMBLE_SELECTIONS, FINAL_MODELS, PRUNERS, SAMPLERS, TASK_CHOICES
from .data.tables import FILLNA, TOKENS
from .devices import PRECISIONS

# --sampler's choices over every engine, each once, in the engines' order.
ALL_SAMPLERS = tuple(dict.fromkeys(s for names in SAMPLERS.values() for s in names))

# TensorFlow's C++ start-up chatter hides the live view; users can still raise it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _names(text: str, option: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise SeqsearchError(f"{option} {one_line(repr(text), 60)} names nothing; give comma-separated names or leave it out")
    return names


def _log_into_study(workdir, study, dataset=None):
    """A bug's traceback goes into the study folder when it exists (else the temp folder)."""
    from pathlib import Path

    from .config import study_dir
    from .data.tables import archive_name

    try:
        name = study or archive_name(Path(dataset))
        path = study_dir(workdir or "seqsearch-runs", name)
        if path.is_dir():
            set_log_dir(path)
    except (SeqsearchError, OSError, ValueError):
        pass


def _parse_fixed(pairs):
    fixed = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise SeqsearchError(f"--set {pair!r} must look like NAME=VALUE, e.g. --set rnn.cell=gru")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw  # bare strings: --set rnn.cell=gru
        if isinstance(value, dict):
            raise SeqsearchError(f"--set {pair!r}: use a value, a [list] of choices or a [low, high] range")
        fixed[key.strip()] = value
    return fixed


class _OneLineUsageError(click.UsageError):
    def show(self, file=None):
        where = f"seqsearch {self.ctx.info_name} --help" if self.ctx and self.ctx.parent else "seqsearch --help"
        click.echo(f"error: {self.format_message()} (see {where})", err=True)


class _Group(click.Group):
    """Usage errors (an unknown option, a value not among the choices) in one line, like every
    other input error, instead of click's three-line usage block."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as e:
            if isinstance(e, _OneLineUsageError):
                raise
            raise _OneLineUsageError(e.format_message(), e.ctx) from None


class _GroupedCommand(click.Command):
    """``--help`` lists the options under headings (``option_groups``: ``(title, [param names])``
    in display order), the most used first, instead of one block in declaration order."""

    option_groups: tuple = ()

    def format_options(self, ctx, formatter):
        params = {p.name: p for p in self.get_params(ctx) if isinstance(p, click.Option)}
        help_option = self.get_help_option(ctx)
        grouped = {n for _, names in self.option_groups for n in names}
        rest = [n for n in params if n not in grouped and (help_option is None or n != help_option.name)]
        groups = [(title, list(names)) for title, names in self.option_groups]
        if help_option is not None:
            groups[-1][1].append(help_option.name)  # -h/--help closes the last group
        for title, names in (*groups, ("Other", rest)):
            rows = [r for r in (params[n].get_help_record(ctx) for n in names if n in params) if r]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class _RunCommand(_GroupedCommand):
    option_groups = (
        ("Search", ["trials", "timeout", "families", "fixed", "space_file", "specs_file", "warm_start",
                    "no_warm_start", "streamable", "seed"]),
        ("Data", ["task", "target", "id_col", "time_col", "join", "text_col", "tokens", "static_cols", "horizon",
                  "lookback", "season", "future_cols", "test_size", "val_size", "fillna"]),
        ("Budget and validation", ["max_epochs", "trial_timeout", "max_params", "folds", "ensemble",
                                   "ensemble_selection", "final"]),
        ("Engine and parallelism", ["engine", "sampler", "pruner", "objectives", "cudnn_only", "jobs", "gpus", "precision",
                                    "storage"]),
        ("Output", ["study", "workdir", "tracking_uri", "tensorboard", "as_json", "quiet"]),
    )


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="seqsearch", message="seqsearch %(version)s")
def main():
    """Architecture search for sequence models: RNN, LSTM, GRU and more, trained with Keras 3,
    searched with Optuna, tracked in MLflow, exported ready to deploy."""


@main.command(cls=_RunCommand, short_help="Search architectures for a dataset and export the best model.")
@click.argument("dataset", type=click.Path(dir_okay=True, path_type=str))
@click.option("--task", type=click.Choice(TASK_CHOICES), help="Task; inferred from the target when unambiguous (Y in an .npz means seq2seq, --horizon forecasting).")
@click.option("--target", help="Target column (CSV/Parquet). Default: label, target, y or class. Forecasting: the column(s) to forecast, comma-separated.")
@click.option("--id-col", help="Sequence id column (CSV/Parquet long format). Default: id, series_id, sequence_id, ...")
@click.option("--time-col", help="Time order column (CSV/Parquet long format). Default: time, timestep, t, step, ...")
@click.option("--join", multiple=True, metavar="NAME=FILE", help="Another input sequence from a long table (id, its own time column, features; NAME=FILE,time=COLUMN names that column), joined to DATASET by sequence id; repeatable. DATASET holds the target: a long table (an input named after its file) or one row per example. An .npz holds several inputs as X_<name> arrays instead.")
@click.option("--text-col", help="Text column of a CSV/Parquet text table (one row per text, and a label): text classification or regression. Default: text, sentence, review, ... when the table has no time column.")
@click.option("--tokens", type=click.Choice(TOKENS), help="Seq2seq pairs (.tsv, or a table with source and target columns): split both sides into characters or words. Default: per side, words when its entries have spaces.")
@click.option("--static-cols", help="Comma-separated CSV/Parquet feature columns that are constant per sequence: static features (an .npz stores them as 'static').")
@click.option("--horizon", type=int, help="Forecasting: steps ahead to forecast from a time-series table (CSV/Parquet with a time column; several series keyed by --id-col). Implies --task forecasting.")
@click.option("--lookback", type=int, help="Forecasting: input window length in steps. Default: max(2 x horizon, season).")
@click.option("--season", type=int, help="Forecasting: season length of the seasonal-naive baseline. Default: from the time spacing (monthly 12, hourly 24, daily 7, ...).")
@click.option("--future-cols", help="Forecasting: comma-separated covariate columns known in advance (calendar features, planned promotions): the model also reads their values at the forecast steps, and `seqsearch predict` needs them in rows after each series' last target (target empty).")
@click.option("--test-size", type=float, default=0.2, show_default=True, help="Held-out test share when the data has no test split: a fraction, or for forecasting a whole number of each series' last rows (--test-size 12: the last 12 months).")
@click.option("--val-size", type=float, default=0.2, show_default=True, help="Validation share of the rest: a fraction, or for forecasting a whole number of rows before each series' test period.")
@click.option("--fillna", type=click.Choice(FILLNA), help="Fill missing (NaN, '?' in .ts) feature values within each sequence: interpolate, ffill, zero, or drop those sequences. Default: refuse them.")
@click.option("--trials", type=int, default=20, show_default=True, help="Total trials the study should have; a rerun continues up to this many.")
@click.option("--timeout", type=float, help="Seconds for the whole command: search, retrain, test, export and MLflow logging finish within about 1.1 x this. Each trial gets a share; one too slow for it is pruned. Default: no bound.")
@click.option("--max-epochs", type=int, default=100, show_default=True, help="Epoch cap per trial (early stopping on val_loss ends most trials sooner).")
@click.option("--study", help="Study name (default: the dataset file's name). Same name again = resume.")
@click.option("--workdir", default="seqsearch-runs", show_default=True, help="Folder holding studies (Optuna storage, MLflow store, exports).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for splits, sampling and weight initialisation.")
@click.option("--families", help="Comma-separated families to search (see `seqsearch spaces`). Default: all.")
@click.option("--set", "fixed", multiple=True, metavar="NAME=VALUE", help="Fix or narrow a parameter: rnn.cell=gru, rnn.units=[32,64], train.learning_rate=[0.001,0.01]. Repeatable.")
@click.option("--space", "space_file", type=click.Path(dir_okay=False, path_type=str), help="TOML/YAML file that shapes the space: families, set (fix/narrow), cudnn_only.")
@click.option("--specs", "specs_file", type=click.Path(dir_okay=False, path_type=str), help="JSON file of architectures to run first (a list of specs, complete like an export's spec.json or partial: defaults fill the rest).")
@click.option("--warm-start", type=click.Choice(WARM_STARTS), default="portfolio", show_default=True, help="What runs first, before the sampler explores: portfolio (a few specs chosen offline on benchmark data; tasks it was not built for start from the seeds), seeds (the small models of the Keras tutorials seqsearch grew from: SimpleRNN, LSTM, a one-block transformer, ...), none. seqsearch spaces --seeds lists them.")
@click.option("--no-warm-start", is_flag=True, help="Same as --warm-start none.")
@click.option("--streamable", is_flag=True, help="Search only models that can read a stream chunk by chunk (a forward rnn, no front end, global or no scaling), for `seqsearch export --streaming`.")
@click.option("--cudnn-only", is_flag=True, help="Keep recurrent layers inside the cuDNN kernel conditions (LSTM/GRU, no recurrent dropout).")
@click.option("--engine", type=click.Choice(ENGINES), default="optuna", show_default=True, help="Who decides what to try next: Optuna or KerasTuner (same space, same tracking and export).")
@click.option("--sampler", type=click.Choice(ALL_SAMPLERS), help="optuna: tpe (default), random, or nsga2 (multi-objective); kerastuner: hyperband (default), bayesian or random.")
@click.option("--pruner", type=click.Choice(PRUNERS), help="Optuna's per-epoch pruning, warm-start specs included: successive halving (sha, the default: after epochs 4, 10, 28 and 82 only the best third of the trials go on), Hyperband, median, or none.")
@click.option("--jobs", type=int, help="Trials trained in parallel by this many processes on one machine (same study and storage). Default: with --timeout of 120 s or more, one per CPU core (at most 4), or one per GPU of --gpus on a GPU machine (1 with --engine kerastuner); otherwise 1.")
@click.option("--gpus", help="GPUs to train on, comma-separated (e.g. 0,1; none: the CPU only): each process (--jobs) gets one, round-robin, with memory growth on. Default: every visible GPU.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="float32", show_default=True, help="The trials' numeric precision: float32, or mixed (Keras' mixed policy: float16 on a GPU, bfloat16 on a CPU, with float32 input scaling, outputs and weights, and loss scaling for float16). The exported model is float32 either way.")
@click.option("--objectives", default="val_loss", show_default=True, help="Comma-separated objectives to minimise: val_loss, then params and/or latency_ms (a Pareto front).")
@click.option("--trial-timeout", type=float, help="Seconds one trial may train; a trial over it stops and is recorded as failed.")
@click.option("--tensorboard", type=click.Path(path_type=str), help="Write TensorBoard logs of every trial under DIR/<study>/trial-NNN (one folder per fold when cross-validated); view with: tensorboard --logdir DIR.")
@click.option("--max-params", type=int, help="Reject (prune) candidates with more parameters than this, before training.")
@click.option("--folds", type=int, help="Cross-validate the finalists (trials that complete on the validation split among the 3 best so far; the others end pruned) on K folds of train+validation (every sequence validated once; forecasting: K rolling origins, the validation period moved back one period at a time, trained on what came before it) and rank them by the mean val_loss; the pruner still judges the first fold. Default: 3 when the validation split has fewer than 100 sequences (not forecasting), else 1 (the split alone).")
@click.option("--ensemble", type=int, help="Export an average of up to N distinct trials, each retrained on train+validation (one model file, every export format). Default: 3 when the validation split has fewer than 100 sequences (too few to pick one model), else 1.")
@click.option("--ensemble-selection", type=click.Choice(ENSEMBLE_SELECTIONS), help="How the average's members are chosen: greedy (default: greedy selection with replacement on the finalists' out-of-fold predictions, which weighs members and may keep one; classification and regression) or best (the N best by val_loss within a margin of the best, equal weights).")
@click.option("--final", type=click.Choice(FINAL_MODELS), help="What the export averages for each member: folds (default: a member cross-validated on --folds is exported as the average of its fold models, each stopped at the epoch its held-out fold found best; no retrain) or retrain (each member retrained on train+validation for its best epoch count). Members without fold models are retrained either way.")
@click.option("--storage", help="Optuna storage URL (e.g. postgresql://...) shared by several machines. Default: a journal file in the study folder.")
@click.option("--tracking-uri", help="MLflow tracking URI. Default: SQLite store in the study folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout at the end.")
@click.option("-q", "--quiet", is_flag=True, help="No live view; only errors (and --json).")
@guarded
def run(dataset, fixed, families, quiet, as_json, storage, tracking_uri, static_cols, future_cols, join, **options):
    """Search architectures for DATASET (.npz, long-format .csv/.parquet, or a UCR/UEA .ts file;
    a *_TRAIN.ts brings the *_TEST.ts beside it as the test split) and export the best model."""
    from .progress import Console

    _log_into_study(options.get("workdir"), options.get("study"), dataset)
    options["fixed"] = _parse_fixed(fixed)
    if options.pop("no_warm_start"):
        source = click.get_current_context().get_parameter_source("warm_start")
        if source == click.core.ParameterSource.COMMANDLINE and options["warm_start"] != "none":
            raise SeqsearchError(f"--no-warm-start contradicts --warm-start {options['warm_start']}: give one of them")
        options["warm_start"] = "none"
    options["objectives"] = [o.strip() for o in options.pop("objectives").split(",") if o.strip()]
    if static_cols is not None:
        options["static_cols"] = _names(static_cols, "--static-cols")
    if future_cols is not None:
        options["future_cols"] = _names(future_cols, "--future-cols")
    if families is not None:
        options["families"] = _names(families, "--families")
    if join:
        from .data.joined import parse_join

        options["join"] = parse_join(join)
    from .api import run as run_api

    result = run_api(
        dataset, console=Console(quiet=quiet or as_json), storage=storage, tracking_uri=tracking_uri, **options
    )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))


@main.command(short_help='Trials, states and leaderboard of a study (fast: no TensorFlow).')
@click.argument("study")
@click.option("--workdir", default="seqsearch-runs", show_default=True)
@click.option("--storage", help="Optuna storage URL, when the study lives in a database.")
@click.option("--top", type=click.IntRange(1, 1000), default=10, show_default=True, help="Leaderboard rows.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@guarded
def status(study, workdir, storage, top, as_json):
    """Trials, states and leaderboard of STUDY, read from its storage (no TensorFlow)."""
    from .status import format_status, study_status

    info = study_status(study, workdir, storage)
    for note in info.get("notices", []):
        click.echo(f"warning: {note}", err=True)
    click.echo(json.dumps(info, indent=2) if as_json else format_status(info, top))


@main.command(short_help="Start the MLflow UI on a study's tracking store.")
@click.option("--study", help="Study to open (default: the only study in --workdir).")
@click.option("--workdir", default="seqsearch-runs", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--verbose", is_flag=True, help="Show the MLflow server's own log lines and warnings.")
@guarded
def ui(study, workdir, host, port, verbose):
    """Start the MLflow UI on a study's tracking store (no server to set up)."""
    path = _resolve_study(study, workdir)
    from .local_store import check_local_store

    check_local_store(path)
    from .local_store import relocate_store

    relocate_store(path, path.name)  # a moved or copied study shows its own files, not the original's
    uri = f"sqlite:///{path / 'mlflow.db'}"
    from .local_store import runs_table_link

    click.echo(f"MLflow UI for study {path.name!r}: {runs_table_link(path, host, port)}  (Ctrl+C to stop)")
    sys.stdout.flush()
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--registry-store-uri", uri,
           "--host", host, "--port", str(port)]
    if not verbose:
        # The server's INFO lines and its dependencies' deprecation warnings are not news to
        # the user; errors still show.
        cmd += ["--uvicorn-opts", "--log-level warning"]
        os.environ["PYTHONWARNINGS"] = "ignore"
        os.environ["MLFLOW_LOGGING_LEVEL"] = "WARNING"
    # Become the MLflow UI process rather than its parent: a signal to this process then
    # reaches the server itself, and no orphaned server outlives `seqsearch ui`.
    os.execv(sys.executable, cmd)


def _resolve_study(study, workdir):
    from pathlib import Path

    from .config import study_dir

    root = Path(workdir).expanduser().resolve()
    if study is None:
        found = sorted(q.parent.name for q in root.glob("*/mlflow.db"))
        if not found:
            raise SeqsearchError(f"no study in {str(root)!r}; run `seqsearch run <dataset>` first or pass --workdir")
        if len(found) > 1:
            raise SeqsearchError(f"{str(root)!r} holds several studies ({', '.join(found)}); pass --study")
        study = found[0]
    path = study_dir(root, study)
    if not (path / "mlflow.db").is_file():
        raise SeqsearchError(f"study {study!r} has no tracking store in {str(root)!r}; check --study and --workdir")
    return path


@main.command(short_help="Export a study's best model to Keras, SavedModel, ONNX, TFLite.")
@click.argument("study")
@click.option("--workdir", default="seqsearch-runs", show_default=True)
@click.option("--format", "formats", default="keras,savedmodel,onnx,tflite", show_default=True,
              help="Comma-separated formats: keras, savedmodel, onnx, tflite.")
@click.option("--out", help="Output folder (default: <workdir>/<study>/export).")
@click.option("--tolerance", type=float, default=1e-4, show_default=True, help="Largest allowed prediction difference from the Keras model (relative to the value where it exceeds 1).")
@click.option("--trial", type=click.IntRange(0), help="Export this trial instead of the best (e.g. a Pareto-front member): retrained on train+val first.")
@click.option("--storage", help="Optuna storage URL, when the study lives in a database (with --trial).")
@click.option("--streaming", is_flag=True, help="Export the model that reads a stream chunk by chunk: it takes a chunk and the previous state and answers its output and the next state (recurrent models; `seqsearch run --streamable` searches only those). Default --out: <workdir>/<study>/export-streaming.")
@click.option("--chunk", type=int, default=1, show_default=True, help="With --streaming: steps per call that the parity check streams and TFLite takes (the other formats take any).")
@guarded
def export(study, workdir, formats, out, tolerance, trial, storage, streaming, chunk):
    """Export a study's best model (or --trial N), each format checked against the Keras model's predictions."""
    from pathlib import Path

    from .config import study_dir

    path = study_dir(workdir, study)
    if trial is None and not (path / "best").is_dir():
        raise SeqsearchError(f"study {study!r} has no best model in {str(path.parent)!r}; run `seqsearch run` first")
    if trial is not None and not (path / "study.json").is_file():
        raise SeqsearchError(f"no study {study!r} in {str(path.parent)!r}; check the name and --workdir")
    set_log_dir(path)
    if not (math.isfinite(tolerance) and tolerance > 0):
        raise SeqsearchError(f"--tolerance must be a finite positive number (e.g. 1e-4), got {tolerance!r}")
    from .formats import check_export_target, check_formats

    chosen = check_formats([f.strip() for f in formats.split(",") if f.strip()])
    if chunk != 1 and not streaming:
        raise SeqsearchError("--chunk sets the steps per call of a streaming export; add --streaming")
    folder = ("export" if trial is None else f"export-trial-{trial}") + ("-streaming" if streaming else "")
    out_dir = Path(out).expanduser() if out else path / folder
    check_export_target(out_dir)  # before any work: a folder seqsearch did not write is never replaced
    from ._backend import load_keras
    from .devices import export_backend

    export_backend(chosen)  # TensorFlow where installed, whatever KERAS_BACKEND says

    load_keras()
    from .formats import export_formats

    source = path / "best"
    if trial is not None:
        from .finish import export_trial

        source = export_trial(path, trial, storage)
    if streaming:
        from .streaming import export_streaming

        manifest = export_streaming(source, out_dir, chosen, chunk, tolerance)
    else:
        manifest = export_formats(source, out_dir, chosen, tolerance)
    for fmt, info in manifest["formats"].items():
        click.echo(f"{fmt:<11} {out_dir / info['path']}  (max |diff| {info['max_abs_diff']:.1e} via {info['runtime']})")
    click.echo(f"manifest   {out_dir / 'manifest.json'}")


@main.command(short_help='Predict with an exported model on a data file (CSV out).')
@click.argument("model", type=click.Path(path_type=str))
@click.argument("data", type=click.Path(path_type=str))
@click.option("--out", type=click.Path(dir_okay=False, path_type=str), help="CSV file to write (default: standard output).")
@click.option("--id-col", help="Sequence id column (CSV long format).")
@click.option("--time-col", help="Time order column (CSV long format).")
@click.option("--target", help="Target column to ignore if the CSV has one.")
@click.option("--join", multiple=True, metavar="NAME=FILE", help="A model of several inputs trained on joined tables: the table of its input NAME, joined by sequence id (repeatable).")
@click.option("--fillna", type=click.Choice(FILLNA), help="Fill missing feature values (default: as the study did with its --fillna, else refuse them).")
@click.option("--beam", type=int, help="Seq2seq pairs: decode by beam search of this width (default: the model's own greedy decoding; the transformer encoder-decoder and encdec's teacher decoder).")
@click.option("--length-penalty", type=float, default=0.6, show_default=True, help="With --beam: hypotheses rank by log-probability / length ** this (0: the plain log-probability).")
@guarded
def predict(model, data, out, id_col, time_col, target, join, fillna, beam, length_penalty):
    """Predict with MODEL (a best/ or export/ folder, or a .keras file) on DATA (.npz, long
    CSV/Parquet or .ts)."""
    from .predict import check_out

    check_out(out)  # before TensorFlow's start-up, not after the predictions
    from .data.joined import parse_join

    join = parse_join(join)
    from ._backend import load_keras

    load_keras()
    from .predict import predict_file

    n = predict_file(model, data, out, id_col=id_col, time_col=time_col, target=target, fillna=fillna, beam=beam,
                     length_penalty=length_penalty, join=join)
    if out:
        click.echo(f"{n} sequences -> {out}", err=True)


@main.command(short_help='List the families, their parameters and the warm-start specs.')
@click.option("--seeds", is_flag=True, help="Also print the warm-start specs: the portfolio (--warm-start portfolio) and the Keras tutorials' models (--warm-start seeds).")
@guarded
def spaces(seeds):
    """List every architecture family with its parameters, ranges and defaults."""
    from search_spaces import SearchSpace, portfolio_specs, seed_specs, spec_summary
    from search_spaces.portfolio import load_portfolio

    space = SearchSpace()
    for line in space.describe():
        click.echo(line)
    if seeds:
        for task in load_portfolio():
            click.echo(f"portfolio for {task} (--warm-start portfolio, in the order they run):")
            for name, spec in portfolio_specs(space, task).items():
                click.echo(f"  {name:<22} {spec_summary(spec)}")
        click.echo("seed specs (--warm-start seeds, and the portfolio's fallback for other tasks):")
        for name, spec in seed_specs(space).items():
            click.echo(f"  {name:<22} {spec_summary(spec)}")


if __name__ == "__main__":  # pragma: no cover
    main()
