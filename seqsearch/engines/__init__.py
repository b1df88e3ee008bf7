"""Search engines. An engine owns the study (storage, sampler, pruner) and calls
``evaluate(ctx)`` once per trial; ``ctx.hp`` is the only thing the search space sees. Each is a
subclass of :class:`Engine` in a module of its own, named here; ``get_engine`` is the one place
that picks one. A new engine is one module here whose name ends in ``_engine``: it is found
and its ``Engine`` subclass becomes an ``--engine`` choice."""

import pkgutil
from importlib import import_module

from .base import Engine, TrialContext, TrialRecord, process_alive, process_token
from .kerastuner_engine import KerasTunerEngine
from .optuna_engine import OptunaEngine

__all__ = ["Engine", "OptunaEngine", "KerasTunerEngine", "TrialContext", "TrialRecord", "process_token", "process_alive",
           "ENGINES", "get_engine", "engine_in"]



def _engines() -> dict:
    """Every engine module of this package imported, its engines by name, the default (lowest
    ``order``) first."""
    for module in pkgutil.iter_modules(__path__):
        if module.name.endswith("_engine"):
            import_module(f".{module.name}", __name__)
    found, todo = [], list(Engine.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.name and not getattr(cls, "__abstractmethods__", None):
            found.append(cls)
    return {cls.name: cls for cls in sorted(found, key=lambda c: (c.order, c.name))}


# --engine's choices, the default first.
ENGINES: dict[str, type[Engine]] = _engines()


def get_engine(name: str) -> type[Engine]:
    from ..errors import SeqsearchError

    if name not in ENGINES:
        raise SeqsearchError(f"--engine must be one of {', '.join(ENGINES)}, got {name!r}")
    return ENGINES[name]


def engine_in(study_path) -> str | None:
    """The name of the engine whose state a study folder holds, or None when it holds none."""
    return next((name for name, cls in ENGINES.items() if cls.holds(study_path)), None)
