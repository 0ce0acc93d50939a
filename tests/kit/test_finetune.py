"""The fine-tuning kit end to end, on tiny synthetic corpora and narrow networks."""
import json
import re
import shutil

import mindspore as ms
import numpy as np
import pytest

import fcn4.audio.frontend
import fcn4.errors
import fcn4.training.batches
import fcn4.training.trainer
import hubconf
from fcn4 import FCN4, Tagger, save_checkpoint
from fcn4.audio.synth import synth_track, write_audio
from fcn4.hub.publish import CardMetadata, publish_card
from fcn4.hub.rules import check_card
from fcn4.model.labels import MTAT_TAGS
from fcn4.training.datasets import GTZAN_URL
from finetune import ConfigError, FinetuneConfig, run
from finetune.cli import main
from fcn4.training.synthetic import write_gtzan_corpus
from helpers import msrun_two_ranks, randomise, values, write_genre_folders

WIDE = (1, 8, 16, 32, 64)  # narrow, yet wide enough for random features to separate the genres


@pytest.fixture(scope="module")
def gtzan(tmp_path_factory):
    """60 synthetic clips of 5 s in GTZAN's layout (6 per genre, names from the filtered split)."""
    return write_gtzan_corpus(tmp_path_factory.mktemp("gtzan"), per_genre=6, seconds=5.0, sample_rate=12000)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """DIR/<label>/*.wav: three synthetic genres, 10 clips each."""
    return write_genre_folders(tmp_path_factory.mktemp("folders"), ("classical", "hiphop", "metal"), 10)


def _config(data_dir, out, **changes):
    settings = dict(data_dir=str(data_dir), out=str(out), pretrained="none", in_classes=WIDE, workers=0,
                    backend="mindspore", batch_size=8, lr=1e-2, epochs=6, progress=False)
    settings.update(changes)
    return FinetuneConfig(**settings)


def _quiet(message):
    pass


def _ckpt(path):
    return {k: v.asnumpy() for k, v in ms.load_checkpoint(str(path)).items()}


