"""Weights you can trust: the spec a card describes, and its verified, cached checkpoint.

A :class:`WeightsSpec` is read from one card and nothing else: the uid, the model name, the
checkpoint's URL, file name and sha256, the dataset and labels, the network arguments and the
audio settings of the card's Usage. :func:`fetch` returns the path of a checkpoint that matches
the card's sha256, downloading it only when no verified copy is on disk.

The cache follows the MindSpore Hub client's layout, ``<hub dir>/<uid dir>/<checkpoint file>``
with ``<hub dir>`` = ``~/.mscache`` by default, so a checkpoint the client fetched is reused (and
verified, which the client never does). A small stamp beside each verified file
(``.<file>.verified.json``: sha256, size, mtime) spares re-hashing 200 MB on every load; any
change of size or mtime forces a new check, and a file that fails it is never loaded.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlparse

from ._atomic import temporary_beside, write_text_atomic
from .audio import FrontEnd
from .cards import Card, CardError, CardProblem, read_card, validate_card
from .download import DownloadError, download_file, sha256_file
from .labels import load_labels

__all__ = ["WeightsSpec", "WeightsUnavailable", "resolve", "fetch", "verify_file", "find_card", "card_uid", "uid_from_path", "hub_uid",
           "available_uids", "get_hub_dir", "set_hub_dir", "install",
           "DEFAULT_UID", "HUB_DIR_ENV", "OFFLINE_ENV", "REPO_ASSETS"]

DEFAULT_UID = "mindspore/ascend/1.1/fcn4_v1.1"
#: Environment variable that sets the cache root (``set_hub_dir`` wins over it).
HUB_DIR_ENV = "FCN4_HUB_DIR"
#: Set to 1 to never download: only verified files already on disk are used.
OFFLINE_ENV = "FCN4_OFFLINE"
#: The cards of this repository (absent from a wheel install; uids then resolve in the cache).
REPO_ASSETS = Path(__file__).resolve().parents[1] / "mshub_res" / "assets"
_DEFAULT_HUB_DIR = "~/.mscache"
# Datasets whose cards need no Labels section: the package ships their vocabulary.
_DATASET_LABELS = {"magnatagatune": "mtat_top50", "musictag": "mtat_top50", "music-tagging": "mtat_top50",
                   "musictagging": "mtat_top50", "gtzan": "gtzan_genres"}
_hub_dir: str | None = None


def set_hub_dir(path=None) -> None:
    """Set the cache root (as ``mindspore_hub.set_hub_dir``); ``None`` restores the default."""
    global _hub_dir
    _hub_dir = None if path is None else os.fspath(path)


def get_hub_dir() -> str:
    """The cache root: :func:`set_hub_dir`'s, else ``$FCN4_HUB_DIR``, else ``~/.mscache``."""
    root = _hub_dir or os.environ.get(HUB_DIR_ENV) or _DEFAULT_HUB_DIR
    return os.path.abspath(os.path.expanduser(root))


class WeightsUnavailable(RuntimeError):
    """No verified checkpoint on disk and none could be downloaded; says where to put one."""

    def __init__(self, spec: WeightsSpec, target: Path, reason: str, rejected=()):
        self.spec, self.target, self.rejected = spec, Path(target), tuple(rejected)
        lines = [f"the checkpoint of {spec.uid} is not available: {reason}",
                 f"  url:    {spec.url}",
                 f"  sha256: {spec.sha256}",
                 f"  download it by hand and place it at: {target}",
                 "  (it is verified against the sha256 before use)"]
        lines += [f"  {path} is on disk but its sha256 differs, so it was not loaded" for path in self.rejected]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class WeightsSpec:
    """What one card says about its weights; immutable, read only from the card."""
    uid: str
    card_path: str
    model_name: str
    url: str
    sha256: str
    file_format: str
    dataset: str | None
    labels: tuple[str, ...] | None
    arguments: Mapping[str, Any] = field(repr=False)
    front_end: FrontEnd = field(default_factory=FrontEnd)
    metrics: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    @property
    def filename(self) -> str:
        """The checkpoint's file name: the basename of its URL, as the hub client uses."""
        return unquote(os.path.basename(urlparse(self.url).path))

    @property
    def num_classes(self) -> int | None:
        """Outputs of the card's head: the Usage's ``num_classes``, else the number of labels."""
        return self.arguments.get("num_classes", len(self.labels) if self.labels else None)

    @property
    def cache_path(self) -> Path:
        """Where the checkpoint lives in the cache: ``<hub dir>/<uid dir>/<file>``."""
        return Path(get_hub_dir(), *self.uid.split("/")[:-1], self.filename)

    def candidate_paths(self) -> tuple[Path, ...]:
        """Places a checkpoint is looked for, in order: beside the card, then the cache."""
        beside = Path(self.card_path).parent / self.filename
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

    @classmethod
    def from_card(cls, card: Card, uid: str | None = None) -> WeightsSpec:
        """The spec of ``card``; a :class:`~fcn4.cards.CardError` lists every problem if unusable."""
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
        if problems:
            raise CardError(card.path, problems)
        return cls(uid=uid or card_uid(card), card_path=str(card.path),
                   model_name=str(card.fields["model-name"]).lower(),
                   url=str(asset["asset-link"]).strip().strip("<>"),
                   sha256=str(asset["asset-sha256"]).strip().lower(),
                   file_format="ckpt", dataset=None if dataset is None else str(dataset), labels=labels,
                   arguments=MappingProxyType(card.usage_arguments()),
                   front_end=FrontEnd(**card.front_end_arguments()),
                   metrics=MappingProxyType(_metrics(card.fields)))


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


