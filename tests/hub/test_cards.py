import datetime
import socket
from pathlib import Path

import pytest

from fcn4 import cli
from fcn4.hub.cards import SAMPLE_CARD, CardError, parse_card, read_card, render_card, write_card
from fcn4.hub.rules import check_card, check_cards, validate_card

REPO = Path(__file__).resolve().parents[2]
FCN4_CARD = REPO / "mshub_res" / "assets" / "mindspore" / "ascend" / "1.1" / "fcn4_v1.1.md"

# The front matter of the hub's FCN-4 card (seed 000), value for value.
SEED_FIELDS = {
    "model-name": "fcn4", "backbone-name": "fcn4", "module-type": "audio", "fine-tunable": True,
    "input-shape": [[1, 128], [1, 128], [1, 128]], "model-version": 1.1, "train-dataset": "MagnaTagATune",
    "author": "MindSpore team", "update-time": datetime.date(2021, 4, 15),
    "repo-link": "<https://gitee.com/mindspore/mindspore/tree/r1.1/model_zoo/research/audio/fcn-4>",
    "user-id": "MindSpore", "used-for": "inference/transfer-learning", "train-backend": "ascend",
    "infer-backend": "ascend", "mindspore-version": 1.1,
    "asset": [{"file-format": "ckpt",
               "asset-link": "<https://download.mindspore.cn/model_zoo/r1.1/fcn4_ascend_v111_musictag_research_audio_bs32_acc90/fcn4_ascend_v111_musictag_research_audio_bs32_acc90.ckpt>",
               "asset-sha256": "52f8bbab81c969835f1d85c6f310b6bce916f7133e1e5d27b67cbdee6229b643"}],
    "license": "Apache2.0",
    "summary": "FCN-4 is a convolutional neural network architecture, its name FCN-4 comes from the fact that it "
               "has 4 layers. Its layers consists of Convolutional layers, Max Pooling layers, Activation layers, "
               "Fully connected layers.",
}

GOOD = SAMPLE_CARD


def fields_of(problems):
    return sorted(p.field for p in problems)


def test_the_fcn4_card_keeps_the_seed_front_matter_and_passes_every_rule():
    card = read_card(FCN4_CARD)
    assert dict(card.fields) == SEED_FIELDS
    assert validate_card(card) == [] and validate_card(card, strict=True) == []
    assert card.title == "FCN-4"


def test_the_fcn4_card_usage_shows_hubconf_and_mshub_load():
    usage = read_card(FCN4_CARD).body.split("## Usage", 1)[1].split("## Citation", 1)[0]
    assert 'mshub.load(model, in_classes=[1, 128, 384, 768, 2048]' in usage
    assert 'hubconf.load("mindspore/ascend/1.1/fcn4_v1.1")' in usage


def test_a_good_card_has_no_problems_and_its_usage_arguments_are_read():
    card = parse_card(GOOD, "good.md")
    assert validate_card(card) == [] and validate_card(card, strict=True) == []
    assert card.usage_arguments() == {"in_classes": [1, 8, 8, 12, 16], "padding": [0, 0, 0, 0, 0]}
    assert card.asset("ckpt")["asset-link"] == "<https://example.org/w.ckpt>"


def test_one_run_reports_every_problem_with_file_and_field():
    bad = (GOOD.replace("fine-tunable: True", "fine-tunable: yes please")
           .replace("used-for: inference/extract-feature", "used-for: inference/painting")
           .replace("infer-backend: cpu/gpu", "infer-backend: tpu")
           .replace("module-type: audio-tagging", "module-type: audio-tagging-x")
           .replace("summary: A sample card.", "summary: Time 10:30")
           .replace("    asset-sha256: 52f8bbab81c969835f1d85c6f310b6bce916f7133e1e5d27b67cbdee6229b643",
                    "    asset-sha256: 52F8")
           .replace("  - file-format: ckpt", "  - file-format: pth")
           .replace("author: Someone\n", "accuracy: high\nallow-cache-ckpt: 1\n")
           .replace("input-shape: [1, 1, 96, 1366]", "input-shape: 1x96")
           .replace("## Usage", "## Usage:"))
    problems = validate_card(parse_card(bad, "bad.md"))
    assert fields_of(problems) == sorted([
        "author", "fine-tunable", "used-for", "infer-backend", "module-type", "summary",
        "asset[0].asset-sha256", "asset[0].file-format", "accuracy", "allow-cache-ckpt", "input-shape",
        "body line 1"])
    assert all(str(p).startswith("bad.md: ") for p in problems)
    text = "\n".join(map(str, problems))
    assert "'painting' is not allowed" in text and "'tpu' is not allowed" in text
    assert "more than one '-'" in text and "holds a ':'" in text and "'## Usage:'" not in text
    assert "heading 'Usage:' ends with ':'" in text


def test_missing_fields_and_asset_keys_are_each_named():
    text = GOOD.replace("model-name: fcn4\n", "").replace("license: Apache2.0\n", "").replace(
        "    asset-link: <https://example.org/w.ckpt>\n", "")
    assert fields_of(validate_card(parse_card(text, "c.md"))) == ["asset[0].asset-link", "license", "model-name"]


