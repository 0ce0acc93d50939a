"""The MindSpore Hub's card rules, one function each, in the order of the hub's validator, plus two
that this package needs to load what a card describes.

Each rule takes a parsed :class:`~fcn4.hub.cards.Card` (and ``strict``) and yields
``(field, message)`` for every breach; :func:`validate_card` runs them all and reports every
problem of a card at once, each with the file and the field. Nothing here touches the network.

>>> from fcn4.hub.cards import SAMPLE_CARD, parse_card
>>> card = parse_card(SAMPLE_CARD, "sample.md")
>>> validate_card(card, strict=True)
[]
>>> gtzan = parse_card(SAMPLE_CARD.replace("MagnaTagATune", "GTZAN"), "sample.md")
>>> [str(p) for p in validate_card(gtzan, strict=True)]
["sample.md: train-dataset: 'GTZAN' is not on the MindSpore Hub's dataset list; the hub rejects it, this package loads it"]
"""
from __future__ import annotations

import dataclasses
import numbers
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..audio.frontend import FrontEnd
from ..base.errors import SettingError
from ..model.arguments import check_arguments
from .card_body import headings, section_labels, section_thresholds, usage_calls
from .cards import Card, CardError, CardProblem, find_cards, read_card
from .trust import file_name_of_link, safe_name

__all__ = ["validate_card", "check_card", "check_cards", "RULES", "REQUIRED_FIELDS", "USED_FOR", "BACKENDS",
           "MODULE_TYPES", "FILE_FORMATS", "HUB_AUDIO_DATASETS"]

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
_SHA256 = re.compile(r"[0-9a-f]{64}")

Problems = Iterator[tuple[str, str]]


def required_fields(card: Card, strict: bool) -> Problems:
    """Every required field is present and not empty (``model-name`` too: the loader needs it)."""
    for name in REQUIRED_FIELDS + ("model-name",):
        if name not in card.fields:
            why = " (the hub's loader calls create_network with it)" if name == "model-name" else ""
            yield name, f"required field is missing{why}"
        elif card.fields[name] is None or card.fields[name] == "":
            yield name, "required field is empty"


def bool_fields(card: Card, strict: bool) -> Problems:
    """``fine-tunable`` and ``allow-cache-ckpt`` are bools."""
    for name in ("fine-tunable", "allow-cache-ckpt"):
        value = card.fields.get(name)
        if value is not None and not isinstance(value, bool):
            yield name, f"must be a bool (True or False), got {value!r}"


def accuracy_is_a_number(card: Card, strict: bool) -> Problems:
    value = card.fields.get("accuracy")
    if "accuracy" in card.fields and (isinstance(value, bool) or not isinstance(value, numbers.Number)):
        yield "accuracy", f"must be a number such as 0.9, got {value!r}"


def input_shape(card: Card, strict: bool) -> Problems:
    """``input-shape`` is a list of ints (or of lists of ints, for several inputs)."""
    shape = card.fields.get("input-shape")
    if shape is not None and (not isinstance(shape, list) or not all(
            isinstance(i, (int, list)) and not isinstance(i, bool) for i in shape)):
        yield "input-shape", f"must be a list of ints (or of lists), got {shape!r}"


def choices(card: Card, strict: bool) -> Problems:
    """``used-for`` and the backends are '/'-separated values from the hub's lists."""
    for name, allowed in (("used-for", USED_FOR), ("infer-backend", BACKENDS), ("train-backend", BACKENDS)):
        if card.fields.get(name) is None:
            continue
        for item in str(card.fields[name]).split("/"):
            if item.strip().lower() not in allowed:
                yield name, f"{item!r} is not allowed; use '/'-separated values from {', '.join(allowed)}"


def module_type(card: Card, strict: bool) -> Problems:
    """``module-type`` is ``<type>`` or ``<type>-<detail>`` with a type from the hub's list."""
    value = card.fields.get("module-type")
    if value is None:
        return
    parts = str(value).lower().split("-")
    if len(parts) > 2:
        yield "module-type", f"{value!r} has more than one '-'; write <type> or <type>-<detail>"
    elif parts[0] not in MODULE_TYPES:
        yield "module-type", f"{parts[0]!r} is not a module type; choose from {', '.join(MODULE_TYPES)}"


