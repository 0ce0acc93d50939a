"""The structure of a MindSpore ``.ckpt`` file, read exactly and bounded before MindSpore reads it.

:func:`scan_checkpoint` parses the protocol buffer as MindSpore's own parser would and refuses
what MindSpore could misread (a crafted file could abort the process inside it).
"""
from __future__ import annotations

import mmap
import os

from ..base.errors import CheckpointError
from ..base.limits import limit, limit_hint

__all__ = ["scan_checkpoint"]


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
