"""The seed tutorials' architectures as named fixed specs (``--warm-start`` runs them first).

Each entry names a family and the values that differ from that family's defaults (a dotted name,
``train.batch_size``, is another group's); the rest (recipe included) are defaults. Where the
seed's code and our families differ, the comment says how.
"""

from __future__ import annotations

__all__ = ["SEED_SPECS", "seed_specs"]

SEED_SPECS = {
    # Seed 000, method 1: SimpleRNN(32) + Dense (the seed uses relu; our SimpleRNN keeps tanh).
    "seed000_simple_rnn": ("rnn", {"cell": "simple_rnn", "layers": 1, "units": 32}),
    # Seed 000, method 2: one post-norm encoder block, 4 heads of size 64, ff 128, dropout 0.1,
    # mean pooling, no position code (the seed attends over raw features; we project to 16).
    "seed000_transformer": ("transformer", {
        "d_model": 16, "blocks": 1, "heads": 4, "key_dim": 64, "ff_dim": 128, "dropout": 0.1,
        "norm": "post", "positional": "none", "pooling": "mean",
    }),
    # Seed 000, method 3: SimpleRNN(32) -> Dense(16, relu) bottleneck -> one encoder block.
    "seed000_bottleneck": ("rnn_bottleneck", {
        "cell": "simple_rnn", "rnn_layers": 1, "rnn_units": 32, "tokens": 1, "bottleneck_dim": 16,
        "blocks": 1, "heads": 4, "key_dim": 64, "ff_dim": 128, "dropout": 0.1,
    }),
    # Seed 001: LSTM(64) and Bidirectional(LSTM(64)).
    "seed001_lstm": ("rnn", {"cell": "lstm", "layers": 1, "units": 64}),
    "seed001_bilstm": ("rnn", {"cell": "lstm", "layers": 1, "units": 64, "bidirectional": True, "merge_mode": "concat"}),
    # Seed 001: the LSTM(64) encoder-decoder, RepeatVector + encoder states as initial_state.
    "seed001_encdec": ("encdec", {"cell": "lstm", "units": 64, "encoder_layers": 1, "decoder": "repeat", "attention": "none"}),
    # The recurrent counterpart for token seq2seq: a GRU encoder-decoder whose decoder feeds its
    # outputs back and attends to the source (Luong), the kind that won the dates and numbers
    # tasks of the seq2seq benchmark before the transformer joined the space.
    # Seq2seq only (a third element: the tasks a seed is for; none: every task its family serves).
    "gru_attention_encdec": ("encdec", {"cell": "gru", "units": 64, "decoder": "feedback", "attention": "luong"},
                             ("seq2seq",)),
    # The Keras "English-to-Spanish translation with a sequence-to-sequence Transformer"
    # example's encoder-decoder: one encoder and one decoder block, batch 64, at our width (64
    # where the example has 256). On the seq2seq tuning tasks it reached 75%, 99.5% and 90% of
    # validation sequences in 60 s on two cores, at 3 s an epoch (2+2 blocks at batch 32: 8 s,
    # too slow for a trial's share of a 10-minute search). Token seq2seq only.
    "keras_transformer_encdec": ("transformer_encdec", {"encoder_layers": 1, "decoder_layers": 1,
                                                         "train.batch_size": 64}),
    # The Keras "When Recurrence meets Transformers" example's model, at our defaults.
    "keras_tlb": ("tlb", {}),
    # Forecasting only: one Dense over the scaled window (NLinear, Zeng et al. 2023), the cheapest
    # strong model on short series.
    "linear_window": ("mlp", {"layers": 0}),
}


def seed_specs(space) -> dict:
    """The seed specs that fit ``space`` (its families and narrowed ranges), by name."""
    out = {}
    for name, (family, values, *tasks) in SEED_SPECS.items():
        # A space without a task (``seqsearch spaces --seeds``) lists every seed.
        if family not in space.families or (tasks and space.task_kind not in (None, *tasks[0])):
            continue
        # A dotted name is a full one (a recipe value: train.batch_size), others the family's.
        overrides = {k if "." in k else f"{family}.{k}": v for k, v in values.items()}
        try:
            out[name] = space.default_spec(family, overrides)
        except ValueError:
            continue  # the user narrowed the space past this seed
    return out
