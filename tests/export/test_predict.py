"""``seqsearch predict`` through ``seqsearch.predict`` alone: a saved model and the metadata beside
it turn a data file into one CSV row per sequence (class names and probabilities, per-step
tokens or values), wrong inputs are refused in one line, and --out is written whole or not at all."""

import csv
import io
import json

import numpy as np
import pytest

from seqsearch.errors import SeqsearchError
from seqsearch.data.kinds import prediction_rows
from seqsearch.predict import check_out, predict_file


def _classifier(folder, timesteps=8, features=2, classes=("down", "flat", "up")):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((timesteps, features)), keras.layers.Flatten(),
                              keras.layers.Dense(len(classes), activation="softmax")])
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    (folder / "metrics.json").write_text(json.dumps({"task": "classification", "classes": list(classes),
                                                     "timesteps": timesteps}))
    return model


def test_a_classifier_writes_class_names_and_probabilities_per_sequence(tmp_path):
    model = _classifier(tmp_path / "best")
    X = np.random.default_rng(0).normal(size=(5, 8, 2)).astype("float32")
    np.savez(tmp_path / "new.npz", X=X)
    out = tmp_path / "pred.csv"
    assert predict_file(tmp_path / "best", tmp_path / "new.npz", out) == 5
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["id", "prediction", "p_down", "p_flat", "p_up"] and len(rows) == 6
    probs = model.predict(X, verbose=0)
    for row, p in zip(rows[1:], probs):
        assert row[1] == ("down", "flat", "up")[int(p.argmax())]
        np.testing.assert_allclose([float(v) for v in row[2:]], p, rtol=1e-4)
    # The .keras file itself works as well as its folder.
    assert predict_file(tmp_path / "best" / "model.keras", tmp_path / "new.npz", tmp_path / "again.csv") == 5


def test_wrong_inputs_are_one_line_and_keep_what_out_held(tmp_path):
    _classifier(tmp_path / "best")
    np.savez(tmp_path / "short.npz", X=np.zeros((3, 5, 2), "float32"))
    out = tmp_path / "pred.csv"
    out.write_text("earlier predictions\n")
    with pytest.raises(SeqsearchError, match="sequences of 5 steps x 2 features; the model takes 8 x 2"):
        predict_file(tmp_path / "best", tmp_path / "short.npz", out)
    assert out.read_text() == "earlier predictions\n"
    with pytest.raises(SeqsearchError, match="is not a model: pass a study's best/ or export/ folder"):
        predict_file(tmp_path / "nothing", tmp_path / "short.npz")
    with pytest.raises(SeqsearchError, match="is a folder; name a CSV file"):
        check_out(tmp_path)
    with pytest.raises(SeqsearchError, match="does not exist; create it first"):
        check_out(tmp_path / "missing" / "p.csv")
    check_out(None)


def test_rows_follow_the_shape_of_the_outputs():
    ids = ["a", "b"]
    tokens = np.zeros((2, 3, 2), "float32")
    tokens[:, :, 1] = 0.9
    rows = list(prediction_rows(tokens, ids, {"task": "seq2seq", "classes": ["<pad>", "x"]}))
    assert rows[0] == ["id", "step", "prediction", "probability"] and rows[1] == ["a", 0, "x", "0.9"]
    assert len(rows) == 1 + 2 * 3
    values = list(prediction_rows(np.ones((2, 4, 1), "float32"), ids, {"task": "seq2seq"}))
    assert values[0] == ["id", "step", "y0"] and len(values) == 1 + 2 * 4
    regression = list(prediction_rows(np.array([[1.5], [2.25]], "float32"), ids, {"task": "regression", "classes": ["z"]}))
    assert regression == [["id", "y0"], ["a", "1.5"], ["b", "2.25"]]


def test_without_out_the_csv_goes_to_stdout(tmp_path, capsys):
    _classifier(tmp_path / "best", classes=("n", "y"))
    np.savez(tmp_path / "new.npz", X=np.ones((2, 8, 2), "float32"))
    assert predict_file(tmp_path / "best", tmp_path / "new.npz") == 2
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["id", "prediction", "p_n", "p_y"] and len(rows) == 3