def links(card: Card, strict: bool) -> Problems:
    """Links are http(s) URLs (``strict``: in angle brackets, as the hub's cards write them)."""
    for name in _LINK_FIELDS:
        if card.fields.get(name) is not None:
            yield from _link(card.fields[name], name, strict)


def assets(card: Card, strict: bool) -> Problems:
    """``asset`` lists items with a known file-format, an http(s) asset-link and a sha256."""
    items = card.fields.get("asset")
    if items is None:
        return
    if not isinstance(items, list) or not items:
        yield "asset", "must be a non-empty list of items with file-format, asset-link and asset-sha256"
        return
    for i, item in enumerate(items):
        where = f"asset[{i}]"
        if not isinstance(item, Mapping):
            yield where, "must be a mapping with file-format, asset-link and asset-sha256"
            continue
        for key in ("file-format", "asset-link", "asset-sha256"):
            if item.get(key) in (None, ""):
                yield f"{where}.{key}", "required in every asset item, but missing"
        if item.get("file-format") not in (None, "") and str(item["file-format"]).strip().lower() not in FILE_FORMATS:
            yield f"{where}.file-format", (f"{item['file-format']!r} is not a file format; choose from "
                                           f"{', '.join(FILE_FORMATS)}")
        if item.get("asset-link") not in (None, ""):
            yield from _link(item["asset-link"], f"{where}.asset-link", strict)
        sha = item.get("asset-sha256")
        if sha not in (None, "") and not (isinstance(sha, str) and _SHA256.fullmatch(sha.strip())):
            yield f"{where}.asset-sha256", (f"{sha!r} is not a sha256: 64 lower-case hex digits "
                                            "(python -m fcn4 card sha256 FILE prints one)")


def dataset_on_the_hubs_list(card: Card, strict: bool) -> Problems:
    """``strict`` only: ``train-dataset`` (or each of its ``_``-joined parts) is on the hub's list."""
    if not strict or card.fields.get("train-dataset") is None:
        return
    dataset = str(card.fields["train-dataset"])
    parts = [dataset] if dataset in HUB_AUDIO_DATASETS else dataset.split("_")
    unknown = [p for p in parts if p not in HUB_AUDIO_DATASETS]
    if unknown:
        yield "train-dataset", (f"{', '.join(map(repr, unknown))} is not on the MindSpore Hub's dataset list; "
                                "the hub rejects it, this package loads it")


def no_colons(card: Card, strict: bool) -> Problems:
    """Only links and the nested maps may hold a ':'."""
    for name, value in card.fields.items():
        if name not in _COLON_ALLOWED and ":" in str(value):
            yield name, (f"value {str(value)!r} holds a ':', which the hub allows only in "
                         f"{', '.join(_COLON_ALLOWED)}; remove it or quote a time as a date only")


def headings_without_colons(card: Card, strict: bool) -> Problems:
    for number, text in headings(card.body):
        if text.endswith(":"):
            yield f"body line {number}", f"heading {text!r} ends with ':'; the hub rejects that"


def names_make_safe_paths(card: Card, strict: bool) -> Problems:
    """This package's rule: the names that become paths (uid parts, the checkpoint's file name) are
    plain names, never ``..``, a separator or an absolute path (see :mod:`fcn4.hub.trust`)."""
    fields = card.fields
    for name in ("user-id", "mindspore-version"):
        if fields.get(name) not in (None, ""):
            try:
                safe_name(str(fields[name]), name)
            except SettingError as exc:
                yield name, str(exc).split(": ", 1)[1]
    if fields.get("infer-backend") not in (None, ""):
        try:
            safe_name(str(fields["infer-backend"]).split("/")[0], "infer-backend")
        except SettingError as exc:
            yield "infer-backend", str(exc).split(": ", 1)[1]
    items = fields.get("asset")
    for i, item in enumerate(items if isinstance(items, list) else ()):
        if isinstance(item, Mapping) and item.get("asset-link") not in (None, ""):
            try:
                file_name_of_link(str(item["asset-link"]).strip().strip("<>"))
            except SettingError as exc:
                yield f"asset[{i}].asset-link", str(exc).split(": ", 1)[1]


