"""What a builder needs to know about the data and the task, without the data itself.

``seqsearch.data`` fills these from the training split; ``build_model`` reads them. Both are
plain dataclasses that round-trip through JSON (they are stored beside every exported model).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DataSpec", "TaskSpec", "TASKS", "PAD"]

TASKS = ("classification", "regression", "seq2seq", "forecasting")
# The padding token of seq2seq token targets (``classes[0]``): targets shorter than the longest
# end with it, and no loss or score counts it.
PAD = "<pad>"


@dataclass
class DataSpec:
    timesteps: int
    n_features: int
    feature_names: list[str] = field(default_factory=list)
    # Per-feature statistics of the training split, baked into the model's Normalization layer.
    feature_mean: list[float] = field(default_factory=list)
    feature_var: list[float] = field(default_factory=list)
    # Static (per-sequence) features ride in the last ``n_static`` channels of the input,
    # constant over time (seed 003's constant input); the model splits them off.
    n_static: int = 0
    # Variable-length sequences: right-padded to ``timesteps``, and the input's very last
    # channel (after any static ones) is 1 at observed steps and 0 at padding. The model turns
    # it into the mask its layers read; padded values never reach the output.
    masked: bool = False
    # Text: the TextVectorization vocabulary (index 0 pads, 1 is an unknown word); the input's
    # first channel holds token ids (then the mask channel), and the model starts by embedding them.
    vocabulary: list[str] = field(default_factory=list)
    # Several input sequences packed into one tensor (``search_spaces.multi_input``): per input
    # its name, timesteps, n_features (its block's width, a mask channel included), offset
    # (its block's first channel), masked, feature_names. Empty: one input sequence.
    inputs: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DataSpec":
        return cls(**d)


@dataclass
class TaskSpec:
    kind: str
    n_outputs: int
    classes: list[str] = field(default_factory=list)
    target_names: list[str] = field(default_factory=list)
    # Regression targets: the model predicts in standard units and de-standardises inside itself.
    target_mean: list[float] = field(default_factory=list)
    target_var: list[float] = field(default_factory=list)
    # seq2seq: the length of the output sequence. Its steps are tokens (``classes`` is the
    # vocabulary) or, without classes, ``n_outputs`` real values per step.
    output_steps: int = 0
    # forecasting: ``output_steps`` is the horizon and ``n_outputs`` the number of target
    # series, which are the input's first ``n_outputs`` channels; the forecast is the window's
    # last value plus a change whose statistics (per step and target, flattened) are
    # ``target_mean``/``target_var``. ``season``: the seasonal naive baseline's period.
    season: int = 1
    # forecasting: statistics of the change from the value one season before each step (the
    # seasonal base), and whether every training target value is positive (log applies).
    seasonal_mean: list[float] = field(default_factory=list)
    seasonal_var: list[float] = field(default_factory=list)
    positive: bool = False
    # forecasting, positive series: the Box-Cox exponent per target, fitted by maximum likelihood
    # on the training targets (train.target_transform=boxcox).
    boxcox_lambda: list[float] = field(default_factory=list)

    @property
    def categorical(self) -> bool:
        """Outputs are class probabilities (per sequence, or per step for token seq2seq)."""
        return self.kind == "classification" or (self.kind == "seq2seq" and bool(self.classes))

    @property
    def padded(self) -> bool:
        """Token seq2seq targets padded with ``PAD`` (id 0) after their end token."""
        return self.kind == "seq2seq" and bool(self.classes) and self.classes[0] == PAD

    def __post_init__(self):
        if self.kind not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TaskSpec":
        return cls(**d)
