"""Read, strictly load and atomically save MindSpore checkpoints of FCN-4.

The zoo's published checkpoint holds the network's 22 parameters and Adam's state
(``moment1.*``, ``moment2.*``, ``beta1_power``, ``learning_rate``, ...). Loading keeps what the
network has and ignores the rest; a network parameter the file does not fill, or fills with
another shape, is an error, except a head the caller swapped on purpose (``skip_head=True``).
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..base.errors import FCN4Error
from ..base.files import replace_durably
from ..base.limits import limit, limit_hint

# MindSpore and the network load on first use, so that the error type (which the command line
# catches) and architecture() import in a fraction of a second.

__all__ = ["CheckpointError", "LoadReport", "read_checkpoint", "scan_checkpoint", "load_checkpoint", "save_checkpoint",
           "architecture", "assign"]


class CheckpointError(FCN4Error, ValueError):
    """A checkpoint is missing, unreadable, or does not fit the network; the message says how."""

    def __init__(self, source: str, problem: str):
        self.source = source
        super().__init__(f"checkpoint '{source}': {problem}")


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_checkpoint` did: names loaded, entries ignored, head left fresh."""
    source: str
    loaded: tuple[str, ...]
    ignored: tuple[str, ...]
    head_skipped: tuple[str, ...]

    def __str__(self) -> str:
        text = f"loaded {len(self.loaded)} parameters from '{self.source}'"
        if self.ignored:
            text += f"; ignored {len(self.ignored)} entries the network does not have (optimizer state and the like)"
        if self.head_skipped:
            text += f"; kept a fresh head ({', '.join(self.head_skipped)})"
        return text


def read_checkpoint(path) -> dict:
    """Every entry of a MindSpore ``.ckpt`` file by name, or a :class:`CheckpointError` naming it."""
    name = os.fspath(path)
    if not os.path.isfile(name):
        what = "is a folder" if os.path.isdir(name) else "does not exist"
        raise CheckpointError(name, f"the file {what}; pass the path of a .ckpt file")
    scan_checkpoint(name)  # sizes the file declares, checked before MindSpore allocates them
    try:
        import mindspore as ms

        return dict(ms.load_checkpoint(name))
    except Exception as exc:  # MindSpore raises ValueError or RuntimeError for bad files
        raise CheckpointError(
            name, f"not a readable MindSpore checkpoint ({str(exc).splitlines()[0]}); "
            "download it again or check that it was written by mindspore.save_checkpoint") from exc


#: Bytes per value of the tensor types a MindSpore checkpoint names.
_ITEMSIZE = {"Float16": 2, "BFloat16": 2, "Float32": 4, "Float64": 8, "Int8": 1, "UInt8": 1, "Int16": 2,
             "UInt16": 2, "Int32": 4, "UInt32": 4, "Int64": 8, "UInt64": 8, "Bool": 1, "Complex64": 8,
             "Complex128": 16}


