"""Linear probes of stored embeddings: intervals that cover, exact weighted metrics, one row per layer."""
import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from fcn4.errors import StoreError
from fcn4.library.store import Store, StoreSettings
from finetune import FinetuneConfig, run
from finetune.cli import main
from finetune.intervals import Ranked, interval, resample_weights
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
    _store(tmp_path / "stores" / "early", "block2", paths[:100], rng.normal(size=(100, 4)).astype(np.float32))
    code = main(["--store", str(tmp_path / "stores"), "--manifest", str(tmp_path / "labels.csv"), "--probe",
                 "--out", str(tmp_path / "probe"), "--folds", "4"])
    assert code == 0
    saved = json.loads((tmp_path / "probe" / "probe.json").read_text())
    assert [row["layer"] for row in saved["rows"]] == ["block2", "penultimate"]  # in the network's order
    early, deep = saved["rows"]
    assert (early["clips"], deep["clips"]) == (100, 120)
    assert deep["metrics"]["roc_auc"]["value"] > 0.8 > early["metrics"]["roc_auc"]["value"]
    for row in saved["rows"]:
        assert (tmp_path / "probe" / f"pr_curves-{row['layer']}.png").read_bytes()[:4] == b"\x89PNG"
        assert set(row["per_label"]) == {"bass", "drums", "voice"}
    out = capsys.readouterr()
    assert "block2" in out.out and "[" in out.out and "20 of the manifest's 120 clips are not in the store" in out.err


def test_a_probe_needs_a_store_of_embeddings_and_a_manifest(tmp_path):
    with pytest.raises(Exception, match="--store and --manifest"):
        FinetuneConfig(probe=True, store=str(tmp_path))
    (tmp_path / "m.csv").write_text("path,labels\n")
    with pytest.raises(StoreError, match="neither a store nor a folder of stores"):
        run(FinetuneConfig(probe=True, store=str(tmp_path / "none"), manifest=str(tmp_path / "m.csv"),
                           out=str(tmp_path / "o")))
