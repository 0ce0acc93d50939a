"""The one weights object: :class:`WeightsSpec`, read from what a user names, and its one build path.

A user names weights four ways, and :func:`resolve` turns each into a spec:

- a hub uid (``mindspore/ascend/1.1/fcn4_v1.1``) or a card file: everything comes from the card
  (the checkpoint's URL, file name and sha256, the dataset and labels, the network arguments and
  the audio settings of its Usage);
- a bare ``.ckpt``: its sha256 is computed once, its shapes give the architecture when it is built;
- ``none``: the card's architecture with random values.

:meth:`WeightsSpec.fetch` returns a verified local checkpoint (once per spec), and
:meth:`WeightsSpec.build` the network with those weights: the tagger, the recipes' warm start,
``hubconf.load``, publishing, export and evaluation all go through it.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..audio.frontend import DEFAULT_FRONT_END, FrontEnd
from ..base.errors import SettingError
from ..model.labels import load_labels
from .cache import HUB_DIR_ENV, OFFLINE_ENV, WeightsUnavailable, fetch_verified, get_hub_dir, set_hub_dir, verify_file
from .cache import install as _install
from .cards import Card, CardError, CardProblem, read_card
from .download import sha256_file
from .rules import validate_card
from .trust import file_name_of_link, path_inside, uid_parts

__all__ = ["WeightsSpec", "WeightsUnavailable", "resolve", "fetch", "verify_file", "find_card", "card_uid",
           "uid_from_path", "hub_uid", "available_uids", "card_roots", "publish_root", "get_hub_dir", "set_hub_dir", "install",
           "DEFAULT_UID", "HUB_DIR_ENV", "OFFLINE_ENV", "REPO_ASSETS", "PACKAGED_ASSETS", "KINDS"]

DEFAULT_UID = "mindspore/ascend/1.1/fcn4_v1.1"
#: The cards of this repository's checkout (where ``card publish`` writes by default).
REPO_ASSETS = Path(__file__).resolve().parents[2] / "mshub_res" / "assets"
#: The same cards inside an installed wheel (the build packs ``mshub_res/assets`` as ``fcn4/hub/assets``).
PACKAGED_ASSETS = Path(__file__).resolve().parent / "assets"
#: What a spec was read from: a card (uid or file), a bare checkpoint, or nothing (random values).
KINDS = ("card", "checkpoint", "none")
# Datasets whose cards need no Labels section: the package ships their vocabulary.
_DATASET_LABELS = {"magnatagatune": "mtat_top50", "musictag": "mtat_top50", "music-tagging": "mtat_top50",
                   "musictagging": "mtat_top50", "gtzan": "gtzan_genres"}


@dataclass(frozen=True)
class WeightsSpec:
    """What a card (or a bare checkpoint) says about its weights; immutable.

    ``kind`` is ``card``, ``checkpoint`` or ``none`` (see :data:`KINDS`). For a card every field
    comes from the card; for a bare ``.ckpt``, ``checkpoint`` is its path and ``sha256`` its hash.
    """
    uid: str | None
    card_path: str | None
    model_name: str
    url: str | None
    sha256: str | None
    file_format: str
    dataset: str | None
    labels: tuple[str, ...] | None
    arguments: Mapping[str, Any] = field(repr=False)
    front_end: FrontEnd = field(default_factory=FrontEnd)
    metrics: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    kind: str = "card"
    checkpoint: str | None = None
    # The verified local file, once fetch() found it: weights are verified once per spec.
    _verified: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        """What the weights are called in messages and outputs: the uid, the checkpoint's path, or ``none``."""
        return self.uid or self.checkpoint or "none"

    @property
    def filename(self) -> str:
        """The checkpoint's file name: the basename of its URL, as the hub client uses."""
        if self.kind == "checkpoint":
            return Path(self.checkpoint).name
        return file_name_of_link(self.url, "asset-link")

    @property
    def num_classes(self) -> int | None:
        """Outputs of the card's head: the Usage's ``num_classes``, else the number of labels."""
        return self.arguments.get("num_classes", len(self.labels) if self.labels else None)

    @property
    def cache_path(self) -> Path:
        """Where the checkpoint lives in the cache: ``<hub dir>/<uid dir>/<file>``."""
        if self.kind != "card":
            raise SettingError(f"weights {self.name!r} come from no card, so they have no place in the hub cache")
        return path_inside(get_hub_dir(), *uid_parts(self.uid)[:-1], self.filename, field=f"the cache path of {self.uid}")

    @property
    def cache_key(self) -> str:
        """What identifies the network these weights build (keys the cached ONNX exports)."""
        if self.kind == "checkpoint" and not self.arguments:
            return f"ckpt {self.sha256}"  # the checkpoint's shapes fix the architecture
        arguments = json.dumps(self.network_arguments(), sort_keys=True, default=list)
        return f"ckpt {self.sha256} {arguments}"

    def candidate_paths(self) -> tuple[Path, ...]:
        """Places a checkpoint is looked for, in order: beside the card, then the cache."""
        beside = path_inside(Path(self.card_path).parent, self.filename, field="asset-link")
        return (beside, self.cache_path) if beside != self.cache_path else (self.cache_path,)

    def network_arguments(self, *args, **overrides) -> dict[str, Any]:
        """The card's network arguments with the caller's on top.

        Positional ``args`` follow the order of the card's Usage (the zoo's order: in_classes,
        kernel_size, padding, maxpool, has_bias); keywords replace the card's of that name.
        """
        arguments = dict(self.arguments)
        if self.labels is not None and "num_classes" not in arguments:
            arguments["num_classes"] = len(self.labels)
        names = [name for name in self.arguments if name != "num_classes"]
        if len(args) > len(names):
            raise TypeError(f"{len(args)} positional arguments, but the card {self.card_path} names "
                            f"only {len(names)} ({', '.join(names)}); pass the rest by keyword")
        arguments.update(zip(names, args))
        arguments.update(overrides)
        return arguments

    def fetch(self, *, force_reload: bool = False, **options) -> Path:
        """The verified local checkpoint (downloaded into the cache if need be); verified once per spec.

        Raises :class:`~fcn4.WeightsUnavailable` (where to get the file and where to put it) for a
        card whose checkpoint is neither on disk nor downloadable.
        """
        if self.kind == "none":
            raise SettingError("weights 'none' have no checkpoint: name a hub uid, a card or a .ckpt")
        if force_reload or "path" not in self._verified:
            if self.kind == "checkpoint":
                self._verified["path"] = Path(self.checkpoint)
            else:
                self._verified["path"] = fetch_verified(self, force_reload=force_reload, **options)
        return self._verified["path"]

    def build(self, num_classes: int | None = None, *, keep_head: bool = True, labels=None,
              pretrained: bool = True, force_reload: bool = False, in_classes=None, **arguments):
        """The network these weights describe, filled with them: a :class:`~fcn4.hub.building.Built`.

        See :func:`fcn4.hub.building.build` for the arguments.
        """
        from .building import build

        return build(self, num_classes, keep_head=keep_head, labels=labels, pretrained=pretrained,
                     force_reload=force_reload, in_classes=in_classes, **arguments)

    @classmethod
    def from_card(cls, card: Card, uid: str | None = None) -> WeightsSpec:
        """The spec of ``card``; a :class:`~fcn4.hub.cards.CardError` lists every problem if unusable."""
        problems = validate_card(card)
        asset = card.asset("ckpt")
        if asset is None and not any(p.field.startswith("asset") for p in problems):
            problems.append(CardProblem(card.path, "asset", "has no item with file-format ckpt; "
                                                            "this package loads ckpt weights"))
        dataset = card.fields.get("train-dataset")
        labels = card.labels()
        if labels is None and dataset is not None:
            name = _DATASET_LABELS.get(str(dataset).lower())
            labels = load_labels(name) if name else None
        if problems:  # names that would become unsafe paths among them (rules.names_make_safe_paths)
            raise CardError(card.path, problems)
        return cls(uid=uid or card_uid(card), card_path=str(card.path),
                   model_name=str(card.fields["model-name"]).lower(),
                   url=str(asset["asset-link"]).strip().strip("<>"),
                   sha256=str(asset["asset-sha256"]).strip().lower(),
                   file_format="ckpt", dataset=None if dataset is None else str(dataset), labels=labels,
                   arguments=MappingProxyType(card.usage_arguments()),
                   front_end=FrontEnd(**card.front_end_arguments()),  # checked by validate_card's rules
                   metrics=MappingProxyType(_metrics(card.fields)))

    @classmethod
    def from_checkpoint(cls, path, *, arguments: Mapping[str, Any] | None = None, labels=None,
                        front_end: FrontEnd = DEFAULT_FRONT_END, model_name: str = "fcn4",
                        sha256: str | None = None) -> WeightsSpec:
        """The spec of a bare ``.ckpt``: hashed now; ``arguments`` (default: from its shapes) fix the network."""
        from ..model.checkpoint import CheckpointError

        name = os.fspath(path)
        if not os.path.isfile(name):
            what = "is a folder" if os.path.isdir(name) else "does not exist"
            raise CheckpointError(name, f"the file {what}; pass a .ckpt file, a card file or a hub uid")
        return cls(uid=None, card_path=None, model_name=model_name, url=None, sha256=sha256 or sha256_file(name),
                   file_format="ckpt", dataset=None, labels=None if labels is None else tuple(labels),
                   arguments=MappingProxyType(dict(arguments or {})), front_end=front_end, kind="checkpoint",
                   checkpoint=name)

    @classmethod
    def random(cls, **arguments) -> WeightsSpec:
        """No weights: the card's architecture (with ``arguments`` on top) and random values."""
        from ..model.network import CARD_ARGUMENTS

        return cls(uid=None, card_path=None, model_name="fcn4", url=None, sha256=None, file_format="ckpt",
                   dataset=None, labels=None, arguments=MappingProxyType({**CARD_ARGUMENTS, **arguments}),
                   kind="none")


