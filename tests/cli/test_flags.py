"""Every numeric flag of every fcn4 command is checked while the
command line is parsed, and every output path before any work: a bad value gives exit 2 and one
line naming the flag."""
import argparse
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fcn4.base.errors import SettingError
from fcn4.cli import build_parser, main
from fcn4.cli.common import check_output_file, check_output_folder

INT, FLOAT = int, float
#: (base command line, flag, kind, lowest, highest, lowest excluded)
FLAGS = [
    *[(["tag", "x.wav"], flag, kind, low, high, low_open) for flag, kind, low, high, low_open in [
        ("--hop", FLOAT, 0, None, True), ("--min-seconds", FLOAT, 0, None, False),
        ("--max-hours", FLOAT, 0, None, True), ("--decode-timeout", FLOAT, 0, None, True),
        ("--batch-size", INT, 1, None, False), ("--workers", INT, 0, 1024, False), ("--threads", INT, 1, 1024, False),
        ("--top-k", INT, 0, None, False), ("--threshold", FLOAT, 0, 1, False)]],
    (["embed", "x.wav", "-o", "x.npz"], "--batch-size", INT, 1, None, False),
    (["embed", "x.wav", "-o", "x.npz"], "--decode-timeout", FLOAT, 0, None, True),
    (["export", "--weights", "w", "--out", "m.mindir"], "--batch-size", INT, 1, None, False),
    (["export", "--weights", "w", "--out", "m.mindir"], "--frames", INT, 1, None, False),
    (["evaluate", "--weights", "w", "--features", "f"], "--batch-size", INT, 1, None, False),
    (["evaluate", "--weights", "w", "--features", "f"], "--reader-threads", INT, 1, 1024, False),
    *[(["train", "--features", "f"], flag, kind, low, high, low_open) for flag, kind, low, high, low_open in [
        ("--epochs", INT, 1, None, False), ("--batch-size", INT, 1, None, False), ("--lr", FLOAT, 0, None, True),
        ("--seed", INT, 0, 2 ** 32 - 1, False), ("--loss-scale", FLOAT, 0, None, True),
        ("--reader-threads", INT, 1, 1024, False), ("--workers", INT, 1, 1024, False)]],
    *[(["prepare", "--data-dir", "d", "--out", "o"], flag, kind, low, high, low_open)
      for flag, kind, low, high, low_open in [
        ("--seed", INT, 0, 2 ** 32 - 1, False), ("--workers", INT, 0, 1024, False),
        ("--shard-size", INT, 1, None, False), ("--min-seconds", FLOAT, 0, None, False)]],
    (["info"], "--frames", INT, 1, None, False),
    (["tag", "x.wav", "--ray", "-o", "s"], "--actors", INT, 1, None, False),
    (["embed", "x.wav", "--ray", "-o", "s"], "--rows-per-part", INT, 1, 1_000_000, False),
    (["similar", "q.wav", "--store", "s"], "-k", INT, 1, None, False),
    (["demo"], "--seconds", FLOAT, 0, None, True),
    (["demo"], "--top-k", INT, 0, None, False),
    (["demo"], "--seed", INT, 0, 2 ** 32 - 1, False),
    (["info"], "--num-classes", INT, 1, None, False),
]
OWN = ("demo", "tag", "embed", "similar", "export", "evaluate", "train", "prepare", "fetch", "info")


@pytest.fixture(scope="module")
def parser():
    return build_parser()


def _expected(kind, low, high, low_open, text):
    """The value a flag should take from ``text``, or None when it should refuse it."""
    try:
        value = kind(text)
    except (ValueError, OverflowError):
        return None
    if kind is FLOAT and not math.isfinite(value):
        return None
    if (value <= low if low_open else value < low) or (high is not None and value > high):
        return None
    return value


def _parse(parser, argv, capsys):
    try:
        return parser.parse_args(argv), None
    except SystemExit as stop:
        return None, (stop.code, capsys.readouterr().err)


def _values(kind, low, high):
    numbers = st.integers(min_value=-(2 ** 40), max_value=2 ** 40)
    if kind is FLOAT:
        numbers = st.one_of(numbers, st.floats(allow_nan=True, allow_infinity=True))
    edges = st.sampled_from([str(v) for v in (low, low - 1, low + 1, high, (high or 0) + 1, 0.5, -0.0, "1e3")
                             if v is not None] + ["", " ", "nan", "-inf", "inf", "3.", "٣", "0x10", "1_000",
                                                  "five", "-", "1e400", "9" * 5000])
    # ("--" alone is argparse's own: CPython 3.11 drops it from an option's value and keeps the default.)
    return st.one_of(edges, numbers.map(str), numbers.map(repr), st.text(max_size=12)).filter(lambda t: t != "--")


