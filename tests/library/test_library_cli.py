"""`fcn4 tag/embed --ray` and `fcn4 similar` from the command line: a Ray of their own, clear refusals,
and single-machine tagging that never loads Ray."""
import importlib.util
import json
import subprocess
import sys

import pytest

from fcn4.cli import main
from fcn4.library.store import Store


@pytest.mark.slow
@pytest.mark.ray
def test_similar_answers_from_the_store_of_an_embed_on_its_own_ray(watched_job, music, checkpoint, capsys):
    store, _, returncode, _ = watched_job  # `fcn4 embed --ray` of the library: 7 embedded, 3 failed (exit 1)
    root, files = music
    assert returncode == 1 and Store(store).settings.embeddings
    assert main(["similar", files["one.wav"], "--store", str(store), "-k", "2", "--format", "json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["similar"][0]["path"] == files["copy of one.mp3"] and len(answer["similar"]) == 2
    # the same store, asked for tags under other settings, is refused by name
    assert main(["embed", "--ray", str(root), "-o", str(store), "--weights", checkpoint, "--window", "track"]) == 2
    assert "written with other settings (window: the store's 'clip', this run's 'track')" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    ([], "writes a Parquet store: name its folder with -o FOLDER"),
    (["-o", "s", "--backend", "mindspore"], "--ray runs the checked ONNX export"),
    (["-o", "s", "--format", "json"], "--format is for single-machine runs"),
])
def test_flags_that_mean_nothing_with_ray_are_refused_before_any_work(tmp_path, capsys, flags, message):
    assert main(["tag", "--ray", "auto", str(tmp_path), *flags]) == 2
    assert message in capsys.readouterr().err


def test_a_store_that_is_a_file_is_refused_before_the_weights_are_read(tmp_path, capsys):
    (tmp_path / "store").write_text("not a folder")
    assert main(["tag", "--ray", str(tmp_path), "-o", str(tmp_path / "store"), "--weights", "no-such.ckpt"]) == 2
    assert "store is a file; a store is a folder" in capsys.readouterr().err


def test_a_ray_error_is_told_by_its_cause_without_ray_s_colour_codes():
    from fcn4.library.job import _ray_reason

    message = ("\x1b[36mray::MapBatches(_plan_batch)()\x1b[39m (pid=1, ip=127.0.0.1)\n  File \"x.py\", line 3\n"
               "ValueError: embedded null byte\nThe above exception was the direct cause:\n"
               "ray.exceptions.UserCodeException: UDF failed to process a data block.")
    assert _ray_reason(RuntimeError(message)) == "ValueError: embedded null byte"
    assert _ray_reason(RuntimeError("\x1b[31mgone\x1b[0m")) == "RuntimeError: gone"


def test_without_the_ray_extra_the_command_says_how_to_get_it(tmp_path, capsys, monkeypatch, checkpoint):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    assert main(["tag", "--ray", str(tmp_path), "-o", str(tmp_path / "s"), "--weights", checkpoint]) == 2
    assert "pip install 'fcn4-mindspore[ray]'" in capsys.readouterr().err
    assert main(["similar", "x.wav", "--store", str(tmp_path)]) == 2
    assert "is not an fcn4 store" in capsys.readouterr().err


@pytest.mark.slow
def test_single_machine_tagging_loads_neither_ray_nor_pyarrow_nor_faiss(music, checkpoint):
    _, files = music
    code = ("import sys; from fcn4.cli import main; "
            f"main(['tag', {files['one.wav']!r}, '--weights', {checkpoint!r}, '--workers', '0']); "
            "print(sorted(m for m in ('ray', 'pyarrow', 'faiss') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr[-2000:]
