"""Specs read from cards, the hub cache, verification stamps, and hubconf.load end to end
against a loopback server."""
import os
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest

import hubconf
from fcn4 import CARD_ARGUMENTS, FCN4, MTAT_TAGS, FrontEnd, save_checkpoint
from fcn4.hub import cache as weights
from fcn4.hub.cards import CardError
from fcn4.hub.download import sha256_file
from fcn4.hub.publish import CardMetadata, publish_card
from fcn4.hub.weights import WeightsUnavailable, fetch, install, resolve
from helpers import SMALL, randomise

UID = "mindspore/ascend/1.1/fcn4_v1.1"
ZOO_FILE = "fcn4_ascend_v111_musictag_research_audio_bs32_acc90.ckpt"
ZOO_URL = f"https://download.mindspore.cn/model_zoo/r1.1/fcn4_ascend_v111_musictag_research_audio_bs32_acc90/{ZOO_FILE}"
ZOO_SHA = "52f8bbab81c969835f1d85c6f310b6bce916f7133e1e5d27b67cbdee6229b643"


def as_lists(value):
    return [as_lists(v) for v in value] if isinstance(value, (list, tuple)) else value


def test_the_spec_of_the_fcn4_card_holds_everything_the_card_says(hub_dir):
    spec = resolve(UID)
    assert (spec.uid, spec.model_name, spec.url, spec.sha256, spec.filename) == (UID, "fcn4", ZOO_URL, ZOO_SHA, ZOO_FILE)
    assert spec.dataset == "MagnaTagATune" and spec.labels == MTAT_TAGS and spec.num_classes == 50
    assert spec.front_end == FrontEnd()
    assert spec.cache_path == hub_dir / "mindspore" / "ascend" / "1.1" / ZOO_FILE
    with pytest.raises(Exception):
        spec.sha256 = "0" * 64  # immutable
    assert resolve(spec.card_path) == spec  # by path, the same spec


def test_the_card_usage_arguments_are_what_create_network_uses():
    spec = resolve(UID)
    assert {k: as_lists(v) for k, v in spec.arguments.items()} == {k: as_lists(v) for k, v in CARD_ARGUMENTS.items()}
    built = hubconf.create_network(spec.model_name, **spec.network_arguments())
    loaded = hubconf.load(UID, pretrained=False)
    assert built.extend_repr() == loaded.extend_repr() == FCN4().extend_repr()
    assert loaded.num_parameters() == 17_369_266


def test_positional_arguments_follow_the_card_usage_order():
    arguments = resolve(UID).network_arguments([1, 8, 8, 12, 16], [3] * 5, num_classes=7)
    assert arguments["in_classes"] == [1, 8, 8, 12, 16] and arguments["num_classes"] == 7
    with pytest.raises(TypeError, match="6 positional arguments"):
        resolve(UID).network_arguments(1, 2, 3, 4, 5, 6)


def test_hub_dir_follows_set_hub_dir_then_the_environment(hub_dir, tmp_path, monkeypatch):
    assert weights.get_hub_dir() == str(hub_dir)
    hubconf.set_hub_dir(tmp_path / "elsewhere")
    assert hubconf.get_hub_dir() == str(tmp_path / "elsewhere")
    assert resolve(UID).cache_path.parent == tmp_path / "elsewhere" / "mindspore" / "ascend" / "1.1"
    hubconf.set_hub_dir(None)
    monkeypatch.delenv(weights.HUB_DIR_ENV)
    assert weights.get_hub_dir() == os.path.expanduser("~/.mscache")


def test_offline_and_not_cached_names_url_sha256_and_where_to_put_the_file(hub_dir):
    with pytest.raises(WeightsUnavailable) as info:
        fetch(UID, offline=True)
    message = str(info.value)
    assert ZOO_URL in message and ZOO_SHA in message
    assert f"place it at: {hub_dir / 'mindspore' / 'ascend' / '1.1' / ZOO_FILE}" in message


def test_the_unreachable_real_server_gives_the_same_advice(hub_dir):
    # The loopback-only guard refuses download.mindspore.cn, as a machine without internet would.
    with pytest.raises(WeightsUnavailable, match="place it at") as info:
        hubconf.load(UID)
    assert ZOO_URL in str(info.value) and "could not be resolved" in str(info.value)


