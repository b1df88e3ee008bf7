"""Text classification (and regression) from a table with a text column and a label.

The table is split first (stratified, reproducible with the seed, or by a ``split`` column),
then ``keras.layers.TextVectorization`` is adapted on the *training* texts only: its vocabulary
(at most ``MAX_TOKENS``, the most frequent words) and the sequence length (the 95th percentile
of the training texts' token counts, at most ``MAX_LENGTH``) are fixed there. Every split
becomes token ids, right-padded with a mask channel (``masked_array`` layout: (n, T, 2), ids
then the mask), so the search runs on the token ids like any variable-length data and the
model starts with an embedding. The exported model puts the same TextVectorization in front:
it takes raw strings (Keras and SavedModel; ONNX and TFLite take the token ids).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .tables import SPLIT_COLUMN, archive_name, pick_column, read_table

__all__ = ["TEXT_CANDIDATES", "find_text_column", "load_text", "text_inputs", "text_model", "source_model",
           "predict_texts", "predict_any",
           "MAX_TOKENS", "MAX_LENGTH"]

TEXT_CANDIDATES = ("text", "sentence", "review", "document", "content", "comment", "message", "body")
MAX_TOKENS = 20000
MAX_LENGTH = 256
TEXT_TARGETS = ("label", "target", "y", "class", "sentiment", "category")


def find_text_column(columns, given=None):
    """The text column: ``given`` (must exist) or the first candidate name present (case-blind)."""

    return pick_column(list(columns), given, TEXT_CANDIDATES, "--text-col", "text", required=False)


def _texts(df, col, path):
    values = df[col]
    empty = values.isna()
    if empty.any():
        raise DataError(f"text column {col!r} has {int(empty.sum())} empty value(s) (first at row "
                        f"{int(np.flatnonzero(empty.to_numpy())[0]) + 2} of {path.name}); fill or drop those rows")
    return values.astype(str).to_numpy()


def vectorizer(vocabulary, length):
    """The TextVectorization the model and the data share (lower case, punctuation stripped,
    split on whitespace; 0 pads, 1 is an unknown word)."""
    import keras

    return keras.layers.TextVectorization(vocabulary=list(vocabulary), output_sequence_length=int(length),
                                          name="tokens")


def encode(texts, vocabulary, length) -> np.ndarray:
    """Texts as (n, length, 2) float32: token ids, then 1 at tokens and 0 at padding (an empty
    text keeps one observed step, the padding id, so every sequence has a step)."""
    import tensorflow as tf

    ids = vectorizer(vocabulary, length)(tf.constant(np.asarray(texts, dtype=object).astype(str))).numpy()
    mask = (ids > 0).astype(np.float32)
    mask[mask.sum(axis=1) == 0, 0] = 1.0
    return np.stack([ids.astype(np.float32), mask], axis=2)


def load_text(path: Path, df, *, text_col, target=None, task=None, seed=0, test_size=0.2, val_size=0.2):
    """Frame a text table (``df`` already read from ``path``) as a Dataset of token ids."""
    from .._backend import load_keras
    from .dataset import RawArrays
    from .framing import frame_task

    cols = list(df.columns)
    target_c = pick_column([c for c in cols if c != text_col], target, TEXT_TARGETS, "--target", "label")
    texts = _texts(df, text_col, path)
    if df[target_c].isna().any():
        raise DataError(f"target column {target_c!r} has {int(df[target_c].isna().sum())} empty value(s)")
    y = df[target_c].to_numpy()
    rows = np.arange(len(df), dtype=np.float32)[:, None, None]  # split the row numbers, then the texts
    raw = RawArrays(X=rows, y=y, feature_names=[str(text_col)], target_names=[str(target_c)])
    if SPLIT_COLUMN in cols and SPLIT_COLUMN not in (text_col, target_c):
        split = df[SPLIT_COLUMN].astype(str).str.lower().to_numpy()
        unknown = sorted(set(split) - {"train", "val", "test"})
        if unknown:
            raise DataError(f"column 'split' has value(s) {unknown}; use train, val or test")
        if "test" in split:
            tr = split == "train"
            raw = RawArrays(X=rows[tr], y=y[tr], X_test=rows[split == "test"], y_test=y[split == "test"],
                            feature_names=raw.feature_names, target_names=raw.target_names)
            if "val" in split:
                raw.X_val, raw.y_val = rows[split == "val"], y[split == "val"]
    if task == "seq2seq":
        raise DataError("a text table is a classification or regression task, not seq2seq")
    ds = frame_task(raw, name=archive_name(path), source=str(path.resolve()), task=task, seed=seed,
                    test_size=test_size, val_size=val_size)
    keras = load_keras()

    def texts_of(X):
        return texts[X[:, 0, 0].astype(np.int64)]

    train_texts = texts_of(ds.X_train)
    adapter = keras.layers.TextVectorization(max_tokens=MAX_TOKENS)
    import tensorflow as tf

    adapter.adapt(tf.constant(train_texts.astype(object).astype(str)))
    vocabulary = [str(v) for v in adapter.get_vocabulary()]
    if len(vocabulary) <= 2:
        raise DataError(f"the training texts in {text_col!r} have no words; is it the text column? (--text-col)")
    counts = (adapter(tf.constant(train_texts.astype(object).astype(str))).numpy() > 0).sum(axis=1)
    length = int(min(MAX_LENGTH, max(1, np.percentile(counts, 95))))
    test_texts = texts_of(ds.X_test)
    ds.X_train, ds.X_val, ds.X_test = (encode(texts_of(X), vocabulary, length) for X in (ds.X_train, ds.X_val, ds.X_test))
    ds.masked = True
    ds.vocabulary = vocabulary
    ds.kind, ds.about = "text", {"column": str(text_col), "length": length, "vocabulary_size": len(vocabulary),
               "truncated": float(np.mean(counts > length))}
    ds.test_texts = test_texts
    return ds


def text_inputs(path, column, id_col=None):
    """Prediction input: the texts of ``column`` and their ids (``id_col`` or row numbers)."""

    df = read_table(Path(path))
    if column not in df.columns:
        raise DataError(f"{Path(path).name} has no {column!r} column (the model's text column); "
                        f"columns: {', '.join(map(str, df.columns))}")
    texts = _texts(df, column, Path(path))
    id_c = id_col or next((c for c in ("id", "ID", "Id") if c in df.columns), None)
    ids = [str(v) for v in df[id_c]] if id_c else [str(i) for i in range(len(df))]
    return texts, ids


def source_model(token_model, vocabulary, length, mode):
    """Seq2seq pairs: raw source strings (batch,) -> token ids split as the data was
    (characters or whitespace, no standardisation; ``<pad>``/``<unk>`` are TextVectorization's
    own 0 and 1) -> (batch, length, 1) -> ``token_model``."""
    import keras
    from keras import ops

    texts = keras.Input(shape=(), dtype="string", name="source")
    split = "character" if mode == "chars" else "whitespace"
    ids = keras.layers.TextVectorization(vocabulary=list(vocabulary)[2:], standardize=None, split=split,
                                         output_sequence_length=int(length), name="tokens")(texts)
    return keras.Model(texts, token_model(ops.expand_dims(ops.cast(ids, "float32"), -1)), name="source_model")


def text_model(token_model, vocabulary, length):
    """The deployable model: raw strings (batch,) -> the TextVectorization the data went through
    -> (ids, mask) -> ``token_model``. Stock Keras layers only."""
    import keras
    from keras import ops

    texts = keras.Input(shape=(), dtype="string", name="text")
    ids = vectorizer(vocabulary, length)(texts)
    # Like ``encode``: an empty text keeps one observed step (the padding id).
    observed = ops.greater(ids, 0)
    first = ops.expand_dims(ops.equal(ops.arange(int(length)), 0), 0)
    empty = ops.logical_not(ops.any(observed, axis=1, keepdims=True))
    mask = ops.cast(ops.logical_or(observed, ops.logical_and(first, empty)), "float32")
    stacked = ops.stack([ops.cast(ids, "float32"), mask], axis=-1)
    return keras.Model(texts, token_model(stacked), name="text_model")


def predict_any(model, X, **kwargs):
    """``model.predict`` for raw input as the model takes it: strings (text and pairs models)
    through ``predict_texts``, sequences as they are, several inputs as ``{name: array}``."""
    if isinstance(X, dict):
        return model.predict({name: np.asarray(a, dtype=np.float32) for name, a in X.items()}, verbose=0, **kwargs)
    X = np.asarray(X)
    if X.dtype.kind in "USO":
        return predict_texts(model, X)
    return model.predict(X, verbose=0, **kwargs)


def predict_texts(model, texts):
    """``model.predict`` for raw strings (Keras cannot take a numpy string array)."""
    import tensorflow as tf

    return model.predict(tf.constant(np.asarray(texts, dtype=object).astype(str)), verbose=0, batch_size=256)
