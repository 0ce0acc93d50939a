"""``python -m fcn4 export``: FCN-4 with its weights as a serving graph (MindIR, or ONNX / AIR).

The exported graph takes ``[batch, 1, n_mels, n_frames]`` log-mel inputs (the front end's) and
returns what the network returns: tag probabilities (``output='sigmoid'``, the default) or logits.
The file is written into a hidden folder beside it (``.<name>.<hex>.export``), flushed and renamed
into place, and the folder flushed, so a failed or killed export never replaces a good file; what a
killed export left is removed by the next export into the same file, under its lock.

Examples
--------
>>> EXPORT_FORMATS
('MINDIR', 'ONNX', 'AIR')
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from ..base.errors import SettingError
from ..base.files import TEMPORARY, replace_durably, writing_into
from ..base.locks import waiting_lock

__all__ = ["EXPORT_FORMATS", "export_network", "load_exported", "remove_export_leftovers"]

#: Formats ``mindspore.export`` writes; AIR needs an Ascend machine.
EXPORT_FORMATS = ("MINDIR", "ONNX", "AIR")
_SUFFIX = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}


def export_network(net, out, *, file_format: str = "MINDIR", batch_size: int = 1, n_mels: int = 96,
                   n_frames: int = 1366) -> Path:
    """Export ``net`` (in evaluation mode) for inputs ``[batch_size, 1, n_mels, n_frames]`` to ``out``."""
    import mindspore as ms

    file_format = file_format.upper()
    if file_format not in EXPORT_FORMATS:
        raise SettingError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {file_format!r}")
    out = Path(os.fspath(out)).expanduser()
    if out.suffix.lower() != _SUFFIX[file_format]:
        raise SettingError(f"--out {out}: a {file_format} file is named *{_SUFFIX[file_format]}")
    net.set_train(False)
    sample = ms.Tensor(np.zeros((batch_size, net.in_classes[0], n_mels, n_frames), np.float32))
    with writing_into(out.parent):
        out.parent.mkdir(parents=True, exist_ok=True)
        # One export into a file at a time; a killed export's folder is removed under the lock.
        with waiting_lock(out.parent / f".{out.name}.lock"):
            remove_export_leftovers(out)
            tmp = out.parent / f".{out.name}.{uuid.uuid4().hex}.export"
            try:
                tmp.mkdir()
                stem = tmp / out.stem
                ms.export(net, sample, file_name=str(stem), file_format=file_format)
                written = stem.with_suffix(_SUFFIX[file_format])
                if not written.is_file():
                    raise OSError(f"MindSpore wrote no {file_format} file for {out}")
                replace_durably(written, out)  # flushed, renamed (same folder tree), the folder flushed
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return out


def remove_export_leftovers(out) -> list[Path]:
    """Delete what killed exports into ``out`` left beside it: ``.<name>.*`` folders (this version's
    ``.<name>.<hex>.export``, older versions' ``tempfile`` folders) and temporary files. Call it
    only under the export's lock. Links are removed as links, never followed."""
    out = Path(out)
    removed = []
    if not out.parent.is_dir():
        return removed
    for entry in out.parent.iterdir():
        if entry.name.startswith(f".{out.name}.") and entry.name != f".{out.name}.lock":
            if entry.is_symlink() or entry.is_file():
                if entry.is_symlink() or TEMPORARY.match(entry.name):
                    entry.unlink(missing_ok=True)
                    removed.append(entry)
            elif entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


def load_exported(path):
    """A MindIR export as a callable cell (``mindspore.nn.GraphCell``)."""
    import mindspore as ms
    from mindspore import nn

    return nn.GraphCell(ms.load(os.fspath(path)))
