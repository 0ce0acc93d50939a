import subprocess
import sys

import pytest

from fcn4.cli import main


def test_info_prints_the_reference_shapes_and_size(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for line in ("block1       (128, 48, 341)", "block3       (768, 4, 8)", "parameters: 17,369,266",
                 "10.01 G multiply-adds", "shortest input: 160 frames (3.39 s of audio)"):
        assert line in out


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline_and_says_weights_are_untrained():
    done = subprocess.run([sys.executable, "-m", "fcn4", "demo", "--seconds", "12"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "parameters: 17,369,266" in out
    assert "melgram [96, 1366]" in out and "output [1, 50]" in out and "embedding [1, 2048]" in out
    assert "UNTRAINED" in out and "total time:" in out
    assert len([line for line in out.splitlines() if line.startswith("  ")]) == 5  # top-5 tags


@pytest.mark.parametrize("command", ["demo", "info", "tag", "embed", "fetch", "card", "prepare", "train",
                                     "evaluate", "export"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0 and "usage: fcn4 " + command in capsys.readouterr().out


def test_flag_defaults_are_the_librarys():
    import inspect

    from fcn4.cli import build_parser
    from fcn4.inference.settings import InferenceSettings
    from fcn4.inference.tagger import Tagger
    from fcn4.training.tagging import TrainConfig

    parser = build_parser()
    tag = parser.parse_args(["tag", "x.wav"])
    train = parser.parse_args(["train", "--features", "f"])
    assert tag.batch_size == inspect.signature(Tagger).parameters["batch_size"].default
    assert (tag.backend, tag.precision, tag.device) == (InferenceSettings.backend, InferenceSettings.precision,
                                                        InferenceSettings.device)  # the engine's, from its settings
    assert (train.epochs, train.lr, train.reader_threads) == (TrainConfig.epochs, TrainConfig.lr,
                                                             TrainConfig.reader_threads)
    assert parser.parse_args(["train", "--features", "f", "--workers", "3"]).reader_threads == 3  # the old name


def test_errors_exit_2_with_one_line_and_bugs_exit_3_with_the_traceback(monkeypatch, capsys):
    from fcn4 import SettingError
    from fcn4.cli import info

    monkeypatch.setattr(info, "run", lambda args: (_ for _ in ()).throw(SettingError("--frames 0: too short")))
    assert main(["info"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "fcn4 info: error: --frames 0: too short"
    monkeypatch.setattr(info, "run", lambda args: 1 / 0)
    monkeypatch.delenv("FCN4_DEBUG", raising=False)
    assert main(["info"]) == 3
    (line,) = capsys.readouterr().err.splitlines()  # one line, naming the log with the traceback
    assert line.startswith("fcn4 info: internal error (a bug, not your input): ZeroDivisionError")
    log = line.split("the traceback is in ")[1].split(" ")[0]
    assert "Traceback" in open(log).read() and "1 / 0" in open(log).read()
    assert main(["info", "--debug"]) == 3 == main(["--debug", "info"])
    assert capsys.readouterr().err.count("Traceback") == 2


def test_a_bad_number_in_a_flag_names_the_flag(capsys, tmp_path):
    assert main(["card", "publish", str(tmp_path / "x.ckpt"), "--metric", "acc=abc"]) == 2
    assert "--metric 'acc=abc'" in capsys.readouterr().err
    assert main(["train", "--features", str(tmp_path), "--in-classes", "1,a"]) == 2
    assert "--in-classes takes comma-separated whole numbers" in capsys.readouterr().err


@pytest.mark.parametrize("flags, shown", [([], {"info", "warning"}), (["-q"], {"warning"}),
                                          (["--verbose"], {"debug", "info", "warning"})])
def test_messages_go_through_logging_to_stderr_at_the_level_the_flags_ask(flags, shown, monkeypatch, capsys):
    import logging

    import fcn4.cli.info

    def job(args):
        logging.getLogger("fcn4.some.module").debug("a debug line")
        logging.getLogger("fcn4.some.module").info("an info line")
        logging.getLogger("finetune.recipe").warning("a warning line")
        print("the command's output")
        return 0

    monkeypatch.setattr(fcn4.cli.info, "run", job)
    assert main(["info", *flags]) == 0
    out, err = capsys.readouterr()
    assert out == "the command's output\n"
    expected = {"debug": "debug: a debug line", "info": "an info line", "warning": "warning: a warning line"}
    assert err.splitlines() == [line for level, line in expected.items() if level in shown]
    assert not logging.getLogger("fcn4").handlers and not logging.getLogger("finetune").handlers  # removed after
    # outside a command, the library prints nothing of its own: INFO is for a handler the program sets
    logging.getLogger("fcn4.some.module").info("not shown")
    assert capsys.readouterr() == ("", "")


def test_library_modules_never_print():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "fcn4"
    printing = [f"{path.relative_to(root)}:{node.lineno}" for path in sorted(root.rglob("*.py"))
                if "cli" not in path.relative_to(root).parts[:1] and path.name != "__main__.py"
                for node in ast.walk(ast.parse(path.read_text("utf-8")))
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"]
    assert printing == []


def test_evaluate_calibrates_on_the_valid_split_unless_test_is_asked_for_with_a_warning(tmp_path, monkeypatch,
                                                                                          capsys):
    import functools
    from types import SimpleNamespace

    import fcn4.hub.weights
    from fcn4.cli import evaluate as command

    asked = []
    monkeypatch.setattr(fcn4.hub.weights, "resolve", lambda weights: SimpleNamespace(card_path="card.md"))
    @functools.wraps(command.evaluate)  # its signature gives the flags' defaults
    def evaluate(*args, split, **kwargs):
        asked.append(split)
        return {"roc_auc": 0.5}

    monkeypatch.setattr(command, "evaluate", evaluate)
    monkeypatch.setattr(command, "_write_calibrated", lambda card, result, args: None)
    common = ["evaluate", "--weights", "w", "--features", "f", "--json", str(tmp_path / "m.json")]
    for extra, split in [([], "test"), (["--calibrate", str(tmp_path / "c.md")], "valid"),
                         (["--calibrate", str(tmp_path / "c.md"), "--split", "test"], "test")]:
        assert main(common + extra) == 0
        assert asked.pop() == split
    assert "warning: --calibrate --split test" in capsys.readouterr().err
