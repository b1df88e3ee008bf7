"""The run's parts, built from its options: the dataset as the options frame it, the search
space, the engine over the study's storage, the specs a --specs file queues, and a finished
study's dataset reloaded to retrain one of its trials. The run, its --jobs workers and
``seqsearch export --trial`` build them the same way."""

from __future__ import annotations

import json
from pathlib import Path

from .config import RunConfig
from .errors import SeqsearchError

__all__ = ["load_run_dataset", "search_space", "open_engine", "load_specs_file", "load_study_dataset"]


def load_run_dataset(config):
    """The dataset exactly as ``config`` frames it (the run, its --jobs workers, --trial exports)."""
    from .data import load_dataset

    return load_dataset(
        config.dataset, task=config.task, target=config.target, id_col=config.id_col,
        time_col=config.time_col, seed=config.seed, test_size=config.test_size, val_size=config.val_size,
        static_cols=config.static_cols, fillna=config.fillna, text_col=config.text_col, tokens=config.tokens,
        lookback=config.lookback, horizon=config.horizon, season=config.season, future_cols=config.future_cols,
        join=config.join,
    )


def search_space(config, ds):
    from search_spaces import SearchSpace

    from .space_file import load_space_file

    shaped = load_space_file(config.space_file) if config.space_file else {}
    families = config.families or shaped.get("families")
    fixed = {**shaped.get("fixed", {}), **config.fixed}
    cudnn_only = config.cudnn_only or shaped.get("cudnn_only", False)
    data_spec = ds.data_spec()
    try:
        if config.streamable:  # only what `export --streaming` can rebuild
            from search_spaces.streaming import streamable_space

            families, fixed = streamable_space(families, fixed, data_spec, ds.task_spec)
        if data_spec.inputs:  # several input sequences: an encoder searched per input
            from search_spaces.multi_input import MultiInputSpace

            return MultiInputSpace(families, fixed, cudnn_only=cudnn_only, data_spec=data_spec, task_spec=ds.task_spec)
        return SearchSpace(families, fixed, cudnn_only=cudnn_only, data_spec=data_spec, task_spec=ds.task_spec)
    except ValueError as e:
        where = f" (from --space {config.space_file})" if config.space_file else ""
        raise SeqsearchError(f"{e}{where}") from None


def open_engine(config, study_path, storage, space, worker: int = 0):
    """The study opened to search with the engine --engine names (``engines.get_engine``)."""
    from .engines import get_engine

    return get_engine(config.engine).for_run(config, study_path, storage=storage, space=space, worker=worker)


def load_specs_file(path, space) -> dict:
    """``--specs FILE``: a JSON list of specs (or ``{name: spec}``), each complete (a ``spec.json``
    from an export) or partial (``{"family": "rnn", "rnn.cell": "gru"}``: defaults fill the rest),
    checked against the space before anything runs."""
    try:
        data = json.loads(Path(path).expanduser().read_text())
    except OSError as e:
        raise SeqsearchError(f"--specs {path!r} cannot be read ({e.strerror})") from None
    except ValueError as e:
        raise SeqsearchError(f"--specs {path!r} is not valid JSON ({e})") from None
    if isinstance(data, dict) and "family" in data:
        data = [data]  # one spec on its own
    if isinstance(data, list):
        items = [(f"spec-{i}", spec) for i, spec in enumerate(data)]
    elif isinstance(data, dict):
        items = list(data.items())
    else:
        raise SeqsearchError(f"--specs {path!r} must hold a list of specs (or an object of named specs)")
    named = {}
    for name, spec in items:
        if not isinstance(spec, dict) or "family" not in spec:
            raise SeqsearchError(f"--specs {path!r}: {name} is not a spec (an object with a 'family' and parameters)")
        try:
            named[str(name)] = space.default_spec(spec.get("family"), overrides=spec)
        except (ValueError, KeyError) as e:
            raise SeqsearchError(f"--specs {path!r}: {name}: {e}") from None
    return named


def load_study_dataset(study_path: Path):
    """The study's dataset, loaded with the options of its last run and checked against the
    fingerprint the study was created with (for exporting another trial than the best)."""

    try:
        cfg = json.loads((study_path / "run_config.json").read_text())
        meta = json.loads((study_path / "study.json").read_text())
    except (OSError, ValueError):
        raise SeqsearchError(f"study folder {str(study_path)!r} lacks run_config.json; rerun `seqsearch run` once") from None
    config = RunConfig(**cfg)
    ds = load_run_dataset(config)
    if ds.fingerprint() != meta.get("fingerprint"):
        raise SeqsearchError(
            f"{config.dataset} changed since study {config.study!r} ran (fingerprint {ds.fingerprint()}, "
            f"study {meta.get('fingerprint')}); a trial can only be retrained on its own data"
        )
    return config, ds
