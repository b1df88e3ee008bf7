"""Text tables: a text column and a label, tokenised on the training split only, searched as
masked token sequences, exported as a model that takes raw strings."""

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest

from seqsearch.data import load_dataset
from seqsearch.errors import DataError
from test_cli import seqsearch

WORDS = {"good": ["great", "fine", "lovely", "superb"], "bad": ["awful", "poor", "broken", "sad"]}


def write_texts(path, n=60, seed=0, extra=None, **columns):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = ("good", "bad")[i % 2]
        words = list(rng.choice(WORDS[label], size=int(rng.integers(1, 4)))) + ["the", "item", "was"][: int(rng.integers(0, 4))]
        rng.shuffle(words)
        rows.append({"id": f"t{i}", "text": " ".join(map(str, words)).capitalize() + ".", "label": label})
    df = pd.DataFrame(rows)
    for k, v in columns.items():
        df[k] = v
    if extra:
        extra(df)
    df.to_csv(path, index=False)
    return df


def test_a_text_table_becomes_masked_token_ids_with_a_training_only_vocabulary(tmp_path):
    def only_in_test(df):
        df["split"] = ["train"] * 50 + ["test"] * 10
        df.loc[55, "text"] = "zebra great"  # a word the training split never shows

    write_texts(tmp_path / "t.csv", extra=only_in_test)
    ds = load_dataset(tmp_path / "t.csv")
    assert ds.task_spec.classes == ["bad", "good"] and ds.test_given and len(ds.X_test) == 10
    assert ds.masked and ds.X_train.shape[2] == 2 and ds.about["column"] == "text"
    assert "zebra" not in ds.vocabulary and "great" in ds.vocabulary and ds.vocabulary[:2] == ["", "[UNK]"]
    zebra = ds.X_test[list(ds.test_texts).index("zebra great")]
    assert zebra[:2, 0].tolist() == [1.0, float(ds.vocabulary.index("great"))]  # 1 = unknown word
    assert zebra[:, 1].tolist() == [1.0, 1.0] + [0.0] * (len(zebra) - 2)
    spec = ds.data_spec()
    assert spec.vocabulary == ds.vocabulary and spec.masked
    assert ds.describe()["text"]["vocabulary_size"] == len(ds.vocabulary)


def test_the_space_embeds_tokens_and_the_string_model_matches_the_token_model(tmp_path):
    from search_spaces import SearchSpace, build_model
    from seqsearch.data.text import predict_texts, text_model

    write_texts(tmp_path / "t.csv")
    ds = load_dataset(tmp_path / "t.csv", seed=1)
    space = SearchSpace(data_spec=ds.data_spec(), task_spec=ds.task_spec)
    assert space.families == ["rnn", "conv", "transformer"]
    assert [p.options for p in space.params("train") if p.name == "scaling"] == [("none",)]
    for family in ("rnn", "conv", "transformer"):  # conv: no front end, but the embedding width
        core = build_model(space.default_spec(family, {"front.embed_dim": 16}), ds.data_spec(), ds.task_spec)
        assert core.get_layer("token_embedding").output_dim == 16
        wrapped = text_model(core, ds.vocabulary, ds.about["length"])
        np.testing.assert_allclose(predict_texts(wrapped, ds.test_texts), core.predict(ds.X_test, verbose=0),
                                   atol=1e-6)
        # An empty text is one padding step, the same in the data and in the string model.
        np.testing.assert_allclose(predict_texts(wrapped, ["", "!!"]), predict_texts(wrapped, ["", ""]), atol=1e-6)


@pytest.mark.parametrize("extra, kwargs, message", [
    (lambda df: df.__setitem__("text", [None] + list(df["text"][1:])), {}, r"text column 'text' has 1 empty value\(s\) \(first at row 2"),
    (lambda df: df.rename(columns={"text": "words"}, inplace=True), {"text_col": "body"},
     r"--text-col 'body' is not a column of the file; columns: id, words, label"),
    (lambda df: df.__setitem__("label", "good"), {}, r"only one class \('good'\)"),
    (lambda df: df.drop(columns=["label"], inplace=True), {}, r"cannot find the label column .*pass --target"),
    (lambda df: df.__setitem__("text", "..."), {}, r"the training texts in 'text' have no words"),
])
def test_bad_text_tables_say_what_is_wrong(tmp_path, extra, kwargs, message):
    write_texts(tmp_path / "t.csv", extra=extra)
    with pytest.raises(DataError, match=message):
        load_dataset(tmp_path / "t.csv", **kwargs)


@pytest.mark.slow
def test_text_end_to_end_run_predict_and_export_take_raw_strings(tmp_path):
    write_texts(tmp_path / "reviews.csv", n=80)
    wd = tmp_path / "runs"
    r = seqsearch("run", tmp_path / "reviews.csv", "--trials", 1, "--max-epochs", 2, "--folds", 1, "--families", "rnn",
                  "--set", "rnn.units=16", "--workdir", wd)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "text column 'text': a vocabulary of" in r.stdout
    best = wd / "reviews" / "best"
    assert json.loads((best / "metrics.json").read_text())["input_dtype"] == "string"
    write_texts(tmp_path / "new.csv", n=4, seed=5)
    r = seqsearch("predict", best, tmp_path / "new.csv")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["id", "prediction", "p_bad", "p_good"] and [row[0] for row in rows[1:]] == ["t0", "t1", "t2", "t3"]
    r = seqsearch("export", "reviews", "--workdir", wd, "--format", "savedmodel,onnx")  # strings; token ids
    assert r.returncode == 0, r.stderr[-2000:]
    manifest = json.loads((wd / "reviews" / "export" / "manifest.json").read_text())
    assert manifest["input"]["dtype"] == "string"
    assert manifest["formats"]["savedmodel"]["input"] == "raw strings (batch,)"
    assert manifest["formats"]["onnx"]["input"].startswith("token ids and mask")
    vocab = json.loads((wd / "reviews" / "export" / "vocabulary.json").read_text())
    assert vocab[:2] == ["", "[UNK]"]
