"""MagnaTagATune end to end on a synthetic MTAT-shaped tree: prepare -> train -> evaluate -> export,
resumption after a kill in prepare and in train, and data-parallel training with msrun."""
import json
import os
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest

from fcn4 import MTAT_TAGS
from fcn4.audio.frontend import DEFAULT_FRONT_END
from fcn4.training.synthetic import write_mtat_corpus
from fcn4.model.checkpoint import read_checkpoint
from fcn4.training.datasets import DatasetError
from fcn4.training.feature_store import FeatureStore
from fcn4.training.mtat import read_mtat
from fcn4.training.parallel import World
from fcn4.training.prepare import PrepareConfig, prepare
from fcn4.training.tagging import TrainConfig, evaluate, train
from fcn4.training.trainer import Trainer, TrainingError
from helpers import SMALL, msrun_two_ranks

SMALL_WIDTHS = tuple(SMALL["in_classes"])


def _quiet(line):
    pass


@pytest.fixture(scope="module")
def mtat_tree(tmp_path_factory):
    """16 folders x 2 clips of 16 s (mp3), the first clip corrupt, and one row naming a missing file."""
    root = tmp_path_factory.mktemp("mtat")
    write_mtat_corpus(root, clips_per_folder=2, seconds=16.0)
    return root


