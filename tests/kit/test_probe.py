"""Linear probes of stored embeddings: intervals that cover, exact weighted metrics, one row per layer."""
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from fcn4.errors import StoreError
from fcn4.library.store import Store, StoreSettings
from finetune import FinetuneConfig, run
from finetune.cli import main
from finetune.intervals import Ranked, interval, resample_weights
from fcn4.errors import ConfigError
from finetune import probe
from finetune.probe import ALPHAS, _Gram, probe_arrays


def _sample(rng, n, weights, noise=1.0):
    x = rng.normal(size=(n, weights.shape[0]))
    y = ((x @ weights + noise * rng.normal(size=(n, weights.shape[1]))) > 0.8).astype(np.int64)
    return x.astype(np.float32), y


def test_weighted_metrics_equal_scikit_learn_on_the_resampled_clips():
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    for scores in (rng.random(500) + 0.3 * y, np.round(rng.random(500) + 0.3 * y, 1)):  # without and with ties
        ranked = Ranked(y, scores)
        for weights in resample_weights(500, 5, rng, chunk=5):
            roc, pr = ranked.aucs(weights)
            for b in range(5):
                drawn = np.repeat(np.arange(500), weights[b].astype(int))
                assert roc[b] == pytest.approx(roc_auc_score(y[drawn], scores[drawn]))
                assert pr[b] == pytest.approx(average_precision_score(y[drawn], scores[drawn]))
    assert interval(np.arange(5.0)) is None and interval(np.linspace(0, 1, 1001)) == pytest.approx([0.025, 0.975])


def test_the_probe_s_intervals_cover_the_held_out_value_in_repeated_runs():
    rng = np.random.default_rng(7)
    weights = rng.normal(size=(8, 3)) * 0.6
    fresh_x, fresh_y = _sample(rng, 20000, weights)
    covered, runs = 0, 20
    for _ in range(runs):
        x, y = _sample(rng, 300, weights)
        found = probe_arrays(x, y, ["a", "b", "c"], "multi", folds=5, seed=int(rng.integers(1000)), boots=300)
        low, high = found["metrics"]["roc_auc"]["interval"]
        assert low <= found["metrics"]["roc_auc"]["value"] <= high
        fitted = _Gram(x, 2.0 * y - 1.0).predict(ALPHAS[2], fresh_x)
        held_out = np.mean([roc_auc_score(fresh_y[:, j], fitted[:, j]) for j in range(3)])
        covered += low <= held_out <= high
    assert covered >= 15, f"{covered} of {runs} intervals covered the held-out ROC-AUC"


def test_a_single_label_probe_reports_accuracy_with_an_interval():
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(3, 6)) * 1.5
    y = rng.integers(0, 3, 240)
    x = (centres[y] + rng.normal(size=(240, 6))).astype(np.float32)
    found = probe_arrays(x, y, ["x", "y", "z"], "single", folds=4, boots=200)
    assert found["metrics"]["accuracy"]["value"] > 0.7 and found["metrics"]["roc_auc"]["value"] > 0.85
    assert set(found["per_label"]) == {"x", "y", "z"} and "micro_roc_auc" not in found["metrics"]


def test_every_fold_chooses_its_penalty_on_its_own_training_part(monkeypatch):
    rng = np.random.default_rng(5)
    x, y = _sample(rng, 200, rng.normal(size=(6, 2)))
    x[:, 0] = np.arange(200) - 99.5  # each clip told by its first feature (mean 0: centring keeps it)
    calls, real = [], _Gram.predict_many
    monkeypatch.setattr(_Gram, "predict_many", lambda fit, alphas, held: calls.append(
        (fit.n, set(np.rint(held[:, 0] + 99.5).astype(int).tolist()))) or real(fit, alphas, held))
    probe_arrays(x, y, ["a", "b"], "multi", folds=4, seed=2, boots=10)
    fold_of = probe.iterative_folds((y > 0).astype(np.int64), 4, 2)
    assert len(calls) == 4 * probe.INNER
    for k in range(4):  # the penalty of fold k: fitted and scored on fold k's training part only
        training = set(np.flatnonzero(fold_of != k).tolist())
        held = [scored for _, scored in calls[k * probe.INNER:(k + 1) * probe.INNER]]
        assert set().union(*held) == training
        assert all(fitted == len(training) - len(scored) for fitted, scored in calls[k * probe.INNER:][:probe.INNER])


