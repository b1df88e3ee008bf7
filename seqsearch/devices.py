"""Where a search's processes train: the Keras backend, the GPUs visible to this machine and which
one each process gets (``--gpus``), and the numeric precision of its trials (``--precision``).

Everything here that decides (GPU list, per-process environment) reads the machine without
importing TensorFlow or JAX: a process's GPU must be chosen in its environment before its
backend starts. ``describe`` and ``trial_device`` ask the started backend what it runs on.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from .errors import SeqsearchError, one_line

__all__ = ["BACKENDS", "PRECISIONS", "backend", "gpu_nodes", "visible_gpus", "parse_gpus", "cuda_ids", "process_env", "apply_env",
           "dtype_policy", "describe", "trial_device", "export_backend"]

# The Keras 3 backends seqsearch trains on (KERAS_BACKEND).
BACKENDS = ("tensorflow", "jax")
# --precision: float32 everywhere, or Keras' mixed policy for the trials (float16 compute on a GPU,
# bfloat16 on a CPU; variables, input scaling and outputs stay float32).
PRECISIONS = ("float32", "mixed")
# Each process allocates GPU memory as it needs it, so several share a card without each
# claiming all of it first (TensorFlow reserves the whole card by default, JAX 75% of it).
GROWTH_ENV = {"TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


def backend() -> str:
    """The Keras backend this process uses (``KERAS_BACKEND``; seqsearch's default TensorFlow),
    refused with one line when seqsearch does not train on it."""
    name = os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if name not in BACKENDS:
        raise SeqsearchError(f"KERAS_BACKEND={one_line(name, 40)!r}: seqsearch trains on {' or '.join(BACKENDS)}; "
                             f"set KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax")
    return name


def export_backend(formats) -> str:
    """The backend ``seqsearch export`` runs on: TensorFlow wherever it is installed (SavedModel,
    ONNX and TFLite convert through it; a .keras file is the same on every backend), else
    KERAS_BACKEND's, which writes the keras format only: any other is refused in one line."""
    import importlib.util
    import sys

    if "keras" not in sys.modules and importlib.util.find_spec("tensorflow") is not None:
        os.environ["KERAS_BACKEND"] = "tensorflow"
    name = backend()
    needs = [f for f in formats if f != "keras"]
    if name != "tensorflow" and needs:
        fix = ("pip install tensorflow, or pass --format keras" if importlib.util.find_spec("tensorflow") is None
               else "export from a process whose Keras runs on TensorFlow (KERAS_BACKEND=tensorflow)")
        raise SeqsearchError(f"--format {needs[0]} converts through TensorFlow, and Keras runs on {name} here: {fix}")
    return name


def gpu_nodes() -> list[int]:
    """The NVIDIA device nodes of this machine (/dev/nvidiaN), by number."""
    try:
        return sorted(int(m.group(1)) for p in Path("/dev").glob("nvidia*")
                      if (m := re.fullmatch(r"nvidia(\d+)", p.name)))
    except OSError:
        return []


def visible_gpus() -> list[int]:
    """The NVIDIA GPUs this process may use, as CUDA numbers them for it: ``gpu_nodes``, narrowed
    by CUDA_VISIBLE_DEVICES (renumbered from 0 as CUDA does; it stops at the first entry that
    is not a device number, -1 included)."""
    nodes = gpu_nodes()
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        return list(range(len(nodes)))
    kept = []
    for t in (t.strip() for t in listed.split(",")):
        if not t.isdigit() or int(t) not in nodes:
            break
        kept.append(t)
    return list(range(len(kept)))


def parse_gpus(text: str | None, visible: list[int] | None = None) -> list[int]:
    """``--gpus``: comma-separated GPU numbers among the visible ones; None or "all": every
    visible GPU; "none": train on the CPU even where there are GPUs."""
    visible = visible_gpus() if visible is None else visible
    if text is None or text.strip().lower() == "all":
        return list(visible)
    if text.strip().lower() == "none":
        return []
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    if not tokens or any(not t.isdigit() for t in tokens):
        raise SeqsearchError(f"--gpus {one_line(repr(text), 60)}: give GPU numbers like 0,1 (or all, or none)")
    gpus = list(dict.fromkeys(int(t) for t in tokens))
    missing = [g for g in gpus if g not in visible]
    if missing:
        have = f"GPUs {','.join(map(str, visible))}" if visible else "no GPU this process can use"
        raise SeqsearchError(f"--gpus {text.strip()}: there is no GPU {missing[0]} here ({have}); "
                             f"leave out --gpus to use every visible one")
    return gpus


def cuda_ids(gpus: list[int]) -> list[str]:
    """The CUDA_VISIBLE_DEVICES entries of ``gpus`` (visible numbers, as --gpus takes them),
    read before any process narrows its own view: under CUDA_VISIBLE_DEVICES=2,3, GPU 1 is 3."""
    listed = [t.strip() for t in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if t.strip()]
    return [listed[g] if g < len(listed) else str(g) for g in gpus]


def process_env(gpu_ids: list[str], process: int) -> dict:
    """The environment process ``process`` (0: the main one, 1..: ``--jobs`` workers) starts its
    backend with: its own GPU (round-robin over ``gpu_ids``, from ``cuda_ids``) with memory
    growth, or none at all when ``gpu_ids`` is empty and GPUs exist (a CPU run stays off them)."""
    env = dict(GROWTH_ENV)
    if gpu_ids:
        env["CUDA_VISIBLE_DEVICES"] = gpu_ids[process % len(gpu_ids)]
    elif visible_gpus():
        env["CUDA_VISIBLE_DEVICES"] = "-1"
    return env


def apply_env(env: dict) -> None:
    """Set ``env`` in this process (before its backend starts; memory growth only if unset)."""
    for key, value in env.items():
        if key in GROWTH_ENV:
            os.environ.setdefault(key, value)
        else:
            os.environ[key] = value


def dtype_policy(precision: str, on_gpu: bool) -> str:
    """The Keras dtype policy of ``--precision`` on this device."""
    if precision == "float32":
        return "float32"
    if precision == "mixed":
        return "mixed_float16" if on_gpu else "mixed_bfloat16"
    raise SeqsearchError(f"--precision {one_line(repr(precision), 40)}: choose from {', '.join(PRECISIONS)}")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "CPU"


@functools.lru_cache(maxsize=1)
def _gpu_names() -> tuple:
    """The started backend's GPUs: "NVIDIA H200 (139 GiB)" where the backend says its memory.
    Asked once per process (the header and the evaluator both ask; nvidia-smi is a subprocess):
    a process's devices do not change once its backend has started."""
    if backend() == "jax":
        import jax

        names = []
        for d in jax.devices():
            if d.platform != "gpu":
                continue
            limit = (d.memory_stats() or {}).get("bytes_limit") if hasattr(d, "memory_stats") else None
            names.append(d.device_kind + (f" ({limit / 2**30:.0f} GiB)" if limit else ""))
        return tuple(names)
    import tensorflow as tf

    names = [tf.config.experimental.get_device_details(d).get("device_name", d.name)
             for d in tf.config.list_physical_devices("GPU")]
    memory = _memory_by_gpu()  # TensorFlow does not say a card's size: nvidia-smi does
    listed = [t.strip() for t in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if t.strip()]
    physical = [int(t) if t.isdigit() else i for i, t in enumerate(listed)] or list(range(len(names)))
    return tuple(n + (f" ({memory[p]} GiB)" if i < len(physical) and (p := physical[i]) in memory else "")
                 for i, n in enumerate(names))


def _memory_by_gpu() -> dict:
    """{GPU number: GiB of memory} from nvidia-smi, {} where it is not there."""
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return {}
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10).stdout
        return {int(i): round(int(mib) / 1024) for i, mib in (line.split(",") for line in out.strip().splitlines())}
    except (OSError, ValueError, subprocess.SubprocessError):
        return {}


