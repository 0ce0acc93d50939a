"""The Markdown body of a card, read in linear time: headings, sections, fenced code, the keyword
arguments of the Usage's calls (literals only, sized before they are built), the Labels."""
from __future__ import annotations

import ast
import re
from typing import Any

from ..base.limits import limit, limit_hint

__all__ = ["headings", "usage_calls", "section_labels", "section_thresholds", "thresholds_text", "THRESHOLDS_HEADING"]

#: The heading of a card's per-label decision thresholds (a fenced block of ``<threshold> <label>`` lines).
THRESHOLDS_HEADING = "Thresholds"

# Keywords of a Usage load(...) call that steer the loader rather than build the network.
_LOADER_KEYWORDS = ("pretrained", "force_reload", "source")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)")


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


def headings(text: str):
    """(line number, text) of every ATX and setext heading outside code blocks."""
    previous = None
    for number, line, block in _scan(text):
        if block is not None:
            previous = None
            continue
        atx = _atx_heading(line)
        if atx is not None:
            yield number, atx
        elif previous is not None and previous[1].strip() and _indent(line) <= 3 and set(line.strip()) == {"="}:
            yield previous[0], previous[1].strip()
        previous = (number, line)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _atx_heading(line: str) -> str | None:
    """The text of an ATX heading (``## Usage ##`` -> ``Usage``), or None; linear in the line's length
    (the regular expression it replaces took quadratic time on a line of spaces)."""
    if _indent(line) > 3:
        return None
    stripped = line.lstrip()
    hashes = len(stripped) - len(stripped.lstrip("#"))
    rest = stripped[hashes:]
    if not 1 <= hashes <= 6 or (rest and not rest[0].isspace()):
        return None
    text = rest.strip()
    closed = text.rstrip("#")
    if closed != text and closed and closed[-1].isspace():  # a closing run of '#' after a space
        text = closed.rstrip()
    return text


def _sections(body: str):
    """(heading text, section text) of each heading of the body, code blocks kept whole."""
    lines = body.splitlines()
    marks = [(number, text) for number, text in headings(body)]
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


def usage_calls(body: str, callee: str) -> tuple[dict[str, Any], list[str]]:
    """Keyword arguments of the Usage's calls to ``callee``, and what is wrong with them."""
    arguments, problems, seen_in = {}, [], {}
    usage = "\n".join(text for heading, text in _sections(body) if heading.lower() == "usage")
    for block in _code_blocks(usage, ("python", "py", "")):
        try:
            tree = ast.parse(block)
        except SyntaxError as exc:
            problems.append(f"a Python block does not parse (line {exc.lineno}: {exc.msg})")
            continue
        except (RecursionError, MemoryError, ValueError):  # nested too deeply; a NUL byte
            problems.append("a Python block cannot be read (nested too deeply, or not text)")
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
                except _TooLarge as exc:
                    problems.append(f"line {node.lineno}: {keyword.arg}= holds {exc}")
                    continue
                except (ValueError, TypeError, RecursionError, MemoryError):
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


class _TooLarge(ValueError):
    """A Usage value larger than :func:`~fcn4.base.limits.limit` ``usage_items`` allows."""


def _literal(node):
    """A Python literal, also ``[x] * n`` as the zoo's Usage writes ``padding=[0] * 5``.

    The size of a repeated list is checked before it is built (``[0] * 10**10`` is refused).
    """
    try:
        value = ast.literal_eval(node)
    except ValueError:
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult)):
            raise
        left, right = _literal(node.left), _literal(node.right)
        if isinstance(right, (list, tuple)) and isinstance(left, int) and not isinstance(left, bool):
            left, right = right, left
        if not (isinstance(left, (list, tuple)) and isinstance(right, int) and not isinstance(right, bool)):
            raise
        if len(left) * max(right, 0) > limit("usage_items"):
            raise _TooLarge(f"{len(left)} x {right} values, more than any network argument needs "
                            f"({limit_hint('usage_items')})") from None
        value = left * right
    if _count(value) > limit("usage_items"):
        raise _TooLarge(f"{_count(value)} values, more than any network argument needs ({limit_hint('usage_items')})")
    return value


def _count(value) -> int:
    """Values in a (nested) literal."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(_count(v) for v in value)
    if isinstance(value, dict):
        return sum(_count(k) + _count(v) for k, v in value.items())
    return 1


def _plain(value):
    """Lists and tuples compare equal when their items do (``(2, 4)`` and ``[2, 4]``)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def section_labels(body: str) -> tuple[tuple[str, ...] | None, list[str]]:
    for heading, text in _sections(body):
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


def section_thresholds(body: str) -> tuple[dict[str, float] | None, list[str]]:
    """The card's ``Thresholds`` section as ``{label: threshold}`` (None without one), and its problems.

    The section's first fenced block holds one ``<threshold> <label>`` line a label (the number
    first, so a label may hold spaces); each threshold is a number from 0 to 1.
    """
    import math

    for heading, text in _sections(body):
        if heading.lower() != THRESHOLDS_HEADING.lower():
            continue
        blocks = _code_blocks(text)
        if not blocks:
            return None, ["the Thresholds section needs a fenced code block of '<threshold> <label>' lines"]
        thresholds, problems = {}, []
        for number, line in enumerate((line for line in blocks[0].splitlines() if line.strip()), start=1):
            value, _, label = line.strip().partition(" ")
            label = label.strip()
            try:
                threshold = float(value)
            except ValueError:
                threshold = math.nan
            if not label or not 0.0 <= threshold <= 1.0:
                problems.append(f"line {number} of the block: {line.strip()[:60]!r} is not '<threshold> <label>' "
                                "with a threshold from 0 to 1")
            elif label in thresholds:
                problems.append(f"line {number} of the block: {label!r} has a threshold already; give each label one")
            else:
                thresholds[label] = threshold
        if not thresholds and not problems:
            problems.append("the Thresholds block is empty")
        return thresholds, problems
    return None, []


def thresholds_text(thresholds, policy: str | None = None) -> str:
    """The ``Thresholds`` section of a card: a sentence, then one ``<threshold> <label>`` line a label."""
    how = f" by the policy `{policy}`" if policy else ""
    return "\n".join([f"## {THRESHOLDS_HEADING}", "",
                      f"A label is decided when its probability is at least its threshold; chosen on the validation "
                      f"split{how}. `fcn4 tag --threshold card` uses them.", "", "```text",
                      *(f"{value:.6f} {label}" for label, value in thresholds.items()), "```", ""])
