"""Plain sequences: ``.npz`` arrays, ``.ts`` archives, long CSV/Parquet tables (one row per
step). The fallback kind: it reads every file no other kind claims."""

from __future__ import annotations

from pathlib import Path

from . import DataKind, prediction_rows, register_kind


@register_kind("sequences")
class Sequences(DataKind):
    order = 1000
    extensions = (".npz", ".csv", ".parquet", ".ts")

    def claims(self, path, table, options) -> bool:
        return True

    def load(self, path, table, options):
        from ...errors import DataError
        from ..framing import frame_task
        from ..loaders import LOADERS, load_csv_long
        from ..tables import archive_name

        ext = path.suffix.lower()
        columns = dict(target=options.get("target"), id_col=options.get("id_col"), time_col=options.get("time_col"),
                       static_cols=options.get("static_cols"), fillna=options.get("fillna"))
        if table.is_table:
            raw = load_csv_long(path, **columns, df=table.df)
        else:
            if options.get("static_cols"):
                raise DataError("--static-cols names CSV/Parquet columns; in an .npz file store the static features "
                                "as 'static'")
            if options.get("id_col") or options.get("time_col"):
                raise DataError(f"--id-col and --time-col name columns of a CSV or Parquet file, not of a {ext} file")
            raw = LOADERS[ext](path, **columns)
        ds = frame_task(raw, name=archive_name(path), source=str(path.resolve()), task=options.get("task"),
                        seed=options.get("seed", 0), test_size=options.get("test_size", 0.2),
                        val_size=options.get("val_size", 0.2), fillna=options.get("fillna"))
        ds.kind = self.name
        return ds

    def predict_rows(self, model_file, meta, data_path, options):
        import numpy as np

        from ...errors import DataError
        from ...model_file import load_model
        from ..loaders import load_inputs

        X, ids = load_inputs(data_path, id_col=options.get("id_col"), time_col=options.get("time_col"),
                             target=options.get("target"), feature_names=meta.get("feature_names") or None,
                             fillna=options.get("fillna"), timesteps=meta.get("timesteps"),
                             masked=bool(meta.get("masked")))
        model = load_model(model_file)
        want = tuple(model.input_shape[1:])
        if tuple(X.shape[1:]) != want:
            n_static = int(meta.get("n_static") or 0)
            hint = f" ({n_static} of them static: store them as 'static' in the .npz)" if n_static else ""
            raise DataError(
                f"{Path(data_path).name} has sequences of {X.shape[1]} steps x {X.shape[2]} features; "
                f"the model takes {want[0]} x {want[1]}{hint}"
            )
        pred = np.asarray(model.predict(X, verbose=0, batch_size=256))
        return list(prediction_rows(pred, ids, meta)), len(X)
