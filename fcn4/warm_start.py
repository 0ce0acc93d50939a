"""Where training starts: FCN-4 built from pretrained weights (a hub uid, a card or a ``.ckpt``)
or from random values, with its own head or a fresh one.

The pretrained weights come through the same verified path as ``hubconf.load`` (a uid or a
card), or from a bare ``.ckpt`` whose shapes give the architecture. Both recipes (MagnaTagATune
training and the fine-tuning kit) start here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .audio import DEFAULT_FRONT_END, FrontEnd
from .labels import MTAT_TAGS as CARD_LABELS
from .network import CARD_ARGUMENTS, FCN4

__all__ = ["Backbone", "build_network", "network_arguments"]


@dataclass
class Backbone:
    """The network to train, the front end its weights expect, what was loaded, and whether its head was kept."""
    network: FCN4
    front_end: FrontEnd
    report: str
    pretrained: bool
    head_kept: bool = False
    #: Outputs of the pretrained weights' own head (None without pretrained weights).
    pretrained_classes: int | None = None


def build_network(pretrained: str, num_classes: int | None, *, in_classes=None, keep_head: bool = False,
                  labels=None) -> Backbone:
    """FCN-4 with the weights of ``pretrained`` (uid, card, ``.ckpt`` or ``none``).

    The head is fresh, with ``num_classes`` outputs, unless ``keep_head`` and the weights have
    that many outputs (``None``: as many as the weights have): then the trained head is kept too
    (continuing a run, evaluating, exporting). A kept
    head whose card names other ``labels`` (or the same in another order) is refused.
    Raises the weights' own errors (:class:`~fcn4.WeightsUnavailable` says where to put the
    file; :class:`~fcn4.CheckpointError` names a checkpoint that does not fit).
    """
    name = os.fspath(pretrained) if isinstance(pretrained, os.PathLike) else pretrained
    if name is None or str(name).lower() == "none":
        num_classes = len(CARD_LABELS) if num_classes is None else num_classes
        arguments = {**CARD_ARGUMENTS, **({"in_classes": tuple(in_classes)} if in_classes else {})}
        net = FCN4(**arguments, num_classes=num_classes)
        return Backbone(net, DEFAULT_FRONT_END, "no pretrained weights (--pretrained none): the network starts "
                        f"from random values; fresh {num_classes}-way head", False)
    if in_classes:
        raise ValueError("in_classes sets the widths of a network trained from scratch; a pretrained network "
                         "has its own (leave in_classes out, or use --pretrained none)")
    if str(name).endswith(".ckpt"):
        from .checkpoint import architecture, load_checkpoint, read_checkpoint

        entries = read_checkpoint(name)
        arguments = architecture(entries, name)
        old_classes = arguments.pop("num_classes")
        num_classes = old_classes if num_classes is None else num_classes
        keep = keep_head and old_classes == num_classes
        net = FCN4(**arguments, num_classes=num_classes)
        report = load_checkpoint(net, entries, skip_head=not keep)
        front_end = DEFAULT_FRONT_END
    else:
        from .hub import load
        from .weights import resolve

        spec = resolve(name)
        old_classes = spec.num_classes
        num_classes = old_classes if num_classes is None else num_classes
        keep = keep_head and old_classes == num_classes
        if keep and labels is not None and spec.labels and tuple(spec.labels) != tuple(labels):
            raise ValueError(f"the outputs of {name} are {_preview(spec.labels)}, but the data's labels are "
                             f"{_preview(labels)}: the trained head would score the wrong labels; use weights "
                             "trained on these labels in this order")
        net = load(spec, num_classes=num_classes)
        if old_classes == num_classes and not keep:  # load() kept the card's head; this one starts fresh
            net.reset_classifier(num_classes)
        report = net.load_report
        front_end = spec.front_end
    if keep:
        text = (f"pretrained weights from {name}: loaded {len(report.loaded)} parameters "
                f"({net.num_parameters():,} values), the {num_classes}-way head included")
    else:
        backbone = [n for n in report.loaded if not n.startswith("dense.")]
        text = (f"pretrained backbone from {name}: loaded {len(backbone)} parameters "
                f"({net.num_parameters() - _head_size(net):,} values); "
                f"replaced the {old_classes}-way head by a fresh {num_classes}-way head")
    if report.ignored:
        text += f"; ignored {len(report.ignored)} entries the network does not have (optimizer state)"
    return Backbone(net, front_end, text, True, keep, old_classes)


def _preview(labels) -> str:
    labels = list(labels)
    return ", ".join(labels[:4]) + (f", ... ({len(labels)} in all)" if len(labels) > 4 else "")


def network_arguments(net: FCN4) -> dict:
    """The arguments that rebuild ``net`` (for its card's Usage)."""
    return {"in_classes": list(net.in_classes), "kernel_size": [list(k) if k[0] != k[1] else k[0] for k in net.kernel_size],
            "padding": list(net.padding), "maxpool": [list(p) for p in net.maxpool], "has_bias": net.has_bias,
            "num_classes": net.num_classes}


def _head_size(net: FCN4) -> int:
    return sum(int(np.prod(p.shape)) for n, p in net.parameters_dict().items() if n.startswith("dense."))
