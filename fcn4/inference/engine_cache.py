"""The engine choices measured on this machine, one small JSON file each under ``<hub dir>/engines/``.

A choice is keyed by the weights, the CPU model, the batch shape, the precision, the device, the
threads and the backend asked for; change any of them and the engines are measured again. The files
are written atomically and read as a stranger's: one that is too large, not JSON, of another key
or with a field out of its range is ignored with a warning (and measured again, then replaced).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import platform
import re
from pathlib import Path

__all__ = ["cpu_model", "cpu_flags", "choice_path", "read_choice", "write_choice", "cached_choices",
           "CHOICE_FORMAT", "ENGINE_FOLDER"]

logger = logging.getLogger(__name__)

CHOICE_FORMAT = 1
#: The hub's folder of engine choices (and int8 models).
ENGINE_FOLDER = "engines"
#: A choice file is a few hundred bytes; anything far larger is not ours.
_MAX_BYTES = 64 * 1024
#: The CPU features that decide which engines and number formats can run fast.
_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "avx_vnni")
#: The engines a choice may name (MindSpore graph mode is forced or a fallback, never a cached choice).
BACKEND_NAMES = ("onnxruntime", "openvino")
DTYPES = ("fp32", "bf16", "int8")


def _cpuinfo() -> dict:
    """The first processor's fields of ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")[:1 << 20]
    except OSError:
        return {}
    fields = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return fields


def cpu_flags() -> frozenset:
    """The CPU's feature flags (``avx512_bf16``, ``amx_bf16``, ...; empty where they cannot be read)."""
    return frozenset(_cpuinfo().get("flags", "").split())


def cpu_model() -> str:
    """This CPU, as precisely as the OS says: its model name, family/model/stepping and the features
    engines care about (a VM's ``Intel Xeon Processor`` alone names many CPUs)."""
    info = _cpuinfo()
    name = info.get("model name") or platform.processor() or platform.machine() or "unknown CPU"
    ident = " ".join(f"{k.split()[-1]} {info[k]}" for k in ("cpu family", "model", "stepping") if k in info)
    flags = cpu_flags()
    features = " ".join(f for f in _FEATURES if f in flags)
    return " ".join(f"{name} ({'; '.join(p for p in (ident, features) if p)})".split())[:300]


def choice_path(key: dict, hub_dir=None) -> Path:
    """Where the choice for ``key`` (a dict of plain values) is cached."""
    if hub_dir is None:
        from ..hub.cache import get_hub_dir

        hub_dir = get_hub_dir()
    digest = hashlib.sha256(json.dumps({"format": CHOICE_FORMAT, **key}, sort_keys=True).encode()).hexdigest()
    return Path(hub_dir) / ENGINE_FOLDER / f"choice-{digest[:32]}.json"


def read_choice(path: Path, key: dict) -> dict | None:
    """The cached choice at ``path`` if it is whole, ours and for ``key``; else None (a file that is
    there but cannot be trusted is named in a warning: it will be measured again and replaced)."""
    try:
        if path.is_symlink():
            raise ValueError("it is a symbolic link")
        if not path.is_file():
            return None
        record = json.loads(_read_small(path).decode("utf-8"))
        problem = _problem(record, key)
        if problem:
            raise ValueError(problem)
    except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        logger.warning("ignoring the cached engine choice %s (%s); measuring the engines again", path, exc)
        return None
    return record


