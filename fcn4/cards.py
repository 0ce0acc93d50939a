"""MindSpore Hub asset cards: read, validate by the hub's rules, render and write.

A card (``mshub_res/assets/<publisher>/<backend>/<ms-version>/<name>.md``) is Markdown with a
YAML front matter between the only two lines that start with ``---``. Validation applies every
rule of the hub's validator and reports all problems of a card at once, each with the file and
the field; it never touches the network. Two more checks make sure this package can load what a
card describes: the ``load(...)`` calls of its Usage agree on the network arguments, and a
``Labels`` section, when present, names one label a line.

>>> card = parse_card(SAMPLE_CARD, "sample.md")
>>> card.fields["model-name"], card.usage_arguments()
('fcn4', {'in_classes': [1, 8, 8, 12, 16], 'padding': [0, 0, 0, 0, 0]})
>>> validate_card(card, strict=True)
[]
>>> gtzan = parse_card(SAMPLE_CARD.replace("MagnaTagATune", "GTZAN"), "sample.md")
>>> [str(p) for p in validate_card(gtzan, strict=True)]
["sample.md: train-dataset: 'GTZAN' is not on the MindSpore Hub's dataset list; the hub rejects it, this package loads it"]
"""
from __future__ import annotations

import ast
import dataclasses
import datetime as _dt
import json
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from ._atomic import write_text_atomic
from .audio import FrontEnd

__all__ = [
    "Card", "CardProblem", "CardError", "parse_card", "read_card", "validate_card", "check_card",
    "check_cards", "find_cards", "render_card", "write_card",
    "REQUIRED_FIELDS", "USED_FOR", "BACKENDS", "MODULE_TYPES", "FILE_FORMATS", "HUB_AUDIO_DATASETS",
]

#: Fields the hub's validator (r1.1) requires; later versions drop ``input-shape`` and
#: ``infer-backend``, so a card with all of them passes every version.
REQUIRED_FIELDS = ("backbone-name", "module-type", "fine-tunable", "input-shape", "model-version",
                   "author", "update-time", "repo-link", "user-id", "used-for", "infer-backend",
                   "mindspore-version", "license", "summary")
USED_FOR = ("inference", "extract-feature", "transfer-learning")
BACKENDS = ("cpu", "gpu", "ascend")
MODULE_TYPES = ("audio", "cv", "nlp", "recommend", "gnn", "rl", "cross", "cvtmodel", "hpc", "mm", "other")
FILE_FORMATS = ("ckpt", "air", "onnx", "mindir", "mslite")
#: The audio and music entries of the hub's ``train-dataset`` list (GTZAN is not on it).
HUB_AUDIO_DATASETS = ("MagnaTagATune", "musictag", "Music-Tagging", "musictagging", "LibriSpeech",
                      "librispeech", "LJSpeech", "ljspeech", "LJSpeech-1.1", "ljspeech1.1", "TIMIT",
                      "timit", "Speech Commands Version1", "Speech commands dataset version1",
                      "speechcommandsdatasetversion1", "voxceleb", "speech", "None", "none")
# The hub lets only these fields hold a ':' (links, and the nested asset/evaluation maps).
_COLON_ALLOWED = ("repo-link", "asset", "evaluation")
_LINK_FIELDS = ("repo-link",)
# Keywords of a Usage load(...) call that steer the loader rather than build the network.
_LOADER_KEYWORDS = ("pretrained", "force_reload", "source")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)")


@dataclass(frozen=True)
class CardProblem:
    """One thing wrong with a card: the file, the field (or part) at fault, and what to do."""
    path: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}"


