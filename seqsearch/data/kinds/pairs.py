"""Seq2seq pairs: a TSV (or a CSV/Parquet table with source and target columns) of source and
target token sequences (``seqsearch.data.pairs``). The export splits raw source strings inside
the model; predictions are decoded back to target strings."""

from __future__ import annotations

from . import DataKind, register_kind


@register_kind("pairs")
class Pairs(DataKind):
    order = 20
    extensions = (".tsv", ".csv", ".parquet")
    record_key = "pairs"
    raw_strings = True

    def claims(self, path, table, options) -> bool:
        from ..pairs import is_pairs_table
        from ..tables import TIME_CANDIDATES

        if path.suffix.lower() == ".tsv":
            return True
        if not table.is_table:
            return False
        return bool(options.get("tokens")) or (
            is_pairs_table(table.df.columns) and options.get("text_col") is None and options.get("time_col") is None
            and not table.lower_columns & set(TIME_CANDIDATES))

    def load(self, path, table, options):
        from ..pairs import load_pairs

        return load_pairs(path, tokens=options.get("tokens"), seed=options.get("seed", 0),
                        test_size=options.get("test_size", 0.2), val_size=options.get("val_size", 0.2),
                        task=options.get("task"))

    def describe(self, ds) -> dict:
        return {"pairs": dict(ds.about)}

    def header_lines(self, info) -> list:
        p = info["pairs"]
        lines = [f"pairs: sources as {p['source_tokens']} ({p['source_vocabulary']} tokens, up to "
                 f"{p['source_length']}), targets as {p['target_tokens']} ({p['target_vocabulary']} tokens, up to "
                 f"{p['target_length'] - 1} and an end token)"]
        unknown = {k: v for k, v in (p.get("unknown_target_tokens") or {}).items() if v}
        if unknown:
            lines.append("target tokens no training target has (scored as <unk>): "
                         + ", ".join(f"{v} in {k}" for k, v in unknown.items()))
        return lines

    def test_metrics(self, pred, y, task_spec, metrics) -> dict:
        from ..pairs import END, token_error_rate

        if END in task_spec.classes:  # the edit-distance error rate up to the end token
            metrics["token_error_rate"] = token_error_rate(pred, y, list(task_spec.classes))
            metrics["sequence_error_rate"] = 1.0 - metrics["sequence_accuracy"]
        return metrics

    def deployable(self, ds, model):
        from ..text import source_model

        return source_model(model, ds.vocabulary, ds.about["source_length"], ds.about["source_tokens"])

    def manifest_input(self, metrics) -> dict:
        pairs = metrics["dataset"]["pairs"]
        return {"name": "source", "shape": [None], "dtype": "string", "raw": True,
                "preprocessing": f"split into {pairs['source_tokens']} inside the model (no other change), token ids "
                                 f"from a vocabulary of {pairs['source_vocabulary']}, the first "
                                 f"{pairs['source_length']} tokens kept; the output is per-step probabilities over "
                                 "'classes', up to the <end> token"}

    def predict_rows(self, model_file, meta, data_path, options):
        import numpy as np

        from ...model_file import load_model
        from ..loaders import check_path
        from ..pairs import decode, read_pairs
        from ..text import predict_texts

        sources, _, _, ids = read_pairs(check_path(data_path))  # the model splits them itself
        if int(options.get("beam") or 1) > 1:
            from ...decoding import decode_sources

            decoded = decode_sources(model_file.parent, sources, int(options["beam"]), options["length_penalty"])
            return [["id", "prediction"], *([i, d] for i, d in zip(ids, decoded))], len(sources)
        pred = np.asarray(predict_texts(load_model(model_file), sources))
        decoded = decode(pred, meta.get("classes") or [], meta["dataset"]["pairs"]["target_tokens"])
        return [["id", "prediction"], *([i, d] for i, d in zip(ids, decoded))], len(sources)
