from pathlib import Path

import numpy as np
import pytest

import hubconf
from fcn4 import FCN4, GTZAN_GENRES, cli, save_checkpoint
from fcn4.hub.cards import CardError, read_card
from fcn4.hub.download import sha256_file
from fcn4.hub.publish import CardMetadata, card_path_for, publish_card
from fcn4.hub.rules import validate_card
from fcn4.hub.weights import resolve
from fcn4.model.checkpoint import CheckpointError
from helpers import SMALL, randomise


@pytest.fixture
def checkpoint(tmp_path):
    net = randomise(FCN4(**SMALL, num_classes=10), seed=5)
    net.set_train(False)
    return net, Path(save_checkpoint(net, tmp_path / "run" / "best.ckpt"))


def metadata(**changes):
    values = dict(name="fcn4_gtzan_v1.0", version="1.0", dataset="GTZAN", asset_link="https://example.org/fcn4_gtzan.ckpt",
                  user_id="Someone", author="Some One", labels=GTZAN_GENRES, arguments=SMALL,
                  metrics={"accuracy": 0.81, "roc_auc_macro": 0.97}, mindspore_version="2.10")
    values.update(changes)
    return CardMetadata(**values)


def test_publish_writes_a_valid_card_in_the_hub_layout_with_the_checkpoint_sha256(checkpoint, tmp_path):
    _, ckpt = checkpoint
    published = publish_card(ckpt, metadata(), root=tmp_path / "assets")
    assert published.path == tmp_path / "assets" / "someone" / "cpu" / "2.10" / "fcn4_gtzan_v1.0.md"
    assert published.uid == "someone/cpu/2.10/fcn4_gtzan_v1.0"
    card = read_card(published.path)
    assert validate_card(card) == []
    assert card.fields["asset"][0]["asset-sha256"] == sha256_file(ckpt) == published.sha256
    assert card.fields["mindspore-version"] == "2.10" and card.fields["model-version"] == "1.0"
    assert card.fields["accuracy"] == 0.81 and card.fields["evaluation"]["roc_auc_macro"] == 0.97
    assert card.labels() == GTZAN_GENRES
    assert card.usage_arguments() == {"in_classes": [1, 8, 8, 12, 16], "num_classes": 10}


def test_the_published_card_loads_offline_with_its_labels_and_outputs(checkpoint, tmp_path, melgrams, monkeypatch):
    net, ckpt = checkpoint
    published = publish_card(ckpt, metadata(), root=tmp_path / "assets")
    monkeypatch.setenv("FCN4_OFFLINE", "1")
    for handle in (str(published.path), published.uid):  # the uid resolves from the cache
        loaded = hubconf.load(handle)
        np.testing.assert_allclose(loaded(melgrams).asnumpy(), net(melgrams).asnumpy(), rtol=1e-6, atol=1e-6)
        assert resolve(handle).labels == GTZAN_GENRES


def test_strict_mode_refuses_gtzan_and_writes_nothing(checkpoint, tmp_path):
    _, ckpt = checkpoint
    with pytest.raises(CardError, match="train-dataset: 'GTZAN' is not on the MindSpore Hub's dataset list"):
        publish_card(ckpt, metadata(), root=tmp_path / "assets", strict=True)
    assert not (tmp_path / "assets").exists()
    publish_card(ckpt, metadata(dataset="MagnaTagATune", labels=None, arguments={**SMALL, "num_classes": 10}),
                 root=tmp_path / "assets", strict=True)


def test_a_different_card_is_not_overwritten_unless_asked(checkpoint, tmp_path):
    _, ckpt = checkpoint
    first = publish_card(ckpt, metadata(), root=tmp_path / "assets")
    publish_card(ckpt, metadata(), root=tmp_path / "assets")  # identical: fine
    before = first.path.read_text()
    with pytest.raises(CardError, match="a different card already exists here"):
        publish_card(ckpt, metadata(author="Someone Else"), root=tmp_path / "assets")
    assert first.path.read_text() == before
    publish_card(ckpt, metadata(author="Someone Else"), root=tmp_path / "assets", overwrite=True)
    assert "author: Someone Else" in first.path.read_text()


def test_a_checkpoint_that_does_not_fit_the_described_network_is_refused(checkpoint, tmp_path):
    _, ckpt = checkpoint
    with pytest.raises(CheckpointError, match="shape differs"):
        publish_card(ckpt, metadata(arguments={"in_classes": [1, 8, 8, 12, 32]}), root=tmp_path / "assets")
    with pytest.raises(ValueError, match="3 labels but num_classes=10"):
        publish_card(ckpt, metadata(labels=["a", "b", "c"], arguments={**SMALL, "num_classes": 10}),
                     root=tmp_path / "assets")
    assert not (tmp_path / "assets").exists()


def test_metadata_from_a_mapping_names_unknown_and_missing_keys():
    with pytest.raises(ValueError, match="unknown run metadata colour"):
        CardMetadata.from_mapping({"colour": "red"})
    with pytest.raises(ValueError, match="run metadata lacks asset_link, author"):
        CardMetadata.from_mapping({"name": "x", "version": "1", "dataset": "GTZAN", "user-id": "me"})


def test_the_publish_command_writes_the_card_and_says_where(checkpoint, tmp_path, capsys):
    _, ckpt = checkpoint
    args = ["card", "publish", str(ckpt), "--name", "fcn4_gtzan_v1.0", "--version", "1.0", "--dataset", "GTZAN",
            "--asset-link", "https://example.org/fcn4_gtzan.ckpt", "--user-id", "someone", "--author", "Me",
            "--mindspore-version", "2.10", "--labels", "gtzan_genres", "--metric", "accuracy=0.8",
            "--in-classes", "1,8,8,12,16", "--root", str(tmp_path / "assets")]
    assert cli.main(args) == 0
    expected = card_path_for(metadata(user_id="someone"), tmp_path / "assets")
    assert f"card:       {expected}" in capsys.readouterr().out
    assert validate_card(read_card(expected)) == []
    assert cli.main(args + ["--author", "Other"]) == 2
    assert "a different card already exists here" in capsys.readouterr().err
    assert cli.main(args + ["--strict"]) == 2
    assert "not on the MindSpore Hub's dataset list" in capsys.readouterr().err
