"""Export: every format loaded with its own runtime must predict what the Keras model does."""

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from conftest import make_classification
from search_spaces import SearchSpace
from seqsearch.data.dataset import RawArrays
from seqsearch.data.forecast import load_forecast
from seqsearch.data.framing import frame_task
from seqsearch.engines import TrialRecord
from seqsearch.errors import SeqsearchError
from seqsearch.export import export_best
from seqsearch.formats import FORMATS, export_formats
from test_cli import seqsearch

pytestmark = pytest.mark.slow

CLF = frame_task(RawArrays(X=make_classification(n=30, t=12, f=2)[0], y=make_classification(n=30, t=12, f=2)[1]),
                 name="waves", source="generated")
LONG = frame_task(RawArrays(X=make_classification(n=30, t=300, f=1)[0], y=make_classification(n=30, t=300, f=1)[1]),
                  name="long", source="generated")
REVERSAL_X = np.random.default_rng(0).integers(1, 10, size=(30, 5, 1)).astype("float32")
S2S = frame_task(RawArrays(X=REVERSAL_X, y=REVERSAL_X[:, ::-1, 0].astype(int), sequence_target=True),
                 name="rev", source="generated")



def _monthly_sales() -> Path:
    """Two positive monthly series with a trend and a yearly cycle, as a table."""
    import pandas as pd

    r = np.arange(60)
    rows = [pd.DataFrame({"id": sid, "date": pd.date_range("2020-01-01", periods=60, freq="MS"),
                          "sales": 100.0 * (k + 1) + r + 10 * np.sin(2 * np.pi * r / 12)}) for k, sid in enumerate("ab")]
    path = Path(tempfile.mkdtemp()) / "sales.csv"
    pd.concat(rows).to_csv(path, index=False)
    return path


# Season 12 inside a lookback of 12: forecasts on a seasonal base, in log units.
FORECAST = load_forecast(_monthly_sales(), horizon=4)


def _planned_promotions() -> Path:
    """The monthly series with a promotion flag planned ahead (a known-future column)."""
    import pandas as pd

    table = pd.read_csv(_monthly_sales())
    table["promo"] = np.random.default_rng(0).integers(0, 2, size=len(table)).astype(float)
    table["sales"] += 20 * table["promo"]
    path = Path(tempfile.mkdtemp()) / "promo.csv"
    table.to_csv(path, index=False)
    return path


# The window's channels, then the promotion at the 4 forecast steps (the head reads them).
FORECAST_FUTURE = load_forecast(_planned_promotions(), horizon=4, target="sales", future_cols=["promo"])

CASES = {
    "lstm_stack": (CLF, "rnn", {"rnn.cell": "lstm", "rnn.layers": 2, "rnn.units": 16}),
    "bidirectional_gru": (CLF, "rnn", {"rnn.cell": "gru", "rnn.units": 16, "rnn.bidirectional": True,
                                       "train.scaling": "per_series"}),
    "transformer": (CLF, "transformer", {"transformer.d_model": 16, "transformer.blocks": 1, "transformer.heads": 2}),
    "encoder_decoder": (S2S, "encdec", {"encdec.units": 16, "encdec.attention": "luong"}),
    # Step-by-step decoding that feeds back its own arg-max token (ONNX has no TF argmax ops).
    "teacher_forced_decoder": (S2S, "encdec", {"encdec.units": 16, "encdec.decoder": "teacher",
                                               "encdec.attention": "bahdanau"}),
    # Greedy decoding unrolled in the graph: every step runs the decoder blocks over the tokens so far.
    "transformer_encoder_decoder": (S2S, "transformer_encdec", {
        "transformer_encdec.d_model": 32, "transformer_encdec.heads": 2, "transformer_encdec.encoder_layers": 1,
        "transformer_encdec.decoder_layers": 1, "transformer_encdec.tie_embeddings": True}),
    "tlb": (CLF, "tlb", {"tlb.chunk_size": 4, "tlb.dim": 16}),
    # LSTM-FCN: three conv blocks beside an LSTM over the shuffled axes.
    "lstm_fcn": (CLF, "conv", {"conv.filters": 32, "conv.rnn_branch": "lstm", "conv.rnn_units": 8}),
    "inception": (CLF, "conv", {"conv.arch": "inception", "conv.branch_filters": 8, "conv.max_kernel": 10}),
    # A long series: average pooling by 2 before the convolutions.
    "fcn_stem": (LONG, "conv", {"conv.filters": 32, "conv.blocks": 2, "conv.stem": 2}),
    # Forecasting: raw windows in, the series' units out, whatever the target handling.
    "forecast_seasonal_log": (FORECAST, "rnn", {"rnn.units": 16, "train.forecast_base": "seasonal",
                                                "train.target_transform": "log"}),
    "forecast_seasonal_window": (FORECAST, "rnn", {"rnn.units": 16, "train.forecast_base": "seasonal",
                                                   "train.output_scale": "window"}),
    "forecast_linear": (FORECAST, "mlp", {"mlp.layers": 0}),
    "forecast_boxcox": (FORECAST, "mlp", {"mlp.layers": 1, "mlp.units": 32, "train.target_transform": "boxcox"}),
    "forecast_mlp": (FORECAST, "mlp", {"mlp.layers": 2, "mlp.units": 32, "train.forecast_base": "seasonal"}),
    "forecast_future_gru": (FORECAST_FUTURE, "rnn", {"rnn.cell": "gru", "rnn.units": 16}),
    "forecast_future_linear": (FORECAST_FUTURE, "mlp", {"mlp.layers": 0, "train.target_transform": "log"}),
    # The decoder over the horizon, each step reading its own step's promotion, its outputs fed back.
    "forecast_future_encdec": (FORECAST_FUTURE, "encdec", {"encdec.units": 16, "encdec.decoder": "feedback"}),
    # Channel independence: the batch reshaped to one univariate series per channel and back.
    "forecast_patchtst": (FORECAST_FUTURE, "patchtst", {"patchtst.d_model": 16, "patchtst.blocks": 1}),
}