class CardError(ValueError):
    """A card cannot be used; ``problems`` lists every reason, each naming file and field."""

    def __init__(self, path, problems):
        self.path = str(path)
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p.field}: {p.message}" for p in self.problems)
        super().__init__(f"card '{self.path}' has {len(self.problems)} problem(s):\n{lines}")


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
        return next((text for _, text in _headings(self.preamble + "\n" + self.body) if text),
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
        return _usage_calls(self, "load")[0]

    def front_end_arguments(self) -> dict[str, Any]:
        """The audio settings of the Usage section's ``FrontEnd(...)`` call, by keyword."""
        return _usage_calls(self, "FrontEnd")[0]

    def labels(self) -> tuple[str, ...] | None:
        """The labels of the card's ``Labels`` section in output order, or None without one."""
        labels, _ = _section_labels(self)
        return labels


def parse_card(text: str, path="<card>") -> Card:
    """Split ``text`` into front matter and body the way the hub does, and read the YAML safely.

    Problems that stop the front matter from being read (no or extra ``---`` lines, bad YAML,
    a repeated key) are kept in ``parse_problems`` and reported by :func:`validate_card`.
    """
    path = str(path)
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
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "does not exist" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc})"
        raise CardError(path, [CardProblem(str(path), "file", f"{reason}; pass the path of a card "
                                           "(.md) or a uid such as mindspore/ascend/1.1/fcn4_v1.1")]) from exc
    return parse_card(text, path)


def validate_card(card: Card, *, strict: bool = False) -> list[CardProblem]:
    """Every problem of ``card`` by the hub's rules, plus what this package needs to load it.

    ``strict=True`` adds the rules that only the hub's own list decides: the dataset must be on
    the hub's list (GTZAN is not) and links must be written in angle brackets.
    """
    problems = list(card.parse_problems)
    f = card.fields
    report = lambda name, message: problems.append(CardProblem(card.path, name, message))  # noqa: E731

    for name in REQUIRED_FIELDS + ("model-name",):
        if name not in f:
            why = " (the hub's loader calls create_network with it)" if name == "model-name" else ""
            report(name, f"required field is missing{why}")
        elif f[name] is None or f[name] == "":
            report(name, "required field is empty")

    for name in ("fine-tunable", "allow-cache-ckpt"):
        if f.get(name) is not None and not isinstance(f[name], bool):
            report(name, f"must be a bool (True or False), got {f[name]!r}")
    if "accuracy" in f and (isinstance(f["accuracy"], bool) or not isinstance(f["accuracy"], numbers.Number)):
        report("accuracy", f"must be a number such as 0.9, got {f['accuracy']!r}")
    if f.get("input-shape") is not None:
        shape = f["input-shape"]
        if not isinstance(shape, list) or not all(isinstance(i, (int, list)) and not isinstance(i, bool)
                                                  for i in shape):
            report("input-shape", f"must be a list of ints (or of lists), got {shape!r}")

    _check_choices(f, "used-for", USED_FOR, report)
    for name in ("infer-backend", "train-backend"):
        _check_choices(f, name, BACKENDS, report)
    module_type = f.get("module-type")
    if module_type is not None:
        parts = str(module_type).lower().split("-")
        if len(parts) > 2:
            report("module-type", f"{module_type!r} has more than one '-'; write <type> or <type>-<detail>")
        elif parts[0] not in MODULE_TYPES:
            report("module-type", f"{parts[0]!r} is not a module type; choose from {', '.join(MODULE_TYPES)}")

    for name in _LINK_FIELDS:
        if f.get(name) is not None:
            _check_link(f[name], name, strict, report)
    _check_assets(f, strict, report)
    if strict and f.get("train-dataset") is not None:
        dataset = str(f["train-dataset"])
        parts = [dataset] if dataset in HUB_AUDIO_DATASETS else dataset.split("_")
        unknown = [p for p in parts if p not in HUB_AUDIO_DATASETS]
        if unknown:
            report("train-dataset", f"{', '.join(map(repr, unknown))} is not on the MindSpore Hub's dataset "
                                    "list; the hub rejects it, this package loads it")

    for name, value in f.items():
        if name not in _COLON_ALLOWED and ":" in str(value):
            report(name, f"value {str(value)!r} holds a ':', which the hub allows only in "
                         f"{', '.join(_COLON_ALLOWED)}; remove it or quote a time as a date only")

    for number, text in _headings(card.body):
        if text.endswith(":"):
            report(f"body line {number}", f"heading {text!r} ends with ':'; the hub rejects that")

    network, network_problems = _usage_calls(card, "load")
    audio, audio_problems = _usage_calls(card, "FrontEnd")
    for message in network_problems + audio_problems:
        report("Usage", message)
    settings = [s.name for s in dataclasses.fields(FrontEnd)]
    unknown = sorted(set(audio) - set(settings))
    if unknown:
        report("Usage", f"FrontEnd(...) has no setting {', '.join(unknown)}; it takes {', '.join(settings)}")
    labels, label_problems = _section_labels(card)
    for message in label_problems:
        report("Labels", message)
    num_classes = network.get("num_classes")
    if labels is not None and num_classes is not None and num_classes != len(labels):
        report("Labels", f"{len(labels)} labels but the Usage builds num_classes={num_classes}")
    return problems


