"""Reading datasets and framing the task: ``load_dataset(path, ...) -> Dataset``."""

from .dataset import Dataset, frame_task
from .loaders import LOADERS, load_dataset

__all__ = ["Dataset", "load_dataset", "frame_task", "LOADERS"]
