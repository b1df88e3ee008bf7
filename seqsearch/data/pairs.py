"""Seq2seq pairs: a TSV (or CSV) of source and target sequences, as characters or as
space-separated tokens (spelling to pronunciation, date normalisation, sequence reversal).

Each side is tokenised on its own: into words when its entries contain spaces, else into
characters (``--tokens chars|words`` decides for both). Vocabularies come from the training
pairs only. Sources become token ids (0 pads, 1 is an unknown token), right-padded, which the
model embeds; targets become token ids followed by an end token and padding, predicted step by
step (the encoder-decoder's ``teacher`` decoder feeds its own previous token back at test time
and in the export). Scores: token accuracy, sequence accuracy and the token error rate (edit
distance between the decoded and the true sequence, up to the end token, over the true length).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from search_spaces.specs import PAD

from ..errors import DataError
from .tables import TOKENS, archive_name, check_text, pick_column, read_table

__all__ = ["PAD", "END", "UNK", "is_pairs_table", "load_pairs", "read_pairs", "decode", "decode_ids",
           "token_error_rate", "encode_sources", "tokenize", "TOKENS"]

UNK, END = "<unk>", "<end>"
SOURCE_CANDIDATES = ("source", "src", "input")
TARGET_CANDIDATES = ("target", "tgt", "output")


def _columns(columns):

    columns = list(columns)
    return (pick_column(columns, None, SOURCE_CANDIDATES, "", "source", required=False),
            pick_column(columns, None, TARGET_CANDIDATES, "", "target", required=False))


def is_pairs_table(columns) -> bool:
    """A table with a source and a target column (and, for a long sequence table, no time)."""
    src, tgt = _columns(columns)
    return src is not None and tgt is not None


def read_pairs(path: Path):
    """(sources, targets, split or None, ids) from a .tsv (header optional) or a .csv with
    source/target columns."""
    import pandas as pd


    if path.suffix.lower() == ".tsv":
        check_text(path, "TSV")
        try:
            df = pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False, quoting=3)
        except pd.errors.EmptyDataError:
            raise DataError(f"{path.name} is empty; it needs one source<TAB>target pair per line") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as e:
            raise DataError(f"{path.name} is not a readable TSV file ({str(e).splitlines()[0][:200]})") from None
        if df.shape[1] < 2:
            raise DataError(f"{path.name} has one column; each line needs a source, a tab and a target")
        if is_pairs_table(df.iloc[0].tolist()):
            df.columns = [str(c) for c in df.iloc[0]]
            df = df.iloc[1:].reset_index(drop=True)
        else:
            df.columns = ["source", "target", *[f"c{i}" for i in range(2, df.shape[1])]]
    else:
        df = read_table(path).astype(str)
    if df.empty:
        raise DataError(f"{path.name} has no pairs")
    src, tgt = _columns(df.columns)
    if src is None or tgt is None:
        raise DataError(f"{path.name} needs a source and a target column (source/src/input and target/tgt/output); "
                        f"columns: {', '.join(map(str, df.columns))}")
    split = df["split"].str.lower().to_numpy() if "split" in df.columns else None
    ids = df["id"].tolist() if "id" in df.columns else [str(i) for i in range(len(df))]
    return df[src].to_numpy(dtype=object), df[tgt].to_numpy(dtype=object), split, ids


def _mode(texts, tokens):
    if tokens is not None:
        if tokens not in TOKENS:
            raise DataError(f"--tokens must be one of {', '.join(TOKENS)}, got {tokens!r}")
        return tokens
    return "words" if np.mean([" " in t.strip() for t in texts]) >= 0.5 else "chars"


def tokenize(text: str, mode: str) -> list[str]:
    return text.split() if mode == "words" else list(text)


def _vocabulary(seqs, specials):
    counts = {}
    for s in seqs:
        for tok in s:
            counts[tok] = counts.get(tok, 0) + 1
    return list(specials) + sorted(counts, key=lambda t: (-counts[t], t))


def encode_sources(seqs, vocabulary, length) -> np.ndarray:
    """(n, length, 1) float32 token ids, right-padded with 0; unknown tokens are 1."""
    index = {t: i for i, t in enumerate(vocabulary)}
    out = np.zeros((len(seqs), length, 1), dtype=np.float32)
    for i, s in enumerate(seqs):
        if len(s) > length:
            raise DataError(f"source {i} has {len(s)} tokens; the model reads at most {length}")
        out[i, :len(s), 0] = [index.get(t, 1) for t in s]
    return out


def _encode_targets(seqs, vocabulary, length):
    """(targets (n, length) int32 with the end token after each, count of unknown tokens):
    a token no training target has becomes ``<unk>``, which a model trained on the training
    pairs never predicts, so it counts as an error in the scores."""
    index = {t: i for i, t in enumerate(vocabulary)}
    out = np.zeros((len(seqs), length), dtype=np.int32)
    end, unk, unknown = index[END], index[UNK], 0
    for i, s in enumerate(seqs):
        ids = [index.get(t, unk) for t in s]
        unknown += ids.count(unk)
        out[i, :len(s)] = ids
        out[i, len(s)] = end
    return out, unknown


def load_pairs(path: Path, *, tokens=None, seed=0, test_size=0.2, val_size=0.2, task=None):
    from search_spaces.specs import TaskSpec

    from .dataset import Dataset
    from .framing import stratified_split

    if task not in (None, "seq2seq"):
        raise DataError(f"a table of source and target sequences is a seq2seq task, not {task}")
    sources, targets, split, _ = read_pairs(path)
    for name, col in (("source", sources), ("target", targets)):
        empty = [i for i, t in enumerate(col) if not str(t).strip()]
        if empty:
            raise DataError(f"{len(empty)} empty {name}(s) in {path.name} (first at pair {empty[0] + 1}); every pair "
                            "needs both sides")
    src_mode, tgt_mode = _mode(sources, tokens), _mode(targets, tokens)
    src_seqs = [tokenize(s, src_mode) for s in sources]
    tgt_seqs = [tokenize(t, tgt_mode) for t in targets]
    n = len(src_seqs)
    rng = np.random.default_rng(seed)
    if split is not None and "test" in set(split):
        unknown = sorted(set(split) - {"train", "val", "test"})
        if unknown:
            raise DataError(f"column 'split' has value(s) {unknown}; use train, val or test")
        test = np.flatnonzero(split == "test")
        pool = np.flatnonzero(split != "test")
        given_val = np.flatnonzero(split == "val")
    else:
        if n < 3:
            raise DataError(f"{path.name} has {n} pair(s); train, validation and test need at least 3")
        pool, test = stratified_split(np.zeros(n, dtype=int), test_size, rng, False)
        given_val = np.array([], dtype=int)
    if len(given_val):
        train, val = np.setdiff1d(pool, given_val), given_val
    else:
        if len(pool) < 2:
            raise DataError(f"the training split has {len(pool)} pair(s); carving a validation split needs at least 2")
        keep, hold = stratified_split(np.zeros(len(pool), dtype=int), val_size, rng, False)
        train, val = pool[keep], pool[hold]
    src_vocab = _vocabulary([src_seqs[i] for i in train], (PAD, UNK))
    tgt_vocab = _vocabulary([tgt_seqs[i] for i in train], (PAD, END, UNK))
    src_len = max(len(s) for s in src_seqs)
    tgt_len = max(len(t) for t in tgt_seqs) + 1  # the end token
    arrays, unknown = {}, {}
    for name, idx in (("train", train), ("val", val), ("test", test)):
        targets_ids, unknown[name] = _encode_targets([tgt_seqs[i] for i in idx], tgt_vocab, tgt_len)
        arrays[name] = (encode_sources([src_seqs[i] for i in idx], src_vocab, src_len), targets_ids)
    task_spec = TaskSpec(kind="seq2seq", n_outputs=len(tgt_vocab), classes=tgt_vocab, output_steps=tgt_len)
    ds = Dataset(
        name=archive_name(path), source=str(path.resolve()), X_train=arrays["train"][0], y_train=arrays["train"][1],
        X_val=arrays["val"][0], y_val=arrays["val"][1], X_test=arrays["test"][0], y_test=arrays["test"][1],
        task_spec=task_spec, feature_names=["source"], test_given=split is not None and "test" in set(split),
    )
    ds.vocabulary = src_vocab
    ds.test_texts = np.asarray([str(sources[i]) for i in test])  # the string model's parity sample
    ds.kind, ds.about = "pairs", {"source_tokens": src_mode, "target_tokens": tgt_mode, "source_length": src_len,
                "target_length": tgt_len, "source_vocabulary": len(src_vocab), "target_vocabulary": len(tgt_vocab),
                "unknown_target_tokens": {k: v for k, v in unknown.items() if k != "train"}}
    return ds


def decode(pred, classes, mode) -> list[str]:
    """Arg-max tokens up to the end token, joined back (words with spaces, characters without)."""
    return decode_ids(np.asarray(pred).argmax(axis=-1), classes, mode)


def decode_ids(ids, classes, mode) -> list[str]:
    """Token id sequences up to the end token, joined back as ``decode`` does."""
    out = []
    for seq in np.asarray(ids):
        toks = []
        for k in seq:
            tok = classes[int(k)]
            if tok == END:
                break
            if tok not in (PAD, UNK):
                toks.append(tok)
        out.append((" " if mode == "words" else "").join(toks))
    return out


def _edit_distance(a, b) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def _until_end(ids, end):
    ids = list(ids)
    return ids[:ids.index(end)] if end in ids else ids


def token_error_rate(pred, y, classes) -> float:
    """Mean edit distance between the decoded and the true token sequences (each up to its
    end token), over the true length: the character/word error rate."""
    end = classes.index(END)
    rates = []
    for p, t in zip(np.asarray(pred).argmax(axis=-1), y):
        truth = _until_end(t, end)
        rates.append(_edit_distance(_until_end(p, end), truth) / max(len(truth), 1))
    return float(np.mean(rates))
