"""Every family through `seqsearch run` on real data, and user extensions without editing
seqsearch."""

import numpy as np
import pytest

import keras
from conftest import EXAMPLES
from search_spaces import Choice, Family, Int, register_cell, register_family, unregister_cell, unregister_family
from test_end_to_end import _runs
from test_cli import seqsearch

pytestmark = pytest.mark.slow


def test_warm_start_runs_every_family_on_italy_power_demand(tmp_path):
    wd = tmp_path / "runs"
    r = seqsearch("run", EXAMPLES / "ItalyPowerDemand.npz", "--workdir", wd, "--warm-start", "seeds", "--trials", 6,
                  "--max-epochs", 1, "--pruner", "none", "--folds", 1)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "warm start: queued seed000_simple_rnn, seed000_transformer, seed000_bottleneck" in r.stdout
    _, _, children = _runs(wd / "ItalyPowerDemand", "ItalyPowerDemand")
    families = {ch.data.tags["seqsearch.family"] for ch in children if ch.data.tags["seqsearch.state"] == "complete"}
    assert families == {"rnn", "transformer", "rnn_bottleneck", "tlb"}
    assert {ch.data.tags["seqsearch.cudnn_eligible"] for ch in children} == {"true", "false"}


@keras.saving.register_keras_serializable(package="user_code")
class PeepholeCell(keras.layers.Layer):
    """A user's cell, written as the Keras RNN guide shows."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
        self.u = self.add_weight(shape=(self.units, self.units), name="u")

    def call(self, inputs, states):
        h = keras.ops.tanh(keras.ops.matmul(inputs, self.w) + keras.ops.matmul(states[0], self.u))
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class ConvPool(Family):
    """A user's own family: a stack of Conv1D blocks and global max pooling."""

    description = "user family: Conv1D blocks + global max pooling"
    params = (Int("blocks", 1, 3, default=2), Choice("filters", (8, 16, 32), default=16))

    def build(self, x, p, ctx):
        for i in range(p["blocks"]):
            x = keras.layers.Conv1D(p["filters"], 3, padding="same", activation="relu", name=f"user_conv_{i}")(x)
        return keras.layers.GlobalMaxPooling1D(name="user_pool")(x)


def test_user_cell_and_user_family_end_to_end(tmp_path):
    import seqsearch
    from seqsearch.progress import Console

    register_cell("peephole", lambda units: PeepholeCell(units))
    register_family("user_convpool")(ConvPool)
    try:
        r1 = seqsearch.run(EXAMPLES / "ItalyPowerDemand.npz", trials=2, max_epochs=2, workdir=tmp_path, study="cell", folds=1,
                           families=["rnn"], fixed={"rnn.cell": "peephole", "rnn.units": 16}, console=Console(quiet=True))
        r2 = seqsearch.run(EXAMPLES / "ItalyPowerDemand.npz", trials=2, max_epochs=2, workdir=tmp_path, study="fam", folds=1,
                           families=["user_convpool"], console=Console(quiet=True))
    finally:
        unregister_cell("peephole")
        unregister_family("user_convpool")
    assert r1.best_spec["rnn.cell"] == "peephole" and r2.best_spec["family"] == "user_convpool"
    for r in (r1, r2):
        model = keras.saving.load_model(r.model_path)
        assert model.predict(np.zeros((2, 24, 1), "float32"), verbose=0).shape == (2, 2)
        assert 0.0 <= r.test_metrics["accuracy"] <= 1.0


def test_seq2seq_reversal_trains_encoder_decoder_and_transformer(tmp_path):
    """Seed 001's sequence reversal: every family that can emit sequences gets trials."""
    wd = tmp_path / "runs"
    r = seqsearch("run", EXAMPLES / "reversal.npz", "--workdir", wd, "--warm-start", "seeds", "--trials", 9,
                  "--max-epochs", 2, "--pruner", "none", "--folds", 1)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "seed001_encdec" in r.stdout and "seed000_bottleneck" not in r.stdout
    assert "sequence_accuracy" in r.stdout
    _, _, children = _runs(wd / "reversal", "reversal")
    families = {ch.data.tags["seqsearch.family"] for ch in children if ch.data.tags["seqsearch.state"] == "complete"}
    assert {"encdec", "transformer_encdec", "transformer", "rnn", "tlb"} <= families
    import seqsearch as ss

    model = ss.load_model(wd / "reversal" / "best" / "model.keras")
    X = np.load(EXAMPLES / "reversal.npz")["X"][:3]
    assert model.predict(X, verbose=0).shape == (3, 5, 10)