def _read_small(path: Path) -> bytes:
    """The bytes of ``path``: never through a link, a regular file only (a FIFO or a device would hang
    or never end), at most :data:`_MAX_BYTES`; ValueError or OSError otherwise."""
    import os
    import stat

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                 | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("it is not a regular file")
        if info.st_size > _MAX_BYTES:
            raise ValueError(f"it is larger than {_MAX_BYTES} bytes")
        data = os.read(fd, _MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_BYTES:
        raise ValueError(f"it is larger than {_MAX_BYTES} bytes")
    return data


def write_choice(path: Path, record: dict) -> None:
    """Write ``record`` at ``path`` atomically (a folder made inside the hub, never through a link)."""
    from ..base.files import folder_inside, write_text_atomic

    folder_inside(path.parent.parent, path.parent.name)
    write_text_atomic(path, json.dumps(record, indent=1))


def cached_choices(hub_dir=None) -> list[tuple[Path, dict]]:
    """Every readable choice cached under the hub (``fcn4 info --engines``), its key checked against itself."""
    if hub_dir is None:
        from ..hub.cache import get_hub_dir

        hub_dir = get_hub_dir()
    folder = Path(hub_dir) / ENGINE_FOLDER
    if folder.is_symlink() or not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("choice-*.json"))[:1000]:
        try:
            record = json.loads(_read_small(path).decode("utf-8"))
            key = record.get("key") if isinstance(record, dict) else None
            if isinstance(key, dict) and not _problem(record, key) and choice_path(key, hub_dir) == path:
                found.append((path, record))
        except (OSError, ValueError, RecursionError):
            continue
    return found


# ---------------------------------------------------------------------- the record's checks
_NAME = re.compile(r"^[a-z0-9]{1,16} (fp32|bf16|int8)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _key_ok(key) -> bool:
    def whole(v, high):
        return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= high

    def text(v, high=600):
        return isinstance(v, str) and 0 < len(v) <= high

    return (isinstance(key, dict) and text(key.get("weights")) and text(key.get("cpu")) and whole(key.get("batch"), 1 << 16)
            and isinstance(key.get("input"), list) and len(key["input"]) == 3
            and all(whole(v, 1 << 20) for v in key["input"]) and all(text(key.get(n), 32) for n in
                                                                     ("precision", "device", "backend"))
            and whole(key.get("threads"), 1 << 12))


def _problem(record, key: dict) -> str | None:
    """What is wrong with ``record`` as the choice for ``key`` (None: nothing)."""
    if not isinstance(record, dict) or record.get("format") != CHOICE_FORMAT:
        return "not an engine choice of this version"
    if record.get("key") != key:
        return "it was measured for another key"
    if not _key_ok(key):
        return "its key is not one this version writes"
    choice = record.get("choice")
    if not isinstance(choice, dict) or choice.get("backend") not in BACKEND_NAMES or choice.get("dtype") not in DTYPES:
        return "its choice is not an engine this version knows"
    if key["precision"] != "fast" and choice["dtype"] != "fp32":
        return f"it names {choice['dtype']} but the precision asked for is {key['precision']} (fp32 only)"
    if key["backend"] != "auto" and choice["backend"] != key["backend"]:
        return f"it names {choice['backend']} but the backend asked for is {key['backend']}"
    int8 = choice.get("int8")
    if choice["dtype"] == "int8" and not (isinstance(int8, dict) and isinstance(int8.get("file"), str)
                                          and re.fullmatch(r"int8-[0-9a-f]{32}\.onnx", int8["file"])
                                          and isinstance(int8.get("sha256"), str) and _SHA256.match(int8["sha256"])):
        return "its int8 model is not named as this version names them"
    figures = record.get("figures")
    if not isinstance(figures, list) or len(figures) > 32:
        return "its figures are not a list"
    for figure in figures:
        if not isinstance(figure, dict) or not isinstance(figure.get("engine"), str) or not _NAME.match(figure["engine"]):
            return "a figure names no engine"
        rate = figure.get("clips_per_second")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))
                                 or not math.isfinite(rate) or not 0 <= rate < 1e7):
            return f"the figure of {figure['engine']} is out of range"
        if not isinstance(figure.get("status"), str) or len(figure["status"]) > 600:
            return f"the status of {figure['engine']} is not a short text"
    check = record.get("check")
    if check is not None and not (isinstance(check, dict) and len(json.dumps(check)) < 2000):
        return "its self-check is not a small object"
    for name in ("note", "measured"):
        if not isinstance(record.get(name, ""), str) or len(record.get(name, "")) > 600:
            return f"its {name} is not a short text"
    return None
