"""Shape the search space from a TOML or YAML file (``seqsearch run --space FILE``).

    families = ["rnn", "transformer"]      # optional: families to search
    cudnn_only = false                      # optional
    [set]                                   # optional: fix or narrow parameters
    "rnn.cell" = ["gru", "lstm"]            # a list narrows a choice
    "train.learning_rate" = [0.0005, 0.005] # [low, high] narrows a numeric range
    [set.transformer]                       # nested tables read as prefixes
    blocks = 2                              # a scalar fixes the value

YAML takes the same keys. Command-line ``--families`` replaces the file's list and ``--set``
entries override the file's.
"""

from __future__ import annotations

from pathlib import Path

from .errors import SeqsearchError, one_line

__all__ = ["load_space_file"]

KEYS = {"families", "cudnn_only", "set"}


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


_MAX_BYTES = 1 << 20


def load_space_file(path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise SeqsearchError(f"--space {str(path)!r} does not exist; pass a .toml or .yaml file")
    ext = p.suffix.lower()
    if p.stat().st_size > _MAX_BYTES:
        raise SeqsearchError(f"--space {p.name!r} is {p.stat().st_size} bytes; a space file is a few lines (at most 1 MB)")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SeqsearchError(f"--space {p.name!r} cannot be read ({e}); save it as UTF-8 text") from None
    if ext == ".toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise SeqsearchError(f"--space {p.name!r} is not valid TOML: {e}") from None
    elif ext in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise SeqsearchError("reading a YAML space file needs PyYAML (pip install pyyaml), or use TOML") from None
        try:
            # Anchors and aliases are refused: a few hundred bytes of nested aliases expand to
            # gigabytes (a "billion laughs"), and a space file never needs them.
            if any(isinstance(ev, yaml.AliasEvent) for ev in yaml.parse(text, Loader=yaml.SafeLoader)):
                raise SeqsearchError(f"--space {p.name!r} uses YAML aliases (*name); write the values out instead")
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            first = str(e).splitlines()[0]
            raise SeqsearchError(f"--space {p.name!r} is not valid YAML: {first}") from None
    else:
        raise SeqsearchError(f"--space {p.name!r} has extension {ext or '(none)'!r}; use .toml, .yaml or .yml")
    if not isinstance(data, dict):
        raise SeqsearchError(f"--space {p.name!r} must hold a table/mapping at the top level")
    unknown = set(data) - KEYS
    if unknown:
        raise SeqsearchError(f"--space {p.name!r} has unknown key(s) {sorted(unknown)}; expected {sorted(KEYS)}")
    out = {}
    if "families" in data:
        fams = data["families"]
        if not isinstance(fams, list) or not fams or not all(isinstance(f, str) for f in fams):
            raise SeqsearchError(f"--space {p.name!r}: families must be a list of names, at least one, got {one_line(repr(fams), 120)}")
        out["families"] = fams
    if "cudnn_only" in data:
        if not isinstance(data["cudnn_only"], bool):
            raise SeqsearchError(f"--space {p.name!r}: cudnn_only must be true or false")
        out["cudnn_only"] = data["cudnn_only"]
    if "set" in data:
        if not isinstance(data["set"], dict):
            raise SeqsearchError(f"--space {p.name!r}: set must be a table of NAME = VALUE")
        out["fixed"] = _flatten(data["set"])
    return out
