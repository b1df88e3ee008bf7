"""The data-kind registry: every file is read by the first kind that claims it, the pipeline asks
the kind (description, header, test metrics, export record, prediction) instead of branching,
and a new kind is one class."""

import io
import json

import numpy as np
import pytest

from seqsearch.data import load_dataset
from seqsearch.data.dataset import RawArrays
from seqsearch.data.kinds import (DataKind, get_kind, kind_names, kind_of_export, register_kind, unregister_kind)
from seqsearch.errors import DataError
from seqsearch.progress import Console

from conftest import EXAMPLES


def test_built_in_kinds_are_asked_in_order_with_plain_sequences_last():
    assert kind_names() == ["forecast", "pairs", "inputs", "text", "sequences"]
    assert get_kind(None).name == "sequences"
    with pytest.raises(ValueError, match="unknown data kind 'nope'; known kinds: forecast, pairs, inputs, text, sequences"):
        get_kind("nope")


@pytest.mark.parametrize("name, options, kind", [
    ("ItalyPowerDemand.npz", {}, "sequences"),
    ("machines.csv", {"id_col": "run_id", "target": "state"}, "sequences"),
    ("dates.tsv", {}, "pairs"),
    ("reviews.csv", {}, "text"),
    ("demand.csv", {"task": "forecasting", "horizon": 7, "target": "sales", "id_col": "store"}, "forecast"),
])
def test_each_file_is_read_by_its_kind(name, options, kind):
    ds = load_dataset(EXAMPLES / name, **options)
    assert ds.kind == kind
    info = ds.describe()
    assert info["kind"] == kind
    if kind != "sequences":
        # The kind's record is in the description, and the header says it in its own lines.
        out = io.StringIO()
        lines = get_kind(kind).header_lines(info)
        assert lines and all(isinstance(line, str) and line for line in lines)
        for line in lines:
            print(line, file=out)
        assert out.getvalue().count("\n") == len(lines)


def test_an_export_written_before_kinds_were_named_is_known_by_its_record():
    assert kind_of_export({"dataset": {"framing": {"lookback": 3}}}).name == "forecast"
    assert kind_of_export({"dataset": {"pairs": {"source_tokens": "chars"}}}).name == "pairs"
    assert kind_of_export({"dataset": {"text": {"column": "text"}}}).name == "text"
    assert kind_of_export({"dataset": {"name": "x"}}).name == "sequences"
    assert kind_of_export({"dataset": {"kind": "text", "framing": {}}}).name == "text"  # named wins


def test_the_kinds_own_test_metrics():
    from search_spaces.specs import TaskSpec

    from seqsearch.training import score

    class Fixed:
        def __init__(self, out):
            self.out = out

        def predict(self, X, **_):
            return self.out

    # Forecasting: MAE/RMSE/sMAPE of the forecast, not R^2 of a regression.
    y = np.ones((4, 2, 1), np.float32)
    forecast = score(Fixed(y + 0.5), None, y, TaskSpec(kind="forecasting", n_outputs=1, output_steps=2),
                     kind="forecast")
    assert forecast["mae"] == pytest.approx(0.5) and "r2" not in forecast
    # Pairs: the token error rate (edit distance up to the end token) beside the accuracies.
    classes = ["<pad>", "<end>", "<unk>", "a", "b"]
    truth = np.array([[3, 4, 1, 0]])
    pred = np.eye(5)[[[3, 3, 1, 0]]]  # "a a" for "a b": one substitution in two tokens
    ts = TaskSpec(kind="seq2seq", n_outputs=5, classes=classes, output_steps=4)
    pairs = score(Fixed(pred), None, truth, ts, kind="pairs")
    assert pairs["token_error_rate"] == pytest.approx(0.5) and pairs["sequence_accuracy"] == 0.0
    assert "token_error_rate" not in score(Fixed(pred), None, truth, ts)  # plain sequences: no end token rule