def _best_dir(tmp_path, ds, family, overrides):
    # The recipe's values as --set gives them (some, like Box-Cox, only exist when asked for).
    recipe = {k: v for k, v in overrides.items() if k.startswith("train.")}
    space = SearchSpace(fixed=recipe, data_spec=ds.data_spec(), task_spec=ds.task_spec)
    spec = space.default_spec(family, overrides)
    record = TrialRecord(number=0, state="complete", value=1.0, spec=spec, attrs={"best_epoch": 0})
    export_best(record, ds, seed=0, best_dir=tmp_path / "best", study="t")
    return tmp_path / "best"


@pytest.mark.parametrize("case", list(CASES))
def test_every_format_matches_keras(case, tmp_path):
    ds, family, overrides = CASES[case]
    best = _best_dir(tmp_path, ds, family, overrides)
    manifest = export_formats(best, tmp_path / "export", FORMATS)
    assert set(manifest["formats"]) == set(FORMATS)
    for fmt, info in manifest["formats"].items():
        assert info["max_abs_diff"] <= 1e-4, (fmt, info)
        assert (tmp_path / "export" / info["path"]).exists()
    on_disk = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert on_disk["input"]["shape"] == [None, ds.X_train.shape[1], ds.X_train.shape[2]]
    assert on_disk["classes"] == ds.task_spec.classes and on_disk["task"] == ds.task_spec.kind
    assert {"keras", "tensorflow", "numpy"} <= set(on_disk["versions"])
    # Each format's tensors as its own runtime sees them, its batch limit, the ONNX opset, and
    # a hash of every file (the SavedModel's by their path inside it).
    steps, feats = ds.X_train.shape[1:]
    for fmt, info in on_disk["formats"].items():
        assert len(info["inputs"]) == 1 and info["inputs"][0]["name"] and info["outputs"], (fmt, info)
        assert info["inputs"][0]["shape"][1:] == [steps, feats], (fmt, info["inputs"])
        assert info["batch"] == (1 if fmt == "tflite" else "any")
    assert on_disk["formats"]["tflite"]["inputs"][0]["shape"][0] == 1
    assert on_disk["formats"]["onnx"]["opset"] >= 13
    if ds.n_static and ds.task_spec.kind == "forecasting":
        assert on_disk["input"]["future_block"].startswith("the last 4 channels: the known-future column(s) promo at "
                                                           "forecast steps 1..4")
    export = tmp_path / "export"
    files = {p.relative_to(export).as_posix() for p in export.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert set(on_disk["sha256"]) == files
    assert on_disk["sha256"]["model.onnx"] == hashlib.sha256((export / "model.onnx").read_bytes()).hexdigest()


def test_parity_failure_names_the_format_and_keeps_the_old_export(tmp_path):
    best = _best_dir(tmp_path, CLF, "rnn", {"rnn.units": 16})
    export_formats(best, tmp_path / "export", ["keras"])
    before = sorted(p.name for p in (tmp_path / "export").iterdir())
    with pytest.raises(SeqsearchError, match="onnx export differs from the Keras model by .* \\(tolerance -1\\)"):
        export_formats(best, tmp_path / "export", ["onnx"], tolerance=-1.0)
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]


