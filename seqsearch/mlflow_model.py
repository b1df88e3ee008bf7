"""The best model in MLflow's own form: a model folder in MLflow's Keras flavour with signature
and input example (for a classifier, a pyfunc that answers class names beside the
probabilities), logged as an MLflow 3 LoggedModel that the study's parent run outputs."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from pathlib import Path

__all__ = ["log_logged_model", "keras_builtin_only", "LABELS_MODULE"]

# The classifier pyfunc's module, as the model folder's code/ holds it (top level, so a server
# without seqsearch imports it).
LABELS_MODULE = "seqsearch_labels"


def keras_builtin_only(model) -> bool:
    """Every layer (nested ones too) is one of Keras' own."""
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        if not type(layer).__module__.startswith("keras."):
            return False
        stack.extend(getattr(layer, "layers", []) or [])
    return True


def _outputs(model, x):
    """The model's outputs on a few rows, called eagerly: predict() would first trace a graph
    for them (~3 s on a CPU). A model that cannot take ``x`` eagerly (raw strings) predicts."""
    import keras

    try:
        return keras.tree.map_structure(keras.ops.convert_to_numpy, model(x, training=False))
    except Exception:  # noqa: BLE001 - predict() raises the real error if there is one
        return model.predict(x, verbose=0)


def save_mlflow_model(model, local: Path, input_example, classes, requirements, mlflow_model=None) -> bool:
    """Write the MLflow model folder ``local``; True when the Keras model went in exported
    (SavedModel) form. A model of Keras' own layers only is saved as it is (a fraction of a
    second) and loads with Keras alone; one with seqsearch's custom layers (transformer, TLB,
    encdec) is saved exported, which MLflow loads with TensorFlow alone, without those layers
    registered; tracing it takes ~10 s on a CPU."""
    import mlflow.keras
    from mlflow.models import Model, infer_signature

    from .pyfunc_labels import CLASSES_FILE, labelled

    classes = None if classes is None else [_plain(c) for c in classes]
    outputs = _outputs(model, input_example)
    # A classifier's pyfunc answers names and probabilities; the signature says so.
    signature = infer_signature(input_example, labelled(outputs, classes) if classes else outputs)
    exported = not keras_builtin_only(model)
    # mlflow.keras (3.17) writes the input example before it creates the model folder: make it first.
    local.mkdir()
    with contextlib.redirect_stdout(io.StringIO()):  # the export prints its signature
        mlflow.keras.save_model(model, str(local), signature=signature, input_example=input_example,
                                pip_requirements=requirements, save_exported_model=exported,
                                mlflow_model=mlflow_model)
    if classes:
        import json

        (local / CLASSES_FILE).write_text(json.dumps(classes))
        (local / "code").mkdir()
        shutil.copyfile(Path(__file__).with_name("pyfunc_labels.py"), local / "code" / f"{LABELS_MODULE}.py")
        conf = Model.load(str(local / "MLmodel"))
        conf.flavors["python_function"].update(loader_module=LABELS_MODULE, code="code")
        conf.save(str(local / "MLmodel"))
    return exported


def log_logged_model(client, experiment_id: str, run_id: str, model, input_example, classes, requirements,
                     params: dict, tags: dict) -> tuple[str, bool]:
    """Log ``model`` as a LoggedModel named ``best_model``, output of run ``run_id``, with the
    spec as its params; returns its id and whether it went in exported form."""
    from mlflow.entities import LoggedModelOutput
    from mlflow.models import Model

    logged = client.create_logged_model(experiment_id, name="best_model", source_run_id=run_id,
                                        params={k: str(v) for k, v in params.items()},
                                        tags={k: str(v) for k, v in tags.items()}, model_type="seqsearch")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "best_model"
            conf = Model(artifact_path=logged.artifact_location, model_uuid=logged.model_id, run_id=run_id,
                         model_id=logged.model_id)
            exported = save_mlflow_model(model, local, input_example, classes, requirements, conf)
            client.log_model_artifacts(logged.model_id, str(local))
        client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
    except BaseException:
        client.finalize_logged_model(logged.model_id, "FAILED")
        raise
    client.finalize_logged_model(logged.model_id, "READY")
    return logged.model_id, exported


def _plain(value):
    """A class name as JSON writes it (numpy integers and strings to Python's)."""
    return value.item() if hasattr(value, "item") else value
