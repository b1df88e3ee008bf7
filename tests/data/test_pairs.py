"""Seq2seq pairs: TSV/CSV of source and target sequences, tokenised per side, vocabularies from
training pairs, an end token, and the edit-distance error rate."""

import csv
import io
import json

import numpy as np
import pytest

from seqsearch.data import load_dataset
from seqsearch.data.pairs import END, PAD, decode, token_error_rate
from seqsearch.errors import DataError
from test_cli import seqsearch


def write_reversal(path, n=60, seed=0, header=True, extra=()):
    """Space-separated digit sequences and their reversal (seed 001's task, as text)."""
    rng = np.random.default_rng(seed)
    lines = ["source\ttarget"] if header else []
    for _ in range(n):
        seq = [str(d) for d in rng.integers(1, 10, size=int(rng.integers(1, 6)))]
        lines.append(f"{' '.join(seq)}\t{' '.join(reversed(seq))}")
    lines += list(extra)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_pairs_are_tokenised_per_side_with_an_end_token(tmp_path):
    ds = load_dataset(write_reversal(tmp_path / "rev.tsv"))
    assert ds.task_spec.kind == "seq2seq" and ds.task_spec.classes[:3] == [PAD, END, "<unk>"]
    assert ds.about["source_tokens"] == "words" and ds.about["target_tokens"] == "words"
    assert ds.vocabulary[:2] == ["<pad>", "<unk>"] and ds.data_spec().vocabulary == ds.vocabulary
    assert ds.X_train.shape[1:] == (5, 1) and ds.y_train.shape[1] == 6  # up to 5 tokens + the end
    end = ds.task_spec.classes.index(END)
    for x, y in zip(ds.X_train, ds.y_train):
        src = [ds.vocabulary[int(i)] for i in x[:, 0] if i > 0]
        tgt = [ds.task_spec.classes[int(i)] for i in y]
        assert tgt[:len(src)] == src[::-1] and tgt[len(src)] == END and y[len(src) + 1:].sum() == 0
    assert end == 1
    # The same file without a header, as characters: "1 2" is three characters.
    chars = load_dataset(write_reversal(tmp_path / "raw.tsv", header=False), tokens="chars")
    assert chars.about["source_tokens"] == "chars" and " " in chars.vocabulary


@pytest.mark.parametrize("tokens", ["words", "chars"])
def test_the_string_model_splits_sources_as_the_data_was_split(tmp_path, tokens):
    from search_spaces import SearchSpace, build_model
    from seqsearch.data.text import predict_texts, source_model

    ds = load_dataset(write_reversal(tmp_path / "rev.tsv", extra=["9 9 zz\t1"]), tokens=tokens)
    space = SearchSpace(["encdec"], data_spec=ds.data_spec(), task_spec=ds.task_spec)
    core = build_model(space.default_spec("encdec", {"front.embed_dim": 16}), ds.data_spec(), ds.task_spec)
    wrapped = source_model(core, ds.vocabulary, ds.about["source_length"], tokens)
    np.testing.assert_allclose(predict_texts(wrapped, ds.test_texts), core.predict(ds.X_test, verbose=0), atol=1e-6)


def test_a_csv_with_source_and_target_columns_is_read_as_pairs(tmp_path):
    import pandas as pd

    pd.DataFrame({"input": ["abc", "de", "fgh", "ij", "klm"] * 4, "output": ["cba", "ed", "hgf", "ji", "mlk"] * 4}).to_csv(
        tmp_path / "p.csv", index=False)
    ds = load_dataset(tmp_path / "p.csv")
    assert ds.task_spec.kind == "seq2seq" and ds.about["source_tokens"] == "chars"


def test_decode_and_the_token_error_rate_by_hand():
    classes = [PAD, END, "a", "b", "c", "<unk>"]
    one_hot = np.eye(6)[[[2, 3, 1, 0], [2, 2, 4, 1]]]  # "a b <end>", "a a c <end>"
    assert decode(one_hot, classes, "words") == ["a b", "a a c"]
    assert decode(one_hot, classes, "chars") == ["ab", "aac"]
    y = np.array([[2, 3, 1, 0], [2, 4, 1, 0]])  # truth: "a b", "a c"
    # 0 edits over 2 tokens, then one insertion over 2: mean 0.25.
    assert token_error_rate(one_hot, y, classes) == pytest.approx(0.25)


@pytest.mark.parametrize("content, kwargs, message", [
    ("1 2\n3 4\n", {}, "has one column; each line needs a source, a tab and a target"),
    ("source\ttarget\n1 2\t2 1\n\t3\n4\t4\n", {}, r"1 empty source\(s\) in bad.tsv \(first at pair 2\)"),
    ("a\tb\n", {"tokens": "bytes"}, "--tokens must be one of chars, words"),
])
def test_bad_pair_files_say_what_is_wrong(tmp_path, content, kwargs, message):
    (tmp_path / "bad.tsv").write_text(content)
    with pytest.raises(DataError, match=message):
        load_dataset(tmp_path / "bad.tsv", **kwargs)


