"""Several input sequences per example (``seqsearch.data.multi``): an ``.npz`` of ``X_<name>``
arrays, or long tables joined by sequence id (``--join name=FILE``). The search runs on the
inputs packed into one tensor; the export takes them by name."""

from __future__ import annotations

from . import DataKind, prediction_rows, register_kind


@register_kind("inputs")
class Inputs(DataKind):
    order = 25
    extensions = (".npz", ".csv", ".parquet")
    record_key = "inputs"

    def claims(self, path, table, options) -> bool:
        if options.get("join"):
            return True
        if path.suffix.lower() != ".npz":
            return False
        import zipfile

        import numpy as np

        from ..multi import input_names

        try:
            with np.load(path, allow_pickle=False) as archive:
                return bool(input_names(archive.files))
        except (zipfile.BadZipFile, EOFError, OSError, ValueError):
            return False  # the plain-sequence loader says what is wrong with the file

    def load(self, path, table, options):
        from ...errors import DataError
        from ..framing import frame_task
        from ..multi import load_inputs_npz
        from ..tables import archive_name

        task = options.get("task")
        if task not in (None, "classification", "regression"):
            raise DataError(f"several input sequences serve classification and regression, not --task {task}")
        if options.get("static_cols"):
            raise DataError("--static-cols is for one sequence table; with several inputs, join the per-example "
                            "features as an input of their own (one row per sequence)")
        if table.is_table:
            from ..joined import load_joined

            raw, layout = load_joined(path, table.df, options)
        else:
            if options.get("join"):
                raise DataError("--join joins CSV or Parquet tables; an .npz file holds its inputs as X_<name> arrays")
            if options.get("id_col") or options.get("time_col"):
                raise DataError("--id-col and --time-col name columns of a CSV or Parquet file, not of an .npz file")
            raw, layout = load_inputs_npz(path, target=options.get("target"))
        ds = frame_task(raw, name=archive_name(path), source=str(path.resolve()), task=task,
                        seed=options.get("seed", 0), test_size=options.get("test_size", 0.2),
                        val_size=options.get("val_size", 0.2), fillna=options.get("fillna"))
        if ds.task_spec.kind not in ("classification", "regression"):
            raise DataError(f"several input sequences serve classification and regression; y reads as "
                            f"{ds.task_spec.kind} targets")
        ds.kind, ds.inputs, ds.about = self.name, layout, {"layout": layout}
        if table.is_table:
            from ..joined import main_input_name

            main = main_input_name(path)
            ds.about["main"] = main if any(i["name"] == main for i in layout) else None
            ds.about["join"] = dict(options["join"])
        return ds

    def describe(self, ds) -> dict:
        from ..multi import describe_inputs

        return {"inputs": describe_inputs(ds.inputs)}

    def header_lines(self, info) -> list:
        return [f"inputs: {info['inputs']}, each with its own encoder"]

    def model_input(self, ds, X):
        from ..multi import unpack

        return unpack(X, ds.inputs)

    def deployable(self, ds, model):
        from ..multi import named_input_model

        return named_input_model(model, ds.inputs)

    def parity_samples(self, ds, n: int) -> dict:
        return {"sample_input.npz": self.model_input(ds, ds.X_test[:n])}

    def manifest_input(self, metrics) -> dict:
        layout = metrics["dataset"]["inputs"]["layout"]
        return {"names": [i["name"] for i in layout], "raw": True,
                "inputs": [{"name": i["name"], "shape": [None, i["timesteps"], i["n_features"]], "dtype": "float32",
                            "features": i["feature_names"],
                            **({"mask_channel": "the last channel: 1 at observed steps, 0 at padding (right-padded "
                                                "with zeros)"} if i["masked"] else {})} for i in layout],
                "preprocessing": "each input scaled inside the model with its own training statistics"}

    def predict_rows(self, model_file, meta, data_path, options):
        import numpy as np

        from ...model_file import load_model
        from ..loaders import check_path
        from ..multi import check_named

        layout = meta["dataset"]["inputs"]["layout"]
        p = check_path(data_path)
        if p.suffix.lower() == ".npz":
            arrays, ids = _npz_inputs(p, layout)
        else:
            from ..joined import joined_inputs

            from ...errors import DataError

            if "main" not in meta["dataset"]["inputs"]:
                raise DataError(f"this model's inputs came from an .npz file; predict from one with X_<name> arrays "
                                f"({', '.join(i['name'] for i in layout)})")
            arrays, ids = joined_inputs(p, layout, meta["dataset"]["inputs"], options)
        arrays = check_named(arrays, layout, p.name)
        pred = np.asarray(load_model(model_file).predict(arrays, verbose=0, batch_size=256))
        return list(prediction_rows(pred, ids, meta)), len(ids)


def _npz_inputs(path, layout):
    """The named inputs of a prediction .npz: ``X_<name>`` (else ``X_<name>_test``)."""
    from ..multi import fit_to_layout, read_named
    from ..npzfile import open_npz

    names = [i["name"] for i in layout]
    with open_npz(path, arrays="X_<name>") as archive:
        suffix = "" if any(f"X_{n}" in archive.files for n in names) else "_test"
        arrays = read_named(archive, path, names, suffix)
        given = {n: f"lengths_{n}{suffix}" in archive.files for n in names}
    arrays = {i["name"]: fit_to_layout(arrays[i["name"]], given[i["name"]], i, path.name) for i in layout}
    return arrays, [str(i) for i in range(len(next(iter(arrays.values()))))]
