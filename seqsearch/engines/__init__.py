"""Search engines. An engine owns the study (storage, sampler, pruner) and calls
``evaluate(ctx)`` once per trial; ``ctx.hp`` is the only thing the search space sees."""

from .base import TrialContext, TrialRecord, process_alive, process_token
from .kerastuner_engine import KerasTunerEngine
from .optuna_engine import OptunaEngine

__all__ = ["OptunaEngine", "KerasTunerEngine", "TrialContext", "TrialRecord", "process_token", "process_alive", "get_engine"]


def get_engine(name: str):
    from ..errors import SeqsearchError

    engines = {"optuna": OptunaEngine, "kerastuner": KerasTunerEngine}
    if name not in engines:
        raise SeqsearchError(f"--engine must be one of {', '.join(engines)}, got {name!r}")
    return engines[name]
