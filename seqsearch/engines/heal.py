"""State files that heal: a record torn by a crash or a full disk is moved aside, reported in
one line, and the study continues from what is complete.

The Optuna journal:

Optuna appends each batch of records under its lock and fsyncs it, so a crash tears at most the
last write. But a torn tail is not harmless: the next append lands after the fragment, the two
fuse into one unparsable line in the middle of the file, and from then on every read of the
study fails. So every opening of a journal (``run``, ``status``, exports of a trial) first cuts
the file back to its last complete record, under the same lock that writers take.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

__all__ = ["heal_journal", "complete_prefix", "heal_json_files", "move_aside"]


def move_aside(path: Path) -> Path:
    """Rename a damaged file to a dated name beside it (kept for the user, never deleted)."""
    aside = path.with_name(f"{path.name}.torn-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    os.replace(path, aside)
    return aside


def heal_json_files(paths) -> list[str]:
    """KerasTuner's state (oracle.json, trial_*/trial.json) and seqsearch's records beside it are
    whole JSON files: each one that does not parse is moved aside. One line per file moved."""
    notes = []
    for path in paths:
        path = Path(path)
        try:
            json.loads(path.read_bytes())
            continue
        except ValueError:
            pass
        except OSError:
            continue
        aside = move_aside(path)
        notes.append(f"{path.parent.name}/{path.name} was damaged (a crash or a full disk during a write); "
                     f"moved it to {aside.name}")
    return notes


def complete_prefix(data: bytes) -> tuple[int, int]:
    """(bytes, records) of the longest prefix of ``data`` made of complete journal records:
    lines that end in a newline and hold a JSON object with an ``op_code``."""
    end = records = 0
    while end < len(data):
        nl = data.find(b"\n", end)
        if nl < 0:
            break  # no newline: the last write was cut short
        line = data[end:nl]
        if line.strip():
            try:
                record = json.loads(line)
            except ValueError:
                break
            if not isinstance(record, dict) or "op_code" not in record:
                break
            records += 1
        end = nl + 1
    return end, records


def heal_journal(path: Path, *, lock=None) -> str | None:
    """Cut ``path`` back to its complete records; the rest goes to a dated file beside it.

    Returns one line saying what was moved where, or None when the journal was whole.
    ``lock``: Optuna's journal lock object (its ``acquire``/``release`` are taken around the
    check, so no writer is half-way through an append while we look).
    """
    path = Path(path)
    if not path.is_file():
        return None
    with open(path, "rb") as handle:  # the common case, whole, needs no lock (nothing written)
        data = handle.read()
    if complete_prefix(data)[0] == len(data):
        return None
    if lock is not None:
        lock.acquire()
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        good, records = complete_prefix(data)
        if good == len(data):
            return None
        aside = path.with_name(f"{path.name}.torn-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        # The damaged tail first, synced: if we die between the two steps, nothing is lost.
        with open(aside, "wb") as handle:
            handle.write(data[good:])
            handle.flush()
            os.fsync(handle.fileno())
        with open(path, "r+b") as handle:
            handle.truncate(good)
            handle.flush()
            os.fsync(handle.fileno())
        return (f"{path.name} ended in {len(data) - good} bytes that are not a complete record (a crash or a full "
                f"disk during a write); moved them to {aside.name}: the study continues from its last complete "
                f"record ({records} kept)")
    finally:
        if lock is not None:
            lock.release()