def test_a_wrong_file_in_the_cache_is_never_loaded(hub_dir, monkeypatch):
    path = resolve(UID).cache_path
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not the checkpoint")
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    with pytest.raises(WeightsUnavailable, match=f"{path} is on disk but its sha256 differs, so it was not loaded"):
        hubconf.load(UID)


def test_unknown_uids_and_missing_card_files_say_what_is_known(tmp_path):
    with pytest.raises(CardError, match=r"no card for this uid.*known here: mindspore/ascend/1.1/fcn4_v1.1"):
        resolve("someone/cpu/2.10/nothing")
    with pytest.raises(CardError, match="no card file here"):
        resolve(tmp_path / "missing.md")


# --- a card of our own, served from 127.0.0.1 --------------------------------------------------

@pytest.fixture
def trained(tmp_path):
    """A small trained-looking checkpoint and the network it came from."""
    net = randomise(FCN4(**SMALL, num_classes=10), seed=3)
    net.set_train(False)
    return net, Path(save_checkpoint(net, tmp_path / "run" / "weights.ckpt"))


@pytest.fixture
def served_card(trained, server, tmp_path):
    """A published card whose asset-link points at the loopback server (nothing cached)."""
    net, path = trained
    url = server.add("/weights.ckpt", open(path, "rb").read())
    meta = CardMetadata(name="fcn4_test_v1", version="1", dataset="GTZAN", asset_link=url, user_id="tester",
                        author="Tester", labels=[f"genre{i}" for i in range(10)], arguments=SMALL)
    published = publish_card(path, meta, root=tmp_path / "assets", install=False)
    return published.path


def outputs(net, x):
    return net(x).asnumpy()


def test_load_downloads_verifies_and_loads_then_works_with_the_server_gone(served_card, trained, server, melgrams):
    net, _ = trained
    loaded = hubconf.load(str(served_card))
    np.testing.assert_allclose(outputs(loaded, melgrams), outputs(net, melgrams), rtol=1e-6, atol=1e-6)
    assert len(server.routes["/weights.ckpt"].requests) == 1
    assert "loaded 22 parameters" in str(loaded.load_report)
    server.stop()
    again = hubconf.load(str(served_card))  # cached: no network
    np.testing.assert_allclose(outputs(again, melgrams), outputs(net, melgrams), rtol=1e-6, atol=1e-6)


def test_a_verified_file_is_not_hashed_again_until_it_changes(served_card, monkeypatch):
    path = fetch(served_card)
    calls = []
    real = weights.sha256_file
    monkeypatch.setattr(weights, "sha256_file", lambda p: calls.append(p) or real(p))
    assert fetch(served_card) == path and calls == []
    os.utime(path, ns=(1, 1))  # same bytes, other mtime: checked again, then trusted
    assert fetch(served_card) == path and calls == [path]


def test_a_tampered_cache_file_is_fetched_again(served_card, server, trained):
    path = fetch(served_card)
    good = path.read_bytes()
    path.chmod(0o644)
    path.write_bytes(good[:-8] + b"tampered")
    assert fetch(served_card) == path and path.read_bytes() == good
    assert len(server.routes["/weights.ckpt"].requests) == 2


def test_a_file_the_client_already_fetched_is_reused_without_network(served_card, trained, hub_dir, server):
    _, ckpt = trained
    spec = resolve(served_card)
    spec.cache_path.parent.mkdir(parents=True)
    spec.cache_path.write_bytes(ckpt.read_bytes())  # what mindspore_hub would have left there
    server.stop()
    assert fetch(served_card) == spec.cache_path


def test_force_reload_downloads_again(served_card, server):
    fetch(served_card)
    fetch(served_card, force_reload=True)
    assert len(server.routes["/weights.ckpt"].requests) == 2


def test_wrong_bytes_from_the_server_leave_nothing_to_trust(served_card, server, hub_dir):
    server.routes["/weights.ckpt"].body = b"garbage" * 100
    with pytest.raises(WeightsUnavailable, match="INTEGRITY ERROR"):
        hubconf.load(str(served_card))
    spec = resolve(served_card)
    left = [p.name for p in spec.cache_path.parent.iterdir()]
    assert not spec.cache_path.exists() and left == [".weights.ckpt.lock"]  # the lock file alone: nothing to read


