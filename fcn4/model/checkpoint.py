"""Read, strictly load and atomically save MindSpore checkpoints of FCN-4.

The zoo's published checkpoint holds the network's 22 parameters and Adam's state
(``moment1.*``, ``moment2.*``, ``beta1_power``, ``learning_rate``, ...). Loading keeps what the
network has and ignores the rest; a network parameter the file does not fill, or fills with
another shape, is an error, except a head the caller swapped on purpose (``skip_head=True``).
"""
from __future__ import annotations

import mmap
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..base.errors import FCN4Error, CheckpointError
from ..base.files import replace_durably
from ..base.limits import limit, limit_hint

# MindSpore and the network load on first use, so that the error type (which the command line
# catches) and architecture() import in a fraction of a second.

__all__ = ["CheckpointError", "LoadReport", "read_checkpoint", "scan_checkpoint", "load_checkpoint", "save_checkpoint",
           "architecture", "assign"]


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


#: Bytes per value of the tensor types a checkpoint of this package may hold: the network's
#: float32, the optimizer's state and step counters. MindSpore also writes ``str``, ``Int4`` and
#: ``BFloat16`` entries and map tensors; FCN-4 has none, so they are refused.
_ITEMSIZE = {"Float16": 2, "Float32": 4, "Float64": 8, "Int8": 1, "UInt8": 1, "Int16": 2, "UInt16": 2,
             "Int32": 4, "UInt32": 4, "Int64": 8, "UInt64": 8, "Bool": 1}
#: Dimensions of one tensor (FCN-4's have at most 4).
_MAX_DIMS = 32
#: What ``mindspore.save_checkpoint(crc_check=True)`` appends: ``crc_num`` and 10 bytes, which
#: MindSpore strips before parsing (so the scan does too).
_CRC_MARK, _CRC_TRAILER = b"crc_num", 17


