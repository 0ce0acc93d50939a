"""One weights object, one build path: every way of naming weights resolves to a WeightsSpec, and
every user builds the network through it, verifying the weights once."""
from pathlib import Path

import numpy as np
import pytest

import fcn4
import hubconf
from fcn4 import FCN4, GTZAN_GENRES, SettingError, save_checkpoint
from fcn4.hub import building, cache
from fcn4.hub.publish import CardMetadata, publish_card
from fcn4.hub.weights import DEFAULT_UID, WeightsSpec, resolve
from fcn4.inference.tagger import Tagger
from helpers import SMALL, randomise, values


@pytest.fixture
def genres(tmp_path):
    """A 10-way network, its checkpoint, and a card for it (checkpoint installed in the cache)."""
    net = randomise(FCN4(**SMALL, num_classes=10), seed=3)
    ckpt = Path(save_checkpoint(net, tmp_path / "genres.ckpt"))
    meta = CardMetadata(name="fcn4_genres_v1.0", version="1.0", dataset="GTZAN", user_id="me", author="Me",
                        asset_link="https://example.org/genres.ckpt", labels=GTZAN_GENRES, arguments=SMALL,
                        mindspore_version="2.10")
    card = publish_card(ckpt, meta, root=tmp_path / "assets").path
    return net, ckpt, card


def test_every_way_of_naming_weights_gives_one_spec(genres):
    _, ckpt, card = genres
    assert resolve(DEFAULT_UID).kind == "card" and resolve(str(card)).kind == "card"
    bare = resolve(ckpt)
    assert bare.kind == "checkpoint" and bare.name == str(ckpt) and len(bare.sha256) == 64
    assert resolve("none").kind == resolve(None).kind == "none"
    spec = resolve(card)
    assert resolve(spec) is spec
    assert spec.cache_key != bare.cache_key  # a card's arguments are part of what it builds


@pytest.mark.parametrize("name", ["card", "ckpt"])
def test_build_keeps_a_trained_head_of_the_asked_size_and_replaces_any_other(genres, name, melgrams):
    net, ckpt, card = genres
    spec = resolve(card if name == "card" else ckpt)
    kept = spec.build()
    assert kept.head_kept and kept.pretrained_classes == 10 and kept.report.head_skipped == ()
    np.testing.assert_allclose(kept.network(melgrams).asnumpy(), net(melgrams).asnumpy(), rtol=1e-6, atol=1e-6)
    fresh = spec.build(3)
    assert not fresh.head_kept and fresh.network.num_classes == 3
    assert set(fresh.report.head_skipped) == {"dense.weight", "dense.bias"}
    backbone = {k: v for k, v in values(net).items() if not k.startswith("dense.")}
    for key, value in backbone.items():
        np.testing.assert_array_equal(values(fresh.network)[key], value, err_msg=key)
    assert "replaced the 10-way head by a fresh 3-way head" in fresh.describe()
    assert not spec.build(keep_head=False).head_kept


def test_a_kept_head_must_score_the_datas_labels_in_order(genres):
    _, _, card = genres
    with pytest.raises(SettingError, match="would score the wrong labels"):
        resolve(card).build(labels=list(reversed(GTZAN_GENRES)))
    assert resolve(card).build(labels=GTZAN_GENRES).head_kept


def test_widths_are_for_networks_trained_from_scratch(genres):
    _, ckpt, _ = genres
    with pytest.raises(SettingError, match="trained from scratch"):
        resolve(ckpt).build(in_classes=(1, 4, 4, 4, 4))
    built = resolve("none").build(7, in_classes=(1, 4, 4, 4, 8))
    assert not built.pretrained and built.network.in_classes == (1, 4, 4, 4, 8)
    assert built.network.num_classes == 7 and "random values" in built.describe()


def test_a_run_verifies_its_weights_once(genres, monkeypatch):
    """The tagger used to resolve and verify a card twice (its backend built the network through hub.load)."""
    _, _, card = genres
    checks = []
    real = cache.verify_file
    monkeypatch.setattr(cache, "verify_file", lambda *a: checks.append(a) or real(*a))
    with Tagger(card, backend="mindspore", workers=0) as tagger:
        tagger.network  # noqa: B018 (built: the MindSpore backend needs it)
    assert len(checks) == 1


def test_every_user_of_weights_builds_through_the_one_path(genres, tmp_path, monkeypatch):
    _, ckpt, card = genres
    calls = []
    real = building.build
    monkeypatch.setattr(building, "build", lambda spec, *a, **k: calls.append(spec.kind) or real(spec, *a, **k))
    hubconf.load(str(card))
    with Tagger(ckpt, backend="mindspore", workers=0) as tagger:
        tagger.network  # noqa: B018
    assert fcn4.cli.main(["export", "--weights", str(ckpt), "--out", str(tmp_path / "m.mindir")]) == 0
    publish_card(ckpt, CardMetadata(name="again_v1.0", version="1.0", dataset="GTZAN", user_id="me", author="Me",
                                    asset_link="https://example.org/a.ckpt", labels=GTZAN_GENRES, arguments=SMALL,
                                    mindspore_version="2.10"), root=tmp_path / "more", install=False)
    assert calls == ["card", "checkpoint", "checkpoint", "checkpoint"]


def test_a_spec_is_immutable():
    spec = resolve("none")
    with pytest.raises(AttributeError):
        spec.sha256 = "0" * 64
    assert isinstance(spec, WeightsSpec)
