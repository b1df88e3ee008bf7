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


# Optional integrations Keras imports when they are installed (MLflow installs both): its
# scikit-learn wrappers (keras.wrappers) and image-gallery plotting (keras.visualization). A
# search uses neither; they are about 1.6 s of every search process's start-up.
DEFERRED = ("sklearn", "matplotlib")


class _Deferred:
    """A meta path entry that reports ``DEFERRED`` packages as missing while it is installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in DEFERRED:
            raise ModuleNotFoundError(f"{name} is not imported while Keras loads for a search", name=name)
        return None


def load_keras(quiet: bool = True, lean: bool = False):
    """Keras on KERAS_BACKEND's backend (TensorFlow unless set), imported once. ``lean`` (a search's processes): when
    this is the process's first import of Keras, it is made without the ``DEFERRED``
    integrations, so ``keras.wrappers`` and ``keras.visualization`` do not work in this process
    (import keras before seqsearch runs to keep them). Both packages import normally later."""
    global _loaded
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if _loaded or not quiet or "keras" in sys.modules:
        import keras

        _loaded = True
        return keras
    deferred = _Deferred() if lean and not any(m in sys.modules for m in DEFERRED) else None
    if deferred is not None:
        sys.meta_path.insert(0, deferred)
    try:
        with native_stderr_without(""):  # every line: the import's chatter is never news
            import keras

            keras.ops.convert_to_tensor([0.0])  # device discovery prints too
            # Keras seeds TensorFlow too whenever it is installed (for tf.data), whatever the
            # backend: on JAX its first seeding imports TensorFlow, chatter and all, here instead
            # of in the first trial.
            keras.utils.set_random_seed(0)
    finally:
        if deferred is not None:
            sys.meta_path.remove(deferred)
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