def scan_checkpoint(path) -> dict[str, tuple[tuple[int, ...], str]]:
    """Each entry's name, shape and type, read from the file's structure without reading a value.

    A MindSpore ``.ckpt`` is a protocol buffer of ``(tag, (dims, type, bytes))`` entries. Every
    entry's byte length is compared with what its shape and type declare, and the declared total
    with :func:`~fcn4.base.limits.limit` ``checkpoint_values``, before MindSpore allocates
    anything: a 50-byte file declaring a 250M-value tensor is refused at once.
    Raises :class:`CheckpointError` naming the file and the entry.
    """
    name = os.fspath(path)
    entries, total = {}, 0
    try:
        with open(name, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            for number, (start, length) in _messages(handle, 0, size):
                if number != 1:
                    continue
                tag, dims, kind, content = _entry(handle, start, length)
                values = 1
                for d in dims:
                    values *= d
                total += values
                if total > limit("checkpoint_values"):
                    raise CheckpointError(name, f"it declares more than {limit('checkpoint_values'):,} values "
                                                f"(at {tag!r}); {limit_hint('checkpoint_values')}")
                if kind in _ITEMSIZE and content != values * _ITEMSIZE[kind]:
                    raise CheckpointError(name, f"entry {tag!r} declares shape {list(dims)} of {kind} "
                                                f"({values * _ITEMSIZE[kind]:,} bytes) but holds {content:,} bytes: "
                                                "the file is damaged or not what it claims; download it again")
                entries[tag] = (tuple(dims), kind)
    except (_Malformed, UnicodeDecodeError) as exc:
        raise CheckpointError(name, f"not a readable MindSpore checkpoint ({exc}); download it again or check "
                                    "that it was written by mindspore.save_checkpoint") from None
    return entries


class _Malformed(ValueError):
    pass


def _varint(handle) -> int:
    result = shift = 0
    while True:
        byte = handle.read(1)
        if not byte:
            raise _Malformed("it ends inside a field")
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return result
        shift += 7
        if shift > 63:
            raise _Malformed("a number longer than 64 bits")


def _messages(handle, start: int, end: int):
    """``(field number, value)`` of each field between ``start`` and ``end``; length-delimited values
    are ``(offset, length)`` and are skipped, not read."""
    handle.seek(start)
    while handle.tell() < end:
        key = _varint(handle)
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, (_varint(handle), 0)
        elif wire == 2:
            length = _varint(handle)
            offset = handle.tell()
            if offset + length > end:
                raise _Malformed(f"field {number} claims {length:,} bytes past the end of its message")
            yield number, (offset, length)
            handle.seek(offset + length)
        elif wire in (1, 5):
            handle.seek(8 if wire == 1 else 4, 1)
        else:
            raise _Malformed(f"wire type {wire} is not used by checkpoints")


def _entry(handle, start: int, length: int):
    """(tag, dims, type, content bytes) of one checkpoint entry."""
    tag, dims, kind, content = None, [], None, 0
    back = handle.tell()
    for number, (offset, size) in list(_messages(handle, start, start + length)):
        if number == 1:
            handle.seek(offset)
            tag = handle.read(size).decode("utf-8")
        elif number == 2:
            for inner, (value, inner_size) in list(_messages(handle, offset, offset + size)):
                if inner == 1:
                    dims.append(value)
                elif inner == 2:
                    handle.seek(value)
                    kind = handle.read(inner_size).decode("utf-8")
                elif inner == 3:
                    content = inner_size
    handle.seek(back)
    if tag is None:
        raise _Malformed("an entry without a name")
    return tag, dims, kind, content


def load_checkpoint(net, source, *, skip_head: bool = False, label: str | None = None) -> LoadReport:
    """Load a checkpoint file (or a name -> array mapping) into ``net``, strictly.

    Parameters
    ----------
    net : FCN4
        The network to fill.
    source : path or Mapping[str, Parameter | Tensor | np.ndarray]
        A ``.ckpt`` file, or entries already read (e.g. by :func:`read_checkpoint`).
    label : str, optional
        What to call entries already read in the report and errors (default ``<mapping>``).
    skip_head : bool
        Leave the head (``dense.*``) as it is, for a head swapped on purpose
        (``num_classes`` other than the checkpoint's, or :meth:`FCN4.reset_classifier`).

    Returns
    -------
    LoadReport

    Raises
    ------
    CheckpointError
        Naming every network parameter the source lacks or holds with another shape;
        ``net`` is left unchanged.
    """

    from .network import HEAD_PREFIX

    if isinstance(source, Mapping):
        label, entries = label or "<mapping>", source
    else:
        label = os.fspath(source)
        entries = read_checkpoint(label)
    params = net.parameters_dict()
    missing, mismatched, values, skipped = [], [], {}, []
    for name, param in params.items():
        if skip_head and name.startswith(HEAD_PREFIX):
            skipped.append(name)
            continue
        if name not in entries:
            missing.append(name)
            continue
        value = _to_numpy(entries[name])
        if tuple(value.shape) != tuple(param.shape):
            mismatched.append(f"{name} (file {tuple(value.shape)}, network {tuple(param.shape)})")
            continue
        values[name] = value
    if missing or mismatched:
        raise CheckpointError(label, _misfit_message(net, missing, mismatched))
    for name, value in values.items():
        assign(params[name], value)
    ignored = tuple(sorted(set(entries) - set(params)))
    return LoadReport(label, tuple(values), ignored, tuple(skipped))


def assign(param, value) -> None:
    """Write ``value`` into ``param``'s own memory.

    MindSpore 2.10's compiled graphs (``ms.jit`` steps) keep the memory a parameter had when they
    were compiled: ``Parameter.set_data`` (and ``load_param_into_net``) give the parameter new
    memory, which those graphs never read or update again. Copying in place keeps them in step.
    """
    import mindspore as ms

    param.copy_(ms.Tensor(_to_numpy(value), dtype=param.dtype))


def save_checkpoint(net, path, *, extra: Mapping | None = None) -> str:
    """Write ``net``'s parameters (plus ``extra`` entries) to ``path`` atomically.

    The file is written beside ``path`` under a temporary name and renamed into place only
    once complete, so an interrupted save never replaces a good checkpoint. Returns ``path``.
    """
    import mindspore as ms

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # The temporary name ends in .ckpt, else MindSpore appends the suffix itself.
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp.ckpt")
    try:
        ms.save_checkpoint(net, tmp, append_dict=dict(extra) if extra else None)
        replace_durably(tmp, path)  # MindSpore makes its files read-only; replace needs no write bit
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def architecture(entries, source: str = "<mapping>") -> dict:
    """The FCN-4 arguments a checkpoint's shapes fix: ``in_classes``, ``kernel_size``,
    ``num_classes`` and ``has_bias``.

    ``padding`` and ``maxpool`` leave no trace in parameter shapes; the network takes the card's.

    Examples
    --------
    >>> from fcn4 import FCN4
    >>> architecture(FCN4(in_classes=[1, 8, 8, 8, 16], num_classes=10).parameters_dict())
    {'in_classes': [1, 8, 8, 8, 16], 'kernel_size': [3, 3, 3, 3], 'num_classes': 10, 'has_bias': True}
    """
    from .network import HEAD_PREFIX, N_BLOCKS

    try:
        convs = [tuple(entries[f"conv{i}.weight"].shape) for i in range(1, N_BLOCKS + 1)]
        head = tuple(entries[f"{HEAD_PREFIX}weight"].shape)
    except KeyError as exc:
        raise CheckpointError(source, f"it lacks {exc.args[0]!r}, so it is not an FCN-4 checkpoint") from None
    kernels = [kh if kh == kw else [kh, kw] for _, _, kh, kw in convs]
    return {"in_classes": [convs[0][1]] + [shape[0] for shape in convs], "kernel_size": kernels,
            "num_classes": head[0], "has_bias": f"{HEAD_PREFIX}bias" in entries}


def _to_numpy(value) -> np.ndarray:
    return value.asnumpy() if hasattr(value, "asnumpy") else np.asarray(value)


def _misfit_message(net, missing: list[str], mismatched: list[str]) -> str:
    from .network import HEAD_PREFIX

    lines = [f"it does not fit the network {type(net).__name__}({net.extend_repr()})"]
    if missing:
        lines.append(f"  missing from the file: {', '.join(missing)}")
    if mismatched:
        lines.append(f"  shape differs: {'; '.join(mismatched)}")
    bad = missing + [m.split(" ", 1)[0] for m in mismatched]
    if all(name.startswith(HEAD_PREFIX) for name in bad):
        lines.append("  only the head differs: if you changed num_classes or called "
                     "reset_classifier on purpose, load with skip_head=True")
    else:
        lines.append("  build the network with the arguments the checkpoint was trained with "
                     "(see its card's Usage), or use the checkpoint that matches this network")
    return "\n".join(lines)