def test_links_must_be_urls_and_strict_mode_wants_angle_brackets():
    text = GOOD.replace("<https://example.org/code/fcn-4>", "https://example.org/code/fcn-4").replace(
        "<https://example.org/w.ckpt>", "ftp//nowhere")
    assert fields_of(validate_card(parse_card(text, "c.md"))) == ["asset[0].asset-link"]
    assert fields_of(validate_card(parse_card(text, "c.md"), strict=True)) == ["asset[0].asset-link", "repo-link"]


def test_gtzan_is_accepted_by_default_and_refused_in_strict_hub_mode():
    card = parse_card(GOOD.replace("train-dataset: MagnaTagATune", "train-dataset: GTZAN"), "g.md")
    assert validate_card(card) == []
    (problem,) = validate_card(card, strict=True)
    assert problem.field == "train-dataset" and "not on the MindSpore Hub's dataset list" in problem.message


def test_front_matter_delimiters_yaml_errors_and_repeated_keys_are_reported():
    three = GOOD.replace("## Usage", "---\n## Usage")
    assert "exactly two" in str(validate_card(parse_card(three, "c.md"))[0])
    broken = GOOD.replace("author: Someone", "author: [unclosed")
    (problem,) = [p for p in validate_card(parse_card(broken, "c.md")) if p.field == "front matter"]
    assert "not valid YAML (front matter line" in problem.message
    twice = GOOD.replace("author: Someone", "author: Someone\nauthor: Another")
    assert [p.field for p in validate_card(parse_card(twice, "c.md"))] == ["author"]


def test_a_hash_in_a_code_block_is_not_a_heading_but_a_setext_heading_is():
    body = GOOD + "\n```sh\n# comment:\n```\n\nNotes:\n======\n"
    (problem,) = validate_card(parse_card(body, "c.md"))
    assert problem.message == "heading 'Notes:' ends with ':'; the hub rejects that"


def test_usage_calls_that_disagree_and_labels_that_do_not_fit_are_problems():
    text = GOOD.replace('padding=[0] * 5)', 'padding=[0] * 5, num_classes=3)\nnet = mshub.load("x", in_classes=[1, 2, 3, 4, 5])')
    text += "\n## Labels\n\n```text\na\nb\n```\n"
    messages = [p.message for p in validate_card(parse_card(text, "c.md"))]
    assert any("in_classes= is [1, 2, 3, 4, 5]" in m and "must agree" in m for m in messages)
    assert "2 labels but the Usage builds num_classes=3" in messages


def test_render_then_parse_gives_back_the_fields_and_keeps_version_strings():
    fields = dict(parse_card(GOOD, "c.md").fields)
    fields["evaluation"] = {"accuracy": 0.8, "roc_auc": 0.95}
    text = render_card(fields, "## Usage\n\nNothing here.", title="Round trip")
    card = parse_card(text, "r.md")
    assert dict(card.fields) == fields
    assert card.fields["mindspore-version"] == "2.10" and card.title == "Round trip"
    assert validate_card(card) == []


def test_write_card_is_atomic_and_never_replaces_a_different_card_unless_asked(tmp_path):
    path = tmp_path / "assets" / "c.md"
    write_card(path, GOOD)
    write_card(path, GOOD)                        # same content: fine
    with pytest.raises(CardError, match="a different card already exists here.*overwrite"):
        write_card(path, GOOD + "\nmore\n")
    assert path.read_text() == GOOD
    write_card(path, GOOD + "\nmore\n", overwrite=True)
    assert path.read_text().endswith("more\n") and [p.name for p in path.parent.iterdir()] == ["c.md"]


def test_validation_needs_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("validation tried to use the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert check_card(FCN4_CARD, strict=True) == []


def test_a_missing_card_file_is_a_problem_not_a_crash(tmp_path):
    (problem,) = check_card(tmp_path / "nope.md")
    assert problem.field == "file" and "does not exist" in problem.message


def test_check_cards_walks_a_tree_and_skips_readmes(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "good.md").write_text(GOOD)
    (tmp_path / "a" / "b" / "bad.md").write_text(GOOD.replace("fine-tunable: True", "fine-tunable: 3"))
    (tmp_path / "README.md").write_text("# not a card")
    results = check_cards([tmp_path])
    assert {p.name: fields_of(v) for p, v in results.items()} == {"good.md": [], "bad.md": ["fine-tunable"]}


def test_the_validate_command_exits_non_zero_when_any_card_is_invalid(tmp_path, capsys):
    (tmp_path / "good.md").write_text(GOOD)
    assert cli.main(["card", "validate", str(tmp_path)]) == 0
    (tmp_path / "bad.md").write_text(GOOD.replace("used-for: inference/extract-feature", "used-for: art"))
    assert cli.main(["card", "validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'bad.md'}: 1 problem(s)" in out and "used-for: 'art' is not allowed" in out
    assert "1 valid, 1 invalid" in out


def test_the_validate_command_checks_this_repos_cards_by_default(capsys):
    assert cli.main(["card", "validate", "--strict"]) == 0
    assert "fcn4_v1.1.md: ok" in capsys.readouterr().out