@pytest.mark.parametrize("data, message", [
    ("1 2\t2 1\n3\t3\n".encode("utf-16-le"), r"bad.tsv is not UTF-8 text \(it is UTF-16\)"),
    (b"1 2\t2 1\n" + b"\x00" * 32, "bad.tsv is not a text TSV file: it has a NUL byte at byte 8"),
])
def test_a_pair_file_that_is_not_utf8_text_says_so(tmp_path, data, message):
    (tmp_path / "bad.tsv").write_bytes(data)
    with pytest.raises(DataError, match=message):
        load_dataset(tmp_path / "bad.tsv")


def test_a_target_token_training_never_saw_is_unknown_and_counted(tmp_path):
    lines = ["source\ttarget\tsplit", *[f"{i}\t{i}\ttrain" for i in range(1, 9)], "x\tnew\ttest"]
    (tmp_path / "p.tsv").write_text("\n".join(lines) + "\n")
    ds = load_dataset(tmp_path / "p.tsv")
    assert "new" not in ds.task_spec.classes and ds.about["unknown_target_tokens"]["test"] == 3  # n, e, w
    unk = ds.task_spec.classes.index("<unk>")
    assert ds.y_test[0].tolist()[:4] == [unk, unk, unk, ds.task_spec.classes.index(END)]


@pytest.mark.slow
def test_pairs_end_to_end_run_and_predict_decoded_sequences(tmp_path):
    write_reversal(tmp_path / "rev.tsv", n=80)
    wd = tmp_path / "runs"
    r = seqsearch("run", tmp_path / "rev.tsv", "--trials", 1, "--max-epochs", 2, "--folds", 1, "--families", "encdec",
                  "--set", "encdec.units=16", "--set", "encdec.decoder=teacher", "--workdir", wd)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "pairs: sources as words" in r.stdout and "token_error_rate" in r.stdout
    write_reversal(tmp_path / "new.tsv", n=3, seed=7)
    r = seqsearch("predict", wd / "rev" / "best", tmp_path / "new.tsv")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["id", "prediction"] and len(rows) == 4
    assert all(set(row[1].split()) <= set("123456789") for row in rows[1:])
    metrics = json.loads((wd / "rev" / "best" / "metrics.json").read_text())
    assert metrics["input_dtype"] == "string" and "token_error_rate" in metrics["test"]


@pytest.mark.slow
def test_the_transformer_encoder_decoder_exports_its_decoding_and_predicts_by_beam_search(tmp_path):
    """The transformer encoder-decoder end to end: searched, exported to every format with parity
    (the greedy decoding loop is inside the graph), and decoded by beam search from the best/
    and the export/ folder (width 1: the model's own greedy answer)."""
    write_reversal(tmp_path / "rev.tsv", n=80)
    wd = tmp_path / "runs"
    r = seqsearch("run", tmp_path / "rev.tsv", "--trials", 1, "--max-epochs", 2, "--folds", 1, "--families",
                  "transformer_encdec", "--warm-start", "none", "--set", "transformer_encdec.d_model=32",
                  "--set", "transformer_encdec.encoder_layers=1", "--set", "transformer_encdec.decoder_layers=1",
                  "--set", "front.kind=none", "--workdir", wd)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "transformer-encdec 1+1x(d32" in r.stdout and "sequence_error_rate" in r.stdout
    r = seqsearch("export", "rev", "--workdir", wd, "--out", tmp_path / "exp")
    assert r.returncode == 0, r.stderr[-2000:]
    manifest = json.loads((tmp_path / "exp" / "manifest.json").read_text())
    assert set(manifest["formats"]) == {"keras", "savedmodel", "onnx", "tflite"}
    write_reversal(tmp_path / "new.tsv", n=6, seed=7)
    greedy = seqsearch("predict", wd / "rev" / "best", tmp_path / "new.tsv")
    assert greedy.returncode == 0, greedy.stderr[-2000:]
    for folder, width in ((wd / "rev" / "best", 1), (tmp_path / "exp", 1), (tmp_path / "exp", 3)):
        r = seqsearch("predict", folder, tmp_path / "new.tsv", "--beam", width)
        assert r.returncode == 0, r.stderr[-2000:]
        rows = list(csv.reader(io.StringIO(r.stdout)))
        assert rows[0] == ["id", "prediction"] and len(rows) == 7
        if width == 1:
            assert r.stdout == greedy.stdout
    r = seqsearch("predict", wd / "rev" / "best", tmp_path / "new.tsv", "--beam", 0)
    assert r.returncode == 2 and "--beam must be 1 or more, got 0" in r.stderr