@pytest.fixture
def lines_kind():
    """A new kind, added as a user would in one class: ``.lines`` files, one labelled series per
    line ("label: v1 v2 ..."). Unregistered afterwards."""

    @register_kind("lines")
    class Lines(DataKind):
        order = 50
        record_key = "lines"
        extensions = (".lines",)

        def claims(self, path, table, options):
            return path.suffix == ".lines"

        def load(self, path, table, options):
            from seqsearch.data.framing import frame_task

            rows = [line.split(":") for line in path.read_text().splitlines() if line.strip()]
            X = np.array([[float(v) for v in values.split()] for _, values in rows], np.float32)[:, :, None]
            y = np.array([label.strip() for label, _ in rows])
            ds = frame_task(RawArrays(X=X, y=y), name=path.stem, source=str(path), task=options.get("task"),
                            seed=options.get("seed", 0))
            ds.kind, ds.about = self.name, {"lines": len(rows)}
            return ds

        def describe(self, ds):
            return {"lines": ds.about["lines"]}

        def header_lines(self, info):
            return [f"lines: {info['lines']} labelled series, one per line"]

        def predict_rows(self, model_file, meta, data_path, options):
            return [["id", "prediction"], ["0", "up"]], 1

    yield Lines
    unregister_kind("lines")


def test_a_new_kind_is_one_class(lines_kind, tmp_path):
    rng = np.random.default_rng(0)
    text = "".join(f"{'up' if i % 2 else 'down'}: " + " ".join(f"{v:.3f}" for v in
                   np.cumsum(rng.normal(1 if i % 2 else -1, 0.3, 8))) + "\n" for i in range(30))
    (tmp_path / "walks.lines").write_text(text)
    assert kind_names() == ["forecast", "pairs", "inputs", "text", "lines", "sequences"]
    ds = load_dataset(tmp_path / "walks.lines")
    assert ds.kind == "lines" and ds.task_spec.kind == "classification" and ds.X_train.shape[1:] == (8, 1)
    info = ds.describe()
    assert info["kind"] == "lines" and info["lines"] == 30

    class Config:
        study, timeout, trials = "walks", None, 2

    out = io.StringIO()
    Console(stream=out).header(info, Config(), 0)
    assert "lines: 30 labelled series, one per line" in out.getvalue()
    # The export records the kind; predict reads a new file with it.
    metrics = {"dataset": {}}
    get_kind("lines").annotate_export(ds, metrics)
    assert metrics["dataset"] == {"lines": {"lines": 30}}
    assert kind_of_export({"dataset": {"kind": "lines"}}).predict_rows(None, {}, None, {}) == \
        ([["id", "prediction"], ["0", "up"]], 1)


def test_a_kind_must_subclass_the_base_and_have_a_name():
    with pytest.raises(TypeError, match="must subclass DataKind"):
        register_kind("odd")(object)
    with pytest.raises(ValueError, match="must be an identifier"):
        register_kind("two words")
    assert "odd" not in kind_names()


def test_text_col_on_a_file_without_columns_is_one_line(tmp_path):
    with pytest.raises(DataError, match="--text-col names a column of a CSV or Parquet file, not of a .npz file"):
        load_dataset(EXAMPLES / "ItalyPowerDemand.npz", text_col="text")


def test_the_manifest_input_of_a_raw_string_kind_comes_from_the_kind():
    from seqsearch.manifest import manifest_input

    metrics = {"dataset": {"kind": "text", "text": {"vocabulary_size": 50, "length": 12, "column": "text"}},
               "input_shape": [None], "input_dtype": "string"}
    entry = manifest_input(metrics, {})
    assert entry["name"] == "text" and entry["dtype"] == "string" and "a vocabulary of 50 tokens" in entry["preprocessing"]
    plain = manifest_input({"dataset": {}, "input_shape": [None, 24, 1], "input_dtype": "float32"},
                           {"train.scaling": "global"})
    assert plain["name"] == "sequence" and plain["shape"] == [None, 24, 1]
    json.dumps(entry)
