"""Load Keras/TensorFlow once, with the backend's native start-up chatter kept off the terminal.

TensorFlow's C++ runtime prints to file descriptor 2 before its logging is configured
(``TF_CPP_MIN_LOG_LEVEL`` cannot stop those lines), burying the live view. Python exceptions
raised during the import are unaffected: they surface after the descriptor is restored.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

__all__ = ["load_keras", "native_stderr_without"]

_loaded = False


def load_keras(quiet: bool = True):
    global _loaded
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if _loaded or not quiet or "keras" in sys.modules:
        import keras

        _loaded = True
        return keras
    with native_stderr_without(""):  # every line: the import's chatter is never news
        import keras

        keras.ops.convert_to_tensor([0.0])  # device discovery prints too
    # Retracing notices are about Keras' own per-model functions: one search builds many
    # models by design, so they say nothing the user can act on.
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    _loaded = True
    return keras


@contextlib.contextmanager
def native_stderr_without(*prefixes: str):
    """Run a block with file descriptor 2 captured, then pass on every line it printed except
    those starting with one of ``prefixes`` (native INFO chatter no setting turns off)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines()
                    if not line.startswith(prefixes)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
