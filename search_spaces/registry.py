"""Registries of architecture families and recurrent cells.

Users extend the space without editing seqsearch::

    from search_spaces import register_cell, register_family

    register_cell("mincell", lambda units: MinimalRNNCell(units))

The families and the cell choice pick registrations up when the space is sampled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = [
    "register_family",
    "unregister_family",
    "register_cell",
    "unregister_cell",
    "get_family",
    "family_names",
    "get_cell",
    "cell_names",
    "CellInfo",
]

_FAMILIES: dict = {}
_CELLS: dict = {}


def register_family(name: str):
    """Class decorator: instantiate the family and make it selectable as ``family=name``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"family name must be an identifier, got {name!r}")

    def deco(cls):
        family = cls()
        family.name = name
        family.validate()
        _FAMILIES[name] = family
        return cls

    return deco


def unregister_family(name: str):
    """Remove a family (tests, or a user replacing a built-in with ``register_family``)."""
    _FAMILIES.pop(name, None)


def get_family(name: str):
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"unknown family {name!r}; registered families: {', '.join(family_names())}"
        ) from None


def family_names() -> list[str]:
    return list(_FAMILIES)


@dataclass(frozen=True)
class CellInfo:
    name: str
    # layer(units, return_sequences, dropout, recurrent_dropout, name, return_state) -> RNN layer
    make_layer: Callable
    # cell(units) -> a single-step Keras cell (for wrappers such as the feedback decoder)
    make_cell: Callable
    # True where Keras can run the layer on the cuDNN kernel (given its other conditions).
    cudnn_capable: bool
    supports_recurrent_dropout: bool


def register_cell(name: str, cell_factory: Callable, *, replace: bool = False):
    """Register a user recurrent cell: ``cell_factory(units)`` returns a Keras RNN cell.

    The cell follows the Keras RNN guide: ``call(inputs, states)`` returning
    ``(output, new_states)`` and a ``state_size``; it is wrapped in ``keras.layers.RNN``.
    Cells must be serialisable (``get_config`` + ``register_keras_serializable``) for the
    exported model to load.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"cell name must be an identifier, got {name!r}")
    if not callable(cell_factory):
        raise ValueError(f"cell_factory for {name!r} must be callable, got {cell_factory!r}")
    if name in _CELLS and not replace:
        raise ValueError(f"cell {name!r} is already registered; pass replace=True to override")

    def make_layer(units, return_sequences, dropout=0.0, recurrent_dropout=0.0, name=None, return_state=False):
        import keras

        return keras.layers.RNN(cell_factory(units), return_sequences=return_sequences, return_state=return_state, name=name)

    _CELLS[name] = CellInfo(name, make_layer, cell_factory, cudnn_capable=False, supports_recurrent_dropout=False)


def unregister_cell(name: str):
    """Remove a user cell (built-in cells stay)."""
    if name in _BUILTIN_CELLS:
        raise ValueError(f"cell {name!r} is built in and cannot be unregistered")
    _CELLS.pop(name, None)


def _builtin(name, cls_name):
    def make_layer(units, return_sequences, dropout=0.0, recurrent_dropout=0.0, name=None, return_state=False):
        import keras

        cls = getattr(keras.layers, cls_name)
        return cls(
            units,
            return_sequences=return_sequences,
            return_state=return_state,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            name=name,
        )

    def make_cell(units):
        import keras

        return getattr(keras.layers, cls_name + "Cell")(units)

    _CELLS[name] = CellInfo(
        name, make_layer, make_cell, cudnn_capable=cls_name in ("LSTM", "GRU"), supports_recurrent_dropout=True
    )


_builtin("lstm", "LSTM")
_builtin("gru", "GRU")
_builtin("simple_rnn", "SimpleRNN")
_BUILTIN_CELLS = ("lstm", "gru", "simple_rnn")


def get_cell(name: str) -> CellInfo:
    try:
        return _CELLS[name]
    except KeyError:
        raise ValueError(f"unknown cell {name!r}; registered cells: {', '.join(cell_names())}") from None


def cell_names() -> list[str]:
    return list(_CELLS)