def test_features_far_from_zero_score_as_centred_ones_and_a_failed_solve_is_named(monkeypatch):
    rng = np.random.default_rng(9)
    x, y = _sample(rng, 150, rng.normal(size=(5, 2)))
    near = probe_arrays(x.astype(np.float64), y, ["a", "b"], "multi", folds=3, boots=10)
    far = probe_arrays(x.astype(np.float64) + 1e4, y, ["a", "b"], "multi", folds=3, boots=10)
    np.testing.assert_allclose(far["scores"], near["scores"], atol=1e-6)
    with pytest.raises(ConfigError, match="not finite"):
        probe_arrays(np.where(np.arange(5) == 2, np.nan, x), y, ["a", "b"], "multi", folds=3, boots=10)
    import scipy.linalg

    def singular(*args, **kwargs):
        raise scipy.linalg.LinAlgError("2-th leading minor not positive definite")

    monkeypatch.setattr(scipy.linalg, "cho_factor", singular)
    with pytest.raises(ConfigError, match="cannot be solved .*leading minor"):
        probe_arrays(x, y, ["a", "b"], "multi", folds=3, boots=10)


def _store(folder, layer, paths, vectors):
    settings = StoreSettings(weights="w.ckpt", sha256="ab" * 32, labels=("a", "b"), front_end={"n_mels": 96},
                             features=vectors.shape[1], embeddings=True, layer=layer)
    store = Store.open_for(folder, settings)
    store.write_part([{"path": p, "status": "ok", "reason": None, "note": None, "size": 1, "mtime_ns": 1, "key": i,
                       "duration": 30.0, "starts": [0.0], "probabilities": [0.1, 0.8], "top_tags": ["b"],
                       "embedding": [float(v) for v in vec]} for i, (p, vec) in enumerate(zip(paths, vectors))])


def test_a_store_of_several_layers_gives_one_row_per_layer_and_a_pr_curve_each(tmp_path, capsys):
    rng = np.random.default_rng(1)
    weights = rng.normal(size=(8, 3))
    x, y = _sample(rng, 120, weights)
    audio = tmp_path / "audio"
    audio.mkdir()
    paths = [str(audio / f"c{i}.wav") for i in range(120)]
    for p in paths:
        open(p, "wb").close()
    names = ["drums", "bass", "voice"]
    (tmp_path / "labels.csv").write_text("path,labels\n" + "".join(
        f"audio/c{i}.wav,{';'.join(n for n, v in zip(names, row) if v)}\n" for i, row in enumerate(y)))
    _store(tmp_path / "stores" / "deep", "penultimate", paths, x)
    _store(tmp_path / "stores" / "deep again", "penultimate", paths, x)  # a second store of one layer: its own PNG
    _store(tmp_path / "stores" / "early", "block2", paths[:100], rng.normal(size=(100, 4)).astype(np.float32))
    code = main(["--store", str(tmp_path / "stores"), "--manifest", str(tmp_path / "labels.csv"), "--probe",
                 "--out", str(tmp_path / "probe"), "--folds", "4"])
    assert code == 0
    saved = json.loads((tmp_path / "probe" / "probe.json").read_text())
    assert [row["layer"] for row in saved["rows"]] == ["block2", "penultimate", "penultimate"]  # the network's order
    early, deep, _ = saved["rows"]
    assert (early["clips"], deep["clips"]) == (100, 120)
    assert deep["metrics"]["roc_auc"]["value"] > 0.8 > early["metrics"]["roc_auc"]["value"]
    for row in saved["rows"]:
        assert Path(row["pr_curves"]).read_bytes()[:4] == b"\x89PNG"
        assert set(row["per_label"]) == {"bass", "drums", "voice"}
    assert sorted(Path(row["pr_curves"]).name for row in saved["rows"]) == [
        "pr_curves-deep.png", "pr_curves-deep_again.png", "pr_curves-early.png"]
    out = capsys.readouterr()
    assert "block2" in out.out and "[" in out.out and "20 of the manifest's 120 clips are not in the store" in out.err


def test_a_probe_needs_a_store_of_embeddings_and_a_manifest(tmp_path):
    with pytest.raises(Exception, match="--store and --manifest"):
        FinetuneConfig(probe=True, store=str(tmp_path))
    (tmp_path / "m.csv").write_text("path,labels\n")
    with pytest.raises(StoreError, match="neither a store nor a folder of stores"):
        run(FinetuneConfig(probe=True, store=str(tmp_path / "none"), manifest=str(tmp_path / "m.csv"),
                           out=str(tmp_path / "o")))
