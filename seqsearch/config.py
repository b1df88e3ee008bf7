"""Run configuration: every option of ``seqsearch run``, validated before anything is touched."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from search_spaces.portfolio import WARM_STARTS

from .data.tables import FILLNA, archive_name
from .engines import ENGINES as ENGINE_CLASSES
from .engines.optuna_engine import PRUNERS
from .devices import PRECISIONS
from .errors import SeqsearchError, one_line

__all__ = ["RunConfig", "check_study_name", "study_dir"]

_STUDY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
TASK_CHOICES = ("classification", "regression", "seq2seq", "forecasting")
# What a search may minimise: the validation loss first, then optionally the parameter count
# and the prediction latency on a fixed batch (multi-objective: a Pareto front).
OBJECTIVES = ("val_loss", "params", "latency_ms")
# --engine's choices (the default first) and, per engine, --sampler's (KerasTuner: oracles).
ENGINES = tuple(ENGINE_CLASSES)
SAMPLERS = {name: cls.samplers for name, cls in ENGINE_CLASSES.items()}
# A validation split below SMALL_VAL_SEQUENCES sequences cannot pick one model reliably (on
# ItalyPowerDemand's 14, eight candidates fit them all and the pick among them is noise), so by
# default each completed trial is cross-validated over SMALL_VAL_FOLDS folds of train+val
# (every sequence validated once) and the export averages the ENSEMBLE_SMALL_VAL best distinct
# trials instead of betting on one.
SMALL_VAL_SEQUENCES = 100
SMALL_VAL_FOLDS = 3
ENSEMBLE_SMALL_VAL = 3
MAX_ENSEMBLE = 20
ENSEMBLE_SELECTIONS = ("greedy", "best")
# What the export's members are: "folds" (each cross-validated member's fold models, averaged:
# no retrain) or "retrain" (each member retrained on train+validation for its best epochs).
FINAL_MODELS = ("folds", "retrain")
MAX_FOLDS = 20


def check_study_name(name: str) -> str:
    if not isinstance(name, str) or not _STUDY_RE.fullmatch(name) or ".." in name:
        raise SeqsearchError(
            f"--study {one_line(repr(name), 80)} is not a valid study name: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit (it becomes a folder name)"
        )
    return name


def study_dir(workdir, study: str) -> Path:
    return Path(workdir).expanduser().resolve() / check_study_name(study)


def _positive_int(name, value, high):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise SeqsearchError(f"--{name.replace('_', '-')} must be an integer in [1, {high}], got {value!r}")


@dataclass
class RunConfig:
    dataset: str
    study: str | None = None
    workdir: str = "seqsearch-runs"
    task: str | None = None
    target: str | None = None
    id_col: str | None = None
    time_col: str | None = None
    static_cols: list[str] | None = None
    text_col: str | None = None  # text classification: the column holding the texts
    tokens: str | None = None  # seq2seq pairs: chars | words (default: per side, words when they have spaces)
    fillna: str | None = None  # interpolate | ffill | zero | drop; None: missing values are an error
    # Forecasting (a time-series table): steps ahead, window length, season of the baseline.
    horizon: int | None = None
    lookback: int | None = None
    season: int | None = None
    future_cols: list[str] | None = None  # forecasting: covariates known in advance for the forecast steps
    # Several inputs from tables: {input name: the long table joined to the dataset by sequence id}.
    join: dict[str, str] | None = None
    trials: int = 20
    timeout: float | None = None
    max_epochs: int = 100
    seed: int = 0
    families: list[str] | None = None
    engine: str = "optuna"
    objectives: list[str] = field(default_factory=lambda: ["val_loss"])
    sampler: str | None = None  # default: the engine's first (tpe / hyperband)
    pruner: str | None = None  # default: sha, successive halving from epoch 3 (Optuna only)
    max_params: int | None = None
    trial_timeout: float | None = None
    tensorboard: str | None = None  # TensorBoard logs of every trial under DIR/<study>/trial-NNN
    jobs: int | None = None  # None: budget.auto_jobs (parallel under a --timeout of 2 minutes or more)
    test_size: float = 0.2
    val_size: float = 0.2
    fixed: dict = field(default_factory=dict)
    space_file: str | None = None
    cudnn_only: bool = False
    # What runs first: "portfolio" (specs chosen on the tuning suite), "seeds" (the seed
    # tutorials' models) or "none" (the sampler from trial 0).
    warm_start: str = "portfolio"
    specs_file: str | None = None  # JSON: architectures to run first (replayed, no search decision)
    # The export averages the N best distinct trials; None: ENSEMBLE_SMALL_VAL members when the
    # validation split is too small to pick one model reliably, else 1 (ensemble_size()).
    ensemble: int | None = None
    # How its members are chosen: "greedy" (greedy selection on the finalists' out-of-fold
    # outputs, where the task keeps them) or "best" (the best by val_loss, equal weights).
    ensemble_selection: str = "greedy"
    # "folds": a member cross-validated on folds (classification, regression) is exported as the
    # average of its fold models, each stopped at its fold's best epoch; "retrain": every member
    # is retrained on train+validation. Members without fold models are always retrained.
    final: str = "folds"
    # k-fold cross-validation of every trial that completes on the validation split (the pruner
    # still judges the first fold epoch by epoch); None: SMALL_VAL_FOLDS when the validation
    # split is small and the task is not forecasting, else 1 (folds_for()).
    folds: int | None = None
    # --gpus: the GPU numbers the processes train on, one each (round-robin); None: every visible
    # GPU (resolved by the run); []: none, the CPU.
    gpus: list[int] | None = None
    precision: str = "float32"  # --precision: float32, or mixed (Keras' mixed policy for the trials)
    streamable: bool = False  # --streamable: only models that `export --streaming` can rebuild

    def __post_init__(self):
        """Every option checked, each refused in one line that names it; defaults resolved."""
        self.dataset, self.workdir = str(self.dataset), str(self.workdir)
        if self.join is not None and not (isinstance(self.join, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.join.items())):
            raise SeqsearchError("join must map input names to table files ({\"heart\": \"heart.csv\"}); "
                                 "on the command line: --join heart=heart.csv")
        self.join = self.join or None
        if self.study is None:
            stem = archive_name(Path(self.dataset))
            self.study = re.sub(r"[^A-Za-z0-9_.-]", "_", stem).strip("._-") or "study"
        check_study_name(self.study)
        if isinstance(self.warm_start, bool):  # True: the default warm start (older run_config.json too)
            self.warm_start = "portfolio" if self.warm_start else "none"
        if self.warm_start not in WARM_STARTS:
            raise SeqsearchError(f"--warm-start must be one of {', '.join(WARM_STARTS)}, got {self.warm_start!r}")
        self._check_sizes()
        self._check_forecasting()
        self._check_engine()
        for name in ("test_size", "val_size"):
            v, flag = getattr(self, name), f"--{name.replace('_', '-')}"
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 10**9:
                raise SeqsearchError(f"{flag} must be a fraction in (0, 1) or a number of rows, got {v!r}")
            if v >= 1 and self.horizon is None:
                raise SeqsearchError(f"{flag} must be a fraction in (0, 1), got {v!r} (a number of rows applies "
                                     "to forecasting tables, with --horizon)")
            if v >= 1 and float(v) != int(v):
                raise SeqsearchError(f"{flag} is a fraction in (0, 1) or a whole number of rows per series, got {v!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**31:
            raise SeqsearchError(f"--seed must be an integer in [0, 2^31), got {self.seed!r}")

    def _check_sizes(self):
        """Counts, limits and the choices of the export and the data."""
        _positive_int("trials", self.trials, 1_000_000)
        _positive_int("max_epochs", self.max_epochs, 100_000)
        if self.timeout is not None and not (0 < self.timeout <= 10**8):
            raise SeqsearchError(f"--timeout must be a positive number of seconds, got {self.timeout!r}")
        if self.jobs is not None:  # None: chosen by the run once the data is loaded (budget.auto_jobs)
            _positive_int("jobs", self.jobs, 64)
        if self.ensemble is not None:
            _positive_int("ensemble", self.ensemble, MAX_ENSEMBLE)
        if self.folds is not None:
            _positive_int("folds", self.folds, MAX_FOLDS)
        if self.ensemble_selection is None:
            self.ensemble_selection = "greedy"
        if self.ensemble_selection not in ENSEMBLE_SELECTIONS:
            raise SeqsearchError(f"--ensemble-selection must be one of {', '.join(ENSEMBLE_SELECTIONS)}, "
                                 f"got {self.ensemble_selection!r}")
        if self.final is None:
            self.final = "folds"
        if self.final not in FINAL_MODELS:
            raise SeqsearchError(f"--final must be one of {', '.join(FINAL_MODELS)}, got {self.final!r}")
        if self.max_params is not None:
            _positive_int("max_params", self.max_params, 10**12)
        if self.trial_timeout is not None and not (0 < self.trial_timeout <= 10**8):
            raise SeqsearchError(f"--trial-timeout must be a positive number of seconds, got {self.trial_timeout!r}")
        if self.tensorboard is not None:
            self.tensorboard = str(self.tensorboard)
            if Path(self.tensorboard).expanduser().is_file():
                raise SeqsearchError(f"--tensorboard {self.tensorboard!r} is a file; pass a folder for the logs")
        if self.fillna is not None and self.fillna not in FILLNA:
            raise SeqsearchError(f"--fillna must be one of {', '.join(FILLNA)}, got {self.fillna!r}")
        if isinstance(self.gpus, str):  # --gpus as typed: checked against this machine's GPUs
            from .devices import parse_gpus

            self.gpus = parse_gpus(self.gpus)
        if self.gpus is not None and (not isinstance(self.gpus, (list, tuple))
                                      or any(isinstance(g, bool) or not isinstance(g, int) or g < 0 for g in self.gpus)):
            raise SeqsearchError(f"--gpus must list GPU numbers like 0,1, got {self.gpus!r}")
        if self.precision not in PRECISIONS:
            raise SeqsearchError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.task is not None and self.task not in TASK_CHOICES:
            raise SeqsearchError(f"--task must be one of {', '.join(TASK_CHOICES)}, got {self.task!r}")

    def _check_forecasting(self):
        """--horizon frames a forecasting task; what forecasting cannot take."""
        for name in ("horizon", "lookback", "season"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name), 1_000_000)
        if self.horizon is not None:
            if self.task not in (None, "forecasting"):
                raise SeqsearchError(f"--horizon frames a forecasting task; leave out --task {self.task} or --horizon")
            self.task = "forecasting"
        elif self.task == "forecasting" or self.lookback is not None or self.season is not None or self.future_cols:
            raise SeqsearchError("forecasting needs --horizon: how many steps ahead to forecast (e.g. --horizon 12)")
        if self.task != "forecasting":
            return
        if Path(self.dataset).suffix.lower() not in (".csv", ".parquet"):
            raise SeqsearchError("forecasting reads a CSV or Parquet table (a time column, target column(s), "
                                 f"optional covariates and series id), not {Path(self.dataset).name}")
        if self.static_cols:
            raise SeqsearchError("--static-cols is for sequence tables; forecasting uses every other "
                                 "numeric column as a past covariate")

    def _check_engine(self):
        """The engine, its sampler and pruner, and the objectives they can optimise."""
        if self.engine not in ENGINES:
            raise SeqsearchError(f"--engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        samplers = SAMPLERS[self.engine]
        self.sampler = self.sampler or samplers[0]
        if self.sampler not in samplers:
            raise SeqsearchError(
                f"--sampler {self.sampler!r} is not available with --engine {self.engine}; choose from {', '.join(samplers)}"
            )
        objectives = list(self.objectives)
        unknown = [o for o in objectives if o not in OBJECTIVES]
        if unknown or not objectives or objectives[0] != "val_loss" or len(set(objectives)) != len(objectives):
            raise SeqsearchError(
                f"--objectives {','.join(map(str, objectives))!r}: start with val_loss and add params and/or "
                f"latency_ms, each once (e.g. val_loss,params)"
            )
        if len(objectives) > 1:
            if self.engine != "optuna":
                raise SeqsearchError("--objectives with more than val_loss needs --engine optuna")
            if self.pruner not in (None, "none"):
                raise SeqsearchError("--pruner cannot stop multi-objective trials (Optuna has no per-epoch "
                                     "report for them); leave it out or pass --pruner none")
            self.pruner = "none"
            if self.ensemble not in (None, 1):
                raise SeqsearchError("--ensemble averages the best trials by validation loss; a multi-objective "
                                     "study exports one Pareto member: leave out --ensemble or pass --ensemble 1")
        elif self.sampler == "nsga2":
            raise SeqsearchError("--sampler nsga2 is a multi-objective sampler; add --objectives val_loss,params")
        if self.engine == "kerastuner":
            if self.pruner not in (None, "none"):
                raise SeqsearchError(
                    "--pruner applies to --engine optuna; with kerastuner use --sampler hyperband, whose "
                    "schedule stops the weaker trials"
                )
            if (self.jobs or 1) > 1:
                raise SeqsearchError("--jobs needs --engine optuna (KerasTuner runs one trial at a time here)")
            self.pruner = "none"
        self.pruner = self.pruner or "sha"
        if self.pruner not in PRUNERS:
            raise SeqsearchError(f"--pruner must be one of {', '.join(PRUNERS)}, got {self.pruner!r}")

    def ensemble_size(self, n_val: int) -> int:
        """How many trials the export averages: --ensemble, else by the validation split's size."""
        if self.ensemble is not None:
            return self.ensemble
        if len(self.objectives) > 1:
            return 1
        return ENSEMBLE_SMALL_VAL if n_val < SMALL_VAL_SEQUENCES else 1

    def folds_for(self, task: str, n_val: int) -> int:
        """How many folds each completed trial is validated on: --folds, else by the split's size."""
        if self.folds is not None:
            return self.folds
        # Forecasting: one split unless asked. Three rolling origins by default made four of the six
        # forecasting benchmark sets worse (PBS_dataset: 0.97 -> 1.76 x AutoETS/AutoARIMA's MAE):
        # the earlier origins train on a fraction of a short series and outweigh the split.
        return SMALL_VAL_FOLDS if task != "forecasting" and n_val < SMALL_VAL_SEQUENCES else 1

    @property
    def study_path(self) -> Path:
        return study_dir(self.workdir, self.study)

    def to_dict(self) -> dict:
        return asdict(self)
