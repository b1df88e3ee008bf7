"""The best model's MLflow folder: a classifier's pyfunc answers class names and probabilities
(without seqsearch on the path), a regressor's stays MLflow's Keras pyfunc."""

import json
import subprocess
import sys

import numpy as np
import pytest

from seqsearch.mlflow_model import save_mlflow_model
from seqsearch.pyfunc_labels import labelled


def _model(outputs, activation):
    import keras

    inp = keras.Input((5, 2))
    return keras.Model(inp, keras.layers.Dense(outputs, activation=activation)(keras.layers.Flatten()(inp)))


def test_labelled_names_each_row_and_keeps_the_probabilities():
    p = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])
    out = labelled(p, [3, 7, 11])
    assert list(out.columns) == ["label", "probability_3", "probability_7", "probability_11"]
    assert list(out["label"]) == [7, 3]
    np.testing.assert_allclose(out.iloc[:, 1:].to_numpy(), p)
    with pytest.raises(ValueError, match="2 probabilities per row for 3 classes"):
        labelled(p[:, :2], ["a", "b", "c"])


def test_a_classifier_answers_class_names_in_a_process_without_seqsearch(tmp_path):
    model = _model(3, "softmax")
    X = np.random.default_rng(0).normal(size=(4, 5, 2)).astype("float32")
    assert not save_mlflow_model(model, tmp_path / "m", X[:2], np.array(["left", "right", "up"]), [])
    conf = json.loads((tmp_path / "m" / "classes.json").read_text())
    assert conf == ["left", "right", "up"]
    # A fresh interpreter whose path has no seqsearch: the model folder's code/ is enough.
    script = (
        "import sys, json, numpy as np, mlflow.pyfunc\n"
        "sys.modules['seqsearch'] = None  # any import of seqsearch now fails\n"
        f"m = mlflow.pyfunc.load_model({str(tmp_path / 'm')!r})\n"
        f"out = m.predict(np.load({str(tmp_path / 'x.npy')!r}))\n"
        "print(json.dumps(out.to_dict(orient='list')))\n"
    )
    np.save(tmp_path / "x.npy", X)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONNOUSERSITE": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    p = model.predict(X, verbose=0)
    assert out["label"] == list(np.array(["left", "right", "up"])[p.argmax(1)])
    np.testing.assert_allclose(np.array([out[f"probability_{c}"] for c in ("left", "right", "up")]).T, p,
                               rtol=1e-5, atol=1e-6)


def test_a_regressor_keeps_the_keras_pyfunc(tmp_path):
    import mlflow.pyfunc

    model = _model(2, None)
    X = np.ones((3, 5, 2), "float32")
    save_mlflow_model(model, tmp_path / "m", X[:2], None, [])
    assert not (tmp_path / "m" / "code").exists()
    np.testing.assert_allclose(np.asarray(mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(X)),
                               model.predict(X, verbose=0), rtol=1e-5)