def usage_arguments(card: Card, strict: bool) -> Problems:
    """This package's rule: the Usage's ``load(...)`` and ``FrontEnd(...)`` calls parse, agree, and ask
    for a network and audio settings within the limits (:mod:`fcn4.base.limits`)."""
    network, network_problems = usage_calls(card.body, "load")
    audio, audio_problems = usage_calls(card.body, "FrontEnd")
    for message in network_problems + audio_problems:
        yield "Usage", message
    settings = [s.name for s in dataclasses.fields(FrontEnd)]
    unknown = sorted(set(audio) - set(settings))
    if unknown:
        yield "Usage", f"FrontEnd(...) has no setting {', '.join(unknown)}; it takes {', '.join(settings)}"
    elif not audio_problems:
        try:
            FrontEnd(**audio)
        except (SettingError, TypeError) as exc:
            yield "Usage", f"FrontEnd(...): {exc}"
    if not network_problems:
        labels, _ = section_labels(card.body)
        if labels is not None:
            network = {"num_classes": len(labels), **network}
        try:
            check_arguments(**network)
        except (SettingError, TypeError) as exc:
            yield "Usage", f"load(...): {exc}"


def labels_section(card: Card, strict: bool) -> Problems:
    """This package's rule: a Labels section names one label a line, as many as the head has outputs."""
    labels, problems = section_labels(card.body)
    for message in problems:
        yield "Labels", message
    num_classes = usage_calls(card.body, "load")[0].get("num_classes")
    if labels is not None and num_classes is not None and num_classes != len(labels):
        yield "Labels", f"{len(labels)} labels but the Usage builds num_classes={num_classes}"


def thresholds_section(card: Card, strict: bool) -> Problems:
    """This package's rule: a Thresholds section gives labels of the Labels section (when there is one)
    a threshold from 0 to 1 each, once."""
    thresholds, problems = section_thresholds(card.body)
    for message in problems:
        yield "Thresholds", message
    labels, _ = section_labels(card.body)
    if thresholds and labels is not None:
        unknown = [label for label in thresholds if label not in labels]
        if unknown:
            yield "Thresholds", (f"{len(unknown)} label(s) not in the Labels section ({', '.join(unknown[:5])}); "
                                 "give thresholds to the network's outputs only")


#: Every rule, in the order problems are reported.
RULES = (required_fields, bool_fields, accuracy_is_a_number, input_shape, choices, module_type, links, assets,
         dataset_on_the_hubs_list, no_colons, headings_without_colons, names_make_safe_paths, usage_arguments,
         labels_section, thresholds_section)


def validate_card(card: Card, *, strict: bool = False) -> list[CardProblem]:
    """Every problem of ``card`` by the hub's rules, plus what this package needs to load it.

    ``strict=True`` adds the rules that only the hub's own list decides: the dataset must be on
    the hub's list (GTZAN is not) and links must be written in angle brackets.
    """
    problems = list(card.parse_problems)
    for rule in RULES:
        problems += [CardProblem(card.path, field, message) for field, message in rule(card, strict)]
    return problems


def check_card(path, *, strict: bool = False) -> list[CardProblem]:
    """Read and validate the card file at ``path``; problems instead of exceptions."""
    try:
        card = read_card(path)
    except CardError as exc:
        return list(exc.problems)
    return validate_card(card, strict=strict)


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


def _link(value, name: str, strict: bool) -> Problems:
    text = str(value).strip()
    bare = text.strip("<>")
    if not re.match(r"^https?://[^\s/$.?#].\S*$", bare):
        yield name, f"{text!r} is not an http(s) URL"
    elif strict and not (text.startswith("<") and text.endswith(">")):
        yield name, f"write the link in angle brackets, as the hub's cards do: <{bare}>"
