"""Keras 3 backends and precision, end to end: the quick start and a sample of the family
contract on the JAX backend (each in a process of its own: a process runs one backend), and a
mixed-precision search whose export is float32 with parity in every format."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import make_classification

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _on_jax(args, cwd, timeout=900):
    env = dict(os.environ, KERAS_BACKEND="jax")
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


@pytest.fixture
def jax_installed():
    pytest.importorskip("jax", reason="the JAX backend needs jax (pip install -e '.[test]' installs it)")


def test_quick_start_on_the_jax_backend_and_its_export(jax_installed, tmp_path):
    data = REPO / "examples" / "data" / "ItalyPowerDemand.npz"
    r = _on_jax(["-m", "seqsearch", "run", data, "--trials", 3, "--max-epochs", 3, "--workdir", tmp_path / "runs",
                 "--set", "train.augment=jitter"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Keras on jax, float32" in r.stdout and "test (1029 sequences): accuracy" in r.stdout
    metrics = json.loads((tmp_path / "runs" / "ItalyPowerDemand" / "best" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.6
    # Export converts through TensorFlow, installed here, whatever KERAS_BACKEND says.
    r = _on_jax(["-m", "seqsearch", "export", "ItalyPowerDemand", "--workdir", tmp_path / "runs"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    manifest = json.loads((tmp_path / "runs" / "ItalyPowerDemand" / "export" / "manifest.json").read_text())
    assert set(manifest["formats"]) == {"keras", "savedmodel", "onnx", "tflite"}
    assert all(f["max_abs_diff"] <= 1e-4 for f in manifest["formats"].values())


def test_family_contract_sample_and_augmentation_on_the_jax_backend(jax_installed, tmp_path):
    """A sample of the family contract at the low end of the ranges, one case at mixed precision,
    the recipe's augmentations (in NumPy on this backend) and the TLB trained compiled with
    dropout: the tests that run on TensorFlow everywhere else, unchanged."""
    # Every head, most families (each case's eager step costs seconds to compile on JAX).
    sample = ("rnn-classification", "conv-regression", "transformer-seq2seq_tokens", "rnn_bottleneck-forecasting",
              "encdec-seq2seq_values", "mlp-forecasting", "patchtst-forecasting")
    chosen = " or ".join(f"test_family_contract[{c}-low]" for c in sample)
    mixed = "test_family_trains_at_mixed_precision[conv-regression]"
    r = _on_jax(["-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-q", "--durations=0",
                 "tests/space/test_families_contract.py", "tests/training/test_augment.py", "tests/space/test_tlb.py",
                 "-k", f"{chosen} or {mixed} or test_augment or test_trains_compiled_with_dropout"], cwd=REPO)
    assert r.returncode == 0, r.stdout[-4000:]
    summary = r.stdout.strip().splitlines()[-1]
    assert "failed" not in summary and "skipped" not in summary and "error" not in summary, summary
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed == len(sample) + 1 + 5 + 1, summary  # the sample, its mixed case, augmentation, the TLB


def test_mixed_precision_search_exports_float32_with_parity(tmp_path):
    import keras
    import seqsearch
    from seqsearch.formats import export_formats
    from seqsearch.progress import Console

    X, y = make_classification(n=60, t=16, f=2)
    np.savez(tmp_path / "m.npz", X=X, y=y)
    r = seqsearch.run(tmp_path / "m.npz", workdir=tmp_path / "runs", console=Console(quiet=True), trials=2,
                      max_epochs=3, families=["conv", "rnn"], warm_start="none", folds=1, ensemble=1,
                      precision="mixed")
    best = r.study_path / "best"
    model = keras.saving.load_model(best / "model.keras", compile=False)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    manifest = export_formats(best, tmp_path / "export")
    assert set(manifest["formats"]) == {"keras", "savedmodel", "onnx", "tflite"}
    assert all(f["max_abs_diff"] <= 1e-4 for f in manifest["formats"].values())
    # The trials trained mixed: each MLflow run says so.
    from test_end_to_end import _runs

    _, _, children = _runs(r.study_path, "m")
    assert {c.data.tags.get("seqsearch.precision") for c in children} == {"mixed_bfloat16"}
    assert {c.data.tags.get("seqsearch.device") for c in children} == {"CPU"}
