"""Reading datasets and framing the task: ``load_dataset(path, ...) -> Dataset``."""

from .dataset import Dataset, frame_task
from .loaders import LOADERS, _check_path, load_dataset, load_inputs

__all__ = ["Dataset", "load_dataset", "load_inputs", "frame_task", "LOADERS"]
