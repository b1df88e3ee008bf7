"""Beam search for token seq2seq models (``seqsearch predict --beam N``, ``seqsearch.decode``).

The exported model decodes greedily inside its graph, which every runtime can run. Beam search
runs here instead, over the model's *scorer* (``search_spaces.build_scorer``: the same weights,
reading a given target prefix and returning each step's token probabilities), for decoders that
read their previous token: the transformer encoder-decoder and ``encdec`` with the ``teacher``
decoder.

Hypotheses are ranked by their log-probability over ``length ** length_penalty`` (0: the plain
log-probability; 1: the mean per token), their length counting the end token. A hypothesis that
ends leaves the beam, which goes on with the others (it shrinks); a source is done once
``width`` hypotheses have ended or none is left. The greedy hypothesis is always a candidate,
so the answer never scores below greedy decoding's; at width 1 it is greedy decoding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import SeqsearchError

__all__ = ["beam_search", "load_scorer", "decode_sources"]

END_ID = 1  # the end token's id in a pairs vocabulary (<pad>, <end>, <unk>, ...)


def _norm(logp, length, alpha):
    return logp / np.power(np.maximum(length, 1), alpha)


def _search(score_fn, n, steps, width, alpha, end):
    """One beam search over ``n`` sources; ``score_fn(prefixes (n, k, steps), t)`` returns the
    probabilities of step ``t`` (n, k, vocabulary). Returns (ids (n, steps), normalised score (n,),
    log-probability (n,))."""
    seqs = np.zeros((n, width, steps), dtype=np.int32)
    logp = np.full((n, width), -np.inf)
    logp[:, 0] = 0.0
    best = np.full(n, -np.inf)
    best_logp = np.full(n, -np.inf)
    best_seq = np.zeros((n, steps), dtype=np.int32)
    ended = np.zeros(n, dtype=int)
    for t in range(steps):
        live = np.isfinite(logp) & (ended < width)[:, None]
        if not live.any():
            break
        probs = score_fn(seqs, t)
        cand = np.where(live[..., None], logp[..., None] + np.log(np.clip(probs, 1e-12, 1.0)), -np.inf)
        vocab = cand.shape[-1]
        flat = cand.reshape(n, -1)
        top = np.argsort(-flat, axis=1, kind="stable")[:, :width]
        new_seqs, new_logp = np.zeros_like(seqs), np.full((n, width), -np.inf)
        for i in range(n):
            kept = 0
            for j in top[i]:
                score = flat[i, j]
                if not np.isfinite(score) or ended[i] >= width:
                    continue
                beam, token = divmod(int(j), vocab)
                seq = seqs[i, beam].copy()
                seq[t] = token
                if token == end or t == steps - 1:  # ended, or out of steps
                    ended[i] += 1
                    s = _norm(score, t + 1, alpha)
                    if s > best[i]:
                        best[i], best_logp[i], best_seq[i] = s, score, seq
                    continue
                new_seqs[i, kept], new_logp[i, kept] = seq, score
                kept += 1
        seqs, logp = new_seqs, new_logp
    return best_seq, best, best_logp


def beam_search(scorer, X, steps: int, width: int = 4, length_penalty: float = 0.6, end: int = END_ID,
                batch_size: int = 256):
    """Decode the token sources ``X`` (n, T, 1) with ``scorer``: ``(ids (n, steps) up to and
    including the end token, then 0; normalised scores (n,); log-probabilities (n,))``."""
    if int(width) < 1:
        raise SeqsearchError(f"--beam must be 1 or more, got {width}")
    X = np.asarray(X, dtype=np.float32)
    n = len(X)

    def score_fn_for(k):
        rows = np.repeat(X, k, axis=0)

        def score_fn(seqs, t):
            out = scorer.predict([rows, seqs.reshape(n * k, steps)], batch_size=batch_size, verbose=0)
            return np.asarray(out)[:, t, :].reshape(n, k, -1)
        return score_fn

    ids, score, logp = _search(score_fn_for(1), n, steps, 1, length_penalty, end)
    if width > 1:
        wide = _search(score_fn_for(int(width)), n, steps, int(width), length_penalty, end)
        better = wide[1] > score
        ids, score, logp = (np.where(better[:, None], wide[0], ids), np.where(better, wide[1], score),
                            np.where(better, wide[2], logp))
    return ids, score, logp


def load_scorer(model_dir: Path):
    """The scorer of an exported model folder (``best/`` or ``export/``): its spec rebuilt with
    the exported weights. A clear error for a model beam search cannot run on."""
    from search_spaces import DataSpec, TaskSpec, build_scorer

    from .model_file import load_model

    spec = json.loads((model_dir / "spec.json").read_text())
    if isinstance(spec, list):
        raise SeqsearchError("--beam decodes one model, and this export averages several; predict without --beam, "
                             "or export one trial (seqsearch export --trial N)")
    data_spec = DataSpec.from_dict(json.loads((model_dir / "data_spec.json").read_text()))
    task_spec = TaskSpec.from_dict(json.loads((model_dir / "task_spec.json").read_text()))
    model, scorer = build_scorer(spec, data_spec, task_spec)
    if scorer is None:
        raise SeqsearchError(f"--beam needs a decoder that reads its previous token (transformer_encdec, or encdec "
                             f"with decoder=teacher); this model ({spec.get('family')}) decodes without one: predict "
                             "without --beam")
    model.set_weights(_token_model(model_dir, load_model).get_weights())
    return scorer, data_spec, task_spec


def _token_model(model_dir: Path, load_model):
    """The trained token model: a best/ folder keeps it beside the string model; an export/
    folder holds the string model only, with the token model inside it."""
    if (model_dir / "token_model.keras").is_file():
        return load_model(model_dir / "token_model.keras")
    import keras

    inner = [layer for layer in load_model(model_dir / "model.keras").layers if isinstance(layer, keras.Model)]
    if len(inner) != 1:
        raise SeqsearchError(f"{model_dir / 'model.keras'} holds no token model to decode with; pass the study's best/ "
                             "folder")
    return inner[0]


def decode_sources(model_dir, sources, width: int = 4, length_penalty: float = 0.6) -> list[str]:
    """Raw source strings decoded to target strings by beam search with the model in
    ``model_dir`` (tokenised as the training pairs were; longer sources keep their first tokens,
    as the exported model does)."""
    from .data.pairs import END, decode_ids, encode_sources, tokenize

    model_dir = Path(model_dir).expanduser()
    if model_dir.is_file():
        model_dir = model_dir.parent
    if not (model_dir / "metrics.json").is_file():
        raise SeqsearchError(f"{model_dir} is not an exported model folder (no metrics.json); pass a study's best/ "
                             "or export/ folder")
    meta = json.loads((model_dir / "metrics.json").read_text())
    pairs = (meta.get("dataset") or {}).get("pairs")
    if not pairs:
        raise SeqsearchError(f"{model_dir} is not a seq2seq pairs model: beam search decodes token targets")
    scorer, data_spec, task_spec = load_scorer(model_dir)
    length = int(pairs["source_length"])
    seqs = [tokenize(str(s), pairs["source_tokens"])[:length] for s in sources]
    X = encode_sources(seqs, data_spec.vocabulary, length)
    ids, _, _ = beam_search(scorer, X, task_spec.output_steps, width, length_penalty,
                            end=list(task_spec.classes).index(END))
    return decode_ids(ids, task_spec.classes, pairs["target_tokens"])
