"""The hub cache: where verified checkpoints live, how they are verified, fetched and installed.

The cache follows the MindSpore Hub client's layout, ``<hub dir>/<uid dir>/<checkpoint file>``
with ``<hub dir>`` = ``~/.mscache`` by default, so a checkpoint the client fetched is reused (and
verified, which the client never does). A small stamp beside each verified file
(``.<file>.verified.json``: sha256, size, mtime) spares re-hashing 200 MB on every load; any
change of size or mtime forces a new check, and a file that fails it is never loaded.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from ..base.errors import FCN4Error, WeightsUnavailable
from ..base.files import (folder_inside, refuse_link, remove_stray_temporaries, replace_durably, temporary_beside,
                          write_text_atomic)
from ..base.locks import waiting_lock
from .download import DownloadError, download_file, sha256_file
from .trust import path_inside, uid_parts

__all__ = ["WeightsUnavailable", "get_hub_dir", "set_hub_dir", "verify_file", "fetch_verified", "install",
           "HUB_DIR_ENV", "OFFLINE_ENV"]

logger = logging.getLogger(__name__)

#: Environment variable that sets the cache root (``set_hub_dir`` wins over it).
HUB_DIR_ENV = "FCN4_HUB_DIR"
#: Set to 1 to never download: only verified files already on disk are used.
OFFLINE_ENV = "FCN4_OFFLINE"
_DEFAULT_HUB_DIR = "~/.mscache"
_hub_dir: str | None = None


def set_hub_dir(path=None) -> None:
    """Set the cache root (as ``mindspore_hub.set_hub_dir``); ``None`` restores the default."""
    global _hub_dir
    _hub_dir = None if path is None else os.fspath(path)


def get_hub_dir() -> str:
    """The cache root: :func:`set_hub_dir`'s, else ``$FCN4_HUB_DIR``, else ``~/.mscache``."""
    root = _hub_dir or os.environ.get(HUB_DIR_ENV) or _DEFAULT_HUB_DIR
    return os.path.abspath(os.path.expanduser(root))


def verify_file(path, sha256: str) -> bool:
    """True if the file at ``path`` has ``sha256``, trusting a stamp only for unchanged files."""
    path = Path(path)
    stat = path.stat()
    stamp = _stamp_path(path)
    try:
        # A stamp is trusted only as this package writes it: a file, never a link to one.
        if not stamp.is_symlink() and json.loads(stamp.read_text()) == _stamp(sha256, stat):
            return True
    except (OSError, ValueError):
        pass
    if sha256_file(path) != sha256:
        stamp.unlink(missing_ok=True)
        return False
    _write_stamp(path, sha256)
    return True


def offline_mode() -> bool:
    """Whether ``$FCN4_OFFLINE`` forbids downloads."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def fetch_verified(spec: "fcn4.hub.weights.WeightsSpec", *, force_reload: bool = False, offline: bool | None = None,
                   progress: bool | None = None, **download_options) -> Path:
    """The path of a checkpoint matching ``spec.sha256``: found on disk, or downloaded into the cache.

    A verified file beside the card or in the cache is used as it is; otherwise the checkpoint
    is downloaded to ``spec.cache_path`` (``force_reload`` always downloads). ``offline``
    (default: ``$FCN4_OFFLINE``) forbids the download. A file on disk that fails verification
    is never returned, and a good download replaces it.

    Raises
    ------
    WeightsUnavailable
        Nothing verified on disk and no download possible: names the URL, the sha256 and the path
        where the file may be placed by hand.
    """
    if offline is None:
        offline = offline_mode()
    rejected = []
    target = _cache_target(spec)  # before anything is read or stamped there
    if not force_reload:
        for candidate in spec.candidate_paths():
            if candidate.is_file():
                if verify_file(candidate, spec.sha256):
                    return candidate
                rejected.append(candidate)
    if offline:
        raise WeightsUnavailable(spec, target, f"offline mode (offline=True or {OFFLINE_ENV}=1) and no verified copy "
                                 "is on disk", rejected)
    # One download per checkpoint across processes: the others wait, then use the verified file.
    _cache_target(spec, make=True)
    # A warning, so that a script without logging set up says why it waits too (Python's last resort).
    with waiting_lock(target.with_name(f".{target.name}.lock"), on_wait=lambda: logger.warning(
            f"waiting for another process that is downloading {target.name} ...")):
        if not force_reload and target.is_file() and verify_file(target, spec.sha256):
            return target
        remove_stray_temporaries(target.parent, target.name)  # a killed download's pieces
        try:
            download_file(spec.url, target, spec.sha256, progress=progress, **download_options)
        except DownloadError as exc:
            raise WeightsUnavailable(spec, target, str(exc), rejected) from exc
        _write_stamp(target, spec.sha256)
    return target


def install(spec: "fcn4.hub.weights.WeightsSpec", checkpoint, *, sha256: str | None = None) -> Path:
    """Put a local checkpoint, and the card of ``spec``, where the cache is searched.

    The checkpoint must match the card's sha256 (pass ``sha256`` if it is already known); it is
    hard-linked into the cache when possible, else copied, and the card is copied to
    ``<hub dir>/<uid>.md`` (the MindSpore Hub client's place for cards).
    """
    from .cards import CardError, CardProblem

    checkpoint = Path(checkpoint)
    if (sha256 or sha256_file(checkpoint)) != spec.sha256:
        raise CardError(spec.card_path, [CardProblem(spec.card_path, "asset-sha256", (
            f"does not match {checkpoint}; publish the card again from this checkpoint"))])
    target = _cache_target(spec, make=True)
    if not (target.exists() and os.path.samefile(target, checkpoint)):
        with temporary_beside(target, ".part") as tmp:
            try:
                os.link(checkpoint, tmp)
            except OSError:
                shutil.copyfile(checkpoint, tmp)
            replace_durably(tmp, target)
    _write_stamp(target, spec.sha256)
    parts = uid_parts(spec.uid)
    cached_card = path_inside(get_hub_dir(), *parts[:-1], f"{parts[-1]}.md", field="uid")
    folder_inside(get_hub_dir(), *parts[:-1])
    refuse_link(cached_card, "the copy of a card in the hub cache")
    if not (cached_card.exists() and os.path.samefile(cached_card, spec.card_path)):
        write_text_atomic(cached_card, Path(spec.card_path).read_text(encoding="utf-8"))
    return target


def _cache_target(spec: "fcn4.hub.weights.WeightsSpec", make: bool = False) -> Path:
    """``spec.cache_path``, its folders below the hub dir made, each refused if it is a symbolic link,
    as are the checkpoint, its stamp and its lock: a link there would lead the download, the stamp
    or a deletion out of the hub (the hub dir itself is the user's choice and may be one)."""
    target = spec.cache_path
    if make:
        folder_inside(get_hub_dir(), *uid_parts(spec.uid)[:-1])
    else:
        folder = Path(get_hub_dir())
        for part in uid_parts(spec.uid)[:-1]:
            folder = refuse_link(folder / part, f"a folder inside {get_hub_dir()}")
    refuse_link(target, "a checkpoint in the hub cache")
    refuse_link(_stamp_path(target), "the verification stamp of a checkpoint in the hub cache")
    refuse_link(target.with_name(f".{target.name}.lock"), "the download lock of a checkpoint in the hub cache")
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
