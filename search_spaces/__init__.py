"""seqsearch's search space: families of sequence architectures, written once against the
``hp`` sampler protocol. This package never imports ``seqsearch``; Keras is imported only when a
model is built, so listing or sampling the space is cheap."""

from .family import Family
from .hp import DefaultParams, FixedParams, KerasTunerHP, OptunaHP
from .params import Boolean, Choice, Float, Int
from .registry import cell_names, family_names, get_cell, get_family, register_cell, register_family, unregister_cell, unregister_family
from .specs import TASKS, DataSpec, TaskSpec

# Built-in families register themselves on import (in this order in `seqsearch spaces`).
from . import recurrent, conv, transformer, bottleneck, seq2seq, transformer_seq2seq, dense, patchtst  # noqa: F401,E402

from .space import SearchSpace, build_model, build_models, build_scorer, cudnn_eligible, spec_summary  # noqa: E402
from .recipe import compile_model  # noqa: E402
from .seeds import SEED_SPECS, seed_specs  # noqa: E402
from .portfolio import WARM_STARTS, portfolio_specs, warm_start_specs  # noqa: E402

__all__ = [
    "Family", "FixedParams", "OptunaHP", "KerasTunerHP", "DefaultParams",
    "Choice", "Int", "Float", "Boolean",
    "register_family", "register_cell", "unregister_cell", "unregister_family", "get_family", "family_names", "get_cell", "cell_names",
    "DataSpec", "TaskSpec", "TASKS",
    "SearchSpace", "build_model", "build_models", "build_scorer", "compile_model", "spec_summary", "cudnn_eligible",
    "SEED_SPECS", "seed_specs", "WARM_STARTS", "portfolio_specs", "warm_start_specs",
]
