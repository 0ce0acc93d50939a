"""Read a ``.npy`` file of plain numbers without Python's parser, safely from several threads at once.

``numpy.load`` reads a ``.npy`` header with :func:`ast.literal_eval`. On CPython 3.11 before 3.11.8,
two threads building syntax trees at the same moment can fail with ``SystemError: AST constructor
recursion depth mismatch`` (CPython gh-106905): a training pipeline's loader threads reading cached
melgrams while the main thread compiles a MindSpore graph did, in the test suite. This reader parses
the header, as NumPy writes it, with a regular expression instead, and refuses anything else.
"""
from __future__ import annotations

import re
import struct

import numpy as np

__all__ = ["load_npy"]

_MAGIC = b"\x93NUMPY"
#: The header np.save writes (format 1.0 to 3.0): a dict literal of these three keys, padded with spaces.
_HEADER = re.compile(r"\{'descr': '([<>|][fiub][1248])', 'fortran_order': (True|False), "
                     r"'shape': \((|\d+,|\d+(?:, \d+)+)\), \} *\n")


def load_npy(path, max_bytes: int = 1 << 31) -> np.ndarray:
    """The array np.save wrote to ``path``: little- or big-endian floats, integers or booleans only.

    Raises ``ValueError`` (naming the file) for anything else: another header, a dtype of objects,
    data shorter or longer than its shape, or more than ``max_bytes`` of data.
    """
    with open(path, "rb") as f:
        start = f.read(10)
        if len(start) < 10 or start[:6] != _MAGIC or start[6] not in (1, 2, 3):
            raise ValueError(f"{path}: not a .npy file")
        length = struct.unpack("<H", start[8:10])[0] if start[6] == 1 else struct.unpack("<I", start[8:10] + f.read(2))[0]
        if length > 65535:
            raise ValueError(f"{path}: a .npy header of {length} bytes")
        header = f.read(length).decode("latin-1")
        match = _HEADER.fullmatch(header)
        if not match:
            raise ValueError(f"{path}: a .npy header this reader does not take: {header[:80]!r}")
        dtype = np.dtype(match.group(1))
        shape = tuple(int(n) for n in match.group(3).replace(",", " ").split())
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if count * dtype.itemsize > max_bytes:
            raise ValueError(f"{path}: {count * dtype.itemsize} bytes of data, over the limit of {max_bytes}")
        data = np.fromfile(f, dtype=dtype, count=count)
        if data.size != count or f.read(1):
            raise ValueError(f"{path}: its data does not fill the shape {shape}")
    return data.reshape(shape, order="F" if match.group(2) == "True" else "C")
