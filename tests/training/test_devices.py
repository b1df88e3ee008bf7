"""Where the processes train (seqsearch.devices): the GPUs --gpus picks, the environment each
process starts its backend with, the dtype policy of --precision, and bad input in one line."""

import os

import pytest

from seqsearch import devices as D
from seqsearch.config import RunConfig
from seqsearch.errors import SeqsearchError


@pytest.fixture
def four_gpus(monkeypatch):
    monkeypatch.setattr(D, "gpu_nodes", lambda: [0, 1, 2, 3])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_visible_gpus_follow_cuda_visible_devices(four_gpus, monkeypatch):
    assert D.visible_gpus() == [0, 1, 2, 3]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert D.visible_gpus() == [0, 1]  # CUDA renumbers what it is shown from 0
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,-1,2")
    assert D.visible_gpus() == [0]  # -1 hides every device after it
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert D.visible_gpus() == []
    monkeypatch.setattr(D, "gpu_nodes", lambda: [])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert D.visible_gpus() == []


def test_gpus_option_picks_among_the_visible_ones(four_gpus):
    assert D.parse_gpus(None) == [0, 1, 2, 3]  # default: every visible GPU
    assert D.parse_gpus("all") == [0, 1, 2, 3]
    assert D.parse_gpus("none") == []
    assert D.parse_gpus("3, 1,3") == [3, 1]
    with pytest.raises(SeqsearchError, match=r"^--gpus 4: there is no GPU 4 here \(GPUs 0,1,2,3\)"):
        D.parse_gpus("4")
    with pytest.raises(SeqsearchError, match="give GPU numbers like 0,1"):
        D.parse_gpus("0,x")
    with pytest.raises(SeqsearchError, match="no GPU this process can use"):
        D.parse_gpus("0", visible=[])
    # Through the run's configuration: a typed --gpus is checked, a resolved list is kept.
    assert RunConfig(dataset="x.npz", gpus="2,0").gpus == [2, 0]
    assert RunConfig(dataset="x.npz", gpus=[5]).gpus == [5]  # a worker's copy of the parent's list
    with pytest.raises(SeqsearchError, match="--gpus must list GPU numbers"):
        RunConfig(dataset="x.npz", gpus=[-1])
    with pytest.raises(SeqsearchError, match="--precision must be one of float32, mixed"):
        RunConfig(dataset="x.npz", precision="float16")


def test_each_process_gets_its_own_gpu_round_robin_with_memory_growth(four_gpus, monkeypatch):
    for key in D.GROWTH_ENV:  # restored after the test (monkeypatch restores only what it saw set)
        monkeypatch.setenv(key, "x")
        monkeypatch.delenv(key)
    envs = [D.process_env(D.cuda_ids([1, 3]), p) for p in range(5)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["1", "3", "1", "3", "1"]
    assert all(e["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" and e["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
               for e in envs)
    # Under a narrowed CUDA_VISIBLE_DEVICES, --gpus numbers index its list; the ids are read
    # once, so the main process narrowing its own view changes nothing for the workers.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    ids = D.cuda_ids([0, 1])
    D.apply_env(D.process_env(ids, 0))
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2"
    assert [D.process_env(ids, p)["CUDA_VISIBLE_DEVICES"] for p in range(2)] == ["2", "3"]
    # --gpus none on a GPU machine: the processes do not see the GPUs at all.
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert D.process_env([], 0)["CUDA_VISIBLE_DEVICES"] == "-1"
    monkeypatch.setattr(D, "gpu_nodes", lambda: [])
    assert "CUDA_VISIBLE_DEVICES" not in D.process_env([], 0)  # a CPU machine: nothing to hide


def test_apply_env_keeps_a_users_memory_setting(monkeypatch):
    # setenv before delenv: monkeypatch restores only what it saw set.
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "true")
    for key in ("TF_FORCE_GPU_ALLOW_GROWTH", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.setenv(key, "x")
        monkeypatch.delenv(key)
    D.apply_env({"CUDA_VISIBLE_DEVICES": "1", **D.GROWTH_ENV})
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "true"
    assert os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"


def test_precision_policies_and_backends(monkeypatch):
    assert D.dtype_policy("float32", on_gpu=True) == "float32"
    assert D.dtype_policy("mixed", on_gpu=True) == "mixed_float16"
    assert D.dtype_policy("mixed", on_gpu=False) == "mixed_bfloat16"
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    with pytest.raises(SeqsearchError, match="^KERAS_BACKEND='torch': seqsearch trains on tensorflow or jax"):
        D.backend()


def test_this_machine_is_described_and_recorded_per_trial(monkeypatch):
    """On this CPU machine (the TensorFlow backend the tests run on)."""
    monkeypatch.setattr(D, "_gpu_names", lambda: [])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    line = D.describe(cores=2)
    assert line.startswith("devices: CPU (") and line.endswith(f"2 cores); Keras on {D.backend()}, float32")
    assert D.describe(cores=1, precision="mixed").endswith("mixed_bfloat16")
    assert D.trial_device() == "CPU"
    # A process given a GPU its backend cannot see says so in each trial's record.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert D.trial_device() == f"CPU (GPU 1 not found by {D.backend()})"
    monkeypatch.setattr(D, "_gpu_names", lambda: ["NVIDIA H200 (139 GiB)"])
    assert D.trial_device() == "GPU 1 NVIDIA H200 (139 GiB)"
    assert D.describe(cores=2).startswith("devices: GPU 0 NVIDIA H200 (139 GiB); Keras on")
    assert D.describe(cores=2, gpus=[0, 1]).startswith("devices: GPU 0,1 NVIDIA H200 (139 GiB), one per process;")
    assert D.describe(cores=2, precision="mixed").endswith("mixed_float16")
    monkeypatch.setattr(D, "_gpu_names", lambda: [])
    assert "2 cores); GPU 1 given but not found by" in D.describe(cores=2, gpus=[1])
