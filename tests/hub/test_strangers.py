"""Cards and checkpoints written by strangers: every one ends in a spec or a clear error, fast and in
flat memory, and nothing is ever written outside the hub folder."""
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fcn4
import hubconf
from fcn4 import FCN4, CardError, CheckpointError, SettingError, save_checkpoint
from fcn4.hub.cards import SAMPLE_CARD, parse_card
from fcn4.hub.publish import CardMetadata, card_path_for, publish_card
from fcn4.hub.rules import check_card
from fcn4.hub.weights import WeightsSpec, resolve
from fcn4.model.checkpoint import read_checkpoint
from helpers import SMALL, randomise

# Pieces of cards that have broken card readers: aliases, huge repeats, traversal, absurd sizes.
NASTY = [
    "a: &x [1, 2]", "b: *x", "c: &y [*x, *x, *x]", "user-id: ../..", "user-id: /etc", "mindspore-version: ..",
    "    asset-link: <https://example.org/w/..%2F..%2Fevil.ckpt>", "    asset-link: <https://example.org/w/%2Fetc%2Fx>",
    "    asset-link: <file:///etc/passwd>", "network = hubconf.load('x.md', padding=[0] * 10**10)",
    "network = hubconf.load('x.md', in_classes=[1, 60000, 8, 8, 8])",
    "network = hubconf.load('x.md', maxpool=[(1000, 1000)] * 4)", "network = hubconf.load('x.md', num_classes=10**9)",
    "front_end = fcn4.FrontEnd(hop_length=0, n_fft=10**9, sample_rate=-1)", "#" + " " * 20000 + "x",
    "## Usage" + " " * 20000, "```python", "```", "---", "[" * 500, "x: " + "[" * 300, "## Labels", "\x00",
    "asset:", "  - file-format: ckpt", "    asset-sha256: " + "a" * 64, "input-shape: [1, 1, 96, 1366]",
    "network = hubconf.load('x.md', " + "(" * 300 + ")", "network = hubconf.load('x.md', kernel_size=" + "9" * 5000 + ")",
]


def mutated_cards():
    lines = st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=40)), min_size=1, max_size=4)
    return st.builds(_mutate, st.integers(0, 80), st.integers(0, 2), lines)


def _mutate(at, replace, extra):
    lines = SAMPLE_CARD.splitlines()
    at = at % (len(lines) + 1)
    return "\n".join(lines[:at] + extra + lines[at + replace:])


