"""Embeddings from any block: forward_features(layer=...), fcn4 embed --layer, the store's record of it."""
import mindspore as ms
import numpy as np
import pytest

from fcn4 import FCN4, save_checkpoint
from fcn4.audio.synth import synth_track, write_audio
from fcn4.cli import main
from fcn4.errors import SettingError
from fcn4.library.store_settings import StoreSettings
from fcn4.model.arguments import LAYERS
from helpers import SMALL, randomise


def test_each_layer_is_the_mean_and_max_of_its_block_s_map():
    net = randomise(FCN4(**SMALL, num_classes=3))
    net.set_train(False)
    x = ms.Tensor(np.random.default_rng(0).normal(size=(2, 1, 96, 400)).astype(np.float32))
    maps, h = [], x  # each block's map, by hand, in PyNative mode
    for i in range(1, 5):
        h = getattr(net, f"bn{i}")(getattr(net, f"conv{i}")(h))
        if i < 4:
            h = getattr(net, f"pool{i}")(h)
        h = net.relu(h)
        maps.append(h.asnumpy())
    for i, m in enumerate(maps, start=1):
        got = net.forward_features(x, f"block{i}").asnumpy()
        assert got.shape == (2, net.feature_size(f"block{i}")) == (2, 2 * SMALL["in_classes"][i])
        np.testing.assert_allclose(got, np.concatenate([m.mean(axis=(2, 3)), m.max(axis=(2, 3))], 1), rtol=1e-5,
                                   atol=1e-6)
    penultimate = net.forward_features(x).asnumpy()
    np.testing.assert_array_equal(net.forward_features(x, "penultimate").asnumpy(), penultimate)
    np.testing.assert_allclose(net.forward_features(x, "block4").asnumpy()[:, 16:], penultimate, rtol=1e-6)
    with pytest.raises(ValueError, match="layer must be one of"):
        net.forward_features(x, "block5")
    with pytest.raises(SettingError, match="layer must be one of"):
        net.feature_size("conv2")


@pytest.mark.slow  # exports three networks
def test_fcn4_embed_layer_writes_that_block_s_embeddings_and_says_which(tmp_path):
    net = randomise(FCN4(**SMALL, num_classes=2), seed=4)
    save_checkpoint(net, tmp_path / "w.ckpt")
    (tmp_path / "labels.txt").write_text("a\nb\n")
    write_audio(tmp_path / "song.wav", synth_track(5.0, 12000, seed=1), 12000)
    common = ["embed", str(tmp_path / "song.wav"), "--weights", str(tmp_path / "w.ckpt"), "--labels",
              str(tmp_path / "labels.txt"), "--workers", "0", "--backend", "mindspore"]
    assert main(common + ["--layer", "block2", "-o", str(tmp_path / "b2.npz")]) == 0
    assert main(common + ["-o", str(tmp_path / "pen.npz")]) == 0
    block2, penultimate = np.load(tmp_path / "b2.npz"), np.load(tmp_path / "pen.npz")
    assert block2["embeddings"].shape == (1, 2 * SMALL["in_classes"][2]) and str(block2["layer"]) == "block2"
    assert penultimate["embeddings"].shape == (1, 16) and str(penultimate["layer"]) == "penultimate"
    # On the exported engines too: the view exported, checked and cached under a key of its own
    for backend in ("onnxruntime", "auto"):
        assert main([*common[:-1], backend, "--layer", "block2", "-o", str(tmp_path / f"{backend}.npz")]) == 0
        exported = np.load(tmp_path / f"{backend}.npz")
        np.testing.assert_allclose(exported["embeddings"], block2["embeddings"], rtol=1e-4, atol=1e-4)
        assert str(exported["layer"]) == "block2"
    assert main([*common[:-1], "onnxruntime", "--layer", "block3", "-o", str(tmp_path / "b3.npz")]) == 0
    assert np.load(tmp_path / "b3.npz")["embeddings"].shape == (1, 2 * SMALL["in_classes"][3])  # not block 2's export


def test_two_views_of_one_network_are_two_networks_to_the_export_cache():
    from fcn4.inference.backend_base import network_digest

    net = randomise(FCN4(**SMALL, num_classes=2), seed=4)
    digests = {network_digest(view) for view in (net, net.layer_view("block2"), net.layer_view("block3"))}
    assert len(digests) == 3


def test_the_store_records_its_layer_and_refuses_another():
    kept = StoreSettings(weights="w", sha256=None, labels=("a",), front_end={}, features=8, layer="block3")
    assert StoreSettings.from_json(kept.to_json(), "s").layer == "block3"
    assert any(d.startswith("layer:") for d in kept.differences(StoreSettings(
        weights="w", sha256=None, labels=("a",), front_end={}, features=8)))
    assert LAYERS[-1] == "penultimate"


@pytest.mark.slow  # exports a network, runs graph mode
def test_a_layer_a_tagger_cannot_give_is_refused_never_given_as_penultimate(tmp_path):
    from fcn4 import Tagger
    from fcn4.inference.settings import InferenceSettings

    net = randomise(FCN4(**SMALL, num_classes=2), seed=4)
    save_checkpoint(net, tmp_path / "w.ckpt")
    song = tmp_path / "song.wav"
    write_audio(song, synth_track(5.0, 12000, seed=1), 12000)
    with Tagger.from_network(net, labels=("a", "b"), backend="mindspore", workers=0) as tagger:
        with pytest.raises(SettingError, match="layer 'block2'.*fcn4 embed --layer block2"):
            tagger.embed([str(song)], layer="block2")
        assert tagger.embed([str(song)]).vectors.shape == (1, 16)
    with Tagger.from_network(net.layer_view("block2"), labels=("a", "b"), backend="mindspore", workers=0) as view:
        assert view.embed([str(song)], layer="block2").vectors.shape == (1, 2 * SMALL["in_classes"][2])
        with pytest.raises(SettingError, match="layer 'block3'"):
            view.embed([str(song)], layer="block3")
    # A Tagger of the weights with another layer in its settings is that block's view, on an exported engine
    block3 = InferenceSettings(layer="block3")
    with Tagger(str(tmp_path / "w.ckpt"), labels=("a", "b"), settings=block3, workers=0) as tagger:
        got = tagger.embed([str(song)], block3)
        assert tagger.engine["backend"] in ("onnxruntime", "openvino")
    with Tagger.from_network(net.layer_view("block3"), labels=("a", "b"), backend="mindspore", workers=0) as view:
        want = view.embed([str(song)], block3)
    np.testing.assert_allclose(got.vectors, want.vectors, rtol=1e-4, atol=1e-4)