@pytest.mark.parametrize("base, flag, kind, low, high, low_open", FLAGS, ids=[f"{b[0]} {f}" for b, f, *_ in FLAGS])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.slow
def test_a_numeric_flag_takes_values_in_its_range_or_exits_2_naming_itself(parser, capsys, base, flag, kind, low,
                                                                          high, low_open, data):
    text = data.draw(_values(kind, low, high))
    want = _expected(kind, low, high, low_open, text)
    args, refused = _parse(parser, [*base, f"{flag}={text}"], capsys)
    if want is not None:
        assert refused is None, (text, refused)
        got = getattr(args, "reader_threads" if base[0] == "train" and flag == "--workers"  # its old name
                      else flag.lstrip("-").replace("-", "_"))
        assert type(got) is kind and got == want
    else:
        assert refused is not None, f"{flag} accepted {text!r}"
        code, err = refused
        errors = [line for line in err.splitlines() if "error:" in line]
        assert code == 2 and len(errors) == 1, err
        assert errors[0].startswith(f"fcn4 {base[0]}: error: argument {flag}") or \
            errors[0].startswith(f"fcn4 {base[0]}: error: argument --reader-threads/--workers"), errors[0]


def test_no_numeric_flag_of_these_commands_is_left_unchecked(parser):
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name in OWN:
        for action in commands[name]._actions:
            assert action.type not in (int, float), f"fcn4 {name} {action.option_strings}: an unchecked number"


@pytest.mark.parametrize("argv, flag", [
    (["tag", "x.wav", "--batch-size", "0"], "--batch-size"),
    (["tag", "x.wav", "--top-k", "-3"], "--top-k"),
    (["tag", "x.wav", "--threads", "0"], "--threads"),
    (["tag", "x.wav", "--decode-timeout", "0"], "--decode-timeout"),
    (["embed", "x.wav", "-o", "x.npz", "--batch-size", "0"], "--batch-size"),
    (["train", "--features", "f", "--seed", "-1"], "--seed"),
    (["info", "--num-classes", "0"], "--num-classes"),
])
def test_the_reported_flags_exit_2_at_once(argv, flag, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and f"error: argument {flag}: takes " in err
    lines = err.splitlines()  # argparse's usage (wrapped), then the one line; nothing from MindSpore
    assert lines[0].startswith("usage: ") and all(line.startswith(" ") for line in lines[1:-1]), err
    assert lines[-1].startswith(f"fcn4 {argv[0]}: error: argument {flag}: takes ")


# ---------------------------------------------------------------------- output paths
@pytest.fixture
def places(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file.txt").write_text("x")
    return tmp_path


@pytest.mark.parametrize("argv, says", [
    (["tag", "{audio}", "--weights", "/nonexistent.ckpt", "-o", "{folder}"], "--output '{folder}' is a folder"),
    (["tag", "{audio}", "--weights", "/nonexistent.ckpt", "-o", "{missing}/out.json"],
     "--output '{missing}/out.json': the folder {missing} does not exist"),
    (["tag", "{audio}", "--weights", "/nonexistent.ckpt", "--window", "track", "--plot", "{file}"],
     "--plot '{file}' is a file, not a folder"),
    (["tag", "{audio}", "--weights", "/nonexistent.ckpt", "--window", "track", "--plot", "{missing}/t.png"],
     "--plot '{missing}/t.png': the folder {missing} does not exist"),
    (["embed", "{audio}", "--weights", "/nonexistent.ckpt", "-o", "{missing}/e.npz"],
     "--output '{missing}/e.npz': the folder {missing} does not exist"),
    (["evaluate", "--weights", "/nonexistent.ckpt", "--features", "{folder}", "--json", "{folder}"],
     "--json '{folder}' is a folder"),
    (["evaluate", "--weights", "/nonexistent.ckpt", "--features", "{folder}", "--json", "{file}/m.json"],
     "--json '{file}/m.json': the folder {file} is not a folder"),
    (["export", "--weights", "/nonexistent.ckpt", "--out", "{file}/m.mindir"], "{file} is a file"),
    (["export", "--weights", "/nonexistent.ckpt", "--out", "{folder}/m.onnx"], "a MINDIR file is named *.mindir"),
    (["train", "--features", "{folder}", "--out", "{file}"], "--out '{file}' is a file, not a folder"),
    (["prepare", "--data-dir", "{folder}", "--out", "{file}"], "--out '{file}' is a file, not a folder"),
])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(places, argv, says, capsys):
    names = {"folder": places / "folder", "file": places / "file.txt", "missing": places / "missing",
             "audio": places / "folder"}
    argv = [a.format(**names) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says.format(**names) in err, err
    assert "nonexistent" not in err  # refused before the weights were looked at


def test_an_output_file_may_be_a_link_or_new(places):
    os.symlink(places / "file.txt", places / "link.json")
    os.symlink(places / "gone", places / "dangling.json")
    for name in ("link.json", "dangling.json", "new.json", "file.txt"):
        check_output_file("-o", places / name)
    check_output_folder("--out", places / "new" / "deeper", parents=True)
    with pytest.raises(SettingError, match="does not exist"):
        check_output_folder("--plot", places / "new" / "deeper")
    with pytest.raises(SettingError, match="empty path"):
        check_output_file("-o", "")
