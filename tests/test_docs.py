"""The manual in docs/: every guide's Python examples run as written (in the order of mkdocs.yml's
nav, in one namespace, as a reader who goes through the guides in turn); every relative link leads
to a file that exists; the generated reference pages follow the code."""
import importlib.util
import inspect
from pathlib import Path

import pytest
import yaml

from tests.test_readme import docs_links, python_blocks, run_blocks

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def nav_pages() -> list[Path]:
    """The pages of mkdocs.yml's nav, in order."""
    def walk(items):
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            if isinstance(value, list):
                yield from walk(value)
            else:
                yield DOCS / value

    return list(walk(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]))


def hooks():
    spec = importlib.util.spec_from_file_location("docs_reference_hook", DOCS / "hooks" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_page_is_in_the_nav():
    pages = {p.resolve() for p in nav_pages()}
    assert all(p.exists() for p in pages)
    on_disk = {p.resolve() for p in DOCS.rglob("*.md")}
    assert on_disk == pages, f"not in mkdocs.yml's nav: {sorted(map(str, on_disk - pages))}"


@pytest.mark.ray  # the library guide's example runs a job on the Ray it finds (started elsewhere: its own folder)
@pytest.mark.slow
@pytest.mark.hub("session")  # the README's and the guides' full-size network is one (seed 0): exported once
def test_docs_python_examples_run_as_written(tmp_path, monkeypatch, capsys, local_ray):
    pages = nav_pages()
    assert sum(len(python_blocks(p)) for p in pages) >= 10
    monkeypatch.chdir(tmp_path)
    run_blocks(pages)
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


@pytest.mark.parametrize("page", sorted(DOCS.rglob("*.md")), ids=lambda p: str(p.relative_to(DOCS)))
def test_docs_links_exist(page):
    missing = [link for link, target in docs_links(page) if not target.exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"


def test_errors_page_lists_every_error_class():
    from fcn4.base import errors as base_errors

    page = (DOCS / "reference" / "errors.md").read_text()
    assert "<!-- errors-list -->" in page
    listed = hooks().errors_list()
    try:
        import fcn4.errors as public
        names = set(public.__all__)
    except ImportError:
        names = set()
    names |= {name for name, obj in vars(base_errors).items()
              if inspect.isclass(obj) and issubclass(obj, (base_errors.FCN4Error, Warning))
              and obj.__module__ == base_errors.__name__}
    assert names
    missing = sorted(name for name in names if f"| `{name}` |" not in listed)
    assert not missing, f"the errors page does not list {missing}"
    assert "| `ConfigError` |" in listed  # finetune's


def test_cli_reference_covers_every_command_and_option():
    from fcn4.cli import COMMANDS, build_parser

    text = hooks().cli_reference()
    for name in COMMANDS:
        assert f"### `fcn4 {name}`" in text
    assert "### `python -m finetune`" in text
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, command in sub.choices.items():
        for action in command._actions:
            for flag in action.option_strings:
                if action.__class__.__name__ == "_HelpAction":
                    continue
                assert f"`{flag}`" in text, f"fcn4 {name} {flag}"


def test_limits_table_lists_every_limit():
    from fcn4.base.limits import LIMITS, limit_variable

    table = hooks().limits_table()
    assert all(f"`{limit_variable(name)}`" in table for name in LIMITS)
