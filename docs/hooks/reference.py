"""MkDocs hook: the reference pages' generated parts, read from the code when the site is built.

A page holds a marker (an HTML comment on a line of its own) that is replaced here:

- ``<!-- cli-reference -->``: every command of ``fcn4`` and ``python -m finetune`` with its options,
  from ``fcn4.cli.build_parser()`` and ``finetune.cli.build_parser()``;
- ``<!-- errors-list -->``: every class of ``fcn4.errors.__all__`` (else ``fcn4.base.errors``), with
  its bases and its docstring's first line, and ``finetune.ConfigError``;
- ``<!-- limits-table -->``: every limit of ``fcn4/base/limits.py``, its variable and default;
- ``<!-- api-reference -->``: a mkdocstrings block for each name of ``fcn4.__all__``, by the
  module that defines it (griffe then reads its docstring from the source).

``tests/test_docs.py`` calls these functions too.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _options_table(parser: argparse.ArgumentParser) -> str:
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.option_strings:
            name = ", ".join(f"`{s}`" for s in action.option_strings)
            if action.nargs != 0 and action.metavar:
                name += f" `{action.metavar if isinstance(action.metavar, str) else ' '.join(action.metavar)}`"
            elif action.nargs != 0 and action.choices:
                name += " `{" + ",".join(map(str, action.choices)) + "}`"
        else:
            name = f"`{action.metavar or action.dest}`"
            if action.nargs in ("*", "+"):
                name += " ..."
        default = action.default
        shown = "" if default in (None, argparse.SUPPRESS, False) else f"`{default}`"
        help_text = (action.help or "") if action.help is not argparse.SUPPRESS else ""
        if "%(default)" in help_text:
            help_text = help_text % {"default": default}
        rows.append(f"| {_cell(name)} | {_cell(shown)} | {_cell(help_text)} |")
    return "\n".join(rows)


def _command(prog: str, parser: argparse.ArgumentParser, level: str) -> list[str]:
    parser.prog = prog
    out = [f"{level} `{prog}`", ""]
    if parser.description:
        out += [parser.description, ""]
    out += ["```text", parser.format_usage().strip(), "```", "", _options_table(parser), ""]
    if parser.epilog:
        out += [parser.epilog, ""]
    return out


def cli_reference() -> str:
    """Every command's options, as Markdown, from the parsers themselves."""
    from fcn4.cli import build_parser

    parser = build_parser()
    out = _command("fcn4", parser, "###")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        out += _command(f"fcn4 {name}", command, "###")
    from finetune.cli import build_parser as finetune_parser  # imports MindSpore (finetune.config)

    out += _command("python -m finetune", finetune_parser(), "###")
    return "\n".join(out)


def error_classes() -> list[type]:
    """The classes of ``fcn4.errors.__all__`` (``fcn4.base.errors`` until that module exists)."""
    try:
        module = importlib.import_module("fcn4.errors")
    except ImportError:
        module = importlib.import_module("fcn4.base.errors")
    classes = [getattr(module, name) for name in module.__all__]
    return [c for c in classes if inspect.isclass(c)]


def errors_list() -> str:
    out = ["| class | derives from | meaning |", "|---|---|---|"]
    classes = error_classes()
    try:
        from finetune import ConfigError  # imports MindSpore

        if ConfigError not in classes:
            classes.append(ConfigError)
    except ImportError:
        pass
    for cls in classes:
        bases = ", ".join(f"`{b.__name__}`" for b in cls.__bases__)
        doc = inspect.getdoc(cls) or ""
        first = doc.split("\n\n")[0].replace("\n", " ")
        module = cls.__module__
        out.append(f"| `{cls.__name__}` | {bases} | {_cell(first)} (`{module}`) |")
    return "\n".join(out)


def limits_table() -> str:
    from fcn4.base import limits

    comments = {}
    for match in re.finditer(r'^\s*"(\w+)":\s*[^#\n]*#\s*(.*)$', Path(limits.__file__).read_text(), flags=re.M):
        comments[match.group(1)] = match.group(2).strip()
    out = ["| limit | variable | default | what it bounds |", "|---|---|---|---|"]
    for name, default in limits.LIMITS.items():
        shown = f"{default:,}" if isinstance(default, int) else f"{default:g}"
        out.append(f"| `{name}` | `{limits.limit_variable(name)}` | {shown} | {_cell(comments.get(name, ''))} |")
    return "\n".join(out)


def api_reference() -> str:
    """One mkdocstrings block per name of ``fcn4.__all__``, under the module that defines it."""
    import fcn4

    out = []
    for module, names in fcn4._EXPORTS.items():
        out += [f"## `fcn4.{module}`", ""]
        for name in names:
            out += [f"::: fcn4.{module}.{name}", "    options:", "      heading_level: 3",
                    "      show_root_full_path: false", ""]
    return "\n".join(out)


MARKERS = {
    "<!-- cli-reference -->": cli_reference,
    "<!-- errors-list -->": errors_list,
    "<!-- limits-table -->": limits_table,
    "<!-- api-reference -->": api_reference,
}


def on_page_markdown(markdown, page, config, files, **kwargs):
    for marker, render in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    return markdown