def available_uids() -> list[str]:
    """The uids of this repository's cards."""
    if not REPO_ASSETS.is_dir():
        return []
    return sorted(p.relative_to(REPO_ASSETS).with_suffix("").as_posix() for p in REPO_ASSETS.rglob("*.md")
                  if p.name not in ("README.md", "README_CN.md"))


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
    if not re.fullmatch(r"[\w.+-]+(/[\w.+-]+)+", uid):
        raise CardError(text, [CardProblem(text, "name", f"neither a card file nor a uid like {DEFAULT_UID}")])
    for root in (REPO_ASSETS, Path(get_hub_dir())):
        candidate = root / f"{uid}.md"
        if candidate.is_file():
            return candidate
    known = ", ".join(available_uids()) or "none"
    raise CardError(uid, [CardProblem(uid, "uid", (
        f"no card for this uid in {REPO_ASSETS} or {get_hub_dir()}; known here: {known}. "
        "Pass the path of a card file instead"))])


def resolve(name) -> WeightsSpec:
    """The :class:`WeightsSpec` of a uid or card path (a spec is returned as it is)."""
    if isinstance(name, WeightsSpec):
        return name
    path = find_card(name)
    return WeightsSpec.from_card(read_card(path))


def verify_file(path, sha256: str) -> bool:
    """True if the file at ``path`` has ``sha256``, trusting a stamp only for unchanged files."""
    path = Path(path)
    stat = path.stat()
    stamp = _stamp_path(path)
    try:
        if json.loads(stamp.read_text()) == _stamp(sha256, stat):
            return True
    except (OSError, ValueError):
        pass
    if sha256_file(path) != sha256:
        stamp.unlink(missing_ok=True)
        return False
    _write_stamp(path, sha256)
    return True


def fetch(name, *, force_reload: bool = False, offline: bool | None = None,
          progress: bool | None = None, **download_options) -> Path:
    """The path of a verified checkpoint for ``name`` (uid, card path or spec).

    A verified file beside the card or in the cache is used as it is; otherwise the checkpoint
    is downloaded into the cache (``force_reload`` always downloads). ``offline`` (default:
    ``$FCN4_OFFLINE``) forbids the download. A file on disk that fails verification is never
    returned, and a good download replaces it.

    Raises
    ------
    WeightsUnavailable
        Nothing verified on disk and no download possible: names the URL, the sha256 and the path
        where the file may be placed by hand.
    """
    spec = resolve(name)
    if offline is None:
        offline = os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")
    rejected = []
    if not force_reload:
        for candidate in spec.candidate_paths():
            if candidate.is_file():
                if verify_file(candidate, spec.sha256):
                    return candidate
                rejected.append(candidate)
    target = spec.cache_path
    if offline:
        raise WeightsUnavailable(spec, target, f"offline mode (offline=True or {OFFLINE_ENV}=1) and no verified copy "
                                 "is on disk", rejected)
    try:
        download_file(spec.url, target, spec.sha256, progress=progress, **download_options)
    except DownloadError as exc:
        raise WeightsUnavailable(spec, target, str(exc), rejected) from exc
    _write_stamp(target, spec.sha256)
    return target


def install(card, checkpoint, *, sha256: str | None = None) -> Path:
    """Put a local checkpoint, and its card, where :func:`fetch` and :func:`find_card` look.

    For a checkpoint you trained and described in a card before hosting it: the card then
    loads offline, by path or by uid. The checkpoint must match the card's sha256; it is
    hard-linked into the cache when possible, else copied, and the card is copied to
    ``<hub dir>/<uid>.md`` (the MindSpore Hub client's place for cards). Pass ``sha256`` if the
    checkpoint's hash is already known, to spare hashing it again.
    """
    spec = resolve(card)
    checkpoint = Path(checkpoint)
    if (sha256 or sha256_file(checkpoint)) != spec.sha256:
        raise CardError(spec.card_path, [CardProblem(spec.card_path, "asset-sha256", (
            f"does not match {checkpoint}; publish the card again from this checkpoint"))])
    target = spec.cache_path
    if not (target.exists() and os.path.samefile(target, checkpoint)):
        with temporary_beside(target, ".part") as tmp:
            try:
                os.link(checkpoint, tmp)
            except OSError:
                shutil.copyfile(checkpoint, tmp)
            os.replace(tmp, target)
    _write_stamp(target, spec.sha256)
    cached_card = Path(get_hub_dir(), f"{spec.uid}.md")
    if not (cached_card.exists() and os.path.samefile(cached_card, spec.card_path)):
        write_text_atomic(cached_card, Path(spec.card_path).read_text(encoding="utf-8"))
    return target


def _stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified.json")


def _stamp(sha256: str, stat: os.stat_result) -> dict:
    """What a verification stamp records: the file's hash, and what changes when the file does."""
    return {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _write_stamp(path: Path, sha256: str) -> None:
    try:
        write_text_atomic(_stamp_path(path), json.dumps(_stamp(sha256, path.stat())))
    except OSError:  # a read-only folder: the file is verified again next time, nothing worse
        pass


def _metrics(fields: Mapping[str, Any]) -> dict[str, Any]:
    metrics = dict(fields.get("evaluation") or {}) if isinstance(fields.get("evaluation"), Mapping) else {}
    if "accuracy" in fields:
        metrics.setdefault("accuracy", fields["accuracy"])
    return metrics
