"""The README's Python examples run as written, in order, in a fresh folder."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_examples_run_as_written(tmp_path, monkeypatch, capsys):
    blocks = python_blocks()
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "loaded 22 parameters from 'my_fcn4.ckpt'" in out
    assert "(2, 96, 1366) [ 0. 10.]" in out
    assert "['dense.weight', 'dense.bias']" not in out  # trainable_blocks=1 adds block 4
    assert "conv4.weight" in out and "conv3.weight" not in out
    assert "place it at" in out and "52f8bbab81c9 50 ('choral', 'female voice', 'metal')" in out
    assert "me/cpu/2.10/fcn4_genres_v1.0 ('blues', 'classical', 'country')" in out
    assert "no_such.mp3 skipped: no such file or folder" in out
    assert "(1, 2048) ('example.wav',)" in out
    assert "[('example.wav', 'ok'), ('no_such.mp3', 'error')]\n2 0" in out  # a library on Ray, resumed
    assert "6 50 True" in out  # MagnaTagATune: prepare -> train -> evaluate