def check_card(path, *, strict: bool = False) -> list[CardProblem]:
    """Read and validate the card file at ``path``; problems instead of exceptions."""
    try:
        card = read_card(path)
    except CardError as exc:
        return list(exc.problems)
    return validate_card(card, strict=strict)


def find_cards(root) -> list[Path]:
    """The card files under ``root`` (a card file itself, or a folder searched recursively)."""
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*.md") if p.name not in ("README.md", "README_CN.md"))


def check_cards(paths, *, strict: bool = False) -> dict[Path, list[CardProblem]]:
    """Validate every card in ``paths`` (files or trees): card path -> its problems."""
    results = {}
    for root in paths:
        if not Path(root).exists():
            results[Path(root)] = [CardProblem(str(root), "file", "no such file or folder")]
            continue
        for card in find_cards(root):
            results[card] = check_card(card, strict=strict)
    return results


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


# --- helpers ---------------------------------------------------------------------------------

class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader that notes keys written twice (it would keep the last quietly)."""

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


def _check_choices(f, name, allowed, report):
    if f.get(name) is None:
        return
    for item in str(f[name]).split("/"):
        if item.strip().lower() not in allowed:
            report(name, f"{item!r} is not allowed; use '/'-separated values from {', '.join(allowed)}")


def _check_link(value, name, strict, report):
    text = str(value).strip()
    bare = text.strip("<>")
    if not re.match(r"^https?://[^\s/$.?#].\S*$", bare):
        report(name, f"{text!r} is not an http(s) URL")
    elif strict and not (text.startswith("<") and text.endswith(">")):
        report(name, f"write the link in angle brackets, as the hub's cards do: <{bare}>")


def _check_assets(f, strict, report):
    assets = f.get("asset")
    if assets is None:
        return
    if not isinstance(assets, list) or not assets:
        report("asset", "must be a non-empty list of items with file-format, asset-link and asset-sha256")
        return
    for i, item in enumerate(assets):
        where = f"asset[{i}]"
        if not isinstance(item, Mapping):
            report(where, "must be a mapping with file-format, asset-link and asset-sha256")
            continue
        for key in ("file-format", "asset-link", "asset-sha256"):
            if item.get(key) in (None, ""):
                report(f"{where}.{key}", "required in every asset item, but missing")
        if item.get("file-format") not in (None, "") and str(item["file-format"]).strip().lower() not in FILE_FORMATS:
            report(f"{where}.file-format", f"{item['file-format']!r} is not a file format; choose from "
                                           f"{', '.join(FILE_FORMATS)}")
        if item.get("asset-link") not in (None, ""):
            _check_link(item["asset-link"], f"{where}.asset-link", strict, report)
        sha = item.get("asset-sha256")
        if sha not in (None, "") and not (isinstance(sha, str) and _SHA256.fullmatch(sha.strip())):
            report(f"{where}.asset-sha256", f"{sha!r} is not a sha256: 64 lower-case hex digits "
                                            "(python -m fcn4 card sha256 FILE prints one)")


def _scan(text: str):
    """(line number, line, code block) of each line of ``text``, fence lines left out.

    ``code block`` is None outside fenced code, else ``(index of the block, its language)``.
    """
    fence, block = None, None
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)[0] * len(match.group(1))
            block = (block[0] + 1 if block else 0, match.group(2).lower())
        elif fence is not None and line.strip().startswith(fence) and not line.strip().strip(fence[0]):
            fence = None
        else:
            yield number, line, block if fence is not None else None


def _headings(text: str):
    """(line number, text) of every ATX and setext heading outside code blocks."""
    previous = None
    for number, line, block in _scan(text):
        if block is not None:
            previous = None
            continue
        atx = re.match(r"^\s{0,3}#{1,6}(?:\s+(.*?))?\s*$", line)
        if atx:
            yield number, re.sub(r"\s+#+$", "", atx.group(1) or "")
        elif previous is not None and previous[1].strip() and re.match(r"^\s{0,3}=+\s*$", line):
            yield previous[0], previous[1].strip()
        previous = (number, line)


def _sections(body: str):
    """(heading text, section text) of each heading of the body, code blocks kept whole."""
    lines = body.splitlines()
    marks = [(number, text) for number, text in _headings(body)]
    for k, (number, text) in enumerate(marks):
        end = marks[k + 1][0] - 1 if k + 1 < len(marks) else len(lines)
        yield text, "\n".join(lines[number:end])


def _code_blocks(text: str, languages=None):
    """The contents of the fenced code blocks of ``text`` (only ``languages`` if given)."""
    blocks: dict = {}
    for _, line, block in _scan(text):
        if block is not None and (languages is None or block[1] in languages):
            blocks.setdefault(block[0], []).append(line)
    return ["\n".join(lines) for lines in blocks.values()]


def _usage_calls(card: Card, callee: str) -> tuple[dict[str, Any], list[str]]:
    """Keyword arguments of the Usage's calls to ``callee``, and what is wrong with them."""
    arguments, problems, seen_in = {}, [], {}
    usage = "\n".join(text for heading, text in _sections(card.body) if heading.lower() == "usage")
    for block in _code_blocks(usage, ("python", "py", "")):
        try:
            tree = ast.parse(block)
        except SyntaxError as exc:
            problems.append(f"a Python block does not parse (line {exc.lineno}: {exc.msg})")
            continue
        for node in sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)), key=lambda n: n.lineno):
            if _called_name(node.func) != callee:
                continue
            if len(node.args) > (1 if callee == "load" else 0):
                problems.append(f"line {node.lineno}: write network arguments as keywords, so that "
                                "readers and this package can tell which is which")
            for keyword in node.keywords:
                if keyword.arg is None or keyword.arg in _LOADER_KEYWORDS:
                    continue
                try:
                    value = _literal(keyword.value)
                except ValueError:
                    problems.append(f"line {node.lineno}: {keyword.arg}= is not a literal value")
                    continue
                if keyword.arg in arguments and _plain(arguments[keyword.arg]) != _plain(value):
                    problems.append(f"{keyword.arg}= is {value!r} on line {node.lineno} but "
                                    f"{arguments[keyword.arg]!r} on line {seen_in[keyword.arg]}; "
                                    f"the {callee}(...) calls must agree")
                    continue
                arguments[keyword.arg], seen_in[keyword.arg] = value, node.lineno
    return arguments, problems


def _called_name(func) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def _literal(node):
    """A Python literal, also ``[x] * n`` as the zoo's Usage writes ``padding=[0] * 5``."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            left, right = _literal(node.left), _literal(node.right)
            if isinstance(left, (list, tuple)) and isinstance(right, int):
                return left * right
            if isinstance(right, (list, tuple)) and isinstance(left, int):
                return right * left
        raise


def _plain(value):
    """Lists and tuples compare equal when their items do (``(2, 4)`` and ``[2, 4]``)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _section_labels(card: Card) -> tuple[tuple[str, ...] | None, list[str]]:
    for heading, text in _sections(card.body):
        if heading.lower() != "labels":
            continue
        blocks = _code_blocks(text)
        if not blocks:
            return None, ["the Labels section needs a fenced code block with one label a line"]
        labels = tuple(line.strip() for line in blocks[0].splitlines() if line.strip())
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            return labels, [f"labels repeat: {', '.join(repeated)}; each output needs its own name"]
        if not labels:
            return None, ["the Labels block is empty"]
        return labels, []
    return None, []


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
