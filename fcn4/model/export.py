"""``python -m fcn4 export``: FCN-4 with its weights as a serving graph (MindIR, or ONNX / AIR).

The exported graph takes ``[batch, 1, n_mels, n_frames]`` log-mel inputs (the front end's) and
returns what the network returns: tag probabilities (``output='sigmoid'``, the default) or logits.
The file is written under a temporary name and renamed into place, so a failed export never
replaces a good file.

Examples
--------
>>> EXPORT_FORMATS
('MINDIR', 'ONNX', 'AIR')
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..base.errors import SettingError

__all__ = ["EXPORT_FORMATS", "export_network", "load_exported"]

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
    out.parent.mkdir(parents=True, exist_ok=True)
    net.set_train(False)
    sample = ms.Tensor(np.zeros((batch_size, net.in_classes[0], n_mels, n_frames), np.float32))
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        stem = Path(tmp) / out.stem
        ms.export(net, sample, file_name=str(stem), file_format=file_format)
        written = stem.with_suffix(_SUFFIX[file_format])
        if not written.is_file():
            raise OSError(f"MindSpore wrote no {file_format} file for {out}")
        shutil.move(str(written), out)
    return out


def load_exported(path):
    """A MindIR export as a callable cell (``mindspore.nn.GraphCell``)."""
    import mindspore as ms
    from mindspore import nn

    return nn.GraphCell(ms.load(os.fspath(path)))