def spec_or_card_error(text):
    """What resolving a card with this text does: a spec or a CardError, never anything else."""
    started = time.perf_counter()
    try:
        result = WeightsSpec.from_card(parse_card(text, "stranger.md"))
    except CardError as exc:
        assert exc.problems and all(p.path == "stranger.md" and p.field for p in exc.problems)
        result = exc
    assert time.perf_counter() - started < 1.0
    return result


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_cards())
def test_any_mutated_card_gives_a_spec_or_a_card_error_naming_file_and_field(text):
    spec_or_card_error(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_any_text_gives_a_spec_or_a_card_error(text):
    spec_or_card_error(text)


def _card(**replace):
    text = SAMPLE_CARD
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


@pytest.mark.parametrize("text, field, words", [
    (_card(**{"user-id: someone": "user-id: ../.."}), "user-id", "path separator"),
    (_card(**{"user-id: someone": "user-id: '..'"}), "user-id", "not a file or folder name"),
    (_card(**{"<https://example.org/w.ckpt>": "<https://example.org/..%2F..%2Fw.ckpt>"}), "asset[0].asset-link",
     "path separator"),
    (_card(**{"<https://example.org/w.ckpt>": "<https://example.org/%2Fetc%2Fw.ckpt>"}), "asset[0].asset-link",
     "path separator"),
    (_card(**{"padding=[0] * 5": "padding=[0] * 10000000000"}), "Usage", "FCN4_LIMIT_USAGE_ITEMS"),
    (_card(**{"padding=[0] * 5": "padding=[0] * 10**10"}), "Usage", "not a literal value"),
    (_card(**{"[1, 8, 8, 12, 16]": "[1, 60000, 8, 8, 8]"}), "Usage", "FCN4_LIMIT_CHANNELS"),
    (_card(**{"padding=[0] * 5)": "padding=[0] * 5, maxpool=[(1000, 1000)] * 4)"}), "Usage", "FCN4_LIMIT_POOL"),
    (_card(**{"padding=[0] * 5)": "padding=[0] * 5, num_classes=1000000000)"}), "Usage", "FCN4_LIMIT_CLASSES"),
    (_card(**{"padding=[0] * 5)": "padding=[0] * 5)\nfe = fcn4.FrontEnd(hop_length=0)"}), "Usage", "hop_length"),
    (_card(**{"author: Someone": "author: &a Someone\nlicense2: *a"}), "front matter", "anchors and aliases"),
])
def test_hostile_cards_are_refused_by_name_and_by_card_validate(text, field, words, tmp_path):
    error = spec_or_card_error(text)
    assert isinstance(error, CardError)
    assert any(p.field == field and words in p.message for p in error.problems), error
    path = tmp_path / "stranger.md"
    path.write_text(text)
    assert any(p.field == field for p in check_card(path))


def test_bombs_are_refused_fast_in_flat_memory(tmp_path):
    laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
    bombs = [(SAMPLE_CARD.replace("---\nmodel-name", f"---\n{laughs}model-name"), CardError),
             (SAMPLE_CARD.replace("## Usage", "#" + " " * 200_000 + "x\n## Usage"), WeightsSpec),  # long, not wrong
             (SAMPLE_CARD.replace("padding=[0] * 5", "padding=[0] * 10000000000"), CardError),
             ("x" * (2 << 20), CardError)]
    for text, outcome in bombs:
        tracemalloc.start()
        started = time.perf_counter()
        assert isinstance(spec_or_card_error(text), outcome)
        seconds, peak = time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert seconds < 1.0 and peak < 64 << 20, (text[:60], seconds, peak)


def test_a_card_file_larger_than_the_limit_is_not_read(tmp_path, monkeypatch):
    big = tmp_path / "big.md"
    big.write_text(SAMPLE_CARD + "\n" + "x" * 300_000)
    with pytest.raises(CardError, match="too large for a card.*FCN4_LIMIT_CARD_BYTES"):
        resolve(big)
    monkeypatch.setenv("FCN4_LIMIT_CARD_BYTES", "1000000")  # the documented way to raise it
    assert resolve(big).card_path == str(big)


def test_absurd_sizes_are_refused_before_anything_is_allocated():
    for arguments, words in ((dict(in_classes=[1, 60000, 8, 8, 8]), "in_classes"),
                             (dict(num_classes=10**9), "num_classes"),
                             (dict(in_classes=[1, 16384, 16384, 16384, 16384]), "FCN4_LIMIT_PARAMETERS"),
                             (dict(maxpool=[(1000, 1000)] * 4), "maxpool"),
                             (dict(kernel_size=[99] * 4), "kernel_size")):
        tracemalloc.start()
        with pytest.raises(SettingError, match=words):
            FCN4(**arguments)
        assert tracemalloc.get_traced_memory()[1] < 16 << 20
        tracemalloc.stop()
    net = FCN4(in_classes=[1, 4, 4, 4, 4], maxpool=[(64, 64)] * 4)  # the shortest input is computed, not searched
    assert net.min_input_size == (64 ** 3, 64 ** 3)
    for settings_ in (dict(hop_length=0), dict(sample_rate=-1), dict(n_fft=10**9), dict(clip_seconds=1e9),
                      dict(n_mels=1000)):
        with pytest.raises(SettingError, match=next(iter(settings_))):
            fcn4.FrontEnd(**settings_)


def _protobuf_field(number, wire, payload):
    def varint(n):
        out = b""
        while True:
            byte, n = n & 0x7F, n >> 7
            out += bytes([byte | (0x80 if n else 0)])
            if not n:
                return out
    key = varint(number << 3 | wire)
    return key + (varint(len(payload)) + payload if wire == 2 else varint(payload))


def test_a_tiny_checkpoint_declaring_a_huge_tensor_is_refused_before_allocating(tmp_path):
    tensor = (_protobuf_field(1, 0, 250_000_000) + _protobuf_field(2, 2, b"Float32")
              + _protobuf_field(3, 2, b"\0" * 4))
    bomb = tmp_path / "bomb.ckpt"
    bomb.write_bytes(_protobuf_field(1, 2, _protobuf_field(1, 2, b"conv1.weight") + _protobuf_field(2, 2, tensor)))
    assert bomb.stat().st_size < 60
    tracemalloc.start()
    with pytest.raises(CheckpointError, match=r"declares shape \[250000000\] of Float32 .* holds 4 bytes"):
        read_checkpoint(bomb)
    assert tracemalloc.get_traced_memory()[1] < 1 << 20
    tracemalloc.stop()
    bomb.write_bytes(b"\x0a\xff\xff\xff\xff\x0f")  # a length far past the end of the file
    with pytest.raises(CheckpointError, match="not a readable MindSpore checkpoint"):
        read_checkpoint(bomb)


@pytest.fixture
def small_checkpoint(tmp_path):
    net = randomise(FCN4(**SMALL, num_classes=10), seed=3)
    return Path(save_checkpoint(net, tmp_path / "run" / "weights.ckpt"))


def _card_for(small_checkpoint, server, tmp_path, link_path="/weights.ckpt", user_id="tester"):
    url = server.add(link_path, small_checkpoint.read_bytes())
    meta = CardMetadata(name="fcn4_test_v1", version="1", dataset="GTZAN", asset_link=url, user_id=user_id,
                        author="Tester", labels=[f"genre{i}" for i in range(10)], arguments=SMALL)
    return publish_card(small_checkpoint, meta, root=tmp_path / "assets", install=False).path


def _files(root):
    return sorted(p for p in Path(root).rglob("*") if p.is_file())


@pytest.mark.parametrize("link", ["..%2F..%2F..%2Fescaped.ckpt", "%2Ftmp%2Fescaped.ckpt", "..%5C..%5Cescaped.ckpt"])
def test_a_card_whose_link_names_a_path_writes_nothing_anywhere(small_checkpoint, server, tmp_path, hub_dir, link,
                                                                capsys):
    card = _card_for(small_checkpoint, server, tmp_path)
    text = card.read_text().replace("/weights.ckpt>", f"/{link}>")
    card.write_text(text)
    server.add("/" + link, small_checkpoint.read_bytes())
    before = _files(tmp_path)
    with pytest.raises(CardError, match="asset-link"):
        hubconf.load(str(card))
    assert fcn4.cli.main(["fetch", str(card)]) == 2
    assert "asset-link" in capsys.readouterr().err
    assert _files(tmp_path) == before and not Path("/tmp/escaped.ckpt").exists()
    assert server.routes["/" + link].requests == []  # not even downloaded
    assert any(p.field == "asset[0].asset-link" for p in check_card(card))


def test_a_uid_with_dotdot_is_refused(tmp_path):
    with pytest.raises(CardError, match="neither a card file nor a uid"):
        resolve("mindspore/../../etc/passwd")
    meta = CardMetadata(name="n_v1", version="1", dataset="GTZAN", asset_link="https://e.org/x.ckpt", user_id="..",
                        author="A")
    with pytest.raises(SettingError, match="not a file or folder name"):
        card_path_for(meta, tmp_path)


_FETCH = "import sys; from fcn4.hub.weights import fetch; print(fetch(sys.argv[1], progress=False))"


def _python(code, *args, **options):
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, **options)