@pytest.mark.slow
def test_head_mode_learns_separable_genres_and_its_card_loads_back_and_tags(folders, tmp_path):
    result = run(_config(folders, tmp_path / "run", dataset="folder", epochs=10), log=_quiet, warn=_quiet)
    assert result.metrics["accuracy"] >= 0.9 and result.metrics["roc_auc"] >= 0.95
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["test"]["accuracy"] == result.metrics["accuracy"]
    assert set(saved["test"]["per_class"]) == {"classical", "hiphop", "metal"}
    assert np.sum(saved["test"]["confusion"]) == result.metrics["support"]
    assert (tmp_path / "run" / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert "mode: head" in (tmp_path / "run" / "config.yaml").read_text()

    assert check_card(result.card) == []
    net = hubconf.load(str(result.card))
    assert net.num_classes == 3 and net.in_classes == WIDE
    test = result.dataset.splits["test"]
    with Tagger(result.card, backend="mindspore", workers=0) as tagger:
        predictions = tagger.tag([item.path for item in test])
    assert tagger.labels == ("classical", "hiphop", "metal")
    # The folded head in the published checkpoint predicts what the trained model did.
    accuracy = np.mean([p.top(1)[0][0] == result.dataset.labels[item.label] for p, item in zip(predictions, test)])
    assert accuracy == result.metrics["accuracy"]


@pytest.mark.slow
def test_a_second_run_reads_the_cache_and_decodes_nothing(gtzan, tmp_path, monkeypatch):
    for mode in ("head", "last-1"):
        first = run(_config(gtzan, tmp_path / f"{mode}1", mode=mode, epochs=1), log=_quiet, warn=_quiet)

        def no_decoding(self, path):
            raise AssertionError(f"decoded {path} although it was cached")

        with monkeypatch.context() as patched:
            patched.setattr(fcn4.audio.frontend.FrontEnd, "load", no_decoding)
            second = run(_config(gtzan, tmp_path / f"{mode}2", mode=mode, epochs=1), log=_quiet, warn=_quiet)
        assert second.metrics["accuracy"] == first.metrics["accuracy"]
        assert second.metrics["roc_auc"] == pytest.approx(first.metrics["roc_auc"], abs=1e-6)


@pytest.mark.slow
def test_an_unreadable_clip_is_skipped_with_a_warning_and_counted(gtzan, tmp_path):
    data = shutil.copytree(gtzan, tmp_path / "data")
    broken = next((data / "genres_original" / "jazz").glob("*.wav"))
    broken.write_bytes(b"RIFF\x00\x00not really a wave file")
    warnings = []
    result = run(_config(data, tmp_path / "run", epochs=1), log=_quiet, warn=warnings.append)
    assert [s.path for s in result.skipped] == [str(broken)]
    assert any(w.startswith(f"skipping {broken}") for w in warnings)
    assert any("skipped 1 unreadable or unusable clip(s)" in w for w in warnings)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["dataset"]["skipped"] == 1 and saved["skipped"][0]["path"] == str(broken)
    assert sum(saved["dataset"]["clips"].values()) == 59


@pytest.mark.parametrize("mode, trained", [("full", (1, 2, 3, 4)), ("last-2", (3, 4))])
@pytest.mark.slow
def test_full_and_last_n_train_exactly_their_blocks_and_the_head(gtzan, tmp_path, mode, trained):
    config = _config(gtzan, tmp_path / "run", mode=mode, epochs=1, in_classes=(1, 4, 4, 8, 8))
    ms.set_seed(config.seed)  # the recipe builds its network after this
    before = values(FCN4(in_classes=config.in_classes, num_classes=10))
    result = run(config, log=_quiet, warn=_quiet)
    after = _ckpt(result.checkpoint)
    assert set(after) == set(before)
    for name in before:
        match = re.match(r"(?:conv|bn)(\d)\.", name)
        block = int(match.group(1)) if match else None
        changed = not np.array_equal(before[name], after[name])
        should = block is None or block in trained
        assert changed == should, f"{name} {'changed' if changed else 'did not change'} in {mode} mode"


@pytest.mark.slow
@pytest.mark.heavy
def test_resume_after_a_kill_ends_where_an_uninterrupted_run_does(gtzan, tmp_path, monkeypatch):
    whole = run(_config(gtzan, tmp_path / "whole", mode="last-1", epochs=2), log=_quiet, warn=_quiet)

    real_epoch = fcn4.training.batches.PipelineBatches.epoch

    def killed_in_epoch_2(self, epoch, shuffle=True):
        for n, batch in enumerate(real_epoch(self, epoch, shuffle)):
            if epoch == 2 and shuffle and n == 1:
                raise KeyboardInterrupt
            yield batch

    with monkeypatch.context() as patched:
        patched.setattr(fcn4.training.batches.PipelineBatches, "epoch", killed_in_epoch_2)
        with pytest.raises(KeyboardInterrupt):
            run(_config(gtzan, tmp_path / "cut", mode="last-1", epochs=2), log=_quiet, warn=_quiet)
    state = json.loads((tmp_path / "cut" / "train_state.json").read_text())
    assert state["epoch"] == 1
    lines = []
    resumed = run(_config(gtzan, tmp_path / "cut", mode="last-1", epochs=2, resume=True), log=lines.append,
                  warn=_quiet)
    assert any(line.startswith("resuming after epoch 1") for line in lines)
    for a, b in ((whole.run_dir, resumed.run_dir),):
        saved_a, saved_b = _ckpt(a / "checkpoints/epoch-002.ckpt"), _ckpt(b / "checkpoints/epoch-002.ckpt")
        assert set(saved_a) == set(saved_b) and any(k.startswith("moment1.") for k in saved_a)
        for name in saved_a:  # parameters and Adam's moments, step and powers
            np.testing.assert_allclose(saved_b[name], saved_a[name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert resumed.metrics["accuracy"] == whole.metrics["accuracy"]


@pytest.mark.slow
def test_a_run_is_never_overwritten_and_a_resume_keeps_its_recipe(gtzan, tmp_path):
    run(_config(gtzan, tmp_path / "run", epochs=1), log=_quiet, warn=_quiet)
    with pytest.raises(ConfigError, match="already holds a run; pass --resume"):
        run(_config(gtzan, tmp_path / "run", epochs=1), log=_quiet, warn=_quiet)
    with pytest.raises(fcn4.errors.TrainingError, match="lr: was 0.01, now 0.5"):
        run(_config(gtzan, tmp_path / "run", epochs=2, lr=0.5, resume=True), log=_quiet, warn=_quiet)


@pytest.mark.slow
def test_the_pretrained_backbone_is_kept_under_a_fresh_head(folders, tmp_path):
    mtat = randomise(FCN4(in_classes=WIDE), seed=5)
    checkpoint = save_checkpoint(mtat, tmp_path / "mtat.ckpt")
    card = publish_card(checkpoint, CardMetadata(
        name="fcn4_small_mtat", version="1.0", dataset="MagnaTagATune", asset_link="https://example.invalid/m.ckpt",
        user_id="tests", author="tests", labels=MTAT_TAGS, arguments={"in_classes": list(WIDE)}),
        out=tmp_path / "fcn4_small_mtat.md").path
    lines = []
    result = run(_config(folders, tmp_path / "run", dataset="folder", pretrained=str(card), in_classes=None,
                         epochs=2), log=lines.append, warn=_quiet)
    assert any("loaded 20 parameters" in line and "replaced the 50-way head by a fresh 3-way head" in line
               for line in lines)
    tuned, original = _ckpt(result.checkpoint), values(mtat)
    for name, value in original.items():
        if not name.startswith("dense."):
            np.testing.assert_array_equal(tuned[name], value, err_msg=name)  # head mode: backbone untouched
    assert tuned["dense.weight"].shape == (3, 64)


@pytest.mark.slow
def test_the_command_line_resolves_and_saves_its_config(folders, tmp_path, capsys):
    settings = tmp_path / "recipe.yaml"
    settings.write_text(f"dataset: folder\ndata_dir: {folders}\npretrained: none\nepochs: 1\nlr: 0.02\n"
                        "batch-size: 4\nworkers: 0\nbackend: mindspore\n")
    out = tmp_path / "run"
    assert main(["--config", str(settings), "--lr", "0.01", "--in-classes", "1,8,16,32,64", "--out", str(out),
                 "--no-progress"]) == 0
    captured = capsys.readouterr().out
    assert "test (" in captured and "card:" in captured and "hubconf.load(" in captured
    saved = FinetuneConfig.from_mapping(__import__("yaml").safe_load((out / "config.yaml").read_text()))
    assert (saved.lr, saved.batch_size, saved.epochs, saved.in_classes) == (0.01, 4, 1, WIDE)
    # --resume alone finds the rest in the run's config.yaml; a finished run has nothing left to do.
    assert main(["--out", str(out), "--resume", "--no-progress"]) == 0


def test_bad_settings_and_data_folders_get_clear_errors(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path / "nowhere"), "--pretrained", "none"]) == 2
    error = capsys.readouterr().err
    assert "is not a GTZAN folder (it does not exist)" in error and GTZAN_URL in error
    assert "genres_original/<genre>/<genre>.000NN.wav" in error
    assert main(["--data-dir", str(tmp_path), "--mode", "last-7"]) == 2
    assert "mode 'last-7': use head, full or last-N with N in 1..4" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: 0.1\n")
    assert main(["--config", str(bad)]) == 2
    assert f"{bad}: unknown setting(s) learning_rate" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "never_ran"), "--resume"]) == 2
    assert f"nothing to resume in {tmp_path / 'never_ran'}: it has no config.yaml" in capsys.readouterr().err