def uid_from_path(path) -> str | None:
    """The uid a card path names: its path below an ``assets`` folder, without ``.md``."""
    path = Path(path).resolve()
    for parent in path.parents:
        if parent.name == "assets":
            return path.relative_to(parent).with_suffix("").as_posix()
    return None


def hub_uid(user_id, backend, mindspore_version, name) -> str:
    """The hub's uid layout: ``<user-id>/<first backend>/<ms-version>/<name>``, ids lower-cased."""
    return f"{str(user_id).lower()}/{str(backend).split('/')[0].lower()}/{mindspore_version}/{name}"


def card_uid(card: Card) -> str:
    """A card's uid: its path below an ``assets`` folder, else the hub's layout from its fields."""
    f = card.fields
    return uid_from_path(card.path) or hub_uid(f.get("user-id", "local"), f.get("infer-backend", "cpu"),
                                               f.get("mindspore-version", ""), Path(card.path).stem)


def publish_root() -> Path:
    """Where ``card publish`` writes by default: the checkout's ``mshub_res/assets``, or in an
    installed package (whose own folder is no place to write) ``mshub_res/assets`` here."""
    return REPO_ASSETS if REPO_ASSETS.is_dir() else Path("mshub_res", "assets")


def card_roots() -> list[Path]:
    """Where uids are looked up, in order: the checkout's cards, the wheel's, the cache."""
    roots = [root for root in (REPO_ASSETS, PACKAGED_ASSETS) if root.is_dir()]
    return roots + [Path(get_hub_dir())]


