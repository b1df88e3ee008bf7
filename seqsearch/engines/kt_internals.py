"""The one place seqsearch reaches into KerasTuner's private internals, where no public API
does what is needed. ``tests/engines/test_kerastuner_engine.py`` fails loudly if the internal moves."""

from __future__ import annotations

__all__ = ["set_project_dir"]


def set_project_dir(oracle, directory: str, project_name: str) -> None:
    """Point a stand-alone oracle at its project folder (where ``oracle.json`` and the trial
    folders live). KerasTuner does this only from inside ``Tuner.__init__``; seqsearch drives
    the oracle without a tuner (its own trial loop, its own storage of the records), so it calls
    the same setter the tuner calls."""
    setter = getattr(oracle, "_set_project_dir", None)
    if setter is None:
        raise RuntimeError("this KerasTuner version has no Oracle._set_project_dir; seqsearch's KerasTuner engine "
                           "needs a KerasTuner it supports (pip install 'keras-tuner>=1.4.7')")
    setter(directory, project_name)
