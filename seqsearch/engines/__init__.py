"""Search engines. An engine owns the study (storage, sampler, pruner) and calls
``evaluate(ctx)`` once per trial; ``ctx.hp`` is the only thing the search space sees. Each is a
subclass of :class:`Engine` in a module of its own, named here; ``get_engine`` is the one place
that picks one."""

from .base import Engine, TrialContext, TrialRecord, process_alive, process_token
from .kerastuner_engine import KerasTunerEngine
from .optuna_engine import OptunaEngine

__all__ = ["Engine", "OptunaEngine", "KerasTunerEngine", "TrialContext", "TrialRecord", "process_token", "process_alive",
           "ENGINES", "get_engine", "engine_in"]

# --engine's choices, the default first.
ENGINES: dict[str, type[Engine]] = {"optuna": OptunaEngine, "kerastuner": KerasTunerEngine}


def get_engine(name: str) -> type[Engine]:
    from ..errors import SeqsearchError

    if name not in ENGINES:
        raise SeqsearchError(f"--engine must be one of {', '.join(ENGINES)}, got {name!r}")
    return ENGINES[name]


def engine_in(study_path) -> str | None:
    """The name of the engine whose state a study folder holds, or None when it holds none."""
    return next((name for name, cls in ENGINES.items() if cls.holds(study_path)), None)
