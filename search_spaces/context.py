"""What a family's ``build`` may read besides its own parameters (``build_models`` fills it)."""

from __future__ import annotations

from .scaling import standardize

__all__ = ["BuildContext"]


class BuildContext:
    """What a family may read besides its own parameters."""

    def __init__(self, data_spec, task_spec):
        self.data_spec = data_spec
        self.task_spec = task_spec
        self.targets = None  # the trainer's second input, once a family asks for it
        # Standardised static features (batch, n_static) when the spec has them initialise
        # recurrent states ("static": "init_state"); None otherwise.
        self.static = None
        # (batch, T) bool, True at observed steps, for variable-length (padded) sequences;
        # None when every sequence has every step. Families with ``masking = True`` honour it.
        self.mask = None
        # Forecasting with known-future columns: their standardised values at the forecast
        # steps (batch, horizon x k), which join the family's vector at the forecast head.
        self.future = None
        # True when the build also wants a decoder's scorer graph (``HeadValues.scorer``).
        self.scoring = False
        # A streaming build (``search_spaces.streaming``): recurrent layers take their initial
        # states from it and hand it their final ones. None: the model reads whole sequences.
        self.stream = None

    def static_states(self, cell_name: str, units: int, directions: int = 1, name: str = "static"):
        """Initial states for a recurrent layer of ``cell_name`` from the static features (a
        tanh projection per state tensor and direction: LSTM h and c, GRU h, a user cell's
        ``state_size``), or None when the spec does not use them that way."""
        if self.static is None:
            return None
        import keras

        from .registry import get_cell

        size = get_cell(cell_name).make_cell(units).state_size
        sizes = list(size) if isinstance(size, (list, tuple)) else [size]
        return [keras.layers.Dense(int(n), activation="tanh", name=f"{name}_state_{d}_{k}")(self.static)
                for d in range(directions) for k, n in enumerate(sizes)]

    def teacher_targets(self):
        """The true targets as a teacher-forced decoder reads them: token ids (batch, steps),
        or values in standard units (batch, steps, n_outputs). Only the training model
        (``build_models``' trainer) has this input; the exported model never does."""
        import keras

        ts = self.task_spec
        if ts.kind != "seq2seq":
            raise ValueError("teacher forcing needs a seq2seq task")
        if self.targets is None:
            shape = (ts.output_steps,) if ts.categorical else (ts.output_steps, ts.n_outputs)
            self.targets = keras.Input(shape=shape, dtype="int32" if ts.categorical else "float32", name="targets")
        if ts.categorical:
            return self.targets
        return standardize(self.targets, ts.target_mean, ts.target_var)