@pytest.fixture(scope="module")
def features(mtat_tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("features") / "mtat"
    prepare(PrepareConfig(str(mtat_tree), str(out), shard_size=4, workers=2), log=_quiet, warn=_quiet)
    return out


def _train_config(features, out, **changes):
    values = dict(features=str(features), epochs=2, batch_size=4, in_classes=SMALL_WIDTHS, out=str(out),
                  progress=False)
    return TrainConfig(**{**values, **changes})


# ------------------------------------------------------------------------------------ prepare
def test_annotations_keep_the_checkpoint_tags_in_order_and_split_by_folder(mtat_tree):
    dataset = read_mtat(mtat_tree)
    assert dataset.labels == tuple(MTAT_TAGS)
    folders = {s: {Path(c.path).parent.name for c in dataset.splits[s]} for s in dataset.splits}
    assert folders == {"train": set("0123456789ab"), "valid": {"c"}, "test": set("def")}
    assert {len(dataset.splits[s]) for s in ("valid",)} == {2} and len(dataset.splits["test"]) == 7
    clip = next(c for c in dataset.splits["train"] if c.key == "2")  # style 2: techno, electronic, ...
    assert sorted(MTAT_TAGS[i] for i in clip.tags) == sorted(("techno", "electronic", "beat", "dance", "synth"))
    random = read_mtat(mtat_tree, split="random", seed=3)
    assert [len(random.splits[s]) for s in ("train", "valid", "test")] == [25, 2, 6]
    assert random.splits == read_mtat(mtat_tree, split="random", seed=3).splits
    assert random.splits != read_mtat(mtat_tree, split="random", seed=4).splits


def test_a_csv_whose_most_frequent_tags_differ_gets_a_note(tmp_path):
    csv = Path(write_mtat_corpus(tmp_path, clips_per_folder=1, seconds=1.0, corrupt=0, missing=0))
    lines = csv.read_text("utf-8").splitlines()
    header = lines[0].split("\t")
    extra = header.index('"extra tag 0"')
    rows = [line.split("\t") for line in lines[1:]]
    for row in rows:
        row[extra] = '"1"'
    csv.write_text("\n".join(["\t".join(header)] + ["\t".join(r) for r in rows]) + "\n", "utf-8")
    dataset = read_mtat(tmp_path)
    assert any("extra tag 0 rank among them" in note for note in dataset.notes)
    assert dataset.labels == tuple(MTAT_TAGS)


def test_prepare_writes_mindrecord_shards_with_the_schema_and_reports_bad_files(features, mtat_tree):
    import mindspore.dataset as ds

    store = FeatureStore.open(features)
    report = json.loads((features / "report.json").read_text())["skipped"]
    assert sorted(Path(r["path"]).name for r in report) == ["artist_0001-album-01-song_1-0-29.mp3",
                                                             "missing_33-0-29.mp3"]
    assert all(r["reason"] for r in report)
    assert [len(store.keys(s)) for s in ("train", "valid", "test")] == [23, 2, 6]
    files = store.files("train")
    reader = ds.MindDataset(files[:1], shuffle=False)
    schema = {c: (str(t), s) for c, t, s in zip(reader.get_col_names(), reader.output_types(), reader.output_shapes())}
    assert schema == {"feature": ("float32", [1, 96, 1366]), "label": ("int32", [50])}
    dataset = read_mtat(mtat_tree)
    clips = {c.key: c for c in dataset.splits["train"]}
    targets = store.targets("train")
    rows = list(store.batches("train", 4).epoch(0, shuffle=False))
    x = np.concatenate([r[0] for r in rows])
    y = np.concatenate([r[1] for r in rows])
    np.testing.assert_array_equal(y, targets)
    for i, key in enumerate(store.keys("train")[:3]):
        expected = np.zeros(50, np.int32)
        expected[list(clips[key].tags)] = 1
        np.testing.assert_array_equal(y[i], expected)
        np.testing.assert_allclose(x[i, 0], DEFAULT_FRONT_END.clip(clips[key].path), rtol=1e-6, atol=1e-5)


@pytest.mark.slow
def test_prepare_resumes_after_a_kill_and_never_offers_a_half_written_shard(features, mtat_tree, tmp_path,
                                                                           monkeypatch):
    from mindspore.mindrecord import FileWriter

    out = tmp_path / "features"
    real_commit, commits = FileWriter.commit, []

    def dying_commit(self):
        commits.append(1)
        if len(commits) == 3:  # killed while the third shard is being written
            raise KeyboardInterrupt
        return real_commit(self)

    monkeypatch.setattr(FileWriter, "commit", dying_commit)
    config = PrepareConfig(str(mtat_tree), str(out), shard_size=4, workers=2)
    with pytest.raises(KeyboardInterrupt):
        prepare(config, log=_quiet, warn=_quiet)
    monkeypatch.setattr(FileWriter, "commit", real_commit)
    assert list((out / "train").glob(".partial-*/*.mindrecord"))  # the cut shard is there, under a hidden name
    assert not (out / "train" / "shard-00002.mindrecord").exists()
    with pytest.raises(DatasetError, match=r"train features .* incomplete: 4 of 6 shard\(s\) not written .* again"):
        FeatureStore.open(out)

    lines = []
    result = prepare(config, log=lines.append, warn=_quiet)
    assert (result.reused_shards, result.written_shards) == (2, 7)
    assert result.decoded == 33 - 8
    assert "2 of 9 shard(s) already written; writing 7" in "\n".join(lines)
    assert not list(out.rglob(".partial-*"))
    resumed, clean = FeatureStore.open(out), FeatureStore.open(features)
    for split in ("train", "valid", "test"):
        assert resumed.keys(split) == clean.keys(split)
        np.testing.assert_array_equal(resumed.targets(split), clean.targets(split))
    x_resumed = next(resumed.batches("train", 23).epoch(0, shuffle=False))[0]
    x_clean = next(clean.batches("train", 23).epoch(0, shuffle=False))[0]
    np.testing.assert_array_equal(x_resumed, x_clean)

    again = prepare(config, log=_quiet, warn=_quiet)
    assert (again.written_shards, again.decoded) == (0, 0)
    with pytest.raises(DatasetError, match="other settings .*shard_size"):
        prepare(PrepareConfig(str(mtat_tree), str(out), shard_size=5), log=_quiet, warn=_quiet)


def test_prepare_and_train_errors_name_the_folder_and_the_way_out(tmp_path):
    with pytest.raises(DatasetError, match=r"no annotations_final.csv.*\n.*0 \.\.\. DIR/f.*\n.*mirg.city.ac.uk"):
        read_mtat(tmp_path)
    with pytest.raises(DatasetError, match=r"holds no prepared features .* python -m fcn4 prepare"):
        FeatureStore.open(tmp_path)
    (tmp_path / "annotations_final.csv").write_text('"clip_id"\t"rock"\t"mp3_path"\n"1"\t"1"\t"0/a.mp3"\n')
    with pytest.raises(DatasetError, match=r"no column for the tag\(s\) choral, female voice"):
        read_mtat(tmp_path)


def test_prepare_on_clips_too_short_to_use_says_so_and_takes_them_when_asked(tmp_path, capsys):
    from fcn4.cli import main

    tree = tmp_path / "short"
    write_mtat_corpus(tree, clips_per_folder=1, seconds=4.0, corrupt=0, missing=0)
    out = tmp_path / "features"
    assert main(["prepare", "--data-dir", str(tree), "--out", str(out), "--workers", "0", "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert f"{out / 'report.json'}" in error and "--min-seconds" in error
    # The shards written without these clips are not silently reused under another setting.
    assert main(["prepare", "--data-dir", str(tree), "--out", str(out), "--min-seconds", "3"]) == 2
    assert "other settings (min_seconds differ)" in capsys.readouterr().err
    assert main(["prepare", "--data-dir", str(tree), "--out", str(tmp_path / "taken"), "--min-seconds", "3",
                 "--workers", "0", "--no-progress"]) == 0
    assert len(FeatureStore.open(tmp_path / "taken").keys("train")) == 12


# -------------------------------------------------------------------- train, evaluate, export
@pytest.mark.slow
def test_train_evaluate_export_round_trip(features, tmp_path):
    from fcn4.cli import main
    from fcn4.model.export import load_exported

    run = train(_train_config(features, tmp_path / "run"), log=_quiet, warn=_quiet)
    for name in ("config.yaml", "train_state.json", "metrics.json", "card.yaml", "fcn4_mtat.ckpt"):
        assert (run.run_dir / name).is_file(), name
    saved = json.loads((run.run_dir / "metrics.json").read_text())
    assert len(saved["history"]) == 2 and 0.0 <= saved["valid"]["roc_auc"] <= 1.0
    entries = read_checkpoint(run.checkpoint)
    assert not any(k.startswith(("moment", "beta", "global_step")) for k in entries)  # a plain network

    out = tmp_path / "eval.json"
    assert main(["evaluate", "--weights", str(run.checkpoint), "--features", str(features), "--json", str(out)]) == 0
    metrics = json.loads(out.read_text())  # strict JSON: a NaN would not parse back as a number
    assert metrics["support"] == 6 and metrics["split"] == "test"
    assert 0.0 <= metrics["roc_auc"] <= 1.0 and 0.0 <= metrics["pr_auc"] <= 1.0
    assert "choral" in metrics["left_out"] and metrics["per_tag"]["choral"] == {"roc_auc": None, "pr_auc": None,
                                                                                 "positives": 0}
    assert metrics["per_tag"]["rock"]["roc_auc"] is not None
    kept = [t for t in MTAT_TAGS if t not in metrics["left_out"]]
    assert metrics["roc_auc"] == pytest.approx(np.mean([metrics["per_tag"][t]["roc_auc"] for t in kept]))
    valid = evaluate(run.checkpoint, features, split="valid", log=_quiet)
    assert valid["roc_auc"] == pytest.approx(run.valid["roc_auc"], abs=1e-6)

    mindir = tmp_path / "fcn4.mindir"
    assert main(["export", "--weights", str(run.checkpoint), "--out", str(mindir), "--batch-size", "2"]) == 0
    from fcn4.hub.weights import resolve

    net = resolve(run.checkpoint).build().network
    net.set_train(False)
    x = next(FeatureStore.open(features).batches("test", 2).epoch(0, shuffle=False))[0]
    expected = net(ms.Tensor(x)).asnumpy()
    got = load_exported(mindir)(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert got.shape == (2, 50) and 0.0 < got.min() and got.max() < 1.0

    # The run's card.yaml publishes a card the hub's rules accept, which loads and tags back.
    import hubconf
    from fcn4.hub.rules import check_card

    card = tmp_path / "cards" / "fcn4_mtat_v1.0.md"
    assert main(["card", "publish", str(run.checkpoint), "--metadata", str(run.run_dir / "card.yaml"),
                 "--asset-link", "https://example.org/fcn4_mtat_v1.0.ckpt", "--out", str(card)]) == 0
    assert check_card(card) == []
    # Thresholds chosen on the valid split go into a copy of the card, which the rules accept.
    from fcn4.hub.cards import read_card

    calibrated = tmp_path / "cards" / "calibrated.md"
    assert main(["evaluate", "--weights", str(card), "--features", str(features), "--split", "valid",
                 "--calibrate", str(calibrated), "--threshold-policy", "recall=0.5", "--json", str(out)]) == 0
    chosen = json.loads(out.read_text())["thresholds"]
    assert set(chosen) == set(MTAT_TAGS) and check_card(calibrated) == []
    assert read_card(calibrated).thresholds() == pytest.approx({t: v["threshold"] for t, v in chosen.items()})
    assert read_card(calibrated).body.replace(read_card(card).body, "") != ""  # the rest kept, a section added
    loaded = hubconf.load(str(card))
    loaded.set_train(False)
    assert loaded.in_classes == SMALL_WIDTHS
    np.testing.assert_allclose(loaded(ms.Tensor(x)).asnumpy(), expected, rtol=1e-5, atol=1e-6)
    assert main(["export", "--weights", str(card), "--format", "onnx", "--out", str(tmp_path / "fcn4.onnx")]) == 0
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(str(tmp_path / "fcn4.onnx"), providers=["CPUExecutionProvider"])
    served = session.run(None, {session.get_inputs()[0].name: x[:1]})[0]
    np.testing.assert_allclose(served, expected[:1], rtol=1e-4, atol=1e-5)
    assert main(["export", "--weights", str(card), "--out", str(tmp_path / "bad.onnx")]) == 2


@pytest.mark.slow
@pytest.mark.heavy
def test_train_resumes_after_a_kill_as_if_never_stopped(features, tmp_path, monkeypatch):
    whole = train(_train_config(features, tmp_path / "whole", epochs=2), log=_quiet, warn=_quiet)
    final_whole = read_checkpoint(whole.run_dir / "checkpoints" / "epoch-002.ckpt")

    real_step, steps = Trainer.step, []

    def dying_step(self, x, y):
        steps.append(1)
        if len(steps) == 9:  # in epoch 2 (6 steps an epoch)
            raise KeyboardInterrupt
        return real_step(self, x, y)

    monkeypatch.setattr(Trainer, "step", dying_step)
    config = _train_config(features, tmp_path / "cut", epochs=2)
    with pytest.raises(KeyboardInterrupt):
        train(config, log=_quiet, warn=_quiet)
    monkeypatch.setattr(Trainer, "step", real_step)
    state = json.loads((tmp_path / "cut" / "train_state.json").read_text())
    assert state["epoch"] == 1
    with pytest.raises(TrainingError, match="already holds a run; pass --resume"):
        train(config, log=_quiet, warn=_quiet)
    with pytest.raises(TrainingError, match="lr: was 0.0005, now 0.001"):
        train(_train_config(features, tmp_path / "cut", epochs=2, lr=1e-3, resume=True), log=_quiet, warn=_quiet)
    lines = []
    resumed = train(_train_config(features, tmp_path / "cut", epochs=2, resume=True), log=lines.append, warn=_quiet)
    assert any("resuming after epoch 1" in line for line in lines)
    final_cut = read_checkpoint(resumed.run_dir / "checkpoints" / "epoch-002.ckpt")
    assert set(final_cut) == set(final_whole)
    for name in final_whole:  # the network and every piece of Adam's state
        np.testing.assert_allclose(final_cut[name].asnumpy(), final_whole[name].asnumpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=name)


# ------------------------------------------------------------------------- data parallel
def _reference_two_ranks(features, initial, epochs, batch_size, lr, seed=0):
    """What 2 data-parallel ranks compute, in one process: each rank's batch-norm on its own half of
    the global batch, the mean of the two gradients, one Adam step; statistics averaged per epoch."""
    from mindspore import nn

    from fcn4.hub.weights import resolve
    from fcn4.training.trainer import LogitsOf

    store = FeatureStore.open(features)
    nets = [resolve("none").build(50, in_classes=SMALL_WIDTHS).network for _ in range(2)]
    for net in nets:
        ms.load_param_into_net(net, {k: ms.Parameter(ms.Tensor(v), name=k) for k, v in initial.items()})
        net.set_train(True)
    models = [LogitsOf(net) for net in nets]
    optimizer = nn.Adam(nets[0].trainable_params(), learning_rate=lr)
    loss = nn.BCEWithLogitsLoss()
    grads = [ms.value_and_grad(lambda x, y, m=m: loss(m(x), y), None, m.trainable_params()) for m in models]
    shares = [store.batches("train", batch_size, seed, World(rank, 2)) for rank in range(2)]
    for epoch in range(1, epochs + 1):
        for halves in zip(*(share.epoch(epoch) for share in shares)):
            g = [grads[r](ms.Tensor(x), ms.Tensor(y.astype(np.float32)))[1] for r, (x, y) in enumerate(halves)]
            optimizer(tuple((a + b) / 2 for a, b in zip(*g)))
            for p0, p1 in zip(nets[0].trainable_params(), nets[1].trainable_params()):
                p1.set_data(ms.Tensor(p0.asnumpy()))
        for (name, p0), (_, p1) in zip(nets[0].parameters_and_names(), nets[1].parameters_and_names()):
            if name.endswith(("moving_mean", "moving_variance")):
                mean = (p0.asnumpy() + p1.asnumpy()) / 2
                p0.set_data(ms.Tensor(mean))
                p1.set_data(ms.Tensor(mean))
    return {name: p.asnumpy() for name, p in nets[0].parameters_and_names()}


def _reference_in_a_fresh_process(features, initial, tmp_path, **settings):
    """:func:`_reference_two_ranks` in a process of its own.

    In this process, PyNative training steps of earlier tests (tests/model/test_network.py's
    freeze test) change the reference's result by up to 0.1 (a MindSpore cache the graphs of the
    library's own compiled steps do not share); a fresh process computes what two ranks do.
    """
    import subprocess
    import sys

    np.savez(tmp_path / "initial.npz", **initial)
    code = ("import sys, numpy as np, mindspore as ms; ms.set_device('CPU'); "
            "from test_mtat import _reference_two_ranks; "
            "initial = dict(np.load(sys.argv[2])); "
            f"np.savez(sys.argv[3], **_reference_two_ranks(sys.argv[1], initial, **{settings!r}))")
    out = tmp_path / "reference.npz"
    done = subprocess.run([sys.executable, "-c", code, str(features), str(tmp_path / "initial.npz"), str(out)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(out))


@pytest.mark.slow
@pytest.mark.heavy
def test_msrun_two_workers_train_as_one_process_over_the_global_batch(features, tmp_path):
    run_dir = tmp_path / "run"
    initial0, initial1, final0, final1 = msrun_two_ranks(
        tmp_path, "fcn4", "train", "--features", str(features), "--epochs", "2", "--batch-size", "2",
        "--in-classes", ",".join(map(str, SMALL_WIDTHS)), "--out", str(run_dir), "--no-progress", "--select", "loss")
    for name in initial0:  # one seed: the same start; averaged gradients: the same end, bit for bit
        np.testing.assert_array_equal(initial0[name], initial1[name], err_msg=name)
        np.testing.assert_array_equal(final0[name], final1[name], err_msg=name)
    assert any(not np.allclose(initial0[n], final0[n]) for n in initial0)

    # Only rank 0 wrote the run, and its last checkpoint holds the final weights.
    written = read_checkpoint(run_dir / "checkpoints" / "epoch-002.ckpt")
    for name, value in final0.items():
        np.testing.assert_array_equal(written[name].asnumpy(), value, err_msg=name)
    log = (tmp_path / "logs" / "worker_0.log").read_text(errors="replace")
    assert "data-parallel over 2 processes" in log
    assert "epoch  2/2" not in (tmp_path / "logs" / "worker_1.log").read_text(errors="replace")

    expected = _reference_in_a_fresh_process(features, initial0, tmp_path, epochs=2, batch_size=2, lr=5e-4)
    for name, value in expected.items():
        np.testing.assert_allclose(final0[name], value, rtol=1e-4, atol=2e-6, err_msg=name)

    # The valid metrics rank 0 logged were computed over both ranks' shares: all of the valid split.
    saved = json.loads((run_dir / "metrics.json").read_text())
    again = evaluate(run_dir / "fcn4_mtat.ckpt", features, split="valid", log=_quiet)
    assert saved["valid"]["loss"] == pytest.approx(again["loss"], abs=1e-5)
    assert saved["valid"]["support"] == again["support"] == 2


@pytest.mark.parametrize("damage, words", [
    (lambda root: _edit(root / "features.json", lambda plan: {**plan, "splits": {"train": [{"name": "../../x"}]}}),
     "not a plan this package wrote: wrong or missing splits"),
    (lambda root: _edit(root / "features.json", lambda plan: {**plan, "front_end": {"hop_length": 0}}),
     "front_end"),
    (lambda root: _edit(root / "train" / "shard-00000.json", lambda car: {**car, "tags": [[999]] * len(car["keys"])}),
     "not a shard note this package wrote"),
])
def test_a_damaged_feature_store_is_refused_naming_the_file(features, tmp_path, damage, words):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(features, root)
    damage(root)
    with pytest.raises(DatasetError, match=words):
        FeatureStore.open(root).targets("train")


def _edit(path, change):
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
