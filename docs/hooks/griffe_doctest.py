"""A griffe extension for the API pages: doctest lines (``>>>`` and their output) in a docstring
become a ``pycon`` code block, so Markdown never reads ``[...]`` in them as a link."""
from __future__ import annotations

import re

import griffe

_RUN = re.compile(r"(^[ \t]*>>>.*\n(?:[ \t]*\S.*\n)*)", re.M)


def fence(text: str) -> str:
    def wrap(match):
        block = match.group(1)
        indent = re.match(r"[ \t]*", block).group(0)
        return f"{indent}```pycon\n{block}{indent}```\n"

    return _RUN.sub(wrap, text if text.endswith("\n") else text + "\n").rstrip("\n")


class DoctestFences(griffe.Extension):
    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence(obj.docstring.value)
