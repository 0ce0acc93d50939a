"""Publish a trained checkpoint as a MindSpore Hub asset card.

:func:`publish_card` hashes the checkpoint, checks that it loads into the network the card will
describe, renders a card that passes the hub's rules (the dataset rule only in ``strict`` mode,
since GTZAN and the user's own datasets are not on the hub's list), and writes it atomically
under ``<root>/<user-id>/<backend>/<ms-version>/<name>.md``, never over a different card unless
asked. The checkpoint is then installed in the cache, so the card loads offline at once.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mindspore as ms

from ..audio.frontend import FrontEnd
from ..base.errors import SettingError
from ..model.network import CARD_ARGUMENTS
from .card_body import thresholds_text
from .cards import CardError, parse_card, render_card, write_card
from .rules import validate_card
from .trust import path_inside, uid_parts
from .weights import WeightsSpec, card_uid, hub_uid, publish_root, uid_from_path
from .weights import install as install_card

__all__ = ["CardMetadata", "Published", "publish_card", "card_path_for", "ZOO_REPO_LINK"]

#: Code of the hub's FCN-4 card; the client clones it into a folder named after its basename.
ZOO_REPO_LINK = "https://gitee.com/mindspore/mindspore/tree/r1.1/model_zoo/research/audio/fcn-4"


def _ms_version() -> str:
    return ".".join(ms.__version__.split(".")[:2])


@dataclass(frozen=True)
class CardMetadata:
    """What a card says about a training run; the card's fields are derived from it.

    ``arguments`` are the network's (the card's architecture plus ``num_classes``); ``labels``
    name the outputs in order and are written into the card's Labels section.
    """
    name: str
    version: str
    dataset: str
    asset_link: str
    user_id: str
    author: str
    labels: Sequence[str] | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    arguments: Mapping[str, Any] = field(default_factory=lambda: dict(CARD_ARGUMENTS))
    front_end: FrontEnd = field(default_factory=FrontEnd)
    license: str = "Apache2.0"
    backend: str = "cpu"
    mindspore_version: str = field(default_factory=_ms_version)
    summary: str | None = None
    description: str | None = None
    #: Per-label decision thresholds (label -> value) and the policy that chose them, for a Thresholds section.
    thresholds: Mapping[str, float] | None = None
    threshold_policy: str | None = None
    model_name: str = "fcn4"
    repo_link: str = ZOO_REPO_LINK
    used_for: str = "inference/extract-feature/transfer-learning"
    update_time: _dt.date = field(default_factory=_dt.date.today)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> CardMetadata:
        """Metadata from a dict (e.g. a run's JSON/YAML); keys may use ``-`` or ``_``."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {str(k).replace("-", "_"): v for k, v in values.items()}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SettingError(f"unknown run metadata {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        missing = sorted(f.name for f in dataclasses.fields(cls)
                         if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                         and f.name not in values)
        if missing:
            raise SettingError(f"run metadata lacks {', '.join(missing)}")
        if isinstance(values.get("front_end"), Mapping):
            values["front_end"] = FrontEnd(**values["front_end"])
        if isinstance(values.get("update_time"), str):
            values["update_time"] = _dt.date.fromisoformat(values["update_time"])
        return cls(**values)


@dataclass(frozen=True)
class Published:
    """Where :func:`publish_card` wrote the card, its uid and the checkpoint's sha256."""
    path: Path
    uid: str
    sha256: str
    cached_checkpoint: Path | None


def card_path_for(meta: CardMetadata, root=None) -> Path:
    """``<root>/<user-id>/<backend>/<ms-version>/<name>.md``, the hub's layout."""
    root = publish_root() if root is None else root
    parts = uid_parts(hub_uid(meta.user_id, meta.backend, meta.mindspore_version, meta.name), "card name")
    return path_inside(root, *parts[:-1], f"{parts[-1]}.md", field="card name")


