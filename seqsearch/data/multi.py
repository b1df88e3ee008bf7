"""Several input sequences per example, on their own time axes (``search_spaces.multi_input``).

In an ``.npz``: one array ``X_<name>`` per input, each ``(n, steps_i, features_i)`` (or
``(n, steps_i)``), beside ``y``; optionally ``lengths_<name>`` (variable-length input, right-
padded), ``feature_names_<name>`` and ``classes``. A given test split: ``X_<name>_test`` for
every input beside ``y_test`` (and ``_val``). Long tables: the main table (id, time, features,
target) and ``--join name=FILE`` tables (id, time, features), joined by sequence id.

The inputs travel packed into one float32 tensor (``pack``): input i right-padded with zeros to
the longest input's steps, in its own block of channels (its mask channel last when it has
lengths). The layout (``inputs``: name, timesteps, n_features, offset, masked, feature_names)
goes into the DataSpec; the exported model takes the inputs by name and packs them itself
(``named_input_model``).
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import DataError
from .arrays import check_X, with_lengths

__all__ = ["input_names", "load_inputs_npz", "read_named", "pack", "unpack", "named_input_model",
           "check_named", "RESERVED", "describe_inputs", "make_layout", "fit_to_layout", "check_name"]

# Names an input cannot take: the splits of the one-input layout (X_train, X_test, X_val), and
# the spec's own groups.
RESERVED = ("train", "test", "val", "family", "merge", "front")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def input_names(keys) -> list:
    """The input names of an .npz holding ``X_<name>`` arrays (and no plain ``X``), in order."""
    keys = list(keys)
    if "X" in keys or "X_train" in keys:
        return []
    names = [k[2:] for k in keys if k.startswith("X_") and not k.endswith(("_test", "_val"))]
    return [n for n in names if n not in RESERVED]


def check_name(name: str, where: str) -> str:
    if not _NAME.match(name) or name in RESERVED:
        raise DataError(f"{where}: input name {name!r} must be a letter then letters, digits or '_', and not one of "
                        f"{', '.join(RESERVED)}; rename it")
    return name


def read_named(archive, path, names: list, suffix: str = "") -> dict:
    """``{name: (n, steps, width)}`` float32 for the split ``suffix`` ("", "_test", "_val"),
    each input's mask channel appended when it has ``lengths_<name><suffix>``."""
    from .npzfile import npz_array

    out, count = {}, None
    for name in names:
        key = f"X_{name}{suffix}"
        if key not in archive.files:
            raise DataError(f"{path.name} lacks {key}; the inputs are {', '.join(names)}, each needs X_<name>{suffix}")
        X = check_X(npz_array(archive, key, path), key)
        l_key = f"lengths_{name}{suffix}"
        if l_key in archive.files:
            X = with_lengths(X, npz_array(archive, l_key, path), key, l_key)
        if count is not None and len(X) != count:
            first = f"X_{names[0]}{suffix}"
            raise DataError(f"{key} has {len(X)} sequences but {first} has {count}; every input needs one sequence "
                            "per example, in the same order")
        count = len(X)
        out[name] = X.astype(np.float32, copy=False)
    return out


def _feature_names(archive, path, name, width, masked) -> list:
    from .npzfile import npz_array

    key = f"feature_names_{name}"
    n = width - int(masked)
    if key not in archive.files:
        return [f"{name}_{i}" for i in range(n)] if n > 1 else [name]
    names = [str(v) for v in npz_array(archive, key, path).tolist()]
    if len(names) != n:
        raise DataError(f"{path.name}: {key} names {len(names)} features, X_{name} has {n}")
    return names


def load_inputs_npz(path, *, target=None, **_):
    """RawArrays with the inputs packed into X, and the layout."""
    from .dataset import RawArrays
    from .npzfile import name_classes, npz_array, open_npz

    with open_npz(path, target=target, arrays="X_<name> and y") as archive:
        keys = set(archive.files)
        names = [check_name(n, path.name) for n in input_names(archive.files)]
        if "y" not in keys:
            raise DataError(f"{path.name} holds inputs {', '.join(names)} but no y (one target per example)")
        if "static" in keys:
            raise DataError(f"{path.name}: with several inputs, store per-example features as one more input of one "
                            "step, X_static of shape (n, 1, features), instead of 'static'")
        splits = {"": read_named(archive, path, names)}
        for suffix in ("_test", "_val"):
            if "y" + suffix in keys:
                splits[suffix] = read_named(archive, path, names, suffix)
        if "_val" in splits and "_test" not in splits:
            raise DataError(f"{path.name} has y_val but no y_test; a given validation split needs a given test split")
        widths = {n: splits[""][n].shape[2] for n in names}
        steps = {n: splits[""][n].shape[1] for n in names}
        for suffix, arrays in splits.items():
            for n in names:
                if arrays[n].shape[1:] != (steps[n], widths[n]):
                    raise DataError(f"X_{n}{suffix} has sequences of {arrays[n].shape[1]} steps x {arrays[n].shape[2]} "
                                    f"channels, X_{n} of {steps[n]} x {widths[n]}; every split of an input has its shape")
        layout = make_layout(names, steps, widths, {n: f"lengths_{n}" in keys for n in names},
                         {n: _feature_names(archive, path, n, widths[n], f"lengths_{n}" in keys) for n in names})
        raw = RawArrays(X=pack(splits[""], layout), y=npz_array(archive, "y", path))
        if "_test" in splits:
            raw.X_test, raw.y_test = pack(splits["_test"], layout), npz_array(archive, "y_test", path)
        if "_val" in splits:
            raw.X_val, raw.y_val = pack(splits["_val"], layout), npz_array(archive, "y_val", path)
        raw.feature_names = [f"{info['name']}:{f}" for info in layout for f in info["feature_names"]]
        if "classes" in keys:
            name_classes(raw, npz_array(archive, "classes", path), path)
    return raw, layout


