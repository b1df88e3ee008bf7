"""The pyfunc of a logged classifier: MLflow's Keras pyfunc underneath, answering each row's
class name beside one probability per class (``mlflow models serve`` returns them as records:
``{"label": "walking", "probability_walking": 0.97, ...}``).

This file is copied into the MLflow model's ``code`` folder as a top-level module, so a server
loads it without seqsearch installed: it imports numpy, pandas and MLflow only."""

from __future__ import annotations

import json
import os

CLASSES_FILE = "classes.json"
LABEL = "label"
PROBABILITY = "probability_{}"


def _load_pyfunc(path):
    """MLflow's loader hook: ``path`` is the model folder (the Keras flavour and classes.json)."""
    from mlflow.keras.load import _load_pyfunc as load_keras

    with open(os.path.join(path, CLASSES_FILE)) as f:
        classes = json.load(f)
    return LabelledClassifier(load_keras(path), classes)


def labelled(probabilities, classes):
    """A DataFrame: the most probable class name per row, then each class's probability."""
    import numpy as np
    import pandas as pd

    p = np.asarray(probabilities, dtype="float64").reshape(len(probabilities), -1)
    if p.shape[1] != len(classes):
        raise ValueError(f"the model answered {p.shape[1]} probabilities per row for {len(classes)} classes")
    out = pd.DataFrame({LABEL: [classes[i] for i in p.argmax(1)]})
    for i, c in enumerate(classes):
        out[PROBABILITY.format(c)] = p[:, i]
    return out


class LabelledClassifier:
    def __init__(self, inner, classes):
        self.inner, self.classes = inner, list(classes)

    def get_raw_model(self):
        return self.inner.get_raw_model()

    def predict(self, data, params=None):
        return labelled(self.inner.predict(data), self.classes)
