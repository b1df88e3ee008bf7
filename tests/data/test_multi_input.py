"""Several input sequences per example, on their own time axes: read from an .npz (X_<name>) or
long tables joined by id (--join), packed into one tensor for the search, an encoder searched
per input, merged, and exported with the inputs by name (every format, parity), then predicted."""

import json

import numpy as np
import pandas as pd
import pytest

from search_spaces import DataSpec, TaskSpec, build_model, compile_model, spec_summary
from search_spaces.hp import KerasTunerHP, OptunaHP
from search_spaces.multi_input import MultiInputSpace
from seqsearch.data import load_dataset
from seqsearch.data.multi import named_input_model, pack, unpack
from seqsearch.errors import DataError
from test_cli import seqsearch

CLASSES = ("rest", "walk", "stress", "run")


def two_rate(n=80, seed=0, fast=40, slow=6):
    """A fast 3-channel input whose amplitude and a slow 1-channel input whose trend each tell
    half of the class (four classes), the slow one of variable length."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    t = np.arange(fast)
    moving = np.isin(y, (1, 3))[:, None, None]
    accel = (np.where(moving, 1.0, 0.05) * np.sin(t / 2.0)[None, :, None] + rng.normal(0, 0.05, (n, fast, 3)))
    lengths = rng.integers(3, slow + 1, size=n)
    climb = np.where(np.isin(y, (2, 3)), 3.0, 0.0)
    heart = np.zeros((n, slow, 1))
    for i in range(n):
        heart[i, :lengths[i], 0] = 60 + climb[i] * np.arange(lengths[i]) + rng.normal(0, 0.5, lengths[i])
    return accel.astype("float32"), heart.astype("float32"), lengths, y


def write_npz(path, n=80, **extra):
    accel, heart, lengths, y = two_rate(n)
    arrays = dict(X_accel=accel, X_heart=heart, lengths_heart=lengths, y=y, classes=np.array(CLASSES),
                  feature_names_heart=np.array(["bpm"]))
    arrays.update(extra)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return accel, heart, lengths, y


def test_npz_inputs_are_packed_with_their_layout_and_own_statistics(tmp_path):
    accel, heart, lengths, y = write_npz(tmp_path / "w.npz")
    ds = load_dataset(tmp_path / "w.npz")
    assert ds.kind == "inputs" and ds.task_spec.kind == "classification"
    assert [(i["name"], i["timesteps"], i["n_features"], i["offset"], i["masked"]) for i in ds.inputs] == [
        ("accel", 40, 3, 0, False), ("heart", 6, 2, 3, True)]
    assert ds.inputs[1]["feature_names"] == ["bpm"] and ds.X_train.shape[1:] == (40, 5)
    assert ds.describe()["inputs"] == "accel 40 steps x 3, heart 6 steps x 1 (variable length)"
    # The heart rate's block: its own steps, then zeros; its mask channel marks the observed steps.
    assert not ds.X_train[:, 6:, 3:].any()
    spec = ds.data_spec()
    observed = ds.X_train[:, :6, 4] > 0.5
    assert spec.feature_mean[3] == pytest.approx(ds.X_train[:, :6, 3][observed].mean(), rel=1e-5)
    assert spec.feature_mean[3] > 55  # over the observed beats only, not the padding
    assert spec.inputs == ds.inputs
    parts = unpack(ds.X_test, ds.inputs)
    np.testing.assert_array_equal(pack(parts, ds.inputs), ds.X_test)


def test_a_given_test_split_per_input(tmp_path):
    accel, heart, lengths, y = two_rate(60)
    np.savez(tmp_path / "s.npz", X_accel=accel[:40], X_heart=heart[:40], y=y[:40], X_accel_test=accel[40:],
             X_heart_test=heart[40:], y_test=y[40:])
    ds = load_dataset(tmp_path / "s.npz")
    assert ds.test_given and len(ds.X_test) == 20 and not ds.inputs[1]["masked"]


@pytest.mark.parametrize("arrays, message", [
    (dict(X_accel=np.zeros((79, 40, 3))), "X_heart has 80 sequences but X_accel has 79"),
    (dict(y=None), "holds inputs accel, heart but no y"),
    (dict(static=np.zeros((80, 2))), "store per-example features as one more input of one step"),
    (dict(X_1a=np.zeros((80, 3))), "input name '1a' must be a letter"),
    (dict(y_test=np.zeros(4)), "lacks X_accel_test"),
    (dict(lengths_heart=np.full(80, 9)), "lengths_heart\\[0\\] is 9"),
], ids=["count", "no-y", "static", "name", "test-split", "lengths"])
def test_bad_npz_inputs_one_line(tmp_path, arrays, message):
    write_npz(tmp_path / "b.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_dataset(tmp_path / "b.npz")


def test_several_inputs_serve_classification_and_regression_only(tmp_path):
    accel, heart, lengths, y = two_rate(40)
    np.savez(tmp_path / "s.npz", X_accel=accel, X_heart=heart, Y=np.zeros((40, 3)))
    with pytest.raises(DataError, match="no y"):
        load_dataset(tmp_path / "s.npz")
    write_npz(tmp_path / "w.npz")
    with pytest.raises(DataError, match="not --task seq2seq"):
        load_dataset(tmp_path / "w.npz", task="seq2seq")


DATA = DataSpec(timesteps=40, n_features=5, feature_mean=[0.0] * 3 + [60.0, 0.0], feature_var=[1.0] * 3 + [25.0, 1.0],
                inputs=[{"name": "accel", "timesteps": 40, "n_features": 3, "offset": 0, "masked": False,
                         "feature_names": ["x", "y", "z"]},
                        {"name": "heart", "timesteps": 6, "n_features": 2, "offset": 3, "masked": True,
                         "feature_names": ["bpm"]}])
CLF = TaskSpec(kind="classification", n_outputs=4, classes=list(CLASSES))


def test_each_input_searches_its_own_encoder():
    import optuna

    space = MultiInputSpace(fixed={"heart/rnn.cell": "gru", "rnn.units": 16, "merge.kind": ["concat", "attention"]},
                            data_spec=DATA, task_spec=CLF)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    families, merges = set(), set()
    for _ in range(30):
        spec = space.sample(OptunaHP(study.ask()))
        families.add((spec["accel/family"], spec["heart/family"]))
        merges.add(spec["merge.kind"])
        assert spec["family"] == f"{spec['accel/family']}+{spec['heart/family']}"
        assert spec.get("heart/rnn.cell", "gru") == "gru" and spec.get("accel/rnn.units", 16) == 16
        assert spec["train.augment"] == "none"  # the packed tensor is not augmented
        assert space.validate_spec(spec) == spec
    assert len({f for pair in families for f in pair}) > 2 and any(a != b for a, b in families)
    assert merges == {"concat", "attention"}
    # The variable-length heart rate gets no convolution front end (padding would smear in).
    assert [p.current_options() for p in space.subs["heart"].params("front") if p.name == "kind"] == [("none",)]


def test_default_specs_per_input_and_bad_fixes():
    space = MultiInputSpace(data_spec=DATA, task_spec=CLF)
    spec = space.default_spec("conv+rnn", {"heart/rnn.cell": "gru", "merge.kind": "attention"})
    assert spec["accel/family"] == "conv" and spec["heart/rnn.cell"] == "gru" and spec["merge.width"] == 64
    assert spec_summary(spec).startswith("accel: ") and spec_summary(spec).endswith(", attention")
    with pytest.raises(ValueError, match="no input named 'hr'"):
        MultiInputSpace(fixed={"hr/rnn.cell": "gru"}, data_spec=DATA, task_spec=CLF)
    with pytest.raises(ValueError, match="names 3 families for 2 inputs"):
        space.default_spec("conv+rnn+rnn")
    with pytest.raises(ValueError, match="several inputs train without augmentation"):
        MultiInputSpace(fixed={"train.augment": "jitter"}, data_spec=DATA, task_spec=CLF)
    with pytest.raises(ValueError, match="not forecasting"):
        MultiInputSpace(data_spec=DATA, task_spec=TaskSpec(kind="forecasting", n_outputs=1, output_steps=2))


def test_kerastuner_declares_every_input():
    import keras_tuner as kt

    hp = kt.HyperParameters()
    MultiInputSpace(data_spec=DATA, task_spec=CLF).declare(KerasTunerHP(hp))
    assert {"accel/family", "heart/family", "accel/rnn.cell", "heart/front.kind", "merge.kind", "train.scaling"} <= set(hp.values)


@pytest.mark.parametrize("family, merge", [("rnn", "concat"), ("conv+transformer", "attention")])
def test_the_model_trains_and_takes_named_inputs(family, merge, tmp_path):
    import keras

    space = MultiInputSpace(data_spec=DATA, task_spec=CLF)
    spec = space.default_spec(family, {"rnn.units": 16, "conv.filters": 32, "merge.kind": merge})
    model = build_model(spec, DATA, CLF)  # two encoders of one family keep their own layer names
    accel, heart, lengths, y = two_rate(32)
    from seqsearch.data.arrays import with_lengths

    parts = {"accel": accel, "heart": with_lengths(heart, lengths)}
    layout = DATA.inputs
    X = pack(parts, layout)
    compile_model(model, spec, CLF).fit(X, y, epochs=1, batch_size=16, verbose=0)
    named = named_input_model(model, layout)
    np.testing.assert_allclose(named.predict(parts, verbose=0), model.predict(X, verbose=0), atol=1e-6)
    named.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(parts, verbose=0), model.predict(X, verbose=0), atol=1e-6)
    # The heart rate's padding never counts: other values past each length, same answer.
    noisy = dict(parts, heart=parts["heart"].copy())
    for i, k in enumerate(lengths):
        noisy["heart"][i, k:, 0] = 99.0
    np.testing.assert_allclose(named.predict(noisy, verbose=0), named.predict(parts, verbose=0), atol=1e-5)


@pytest.mark.slow
def test_two_input_study_end_to_end(tmp_path):
    write_npz(tmp_path / "w.npz", n=80)
    wd = tmp_path / "runs"
    r = seqsearch("run", tmp_path / "w.npz", "--workdir", wd, "--trials", 2, "--max-epochs", 2, "--folds", 1,
                  "--ensemble", 1, "--families", "rnn,conv", "--set", "rnn.units=16", "--set", "conv.filters=32",
                  "--no-warm-start")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "inputs: accel 40 steps x 3, heart 6 steps x 1 (variable length), each with its own encoder" in r.stdout
    r = seqsearch("export", "w", "--workdir", wd, "--out", tmp_path / "export")
    assert r.returncode == 0, r.stderr[-3000:]
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["input"]["names"] == ["accel", "heart"]
    assert manifest["input"]["inputs"][1]["shape"] == [None, 6, 2] and "mask_channel" in manifest["input"]["inputs"][1]
    for fmt, info in manifest["formats"].items():
        assert sorted(t["name"].split(":")[0].replace("serving_default_", "") for t in info["inputs"]) == \
            ["accel", "heart"], fmt
        assert info["max_abs_diff"] <= 1e-4
    import seqsearch as api

    study = api.load_study("w", workdir=wd)  # from Python: the inputs by name
    data = np.load(tmp_path / "w.npz")
    from seqsearch.data.arrays import with_lengths

    named = {"accel": data["X_accel"][:5], "heart": with_lengths(data["X_heart"][:5], data["lengths_heart"][:5])}
    assert study.predict(named).shape == (5, 4)
    r = seqsearch("predict", tmp_path / "export", tmp_path / "w.npz", "--out", tmp_path / "p.csv")
    assert r.returncode == 0, r.stderr[-2000:]
    pred = pd.read_csv(tmp_path / "p.csv")
    assert len(pred) == 80 and set(pred["prediction"]) <= set(CLASSES)
    data = dict(np.load(tmp_path / "w.npz"))
    del data["X_heart"]
    np.savez(tmp_path / "no_heart.npz", **data)
    r = seqsearch("predict", tmp_path / "export", tmp_path / "no_heart.npz")
    assert r.returncode == 2 and r.stderr.strip() == "error: no_heart.npz lacks X_heart; the inputs are accel, heart, " \
                                                     "each needs X_<name>"


def write_tables(folder, n=60):
    accel, heart, lengths, y = two_rate(n)
    ids = [f"p{i:03d}" for i in range(n)]
    rows = [(ids[i], t, *accel[i, t]) for i in range(n) for t in range(accel.shape[1])]
    pd.DataFrame(rows, columns=["id", "time", "x", "y", "z"]).to_csv(folder / "accel.csv", index=False)
    beats = [(ids[i], 5.0 * t, heart[i, t, 0]) for i in range(n) for t in range(lengths[i])]
    pd.DataFrame(beats, columns=["id", "seconds", "bpm"]).sample(frac=1, random_state=0).to_csv(folder / "heart.csv",
                                                                                                  index=False)
    pd.DataFrame({"id": ids, "label": [CLASSES[k] for k in y], "age": np.arange(n) % 7 + 30.0}).to_csv(
        folder / "labels.csv", index=False)
    return accel, heart, lengths, y


def test_tables_joined_by_id(tmp_path):
    accel, heart, lengths, y = write_tables(tmp_path)
    ds = load_dataset(tmp_path / "labels.csv", join={"accel": str(tmp_path / "accel.csv"),
                                                     "heart": f"{tmp_path / 'heart.csv'},time=seconds"})
    assert [(i["name"], i["timesteps"], i["n_features"], i["masked"]) for i in ds.inputs] == [
        ("labels", 1, 1, False), ("accel", 40, 3, False), ("heart", 6, 2, True)]
    assert ds.inputs[0]["feature_names"] == ["age"]
    # Each example's heart rate, in time order, whatever the table's row order.
    X = np.concatenate([ds.X_train, ds.X_val, ds.X_test])
    ages = X[:, 0, 0]
    i = int(np.flatnonzero(ages == 30.0 + 3)[0])
    k = int(X[i, :6, 5].sum())
    assert k in set(lengths.tolist()) and np.all(np.diff(X[i, :k, 4]) > -3)


@pytest.mark.parametrize("join, message", [
    ({"heart": "heart.csv"}, "has no time column .*--join heart=.*heart.csv,time=COLUMN"),
    ({"heart": "heart.csv,time=sec"}, "heart.csv has no column 'sec'"),
    ({"heart": "heart.csv,tz=1"}, "after the file comes only time=COLUMN"),
    ({"heart": "short.csv,time=seconds"}, "sequence id 'p005' is in labels.csv but not in short.csv"),
    ({"heart": "extra.csv,time=seconds"}, "sequence id 'zz' is in extra.csv .* but not in labels.csv"),
], ids=["no-time", "bad-time", "bad-option", "missing-id", "extra-id"])
def test_bad_joins_one_line(tmp_path, join, message):
    write_tables(tmp_path)
    beats = pd.read_csv(tmp_path / "heart.csv")
    beats[beats["id"] != "p005"].to_csv(tmp_path / "short.csv", index=False)
    pd.concat([beats, pd.DataFrame({"id": ["zz"], "seconds": [0.0], "bpm": [70.0]})]).to_csv(tmp_path / "extra.csv",
                                                                                            index=False)
    join = {name: str(tmp_path / source) for name, source in join.items()}
    with pytest.raises(DataError, match=message):
        load_dataset(tmp_path / "labels.csv", join={"accel": str(tmp_path / "accel.csv"), **join})


@pytest.mark.slow
def test_joined_tables_end_to_end(tmp_path):
    write_tables(tmp_path)
    wd = tmp_path / "runs"
    heart = f"heart={tmp_path / 'heart.csv'},time=seconds"
    labels = pd.read_csv(tmp_path / "labels.csv")[["id", "label"]]
    pd.read_csv(tmp_path / "accel.csv").merge(labels, on="id").to_csv(tmp_path / "accel.csv", index=False)
    r = seqsearch("run", tmp_path / "accel.csv", "--join", heart, "--workdir", wd, "--trials", 1, "--max-epochs", 2,
                  "--folds", 1, "--ensemble", 1, "--families", "rnn", "--set", "rnn.units=16", "--no-warm-start", "-q")
    assert r.returncode == 0, r.stderr[-3000:]
    best = wd / "accel" / "best"
    r = seqsearch("predict", best, tmp_path / "accel.csv", "--join", heart)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(r.stdout.strip().splitlines()) == 61 and r.stdout.startswith("id,prediction,p_")
    r = seqsearch("predict", best, tmp_path / "accel.csv")
    assert r.returncode == 2 and "pass --join heart=FILE" in r.stderr
    r = seqsearch("predict", best, tmp_path / "accel.csv", "--join", f"hr={tmp_path / 'heart.csv'}")
    assert r.returncode == 2 and "--join hr: the model takes no input of that name" in r.stderr