def test_another_num_classes_keeps_the_backbone_under_a_fresh_head(served_card, trained):
    net, _ = trained
    loaded = hubconf.load(str(served_card), num_classes=4)
    assert loaded.dense.weight.shape == (4, 16)
    assert "kept a fresh head" in str(loaded.load_report)
    np.testing.assert_array_equal(loaded.conv3.weight.asnumpy(), net.conv3.weight.asnumpy())


def test_load_weights_returns_the_verified_parameters(served_card, trained):
    net, _ = trained
    entries = hubconf.load_weights(str(served_card))
    assert set(net.parameters_dict()) <= set(entries)
    np.testing.assert_array_equal(entries["dense.weight"].asnumpy(), net.dense.weight.asnumpy())


def test_a_checkpoint_beside_a_card_is_used_as_the_client_does_with_source_local(served_card, trained, server):
    _, ckpt = trained
    beside = served_card.parent / resolve(served_card).filename
    beside.write_bytes(ckpt.read_bytes())
    server.stop()
    assert fetch(served_card) == beside


def test_the_fetch_command_prints_the_verified_path(served_card, capsys):
    from fcn4 import cli

    assert cli.main(["fetch", str(served_card)]) == 0
    path = capsys.readouterr().out.strip()
    assert sha256_file(path) == resolve(served_card).sha256


def test_the_fetch_command_fails_clearly_offline(capsys):
    from fcn4 import cli

    assert cli.main(["fetch", UID, "--offline"]) == 2
    err = capsys.readouterr().err
    assert ZOO_URL in err and ZOO_SHA in err and "place it at" in err


def test_pretrained_false_needs_no_checkpoint():
    assert isinstance(hubconf.load(UID, pretrained=False, **SMALL), ms.nn.Cell)


# --- links planted in the hub cache are refused, never followed --------------------------------

def _outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    return outside


def test_a_link_among_the_cache_folders_is_refused_and_the_outside_untouched(served_card, hub_dir, tmp_path):
    from fcn4.base.errors import SettingError, UnsafePathError

    spec = resolve(served_card)
    first = hub_dir / spec.uid.split("/")[0]
    hub_dir.mkdir(parents=True, exist_ok=True)
    outside = _outside(tmp_path)
    os.symlink(outside, first)
    with pytest.raises((UnsafePathError, SettingError), match=str(first)):
        fetch(served_card)
    (outside / "inside").mkdir()
    first.unlink()
    os.symlink(hub_dir / "elsewhere", first)  # a link that stays inside the hub is refused too
    (hub_dir / "elsewhere").mkdir()
    with pytest.raises(UnsafePathError, match=str(first)):
        fetch(served_card)
    assert sorted(p.name for p in outside.iterdir()) == ["inside", "keep.txt"]
    assert list((hub_dir / "elsewhere").iterdir()) == []


@pytest.mark.parametrize("which", ["checkpoint", "stamp"])
def test_a_link_for_the_cached_checkpoint_or_its_stamp_is_refused(served_card, tmp_path, which):
    from fcn4.base.errors import SettingError, UnsafePathError

    path = fetch(served_card)
    link = path if which == "checkpoint" else path.with_name(f".{path.name}.verified.json")
    outside = _outside(tmp_path)
    link.unlink()
    os.symlink(outside / "keep.txt", link)
    with pytest.raises((UnsafePathError, SettingError), match=str(link)):
        resolve(served_card).fetch(force_reload=True)
    assert (outside / "keep.txt").read_text() == "mine"


def test_a_link_for_the_card_copy_is_refused_on_install(served_card, trained, hub_dir, tmp_path):
    from fcn4.base.errors import SettingError, UnsafePathError
    from fcn4.hub.trust import uid_parts

    spec = resolve(served_card)
    parts = uid_parts(spec.uid)
    card_copy = hub_dir.joinpath(*parts[:-1], f"{parts[-1]}.md")
    card_copy.parent.mkdir(parents=True, exist_ok=True)
    outside = _outside(tmp_path)
    os.symlink(outside / "keep.txt", card_copy)
    with pytest.raises((UnsafePathError, SettingError), match=str(card_copy)):
        install(served_card, trained[1])
    assert (outside / "keep.txt").read_text() == "mine"
