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

from ..base.errors import CheckpointError
from ..base.files import replace_durably
from .checkpoint_format import scan_checkpoint

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