def scan_checkpoint(path) -> dict[str, tuple[tuple[int, ...], str]]:
    """Each entry's name, shape and type, read from the file's structure without reading a value.

    A MindSpore ``.ckpt`` is the protocol buffer ``Checkpoint { repeated Value value = 1 }``,
    ``Value { string tag = 1; TensorProto tensor = 2; MapTensorProto maptensor = 3 }``,
    ``TensorProto { repeated int64 dims = 1; string tensor_type = 2; bytes tensor_content = 3 }``
    (MindSpore's ``checkpoint.proto``); a tensor larger than MindSpore's slice size is written as
    consecutive values with the same tag, whose contents MindSpore joins. The scan parses that
    structure exactly as MindSpore's parser would (``dims`` packed or not), and refuses, before
    MindSpore sees the file, anything MindSpore could misread or that FCN-4 never writes: a
    malformed or out-of-range number, a length past its message, an unknown or repeated field, a
    type the network does not use, an entry whose bytes are not ``product(dims) x`` its type's
    size, a name seen twice. The number of entries (``checkpoint_entries``), the length of names
    (``checkpoint_name_bytes``) and the values declared in all (``checkpoint_values``) are bounded
    (:func:`~fcn4.base.limits.limit`): a 50-byte file declaring a 250M-value tensor, or a file of
    200,000 tiny entries, is refused at once. Raises :class:`CheckpointError` naming the file and
    the entry.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                raise CheckpointError(name, "not a readable MindSpore checkpoint (the file is empty); download it "
                                            "again or check that it was written by mindspore.save_checkpoint")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _Scan(name, data, size).run()
    except OSError as exc:
        raise CheckpointError(name, f"cannot be read ({exc.strerror or exc})") from exc


class _Malformed(ValueError):
    pass


class _Scan:
    """One pass over a checkpoint's bytes (an ``mmap``: values are never copied)."""

    def __init__(self, name: str, data, size: int):
        self.name, self.data = name, data
        self.end = size - _CRC_TRAILER if size >= _CRC_TRAILER and data[size - 17:size - 10] == _CRC_MARK else size
        self.entries, self.total, self.count, self.where = {}, 0, 0, "entry #1"
        self.max_entries, self.max_name = limit("checkpoint_entries"), limit("checkpoint_name_bytes")
        self.max_values = limit("checkpoint_values")

    def fail(self, problem: str, hint: str | None = None):
        if hint is None:  # the file's own fault
            raise CheckpointError(self.name, f"not a readable MindSpore checkpoint ({self.where}: {problem}); the "
                                             "file is damaged or not what it claims: download it again or check "
                                             "that it was written by mindspore.save_checkpoint")
        raise CheckpointError(self.name, f"{self.where}: {problem}; {hint}")

    def run(self) -> dict:
        group = None  # (tag, dims, kind, bytes so far) of the run of values with one tag
        pos = 0
        try:
            while pos < self.end:
                self.where = f"entry #{self.count + 1} (at byte {pos:,})"
                number, wire, pos = self.key(pos, self.end)
                if number != 1 or wire != 2:
                    self.fail(f"field {number} (wire type {wire}) at byte {pos:,} is not part of a checkpoint")
                length, pos = self.length(pos, self.end)
                self.count += 1
                if self.count > self.max_entries:
                    self.fail(f"it holds more than {self.max_entries:,} entries",
                              f"FCN-4's hold about 70; {limit_hint('checkpoint_entries')}")
                tag, dims, kind, content = self.value(pos, pos + length)
                pos += length
                if group is not None and group[0] == tag:
                    if (dims, kind) != tuple(group[1:3]):
                        self.fail(f"the slices of {tag!r} disagree on shape or type ({group[1]} {group[2]}, "
                                  f"then {dims} {kind})")
                    group[3] += content
                else:
                    if group is not None:
                        self.close(group)
                    group = [tag, dims, kind, content]
            if group is not None:
                self.close(group)
            else:
                raise _Malformed("it holds no entries")
        except _Malformed as exc:
            self.fail(str(exc))
        return self.entries

    def close(self, group) -> None:
        tag, dims, kind, content = group
        self.where = f"entry {tag!r}"
        if tag in self.entries:
            self.fail("the name appears twice (MindSpore would keep only the last)")
        shape = () if dims in ((), (0,)) else dims  # MindSpore reads dims [0] as a scalar
        values = 1
        for d in shape:
            if d < 1:
                self.fail(f"shape {list(dims)} has a dimension below 1 (FCN-4 has no empty tensors)")
            values *= d
            if values > self.max_values:
                break
        self.total += values
        if self.total > self.max_values:
            self.fail(f"it declares more than {self.max_values:,} values", limit_hint("checkpoint_values"))
        if content != values * _ITEMSIZE[kind]:
            self.fail(f"it declares shape {list(dims)} of {kind} ({values * _ITEMSIZE[kind]:,} bytes) but holds "
                      f"{content:,} bytes")
        self.entries[tag] = (shape, kind)

    def value(self, start: int, end: int):
        """(tag, dims, type, content length) of one ``Value``."""
        self.where = f"entry #{self.count} (at byte {start:,})"
        tag = tensor = None
        pos = start
        while pos < end:
            number, wire, pos = self.key(pos, end)
            if wire != 2 or number not in (1, 2, 3):
                raise _Malformed(f"field {number} (wire type {wire}) is not part of an entry")
            length, pos = self.length(pos, end)
            if number == 1:
                if tag is not None:
                    raise _Malformed("it has two names")
                if length > self.max_name:
                    self.fail(f"its name is {length:,} bytes long", limit_hint("checkpoint_name_bytes"))
                try:
                    tag = bytes(self.data[pos:pos + length]).decode("utf-8")
                except UnicodeDecodeError:
                    raise _Malformed("its name is not UTF-8") from None
                self.where = f"entry {tag!r} (#{self.count})"
            elif number == 2:
                if tensor is not None:
                    raise _Malformed("it has two tensors")
                tensor = (pos, pos + length)
            else:
                raise _Malformed("it is a map tensor, which FCN-4 never has")
            pos += length
        if tag is None:
            raise _Malformed("it has no name")
        if tensor is None:
            raise _Malformed("it has no tensor")
        return (tag, *self.tensor(*tensor))

    def tensor(self, start: int, end: int):
        dims, kind, content = [], None, None
        pos = start
        while pos < end:
            number, wire, pos = self.key(pos, end)
            if number == 1 and wire == 0:
                value, pos = self.varint(pos, end)
                dims.append(value)
            elif number == 1 and wire == 2:  # packed
                length, pos = self.length(pos, end)
                stop = pos + length
                while pos < stop:
                    value, pos = self.varint(pos, stop)
                    dims.append(value)
                    if len(dims) > _MAX_DIMS:
                        break
            elif number == 2 and wire == 2:
                if kind is not None:
                    raise _Malformed("its tensor has two types")
                length, pos = self.length(pos, end)
                raw = bytes(self.data[pos:pos + min(length, 16)])
                kind = raw.decode("utf-8", "replace") if length <= 16 else raw.decode("utf-8", "replace") + "..."
                pos += length
            elif number == 3 and wire == 2:
                if content is not None:
                    raise _Malformed("its tensor has two contents")
                content, pos = self.length(pos, end)
                pos += content
            else:
                raise _Malformed(f"field {number} (wire type {wire}) is not part of a tensor")
            if len(dims) > _MAX_DIMS:
                raise _Malformed(f"its tensor has more than {_MAX_DIMS} dimensions")
        if kind is None or content is None:
            raise _Malformed("its tensor lacks a type or content")
        if kind not in _ITEMSIZE:
            raise _Malformed(f"its tensor type {kind!r} is not one FCN-4 uses ({', '.join(_ITEMSIZE)})")
        for d in dims:
            if d >= 1 << 63:
                raise _Malformed(f"its shape has a negative dimension ({d - (1 << 64)})")
        return tuple(dims), kind, content

    def key(self, pos: int, end: int):
        key, pos = self.varint(pos, end)
        if key >> 3 == 0 or key >> 32:
            raise _Malformed(f"field number {key >> 3} is out of range")
        return key >> 3, key & 7, pos

    def length(self, pos: int, end: int):
        length, pos = self.varint(pos, end)
        if length > end - pos:
            raise _Malformed(f"a field claims {length:,} bytes, past the end of its message (byte {end:,})")
        return length, pos

    def varint(self, pos: int, end: int):
        data, result, shift = self.data, 0, 0
        while True:
            if pos >= end:
                raise _Malformed("it ends inside a number")
            byte = data[pos]
            pos += 1
            if shift == 63 and byte > 1:
                raise _Malformed("a number longer than 64 bits")
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result, pos
            shift += 7


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
