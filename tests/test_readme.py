"""The README is a front door: its Python examples run as written, in order, in a fresh folder; it
stays short (the manual is docs/); its links to docs/ lead to files that exist."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 150

#: A python block preceded by this comment is shown, not run (it needs a real dataset or a cluster).
NOT_RUN = "<!-- not run -->"
_BLOCK = re.compile(r"(<!-- not run -->\s*\n)?```python\n(.*?)```", flags=re.S)


def python_blocks(path: Path) -> list[str]:
    """The runnable python blocks of a Markdown file, in order (those marked ``<!-- not run -->`` left out)."""
    return [code for marker, code in _BLOCK.findall(path.read_text()) if not marker]


def run_blocks(paths, namespace=None) -> dict:
    """Every runnable block of ``paths``, in order, in one namespace (the current folder is the caller's)."""
    namespace = {} if namespace is None else namespace
    for path in paths:
        for block in python_blocks(path):
            exec(compile(block, str(path), "exec"), namespace)
    return namespace


def docs_links(path: Path) -> list[tuple[str, Path]]:
    """``(link, the file it names)`` for every relative Markdown link of ``path`` into a file."""
    links = []
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        links.append((target, (path.parent / target.split("#")[0]).resolve()))
    return links


@pytest.mark.slow
@pytest.mark.hub("session")  # the README's and the guides' full-size network is one (seed 0): exported once
def test_readme_python_examples_run_as_written(tmp_path, monkeypatch, capsys):
    assert len(python_blocks(README)) >= 2
    monkeypatch.chdir(tmp_path)
    run_blocks([README])
    out = capsys.readouterr().out
    assert re.search(r"^example\.wav \[\('[^']+', 0\.\d+\), \('", out, flags=re.M)   # its top 3 tags
    assert "no_such.mp3 skipped: no such file or folder" in out
    assert "place it at" in out and "50 ('choral', 'female voice', 'metal')" in out


def test_readme_stays_a_front_door():
    lines = README.read_text().count("\n")
    assert lines <= MAX_LINES, f"README.md has {lines} lines; at most {MAX_LINES}: move the manual to docs/"


def test_readme_links_into_docs_exist():
    links = docs_links(README)
    assert any(link.startswith("docs/") for link, _ in links)
    missing = [link for link, target in links if not target.exists()]
    assert not missing, f"README.md links to missing files: {missing}"