def describe(cores: int, precision: str = "float32", gpus: list[int] | None = None) -> str:
    """The run header's line: the devices of the run's processes (``gpus``: --gpus, of which
    this process has the first), the backend and the precision (the backend must be loaded)."""
    names = _gpu_names()
    cpu = f"CPU ({_cpu_name()}, {cores} core{'s' * (cores != 1)})"
    numbers = ",".join(map(str, gpus or [0]))
    if names:
        where = f"GPU {numbers} {names[0]}" + (", one per process" if len(gpus or []) > 1 else "")
    else:
        where = cpu + (f"; GPU {numbers} given but not found by {backend()}" if gpus else "")
    return f"devices: {where}; Keras on {backend()}, {dtype_policy(precision, bool(names))}"


def trial_device() -> str:
    """What this process trains on, for each trial's record: "GPU 1 NVIDIA H200" (its number
    in CUDA_VISIBLE_DEVICES' list), "CPU", or "CPU (GPU 1 not found by jax)" when it was given a
    GPU its backend does not see (a CPU-only build, no driver)."""
    listed = [t.strip() for t in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if t.strip()]
    gpus = _gpu_names()
    if gpus:
        return f"GPU {listed[0] if listed else 0} {gpus[0]}"
    given = listed[0] if listed and listed[0] != "-1" else None
    return "CPU" if given is None else f"CPU (GPU {given} not found by {backend()})"