def available_uids() -> list[str]:
    """The uids of the cards that ship with this package."""
    uids = set()
    for root in card_roots()[:-1]:
        uids.update(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.md")
                    if p.name not in ("README.md", "README_CN.md"))
    return sorted(uids)


def find_card(name) -> Path:
    """The card file for ``name``: a card path, or a uid looked up in this repository's
    ``mshub_res/assets`` and then in the cache (where the MindSpore Hub client keeps cards)."""
    text = os.fspath(name)
    path = Path(text).expanduser()
    if path.suffix == ".md" or path.exists():
        if not path.is_file():
            raise CardError(text, [CardProblem(text, "file", "no card file here; pass the path of a "
                                               "card (.md) or a uid such as " + DEFAULT_UID)])
        return path
    uid = text.strip("/")
    try:
        parts = uid_parts(uid)
    except SettingError:
        parts = []
    if len(parts) < 2 or not re.fullmatch(r"[\w.+-]+(/[\w.+-]+)+", uid):
        raise CardError(text, [CardProblem(text, "name", f"neither a card file nor a uid like {DEFAULT_UID}")])
    roots = card_roots()
    for root in roots:
        candidate = path_inside(root, *parts[:-1], f"{parts[-1]}.md", field="uid")
        if candidate.is_file():
            return candidate
    known = ", ".join(available_uids()) or "none"
    raise CardError(uid, [CardProblem(uid, "uid", (
        f"no card for this uid in {' or '.join(map(str, roots))}; known here: {known}. "
        "Pass the path of a card file instead"))])



def resolve(name) -> WeightsSpec:
    """The :class:`WeightsSpec` of what a user names: a hub uid, a card file, a ``.ckpt`` or ``none``.

    A spec is returned as it is. ``.ckpt`` files are hashed once; cards are read and validated.

    >>> resolve("none").kind, resolve("none").num_classes
    ('none', None)
    """
    if isinstance(name, WeightsSpec):
        return name
    if name is None or (isinstance(name, str) and name.strip().lower() == "none"):
        return WeightsSpec.random()
    text = os.fspath(name)
    if text.endswith(".ckpt"):
        return WeightsSpec.from_checkpoint(text)
    path = find_card(text)
    return WeightsSpec.from_card(read_card(path))


def fetch(name, *, force_reload: bool = False, offline: bool | None = None,
          progress: bool | None = None, **download_options) -> Path:
    """The path of a verified checkpoint for ``name`` (uid, card path, ``.ckpt`` or spec); see
    :meth:`WeightsSpec.fetch`."""
    return resolve(name).fetch(force_reload=force_reload, offline=offline, progress=progress, **download_options)


def install(card, checkpoint, *, sha256: str | None = None) -> Path:
    """Put a local checkpoint, and its card, where :func:`fetch` and :func:`find_card` look.

    For a checkpoint you trained and described in a card before hosting it: the card then
    loads offline, by path or by uid. See :func:`fcn4.hub.cache.install`.
    """
    return _install(resolve(card), checkpoint, sha256=sha256)


def _metrics(fields: Mapping[str, Any]) -> dict[str, Any]:
    metrics = dict(fields.get("evaluation") or {}) if isinstance(fields.get("evaluation"), Mapping) else {}
    if "accuracy" in fields:
        metrics.setdefault("accuracy", fields["accuracy"])
    return metrics
