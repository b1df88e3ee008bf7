"""Forecasting windows: a time-series table cut into (lookback, horizon) windows, split by time
(``seqsearch.data.forecast``). Scored beside the seasonal naive forecast; a prediction forecasts
the steps after the end of every series in a new table."""

from __future__ import annotations

from . import DataKind, register_kind


@register_kind("forecast")
class Forecast(DataKind):
    order = 10
    extensions = (".csv", ".parquet")
    record_key = "framing"

    def claims(self, path, table, options) -> bool:
        return options.get("task") == "forecasting" or options.get("horizon") is not None

    def load(self, path, table, options):
        from ..forecast import load_forecast

        return load_forecast(path, lookback=options.get("lookback"), horizon=options.get("horizon"),
                           season=options.get("season"), target=options.get("target"), id_col=options.get("id_col"),
                           time_col=options.get("time_col"), fillna=options.get("fillna"),
                           test_size=options.get("test_size", 0.2), val_size=options.get("val_size", 0.2),
                           future_cols=options.get("future_cols"))

    def prepare(self, ds, study_path, console) -> None:
        from ..baselines import available, cached_baselines

        if not available():
            console.echo("(pip install 'seqsearch[forecast]' to score AutoETS and AutoARIMA beside the model)")
            return
        with console.phase("fitting AutoETS, AutoARIMA and seasonal naive for the test windows"):
            ds.baselines = cached_baselines(ds, study_path)

    def describe(self, ds) -> dict:
        return {**{k: ds.about[k] for k in ("lookback", "horizon", "season", "series")},
                "targets": list(ds.task_spec.target_names), "future_cols": list(ds.about.get("future_cols") or [])}

    def header_lines(self, info) -> list:
        return [f"forecasting {', '.join(info['targets'])} {info['horizon']} step(s) ahead from {info['lookback']} "
                f"(sequences are windows of {info['series']} series, split by time; baseline: "
                + (f"seasonal naive, season {info['season']})" if info["season"] > 1 else "naive, the last value)")
                + (f"; known in advance for the forecast steps: {', '.join(info['future_cols'])}"
                   if info.get("future_cols") else "")]

    def test_metrics(self, pred, y, task_spec, metrics) -> dict:
        from ..forecast import forecast_metrics

        return forecast_metrics(pred, y)

    def annotate_export(self, ds, metrics) -> None:
        from ..forecast import forecast_metrics, seasonal_naive

        super().annotate_export(ds, metrics)
        ts = ds.task_spec
        naive = seasonal_naive(ds.X_test, ts.n_outputs, ts.output_steps, ts.season)
        metrics["baseline"] = {"method": "seasonal_naive", "season": ts.season, **forecast_metrics(naive, ds.y_test)}
        if ds.baselines:
            metrics["baselines"] = ds.baselines

    def predict_rows(self, model_file, meta, data_path, options):
        """The next ``horizon`` steps after the end of every series in the table: one row per
        series and step, with the time it falls on."""
        import numpy as np

        from ...model_file import load_model
        from ..forecast_inputs import forecast_inputs
        from ..loaders import check_path

        framing = meta["dataset"]["framing"]
        X, ids, times = forecast_inputs(check_path(data_path), framing, meta.get("feature_names"), options.get("fillna"))
        pred = np.asarray(load_model(model_file).predict(X, verbose=0, batch_size=256))
        keyed = [framing["id_col"]] if framing.get("id_col") else []  # one series: no id column
        rows = [[*keyed, "step", framing.get("time_col") or "time", *framing["targets"]]]
        for sid, when, seq in zip(ids, times, pred):
            rows += [[*([sid] if keyed else []), h + 1, when[h], *[f"{v:.6g}" for v in seq[h]]]
                     for h in range(len(seq))]
        return rows, len(X)