@pytest.mark.slow
def test_two_processes_fetching_one_checkpoint_download_it_once(small_checkpoint, server, tmp_path, hub_dir):
    card = _card_for(small_checkpoint, server, tmp_path)
    server.routes["/weights.ckpt"].delay = 2.0  # the first is still downloading when the second asks
    first = _python(_FETCH, card)
    time.sleep(0.5)
    second = _python(_FETCH, card)
    outs = [p.communicate(timeout=120) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    assert outs[0][0] == outs[1][0] and Path(outs[0][0].strip()).is_file()
    assert len(server.routes["/weights.ckpt"].requests) == 1
    assert "waiting for another process" in outs[1][1]


_HOLD = ("import sys, time; from fcn4.base.locks import exclusive_folder\n"
         "with exclusive_folder(sys.argv[1], 'prepare'):\n    print('held', flush=True); time.sleep(60)")


@pytest.mark.slow
def test_a_second_run_into_a_held_folder_is_refused_naming_the_holder(tmp_path, capsys):
    holder = _python(_HOLD, tmp_path / "features")
    try:
        assert holder.stdout.readline().strip() == "held"
        code = fcn4.cli.main(["prepare", "--data-dir", str(tmp_path), "--out", str(tmp_path / "features")])
        err = capsys.readouterr().err
        assert code == 2 and f"{tmp_path / 'features'} is in use by another prepare" in err
        assert f"process {holder.pid}" in err
    finally:
        holder.kill()
        holder.wait()
    from fcn4.base.locks import exclusive_folder

    with exclusive_folder(tmp_path / "features"):  # a killed holder releases it
        pass


_KILLED_BEFORE_RENAME = ("import os, sys\nimport fcn4.hub.download as d\n"
                         "d.replace_durably = lambda tmp, path: os._exit(9)\n"
                         "from fcn4.hub.weights import fetch\nfetch(sys.argv[1], progress=False)")


@pytest.mark.slow
def test_a_kill_between_write_and_rename_leaves_nothing_trusted(small_checkpoint, server, tmp_path, hub_dir):
    card = _card_for(small_checkpoint, server, tmp_path)
    killed = _python(_KILLED_BEFORE_RENAME, card)
    killed.communicate(timeout=120)
    assert killed.returncode == 9
    spec = resolve(card)
    left = [p.name for p in spec.cache_path.parent.iterdir()]
    assert not spec.cache_path.exists() and any(name.endswith(".part") for name in left)  # the torn download
    path = spec.fetch()  # the next run starts clean: downloads again, verifies, removes the pieces
    assert path == spec.cache_path and path.read_bytes() == small_checkpoint.read_bytes()
    assert not any(p.name.endswith(".part") for p in spec.cache_path.parent.iterdir())
    assert len(server.routes["/weights.ckpt"].requests) == 2