def publish_card(checkpoint, meta: CardMetadata, *, root=None, out=None, overwrite: bool = False,
                 strict: bool = False, install: bool = True) -> Published:
    """Write the card of ``checkpoint`` described by ``meta``.

    Parameters
    ----------
    checkpoint : path
        The trained ``.ckpt``; its sha256 goes into the card.
    meta : CardMetadata
        The run's metadata.
    root, out : path
        The card goes to ``out`` if given, else under ``root`` in the hub's layout.
    overwrite : bool
        Replace an existing card with different content (an identical one is left as it is).
    strict : bool
        Apply the hub's dataset list too (refuses GTZAN and other datasets the hub lacks).
    install : bool
        Put the checkpoint in the cache, so ``hubconf.load(<card>)`` works offline at once.

    Raises
    ------
    CardError
        The card would break a rule, the checkpoint does not fit the described network, or a
        different card exists at the target; nothing is written then.
    """
    checkpoint = Path(checkpoint)
    arguments = _network_arguments(meta)
    weights = WeightsSpec.from_checkpoint(checkpoint, arguments=arguments, model_name=meta.model_name)
    weights.build()  # strict: CheckpointError names any misfit with the network the card describes
    sha256 = weights.sha256
    path = Path(out) if out is not None else card_path_for(meta, root)
    text = render_card(_fields(meta, sha256), _body(meta, arguments, path, checkpoint), title=meta.name)
    card = parse_card(text, path)
    problems = validate_card(card, strict=strict)
    if problems:
        raise CardError(path, problems)
    write_card(path, text, overwrite=overwrite)
    cached = install_card(path, checkpoint, sha256=sha256) if install else None
    return Published(path, card_uid(card), sha256, cached)


def _network_arguments(meta: CardMetadata) -> dict[str, Any]:
    arguments = {k: list(v) if isinstance(v, tuple) else v for k, v in meta.arguments.items()}
    if meta.labels is not None:
        if arguments.setdefault("num_classes", len(meta.labels)) != len(meta.labels):
            raise SettingError(f"{len(meta.labels)} labels but num_classes={arguments['num_classes']}")
    return arguments


def _fields(meta: CardMetadata, sha256: str) -> dict[str, Any]:
    fields = {
        "model-name": meta.model_name, "backbone-name": "fcn4", "module-type": "audio",
        "fine-tunable": True, "input-shape": [1, 1, meta.front_end.n_mels, meta.front_end.n_frames],
        "model-version": meta.version, "train-dataset": meta.dataset, "author": meta.author,
        "update-time": meta.update_time, "repo-link": f"<{meta.repo_link}>", "user-id": meta.user_id,
        "used-for": meta.used_for, "train-backend": meta.backend, "infer-backend": meta.backend,
        "mindspore-version": meta.mindspore_version,
        "asset": [{"file-format": "ckpt", "asset-link": f"<{meta.asset_link.strip('<>')}>",
                   "asset-sha256": sha256}],
        "license": meta.license,
        "summary": meta.summary or (f"FCN-4 (Choi et al., ISMIR 2016) trained on {meta.dataset}, "
                                    f"{len(meta.labels) if meta.labels else 'its'} outputs, log-mel input."),
    }
    if "accuracy" in meta.metrics:
        fields["accuracy"] = float(meta.metrics["accuracy"])
    if meta.metrics:
        fields["evaluation"] = {k: _number(v) for k, v in meta.metrics.items()}
    return fields


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _body(meta: CardMetadata, arguments: Mapping[str, Any], path: Path, checkpoint: Path) -> str:
    written = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    uid = uid_from_path(path)  # a uid resolves once the card is installed in the cache
    hub_call = f"mshub.load({uid!r}, {written})" if uid else f"mshub.load({str(path)!r}, source='local', {written})"
    settings = ", ".join(f"{f.name}={getattr(meta.front_end, f.name)!r}" for f in dataclasses.fields(FrontEnd))
    lines = ["## Introduction", "",
             meta.description or (f"FCN-4 (Choi, Fazekas and Sandler, ISMIR 2016) trained on {meta.dataset} "
                                  f"with MindSpore {meta.mindspore_version} on {meta.backend}."),
             "", f"Checkpoint `{checkpoint.name}` ({checkpoint.stat().st_size:,} bytes).", ""]
    if meta.metrics:
        lines += ["## Evaluation", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_number(v)} |" for k, v in meta.metrics.items()] + [""]
    if meta.labels is not None:
        lines += ["## Labels", "", "The outputs of the network, in order.", "", "```text", *meta.labels, "```", ""]
    if meta.thresholds:
        lines += [thresholds_text(meta.thresholds, meta.threshold_policy)]
    lines += ["## Usage", "", "With this package (`hubconf.py` of its repository):", "", "```python",
              "import fcn4", "import hubconf", "",
              f"network = hubconf.load({uid or str(path)!r}, {written})",
              f"front_end = fcn4.FrontEnd({settings})", "```", "",
              "With the MindSpore Hub client (its code folder is named after the basename of "
              "`repo-link`):", "", "```python", "import mindspore_hub as mshub", "",
              f"network = {hub_call}", "```", ""]
    return "\n".join(lines)
