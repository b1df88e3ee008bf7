"""The Dataset: train / validation / test arrays plus the DataSpec and TaskSpec built from the
training split only (no statistics leak from validation or test)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np

from search_spaces.specs import DataSpec, TaskSpec

from ..errors import DataError
from .arrays import boxcox_lambda, channel_moments, input_moments

__all__ = ["Dataset", "RawArrays"]

# The most rolling-origin folds a forecasting dataset is checked for (as --folds' bound).
MAX_ORIGINS = 20


@dataclass
class RawArrays:
    """What a loader hands over: features and targets, with the test split if the file has one."""

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    feature_names: list = field(default_factory=list)
    target_names: list = field(default_factory=list)
    # True when y holds one target *sequence* per input sequence (seq2seq).
    sequence_target: bool = False
    ids: list = field(default_factory=list)
    # Static (per-sequence) features, (n, s) per split; frame_task packs them into the last
    # channels of X, constant over time (the model splits them off again).
    static: np.ndarray | None = None
    static_test: np.ndarray | None = None
    static_val: np.ndarray | None = None
    static_names: list = field(default_factory=list)
    # How many of X's last channels are static features already (CSV --static-cols).
    n_static: int = 0
    # Variable-length sequences: X is right-padded and its very last channel is 1 at observed
    # steps, 0 at padding (``masked_array``); static channels go before it.
    masked: bool = False


@dataclass
class Dataset:
    name: str
    source: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task_spec: TaskSpec
    feature_names: list
    test_given: bool = False
    n_static: int = 0  # the last n_static features are static (constant within a sequence)
    fillna: str | None = None  # how missing values were filled (--fillna), None: there were none allowed
    masked: bool = False  # variable-length: the last channel of X marks observed steps (1) and padding (0)
    n_filled: int = 0  # values filled (or, with drop, sequences dropped)
    # The data kind (``seqsearch.data.kinds``: sequences, text, pairs, forecast) and its own
    # record: how a forecasting table was cut into windows, a text column's tokenisation, how
    # each side of seq2seq pairs was tokenised. What the pipeline does with it is the kind's.
    kind: str = "sequences"
    about: dict | None = None
    # Token inputs (text, pairs): the vocabulary fitted on the training split (token id ->
    # token) and the raw test strings (the string model's parity sample).
    vocabulary: list | None = None
    test_texts: np.ndarray | None = None
    # Forecasting: each series' target values (rows, targets) and the rows where its kept test
    # windows' targets start, in the test split's order (the statistical baselines read them).
    history: list | None = None
    baselines: dict | None = None  # forecasting: the statistical baselines' test scores
    # Forecasting: where each train+validation window lies (its series and first target row)
    # and each series' training and validation rows, for rolling-origin folds (``fold``).
    rolling: dict | None = None
    # Several input sequences, packed into X (``seqsearch.data.multi``): each input's name,
    # timesteps, n_features, offset, masked and feature names. None: one input sequence.
    inputs: list | None = None

    def data_spec(self, X: np.ndarray | None = None) -> DataSpec:
        """Input statistics of ``X`` (default: the training split) for the model's scaling layer.
        Every trial asks for the training split's: they are computed once (a pass over X)."""
        cached = self.__dict__.get("_train_moments")
        if X is None and cached is not None and cached[0] is self.X_train:
            X, (mean, var) = self.X_train, cached[1]
        else:
            default, X = X is None, self.X_train if X is None else X
            if self.inputs:  # several inputs packed: each over its own steps
                mean, var = input_moments(X, self.inputs)
            elif self.masked:  # statistics of the observed steps; the mask channel itself is left alone
                mean, var = channel_moments(X[:, :, :-1], X[:, :, -1] > 0.5)
                mean, var = np.append(mean, 0.0), np.append(var, 1.0)
            else:
                mean, var = channel_moments(X)
            if default:
                self.__dict__["_train_moments"] = (X, (mean, var))
        return DataSpec(
            timesteps=int(X.shape[1]),
            n_features=int(X.shape[2]),
            feature_names=list(self.feature_names),
            feature_mean=[float(v) for v in mean],
            feature_var=[float(max(v, 1e-12)) for v in var],
            n_static=self.n_static,
            masked=self.masked,
            vocabulary=list(self.vocabulary or []),
            inputs=[dict(info) for info in self.inputs or []],
        )

    def task_spec_for(self, y: np.ndarray, X: np.ndarray | None = None) -> TaskSpec:
        """The task spec with target statistics of ``y`` (regression de-standardises with them;
        forecasting: of the change from each window's last value, so ``X`` is needed too)."""
        ts = TaskSpec(**self.task_spec.to_dict())
        if ts.kind == "forecasting":
            if X is None:
                raise ValueError("forecasting target statistics need the windows X beside y")
            change = (y - X[:, -1:, :ts.n_outputs]).reshape(len(y), -1).astype(np.float64)
            ts.target_mean = [float(v) for v in change.mean(axis=0)]
            ts.target_var = [float(max(v, 1e-12)) for v in change.var(axis=0)]
            if 1 < ts.season <= X.shape[1]:
                idx = [X.shape[1] - ts.season + (h % ts.season) for h in range(ts.output_steps)]
                seasonal = (y - X[:, idx, :ts.n_outputs]).reshape(len(y), -1).astype(np.float64)
                ts.seasonal_mean = [float(v) for v in seasonal.mean(axis=0)]
                ts.seasonal_var = [float(max(v, 1e-12)) for v in seasonal.var(axis=0)]
            ts.positive = bool((X[:, :, :ts.n_outputs] > 0).all() and (y > 0).all())
            if ts.positive:
                # Each training row once (a window's first target), not every overlapping copy
                # of it in the windows: lookback x fewer values to fit on every load and fold.
                ts.boxcox_lambda = [boxcox_lambda(y[:, 0, j]) for j in range(ts.n_outputs)]
        elif not ts.categorical:
            y2 = y.reshape(-1, ts.n_outputs).astype(np.float64)
            ts.target_mean = [float(v) for v in y2.mean(axis=0)]
            ts.target_var = [float(max(v, 1e-12)) for v in y2.var(axis=0)]
        return ts

    def length_range(self) -> str:
        """'min-max' observed steps over every split (variable-length data)."""
        lengths = np.concatenate([(X[:, :, -1] > 0.5).sum(axis=1) for X in (self.X_train, self.X_val, self.X_test)])
        return f"{int(lengths.min())}-{int(lengths.max())}"

    @property
    def train_val(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate([self.X_train, self.X_val]), np.concatenate([self.y_train, self.y_val])

    def check_folds(self, k: int):
        """Every one of the k-1 folds :meth:`fold` deals the training split to needs a sequence
        (forecasting: every earlier validation period needs windows, and training windows before it)."""
        if k > 1 and self.rolling is not None:
            possible = self.max_folds()
            if k > possible:
                raise DataError(
                    f"--folds {k} needs {k - 1} validation period(s) before the validation split, each with training "
                    f"windows before it; the series allow {possible - 1}: pass --folds {possible} or less "
                    "(or a smaller --val-size)")
            return
        if k > 1 and len(self.X_train) < k - 1:
            raise DataError(f"--folds {k} needs at least {k - 1} training sequences, the training split has "
                            f"{len(self.X_train)}; pass a smaller --folds")

    def max_folds(self) -> int:
        """Forecasting: how many rolling-origin folds the series allow (each earlier validation
        period holds windows and has training windows before it), at most ``MAX_ORIGINS``."""
        possible = 1
        while possible < MAX_ORIGINS and all(len(part) for part in self._rolling_split(possible)):
            possible += 1
        return possible

    def fold(self, f: int, k: int, seed: int = 0) -> "Dataset":
        """Fold ``f`` (0 <= f < k) of k-fold cross-validation over train+validation, as a dataset.

        Fold 0 is this dataset (its validation split, unchanged); the training split is dealt to
        the k-1 further validation folds (stratified for classification), so every
        train+validation sequence is validated exactly once over the k folds. A fold's scaling
        and target statistics come from its own training part. Built on demand, so memory holds
        one fold at a time.

        Forecasting folds are rolling origins instead (as a forecaster is backtested): fold f
        validates on the validation period moved f periods back in every series and trains on
        the windows whose targets all lie before it."""
        if f == 0:
            return self
        self.check_folds(k)
        if self.rolling is not None:
            hold, keep = self._rolling_split(f)
            X, y = self.train_val
            out = replace(self, X_train=X[keep], y_train=y[keep], X_val=X[hold], y_val=y[hold])
            out.task_spec = self.task_spec_for(out.y_train, out.X_train)
            return out
        hold, keep = self._fold_split(f, k, seed)
        X_tr = np.concatenate([self.X_train[keep], self.X_val])
        y_tr = np.concatenate([self.y_train[keep], self.y_val])
        out = replace(self, X_train=X_tr, y_train=y_tr, X_val=self.X_train[hold], y_val=self.y_train[hold])
        out.task_spec = self.task_spec_for(y_tr, X_tr)
        return out

    def _fold_split(self, f: int, k: int, seed: int):
        """(held-out, kept) indices into the training split for fold ``f`` >= 1 of ``k``."""
        n = len(self.X_train)
        rng = np.random.default_rng(seed)
        # Deal the training sequences round-robin to k-1 folds, shuffled within each class.
        classes = self.y_train if self.task_spec.kind == "classification" else np.zeros(n, dtype=int)
        order = np.concatenate([rng.permutation(np.flatnonzero(classes == c)) for c in np.unique(classes)])
        which = np.empty(n, dtype=int)
        which[order] = np.arange(n) % (k - 1)
        return np.flatnonzero(which == f - 1), np.flatnonzero(which != f - 1)

    def _rolling_split(self, f: int):
        """(held-out, kept) indices into train+validation for rolling-origin fold ``f`` >= 1:
        the windows whose targets lie in each series' validation period moved ``f`` periods
        back, and those whose targets all come before that period."""
        r = self.rolling
        s, origin, horizon = r["series"], r["origin"], r["horizon"]
        period = r["period"][s]
        start = r["cut"][s] - f * period
        hold = (origin >= start) & (origin + horizon <= start + period)
        return np.flatnonzero(hold), np.flatnonzero(origin + horizon <= start)

    def fold_rows(self, f: int, k: int, seed: int = 0) -> np.ndarray:
        """The rows of train+validation (the training split, then the validation split) that
        fold ``f`` of ``k`` validates on, in the order of that fold's ``X_val``."""
        if f == 0:
            return np.arange(len(self.X_train), len(self.X_train) + len(self.X_val))
        if self.rolling is not None:
            return self._rolling_split(f)[0]
        return self._fold_split(f, k, seed)[0]

    def nbytes(self) -> int:
        """Bytes the splits' arrays hold (what each process that loads the dataset holds)."""
        return int(sum(np.asarray(a).nbytes for a in (self.X_train, self.y_train, self.X_val, self.y_val,
                                                       self.X_test, self.y_test) if a is not None))

    def fingerprint(self) -> str:
        """SHA-256 over every split (shapes, dtypes, bytes); computed once, the splits never change."""
        cached = self.__dict__.get("_fingerprint")
        if cached is not None:
            return cached
        h = hashlib.sha256()
        for a in (self.X_train, self.y_train, self.X_val, self.y_val, self.X_test, self.y_test):
            a = np.ascontiguousarray(a)
            h.update(str((a.shape, a.dtype.str)).encode())
            h.update(memoryview(a).cast("B"))
        self.__dict__["_fingerprint"] = h.hexdigest()[:16]
        return self.__dict__["_fingerprint"]

    def describe(self) -> dict:
        d = {
            "name": self.name,
            "source": self.source,
            "task": self.task_spec.kind,
            "timesteps": int(self.X_train.shape[1]),
            "features": int(self.X_train.shape[2]) - int(self.masked),
            "static_features": self.n_static,
            **({"lengths": self.length_range()} if self.masked else {}),
            "n_train": len(self.X_train),
            "n_val": len(self.X_val),
            "n_test": len(self.X_test),
            "test_split": "given" if self.test_given else "held out",
            "fingerprint": self.fingerprint(),
        }
        if self.fillna:
            what = "sequence(s) dropped" if self.fillna == "drop" else "value(s) filled"
            d["missing"] = f"{self.n_filled} {what} (--fillna {self.fillna})"
        if self.task_spec.kind == "classification":
            counts = np.bincount(self.y_train, minlength=len(self.task_spec.classes))
            d["classes"] = {c: int(n) for c, n in zip(self.task_spec.classes, counts)}
        from .kinds import get_kind

        d["kind"] = self.kind
        d.update(get_kind(self.kind).describe(self))
        if self.task_spec.kind == "seq2seq":
            d["output_steps"] = self.task_spec.output_steps
            d["vocabulary"] = len(self.task_spec.classes) if self.task_spec.classes else 0
        return d