def make_layout(names, steps, widths, masked, feature_names) -> list:
    """The packed tensor's layout: per input (in ``names``' order) its name, timesteps, width
    (``n_features``, a mask channel included), first channel, masked, feature names."""
    layout, offset = [], 0
    for n in names:
        layout.append({"name": n, "timesteps": int(steps[n]), "n_features": int(widths[n]), "offset": offset,
                       "masked": bool(masked[n]), "feature_names": list(feature_names[n])})
        offset += int(widths[n])
    return layout


def pack(arrays: dict, layout: list) -> np.ndarray:
    """The inputs as one (n, longest steps, every input's channels) float32 array."""
    n = len(arrays[layout[0]["name"]])
    T = max(info["timesteps"] for info in layout)
    W = sum(info["n_features"] for info in layout)
    X = np.zeros((n, T, W), dtype=np.float32)
    for info in layout:
        a, off = arrays[info["name"]], info["offset"]
        X[:, :a.shape[1], off:off + a.shape[2]] = a
    return X


def unpack(X: np.ndarray, layout: list) -> dict:
    """The named inputs of packed rows ``X`` (``pack``'s inverse)."""
    return {info["name"]: np.ascontiguousarray(
        X[:, :info["timesteps"], info["offset"]:info["offset"] + info["n_features"]]) for info in layout}


def describe_inputs(layout: list) -> str:
    """``accel 100 steps x 3, hr 10 steps x 1 (variable length)``."""
    return ", ".join(f"{i['name']} {i['timesteps']} steps x {i['n_features'] - int(i['masked'])}"
                     + (" (variable length)" if i["masked"] else "") for i in layout)


def fit_to_layout(X: np.ndarray, file_masked: bool, info: dict, where: str) -> np.ndarray:
    """A prediction input read from a file, as the model's input ``info`` takes it: an input the
    model reads as variable-length gets its mask channel (every step observed) when the file's
    sequences share one length, and is right-padded to the model's steps."""
    from .arrays import repad

    if file_masked and not info["masked"]:
        n = (X[:, :, -1] > 0.5).sum(axis=1)
        raise DataError(f"{where}: input {info['name']!r} holds sequences of different lengths ({n.min()} to {n.max()} "
                        f"steps); the model was trained on one length ({info['timesteps']}): pad them to it")
    if info["masked"] and not file_masked:
        X = np.concatenate([X, np.ones(X.shape[:2] + (1,), np.float32)], axis=2)
    if info["masked"]:
        X = repad(X, int(info["timesteps"]), where)
    return X


def check_named(arrays: dict, layout: list, where: str) -> dict:
    """Named prediction inputs checked against the model's layout: every input there, each of
    its shape, one sequence per example in each."""
    missing = [i["name"] for i in layout if i["name"] not in arrays]
    if missing:
        raise DataError(f"{where} lacks input(s) {', '.join(missing)}; the model takes "
                        f"{', '.join(i['name'] for i in layout)}")
    counts = {len(arrays[i["name"]]) for i in layout}
    if len(counts) > 1:
        raise DataError(f"{where}: the inputs hold different numbers of sequences "
                        f"({', '.join(f'{i}: {len(arrays[i])}' for i in arrays)}); one per example in each")
    out = {}
    for info in layout:
        a = arrays[info["name"]]
        want = (info["timesteps"], info["n_features"])
        if a.shape[1:] != want:
            extra = " (its last channel the mask of its lengths)" if info["masked"] else ""
            raise DataError(f"{where}: input {info['name']!r} has sequences of {a.shape[1]} steps x {a.shape[2]} "
                            f"channels; the model takes {want[0]} x {want[1]}{extra}")
        out[info["name"]] = a
    return out


def named_input_model(model, layout: list):
    """``model`` (which reads the packed tensor) behind one named input per sequence: the
    wrapper pads each input to the longest and joins their channels, inside the graph, so every
    export format takes the inputs by name."""
    import keras
    from keras import ops

    T = max(info["timesteps"] for info in layout)
    named = {info["name"]: keras.Input(shape=(info["timesteps"], info["n_features"]), name=info["name"])
             for info in layout}
    blocks = [ops.pad(named[i["name"]], [[0, 0], [0, T - i["timesteps"]], [0, 0]]) if i["timesteps"] < T
              else named[i["name"]] for i in layout]
    packed = ops.concatenate(blocks, axis=-1) if len(blocks) > 1 else blocks[0]
    return keras.Model(named, model(packed), name=model.name)