def test_export_cli(tmp_path):
    X, y = make_classification(n=30, t=8, f=1, classes=("p", "q"))
    np.savez(tmp_path / "d.npz", X=X, y=y)
    r = seqsearch("run", tmp_path / "d.npz", "--workdir", tmp_path / "runs", "--trials", 1, "--max-epochs", 1, "--folds", 1,
                  "--families", "rnn", "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    r = seqsearch("export", "d", "--workdir", tmp_path / "runs", "--format", "keras,onnx", "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "onnx" in r.stdout and (tmp_path / "out" / "model.onnx").is_file()
    r = seqsearch("export", "d", "--workdir", tmp_path / "runs", "--format", "pickle")
    assert r.returncode == 2 and "choose from keras, savedmodel, onnx, tflite" in r.stderr
    r = seqsearch("export", "nope", "--workdir", tmp_path / "runs")
    assert r.returncode == 2 and "has no best model" in r.stderr


def test_export_and_predict_of_the_seed_bottleneck_print_nothing(tmp_path):
    # The seed's bottleneck attends over one token: Keras warns at every trace that the softmax
    # is constant. Neither export (every format) nor predict may show it, or any other line.
    _best_dir(tmp_path / "runs" / "s", CLF, "rnn_bottleneck",
              {"rnn_bottleneck.tokens": 1, "rnn_bottleneck.rnn_units": 16, "rnn_bottleneck.bottleneck_dim": 16})
    r = seqsearch("export", "s", "--workdir", tmp_path / "runs", "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr[-2000:]
    assert all(fmt in r.stdout for fmt in FORMATS) and r.stderr == "", r.stderr
    np.savez(tmp_path / "new.npz", X=CLF.X_test[:3])
    r = seqsearch("predict", tmp_path / "runs" / "s" / "best", tmp_path / "new.npz")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 4, r.stderr[-2000:]
    assert r.stderr == "", r.stderr


def test_predict_cli_on_npz_and_long_csv(tmp_path):
    from conftest import write_long_csv

    X, y = make_classification(n=30, t=8, f=2, classes=("down", "up"))
    write_long_csv(tmp_path / "train.csv", X, y)
    r = seqsearch("run", tmp_path / "train.csv", "--workdir", tmp_path / "runs", "--trials", 1, "--max-epochs", 1, "--folds", 1,
                  "--families", "rnn", "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    best = tmp_path / "runs" / "train" / "best"
    # New data in the training format, without the label column.
    Xn, _ = make_classification(n=5, t=8, f=2, classes=("down", "up"), seed=7)
    import pandas as pd

    write_long_csv(tmp_path / "new.csv", Xn, np.array(["?"] * 5))
    pd.read_csv(tmp_path / "new.csv").drop(columns=["label"]).to_csv(tmp_path / "new.csv", index=False)
    r = seqsearch("predict", best, tmp_path / "new.csv", "--out", tmp_path / "p.csv")
    assert r.returncode == 0, r.stderr[-2000:]
    out = pd.read_csv(tmp_path / "p.csv")
    assert list(out.columns) == ["id", "prediction", "p_down", "p_up"] and len(out) == 5
    assert set(out["prediction"]) <= {"down", "up"}
    np.testing.assert_allclose(out["p_down"] + out["p_up"], 1.0, atol=1e-4)
    np.savez(tmp_path / "new.npz", X=Xn)
    r = seqsearch("predict", best / "model.keras", tmp_path / "new.npz")
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "id,prediction,p_down,p_up" and len(r.stdout.splitlines()) == 6
    np.savez(tmp_path / "wrong.npz", X=np.zeros((2, 9, 2)))
    r = seqsearch("predict", best, tmp_path / "wrong.npz")
    assert r.returncode == 2 and "has sequences of 9 steps x 2 features; the model takes 8 x 2" in r.stderr
    r = seqsearch("predict", tmp_path, tmp_path / "new.npz")
    assert r.returncode == 2 and "is not a model" in r.stderr
