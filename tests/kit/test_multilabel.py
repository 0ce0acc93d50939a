"""Multi-label fine-tuning from a manifest, thresholds calibrated into the card, and `fcn4 tag --threshold`."""
import json

import numpy as np
import pytest

from fcn4.cli import main as fcn4_main
from fcn4.hub.cards import read_card, with_thresholds
from fcn4.hub.rules import check_card
from fcn4.inference.predictions import Prediction
from fcn4.inference.reports import TagWriter
from fcn4.training.synthetic import INSTRUMENTS, write_multilabel_corpus
from fcn4.training.thresholds import calibrate, parse_policy
from finetune import FinetuneConfig, run
from fcn4.errors import SettingError

WIDE = (1, 16, 32, 64, 128)  # random features wide enough to hear each instrument


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A head trained on 100 clips mixing 2-3 synthetic instruments, from a random backbone."""
    root = tmp_path_factory.mktemp("multi")
    manifest = write_multilabel_corpus(root / "corpus", clips=100)
    config = FinetuneConfig(manifest=str(manifest), out=str(root / "run"), pretrained="none", in_classes=WIDE,
                            workers=0, backend="mindspore", batch_size=8, lr=1e-2, epochs=12, progress=False)
    return run(config, log=lambda m: None, warn=lambda m: None)


def test_a_multi_label_corpus_reaches_macro_roc_auc_0_9_head_only_from_a_random_backbone(trained):
    assert trained.dataset.task == "multi" and trained.dataset.labels == tuple(sorted(INSTRUMENTS))
    assert trained.metrics["roc_auc"] >= 0.9
    for key in ("micro_roc_auc", "pr_auc", "micro_pr_auc", "macro_f1", "micro_f1"):
        assert 0 <= trained.metrics[key] <= 1
    saved = json.loads((trained.run_dir / "metrics.json").read_text())
    assert saved["dataset"]["task"] == "multi" and saved["thresholds"]["policy"] == "f1"
    assert not (trained.run_dir / "confusion.png").exists()


def test_thresholds_round_trip_through_the_card_and_decide_fcn4_tag_s_sets(trained, tmp_path, capsys):
    card = read_card(trained.card)
    assert check_card(trained.card) == []
    saved = json.loads((trained.run_dir / "metrics.json").read_text())["thresholds"]["per_label"]
    assert card.thresholds() == pytest.approx({k: v["threshold"] for k, v in saved.items()}, abs=1e-6)
    clips = [item.path for item in trained.dataset.splits["test"]][:6]

    def sets(card_path):
        code = fcn4_main(["tag", *clips, "--weights", str(card_path), "--backend", "mindspore", "--workers", "0",
                          "--threshold", "card", "--format", "json", "--no-progress"])
        assert code == 0
        document = json.loads(capsys.readouterr().out)
        assert document["thresholds"] == pytest.approx(card.thresholds() if card_path == trained.card else
                                                       read_card(card_path).thresholds())
        return [entry["label_set"] for entry in document["files"]]

    calibrated = sets(trained.card)
    truth = [[trained.dataset.labels[i] for i in item.label] for item in trained.dataset.splits["test"][:6]]
    assert sum(set(a) == set(b) for a, b in zip(calibrated, truth)) >= 3  # the sets are the instruments, mostly
    text = trained.card.read_text()
    for value, expected in ((0.0, [list(INSTRUMENTS)] * 6), (1.0, [[]] * 6)):
        moved = tmp_path / f"all{value}" / trained.card.name
        moved.parent.mkdir()
        moved.write_text(with_thresholds(text, {label: value for label in trained.dataset.labels}, "by hand"))
        (moved.parent / trained.checkpoint.name).write_bytes(trained.checkpoint.read_bytes())
        assert check_card(moved) == []
        assert [sorted(s) for s in sets(moved)] == [sorted(s) for s in expected]


def test_label_sets_appear_in_every_format():
    import io

    prediction = Prediction("a.wav", ("x", "y", "z"), None, np.zeros(1), np.array([[0.9, 0.2, 0.6]], np.float32))
    out = {}
    for fmt in ("table", "json", "csv"):
        handle = io.StringIO()
        writer = TagWriter(handle, fmt, ("x", "y", "z"), {}, label_thresholds=[0.5, 0.1, 0.7])
        writer.write(prediction)
        writer.close()
        out[fmt] = handle.getvalue()
    assert "| labels: x, y" in out["table"]
    assert json.loads(out["json"])["files"][0]["label_set"] == ["x", "y"]
    assert out["csv"].splitlines()[1].split(",")[:5] == ["a.wav", "ok", "", "x;z;y", "x;y"]
    assert prediction.label_set(0.55) == [("x", pytest.approx(0.9)), ("z", pytest.approx(0.6))]
    with pytest.raises(SettingError, match="3 labels"):
        TagWriter(io.StringIO(), "csv", ("x", "y", "z"), {}, label_thresholds=[0.5])


def test_fcn4_tag_threshold_card_refuses_weights_without_thresholds(tmp_path, capsys):
    from fcn4 import FCN4, save_checkpoint
    from helpers import SMALL

    save_checkpoint(FCN4(**SMALL, num_classes=3), tmp_path / "w.ckpt")
    (tmp_path / "l.txt").write_text("a\nb\nc\n")
    code = fcn4_main(["tag", str(tmp_path), "--weights", str(tmp_path / "w.ckpt"), "--labels", str(tmp_path / "l.txt"),
                      "--backend", "mindspore", "--workers", "0", "--threshold", "card"])
    assert code == 2 and "no card to read thresholds from" in capsys.readouterr().err


@pytest.mark.parametrize("policy, floor", [("precision=0.9", "precision"), ("recall=0.8", "recall")])
def test_a_policy_holds_its_floor_where_it_can_and_says_where_it_cannot(policy, floor):
    rng = np.random.default_rng(1)
    targets = (rng.random((400, 3)) < 0.3).astype(int)
    scores = np.clip(targets * 0.35 + rng.random((400, 3)) * 0.7, 0, 1)
    targets[:, 2] = 0  # no positive: the default threshold, with a note
    chosen = calibrate(targets, scores, ["a", "b", "c"], policy)
    kind, value = parse_policy(policy)
    for label in "ab":
        assert chosen[label]["note"] is None and chosen[label][floor] >= value
        column = "ab".index(label)
        decided = scores[:, column] >= chosen[label]["threshold"]
        true = targets[:, column] == 1
        measured = (decided & true).sum() / (decided.sum() if kind == "precision" else true.sum())
        assert measured == pytest.approx(chosen[label][floor])
    assert chosen["c"]["threshold"] == 0.5 and "no positive" in chosen["c"]["note"]
    with pytest.raises(SettingError, match="precision=P"):
        parse_policy("precision=2")


@pytest.mark.slow
def test_head_mode_trains_on_another_block_s_embeddings_and_saves_the_head_alone(trained, tmp_path):
    config = trained.config.replace(layer="block3", out=str(tmp_path / "block3"))
    result = run(config, log=lambda m: None, warn=lambda m: None)
    assert result.card is None and result.checkpoint.name == "fcn4_labels_head_v1.0_block3_head.ckpt"
    import mindspore as ms

    head = ms.load_checkpoint(str(result.checkpoint))
    assert [tuple(v.shape) for k, v in sorted(head.items()) if k.endswith("weight")] == [(5, 2 * WIDE[3])]
    assert result.metrics["roc_auc"] >= 0.8
    with pytest.raises(Exception, match="only head mode"):
        trained.config.replace(layer="block2", mode="full")


def test_macro_f1_leaves_out_a_label_without_positives_as_roc_auc_does():
    from fcn4.training.multilabel import multilabel_metrics

    t = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    p = np.array([[.9, .2, .1], [.3, .8, .2], [.7, .6, .3], [.1, .4, .2]])
    metrics = multilabel_metrics(t, p, ["vocals", "drums", "flute"])
    assert metrics["macro_f1"] == metrics["roc_auc"] == 1.0 and metrics["left_out"] == ["flute"]
    assert multilabel_metrics(np.zeros((2, 2)), np.full((2, 2), .1), ["a", "b"])["macro_f1"] is None
