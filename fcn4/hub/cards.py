"""MindSpore Hub asset cards: read, render and write; the Markdown and YAML they are made of.

A card (``mshub_res/assets/<publisher>/<backend>/<ms-version>/<name>.md``) is Markdown with a
YAML front matter between the only two lines that start with ``---``. Parsing reads the YAML
safely and keeps what stops it as problems; the hub's rules are in :mod:`fcn4.hub.rules`.

>>> card = parse_card(SAMPLE_CARD, "sample.md")
>>> card.fields["model-name"], card.usage_arguments()
('fcn4', {'in_classes': [1, 8, 8, 12, 16], 'padding': [0, 0, 0, 0, 0]})
"""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from ..base.errors import FCN4Error, CardError
from ..base.files import write_text_atomic
from ..base.compat import attributes
from ..base.limits import limit, limit_hint
from .card_body import (THRESHOLDS_HEADING, headings, section_labels, section_thresholds, thresholds_text,
                        usage_calls)

__all__ = ["Card", "CardProblem", "CardError", "parse_card", "read_card", "find_cards", "render_card", "write_card",
           "with_thresholds", "SAMPLE_CARD"]



@dataclass(frozen=True)
class CardProblem:
    """One thing wrong with a card: the file, the field (or part) at fault, and what to do."""
    path: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}"


@dataclass(frozen=True)
class Card:
    """A parsed card: its front matter ``fields`` (read-only) and its Markdown ``body``."""
    path: str
    fields: Mapping[str, Any]
    body: str
    preamble: str = ""
    parse_problems: tuple[CardProblem, ...] = field(default=(), repr=False)

    @property
    def title(self) -> str:
        """The first heading of the card (before or after the front matter), or the file stem."""
        return next((text for _, text in headings(self.preamble + "\n" + self.body) if text),
                    Path(self.path).stem)

    def asset(self, file_format: str = "ckpt") -> Mapping[str, Any] | None:
        """The asset the hub's loader uses for ``file_format``: the last one of that format."""
        chosen = None
        for item in self.fields.get("asset") or ():
            if isinstance(item, Mapping) and str(item.get("file-format", "")).strip().lower() == file_format:
                chosen = item
        return chosen

    def usage_arguments(self) -> dict[str, Any]:
        """The network arguments of the Usage section's ``load(...)`` calls, by keyword."""
        return usage_calls(self.body, "load")[0]

    def front_end_arguments(self) -> dict[str, Any]:
        """The audio settings of the Usage section's ``FrontEnd(...)`` call, by keyword."""
        return usage_calls(self.body, "FrontEnd")[0]

    def labels(self) -> tuple[str, ...] | None:
        """The labels of the card's ``Labels`` section in output order, or None without one."""
        labels, _ = section_labels(self.body)
        return labels

    def thresholds(self) -> dict[str, float] | None:
        """The per-label decision thresholds of the card's ``Thresholds`` section, or None without one."""
        thresholds, _ = section_thresholds(self.body)
        return thresholds


def parse_card(text: str, path="<card>") -> Card:
    """Split ``text`` into front matter and body the way the hub does, and read the YAML safely.

    Problems that stop the front matter from being read (no or extra ``---`` lines, bad YAML,
    a repeated key) are kept in ``parse_problems`` and reported by :func:`validate_card`.
    """
    path = str(path)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit("card_bytes"):
        problem = CardProblem(path, "file", f"{size:,} bytes is too large for a card ({limit_hint('card_bytes')})")
        return Card(path, MappingProxyType({}), "", "", (problem,))
    preamble, header, body, delimiters = [], [], [], 0
    for line in text.splitlines(keepends=True):
        if line.startswith("---"):
            delimiters += 1
            continue
        (header if delimiters == 1 else preamble if delimiters == 0 else body).append(line)
    problems = []
    if delimiters != 2:
        problems.append(CardProblem(path, "front matter", (
            f"found {delimiters} line(s) starting with '---'; a card needs exactly two, around the "
            "YAML front matter (the hub reads every '---' line as a delimiter, so use '***' for a "
            "rule in the body)")))
    fields: dict = {}
    if delimiters >= 1:
        try:
            loaded, repeated = _load_yaml("".join(header))
        except RecursionError:
            problems.append(CardProblem(path, "front matter", "nested too deeply to read"))
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" (front matter line {where.line + 1})" if where is not None else ""
            problems.append(CardProblem(path, "front matter", f"not valid YAML{line}: "
                                        f"{getattr(exc, 'problem', None) or exc}"))
        else:
            if isinstance(loaded, Mapping):
                fields = dict(loaded)
            else:
                problems.append(CardProblem(path, "front matter", "must be a YAML mapping of "
                                            "'field: value' lines, found " + type(loaded).__name__))
            problems += [CardProblem(path, str(key), "appears more than once in the front matter; keep one")
                         for key in repeated]
    return Card(path, MappingProxyType(fields), "".join(body), "".join(preamble), tuple(problems))