def test_tagging_a_network_in_memory_keeps_its_parameter_names(tmp_path):
    net = FCN4(in_classes=WIDE, num_classes=3)
    names = list(net.parameters_dict())
    clip = write_audio(tmp_path / "a.wav", synth_track(5.0, 12000), 12000)
    with Tagger.from_network(net, labels=["a", "b", "c"], backend="mindspore", workers=0) as tagger:
        tagger.tag([clip])
    assert list(net.parameters_dict()) == names  # so a checkpoint saved after embedding still loads


@pytest.mark.slow
@pytest.mark.heavy
def test_the_demo_runs_end_to_end_offline_and_says_its_audio_is_synthetic(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "finetune.demo", "--clips-per-genre", "4", "--epochs", "2",
                           "--folder", str(tmp_path / "demo")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "SYNTHETIC audio" in out and "not GTZAN results" in out
    assert "NOTICE: the MagnaTagATune weights" in out  # not cached in the test's hub dir
    assert "demo: test accuracy" in out and "demo: card " in out
    assert len([line for line in out.splitlines() if line.startswith("demo: ") and ".wav: " in line]) == 2
    assert check_card(next((tmp_path / "demo" / "run").glob("*.md"))) == []


@pytest.mark.slow
@pytest.mark.heavy
def test_full_mode_under_msrun_shares_the_decoding_and_trains_one_model(folders, tmp_path, hub_dir):
    out = tmp_path / "run"
    initial0, initial1, final0, final1 = msrun_two_ranks(
        tmp_path, "finetune", "--dataset", "folder", "--data-dir", str(folders), "--pretrained", "none",
        "--in-classes", ",".join(map(str, WIDE)), "--mode", "full", "--epochs", "2", "--batch-size", "4",
        "--workers", "0", "--out", str(out), "--no-progress")
    for name in initial0:  # one seed: the same fresh network; averaged gradients: the same end
        np.testing.assert_array_equal(initial0[name], initial1[name], err_msg=name)
        np.testing.assert_array_equal(final0[name], final1[name], err_msg=name)
    assert any(not np.allclose(initial0[n], final0[n]) for n in initial0 if n.startswith("conv1"))

    # The ranks decoded half of the clips each, into the one cache: each of the 30 clips once.
    logs = [(tmp_path / "logs" / f"worker_{r}.log").read_text(errors="replace") for r in (0, 1)]
    assert "0 of 30 clips cached" in logs[0] and "data-parallel over 2 processes" in logs[0]
    assert len(list(hub_dir.glob("finetune/melgrams/*/*/*.npy"))) == 30
    assert "test (" not in logs[1]  # rank 0 alone reports and writes

    saved = json.loads((out / "metrics.json").read_text())
    assert saved["processes"] == 2 and saved["test"]["support"] == 9  # both ranks' shares of the test split
    best = _ckpt(out / "checkpoints" / f"epoch-{saved['best_epoch']:03d}.ckpt")
    published = _ckpt(out / f"{saved['card'].rsplit('/', 1)[1][:-3]}.ckpt")
    for name, value in published.items():
        np.testing.assert_array_equal(value, best[name], err_msg=name)


def test_a_second_run_into_a_folder_in_use_is_refused_at_once(tmp_path, capsys):
    from fcn4.base.locks import exclusive_folder

    with exclusive_folder(tmp_path / "run", "fine-tuning run"):
        assert main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "run"), "--pretrained", "none"]) == 2
    assert f"{tmp_path / 'run'} is in use by another fine-tuning run (process" in capsys.readouterr().err
