"""The study's own MLflow store, ``mlflow.db`` in the study folder (when no --tracking-uri is
given): its URI, a damaged one said in one line, one moved with its folder, and a new one
started from a template.

MLflow builds a new SQLite store by running every schema migration of its history, about 2 s
of CPU before a search's first trial (and of every test that runs a search). The empty store
that results is the same for every study of one MLflow version, so it is built once per
version in the user's cache folder and copied."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

from .errors import SeqsearchError, one_line

__all__ = ["local_tracking_uri", "relocate_store", "check_local_store", "start_local_store", "template_path",
           "quiet_mlflow"]


def quiet_mlflow():
    """MLflow imported, its INFO lines (a new store's migrations) off the terminal."""
    import mlflow  # noqa: F401 - its import configures the "mlflow" logger; override after

    for name in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)


def local_tracking_uri(study_path: Path) -> str:
    return f"sqlite:///{Path(study_path) / 'mlflow.db'}"


# Where the local store writes absolute artifact locations (MLflow keeps them as full URIs).
_LOCATION_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"), ("model_versions", "source"),
                     ("model_versions", "storage_location"), ("logged_models", "artifact_location"))


def relocate_store(study_path: Path, study: str) -> str | None:
    """A study folder copied or moved elsewhere: its store still names the old folder's
    ``mlartifacts``, so new artifacts would land in the original study (or nowhere) and the UI
    would show the original's files. Point every location at this folder's ``mlartifacts``.
    Returns the old location when something was rewritten."""
    import sqlite3

    db = Path(study_path) / "mlflow.db"
    if not db.is_file():
        return None
    here = (Path(study_path) / "mlartifacts").as_uri()
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as con:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
        if "experiments" not in tables:
            return None
        row = con.execute("select artifact_location from experiments where name = ?", (study,)).fetchone()
        old = row[0] if row else None
        if not old or old == here or not old.startswith("file://") or not old.endswith("/mlartifacts"):
            return None
        try:
            with con:
                for table, column in _LOCATION_COLUMNS:
                    if table not in tables or column not in {c[1] for c in con.execute(f"pragma table_info({table})")}:
                        continue
                    con.execute(f"update {table} set {column} = ? || substr({column}, ?) "
                                f"where {column} = ? or substr({column}, 1, ?) = ?",
                                (here, len(old) + 1, old, len(old) + 1, old + "/"))
        except sqlite3.OperationalError:
            # A read-only copy (an archive, another user's folder): its results still read from
            # the journal and best/; only MLflow's artifact links keep naming the old folder.
            return None
    return old


def check_local_store(study_path: Path) -> None:
    """A damaged ``mlflow.db`` said in one line before anything is written (MLflow itself, and
    its UI server, would fail later with screens of frames)."""
    import sqlite3

    db = Path(study_path) / "mlflow.db"
    if not db.is_file():
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as con:
            ok = con.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as e:
        ok = str(e)
    if ok != "ok":
        raise SeqsearchError(f"the study's tracking store {str(db)!r} is damaged ({one_line(ok, 120)}); restore it "
                             "from a copy (the trials themselves are in optuna.journal: `seqsearch status` reads them)")


def template_path() -> Path:
    """The empty store of the installed MLflow version, in ``$XDG_CACHE_HOME/seqsearch`` (or
    ``~/.cache/seqsearch``); ``SEQSEARCH_CACHE`` names another folder."""
    from importlib.metadata import version

    root = os.environ.get("SEQSEARCH_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "seqsearch"
    return Path(root).expanduser() / f"mlflow-{version('mlflow')}-empty.db"


def start_local_store(study_path: Path) -> bool:
    """Start a study's new ``mlflow.db`` as a copy of the empty template (built first when the
    cache has none for this MLflow version), its default experiment's artifacts in the study's
    ``mlartifacts``. False, and MLflow builds the store itself, when the study already has one
    or the cache folder cannot be written."""
    import sqlite3

    db = Path(study_path) / "mlflow.db"
    if db.exists():
        return False
    part = db.with_name(f".{db.name}.{os.getpid()}.part")
    try:
        template = template_path()
        if not _is_store(template):
            _build_template(template)
        shutil.copyfile(template, part)
        with contextlib.closing(sqlite3.connect(part)) as con, con:
            con.execute("update experiments set artifact_location = ? where experiment_id = 0",
                        ((Path(study_path) / "mlartifacts" / "0").as_uri(),))
        os.replace(part, db)
    except (OSError, sqlite3.Error):
        with contextlib.suppress(OSError):
            part.unlink()
        return False
    return True


def _is_store(path: Path) -> bool:
    """A complete MLflow store: its schema at a migration revision, its default experiment made."""
    import sqlite3

    if not path.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            return bool(con.execute("select version_num from alembic_version").fetchone()
                        and con.execute("select 1 from experiments where experiment_id = 0").fetchone())
    except sqlite3.Error:
        return False


def _build_template(template: Path) -> None:
    """MLflow creates an empty store in a private folder beside ``template``, which then takes
    its place in one rename (runs that build it at once each rename a complete file)."""
    import tempfile

    quiet_mlflow()
    from mlflow import MlflowClient

    template.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=template.parent) as tmp:
        made = Path(tmp) / "mlflow.db"
        MlflowClient(tracking_uri=f"sqlite:///{made}").search_experiments()
        os.replace(made, template)


def runs_table_link(study_path: Path, host: str, port: int) -> str:
    """The study's runs table in the MLflow UI: the model-training view (not the GenAI
    overview), the trials sorted by the leaderboard's metric. Read from the store with sqlite3
    (no MLflow import); the UI's front page when the study has no experiment yet."""
    import sqlite3
    from urllib.parse import quote

    base = f"http://{host}:{port}/"
    try:
        con = sqlite3.connect(f"file:{study_path / 'mlflow.db'}?mode=ro", uri=True)
        try:
            row = con.execute("SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'",
                              (study_path.name,)).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        row = None
    if row is None:
        return base
    order = quote("metrics.`ranking_val_loss`")
    return f"{base}#/experiments/{row[0]}/runs?workflowType=machine_learning&orderByKey={order}&orderByAsc=true"