def read_card(path) -> Card:
    """Read the card file at ``path``; a missing or unreadable file raises :class:`CardError`."""
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > limit("card_bytes"):
            raise CardError(path, [CardProblem(str(path), "file", f"{path.stat().st_size:,} bytes is too large "
                                               f"for a card ({limit_hint('card_bytes')})")])
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "does not exist" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc})"
        raise CardError(path, [CardProblem(str(path), "file", f"{reason}; pass the path of a card "
                                           "(.md) or a uid such as mindspore/ascend/1.1/fcn4_v1.1")]) from exc
    return parse_card(text, path)


def find_cards(root) -> list[Path]:
    """The card files under ``root`` (a card file itself, or a folder searched recursively)."""
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*.md") if p.name not in ("README.md", "README_CN.md"))


def render_card(fields: Mapping[str, Any], body: str, title: str | None = None) -> str:
    """The text of a card: optional ``# title``, the front matter in the hub's style, the body.

    Strings that YAML would read as something else (``2.10`` as the float 2.1, ``True``, a
    date) are quoted, so the card reads back exactly as written.
    """
    lines = [f"# {title}", ""] if title else []
    lines.append("---")
    for name, value in fields.items():
        lines.append("")
        if name == "asset":
            lines.append("asset:")
            for item in value:
                lines += ["", "  -"] + [f"    {key}: {_scalar(v)}" for key, v in item.items()]
        elif isinstance(value, Mapping):
            lines.append(f"{name}:")
            lines += [f"  {key}: {_scalar(v)}" for key, v in value.items()]
        else:
            lines.append(f"{name}: {_scalar(value)}")
    lines += ["", "---", "", body.strip("\n"), ""]
    return "\n".join(lines)


def write_card(path, text: str, *, overwrite: bool = False) -> Path:
    """Write a card atomically; an existing card with other content is kept unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite and path.read_text(encoding="utf-8") != text:
        raise CardError(path, [CardProblem(str(path), "file", (
            "a different card already exists here; pass overwrite=True (--overwrite) to replace it, "
            "or publish under another name or version"))])
    return write_text_atomic(path, text)


def with_thresholds(text: str, thresholds, policy: str | None = None) -> str:
    """The card ``text`` with its ``Thresholds`` section replaced by (or given) ``thresholds`` (label -> value).

    The section goes where the old one was, else just before ``## Usage``, else at the end; the rest of
    the card is kept byte for byte.
    """
    section = thresholds_text(thresholds, policy)
    lines = text.splitlines(keepends=True)
    marks = list(headings(text))
    start = next((n for n, title in marks if title.lower() == THRESHOLDS_HEADING.lower()), None)
    if start is not None:
        later = [n for n, _ in marks if n > start]
        end = later[0] - 1 if later else len(lines)
        return "".join(lines[:start - 1]) + section + "\n" + "".join(lines[end:])
    usage = next((n for n, title in marks if title.lower() == "usage"), None)
    if usage is not None:
        return "".join(lines[:usage - 1]) + section + "\n" + "".join(lines[usage - 1:])
    return text.rstrip("\n") + "\n\n" + section


# --- helpers ---------------------------------------------------------------------------------

class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader that notes keys written twice (it would keep the last quietly) and
    refuses anchors and aliases: a few aliases of aliases expand to gigabytes (a "billion laughs"),
    and no card needs them."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(None, None, "YAML anchors and aliases (& and *) are not allowed in a "
                                              "card; write each value out", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(key_node, deep=deep) for key_node, _ in node.value]
        self.repeated.extend(k for i, k in enumerate(keys) if k in keys[:i] and k not in self.repeated)
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str):
    """(data, repeated keys) of a YAML document, read with the safe loader."""
    loader = _UniqueKeyLoader(text)
    loader.repeated = []
    try:
        return loader.get_single_data(), loader.repeated
    finally:
        loader.dispose()


def _scalar(value) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "True", False: "False", None: "null"}[value]
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    text = str(value)
    try:
        plain = yaml.safe_load(text) == text and text == text.strip() and "\n" not in text
    except yaml.YAMLError:
        plain = False
    return text if plain and not text.startswith(("'", '"')) else json.dumps(text, ensure_ascii=False)


SAMPLE_CARD = """# Sample
---
model-name: fcn4
backbone-name: fcn4
module-type: audio-tagging
fine-tunable: True
input-shape: [1, 1, 96, 1366]
model-version: '1.0'
train-dataset: MagnaTagATune
author: Someone
update-time: 2026-01-01
repo-link: <https://example.org/code/fcn-4>
user-id: someone
used-for: inference/extract-feature
infer-backend: cpu/gpu
mindspore-version: '2.10'
asset:
  - file-format: ckpt
    asset-link: <https://example.org/w.ckpt>
    asset-sha256: 52f8bbab81c969835f1d85c6f310b6bce916f7133e1e5d27b67cbdee6229b643
license: Apache2.0
summary: A sample card.
---
## Usage

```python
network = hubconf.load("sample.md", in_classes=[1, 8, 8, 12, 16], padding=[0] * 5)
```
"""


# The rules lived here: their names stay importable from this module for one release (fcn4.base.compat).
__getattr__ = attributes(__name__)
