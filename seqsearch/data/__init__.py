"""Reading datasets and framing the task: ``load_dataset(path, ...) -> Dataset``.

The names load on first use, so that ``seqsearch.data.tables`` (option values, table helpers)
can be imported without numpy."""

__all__ = ["Dataset", "load_dataset", "load_inputs", "frame_task", "LOADERS"]

_WHERE = {"Dataset": "dataset", "frame_task": "framing", "load_dataset": "loaders", "load_inputs": "loaders",
          "LOADERS": "loaders"}


def __getattr__(name):
    if name in _WHERE:
        from importlib import import_module

        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
