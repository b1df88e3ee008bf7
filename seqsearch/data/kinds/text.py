"""Text: a table with a text column and a label, one row per text (``seqsearch.data.text``).
The search runs on token ids; the export puts the tokeniser in front, so the deployed model
takes raw strings."""

from __future__ import annotations

from . import DataKind, prediction_rows, register_kind


@register_kind("text")
class Text(DataKind):
    order = 30
    extensions = (".csv", ".parquet")
    record_key = "text"
    raw_strings = True

    def claims(self, path, table, options) -> bool:
        from ...errors import DataError
        from ..tables import TIME_CANDIDATES
        from ..text import find_text_column

        text_col = options.get("text_col")
        if text_col and not table.is_table:
            raise DataError(f"--text-col names a column of a CSV or Parquet file, not of a {path.suffix.lower()} file")
        if not table.is_table:
            return False
        found = find_text_column(list(table.df.columns), text_col)
        # A text column and no time column (a long sequence table has one): text classification.
        return found is not None and bool(
            text_col or not (table.lower_columns & set(TIME_CANDIDATES)) and options.get("time_col") is None)

    def load(self, path, table, options):
        from ...errors import DataError
        from ..text import find_text_column, load_text

        if options.get("static_cols") or options.get("id_col") or options.get("time_col"):
            raise DataError("--static-cols, --id-col and --time-col are for sequence tables; a text table has "
                            "one row per text")
        return load_text(path, table.df, text_col=find_text_column(list(table.df.columns), options.get("text_col")),
                       target=options.get("target"), task=options.get("task"), seed=options.get("seed", 0),
                       test_size=options.get("test_size", 0.2), val_size=options.get("val_size", 0.2))

    def describe(self, ds) -> dict:
        return {"text": dict(ds.about)}

    def header_lines(self, info) -> list:
        t = info["text"]
        return [f"text column {t['column']!r}: a vocabulary of {t['vocabulary_size']} tokens from the training "
                f"texts; each text is read up to {t['length']} tokens ({100 * t['truncated']:.0f}% of training "
                "texts are longer)"]

    def deployable(self, ds, model):
        from ..text import text_model

        return text_model(model, ds.vocabulary, ds.about["length"])

    def manifest_input(self, metrics) -> dict:
        text = metrics["dataset"]["text"]
        return {"name": "text", "shape": [None], "dtype": "string", "raw": True,
                "preprocessing": f"TextVectorization inside the model (lower case, punctuation stripped, split on "
                                 f"whitespace, a vocabulary of {text['vocabulary_size']} tokens, the first "
                                 f"{text['length']} tokens kept)"}

    def predict_rows(self, model_file, meta, data_path, options):
        import numpy as np

        from ...model_file import load_model
        from ..loaders import check_path
        from ..text import predict_texts, text_inputs

        texts, ids = text_inputs(check_path(data_path), meta["dataset"]["text"]["column"], options.get("id_col"))
        pred = np.asarray(predict_texts(load_model(model_file), texts))
        return list(prediction_rows(pred, ids, meta)), len(texts)
