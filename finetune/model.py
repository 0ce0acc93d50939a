"""The network to fine-tune: pretrained backbone, fresh N-way head, and the head-only model.

The pretrained weights come through the same verified path as ``hubconf.load`` (a uid or a
card), or from a bare ``.ckpt`` whose shapes give the architecture. The 50-way MagnaTagATune
head is replaced by a freshly initialised head with one output per class.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from fcn4.audio import DEFAULT_FRONT_END, FrontEnd
from fcn4.network import CARD_ARGUMENTS, FCN4

__all__ = ["Backbone", "build_network", "network_arguments", "standardised_head", "fold_standardisation"]


@dataclass
class Backbone:
    """The network to fine-tune, the front end its weights expect, and what was loaded."""
    network: FCN4
    front_end: FrontEnd
    report: str
    pretrained: bool


def build_network(pretrained: str, num_classes: int, *, in_classes=None) -> Backbone:
    """FCN-4 with the backbone of ``pretrained`` (uid, card, ``.ckpt`` or ``none``) and a fresh head.

    Raises the weights' own errors (:class:`~fcn4.WeightsUnavailable` says where to put the
    file; :class:`~fcn4.CheckpointError` names a checkpoint that does not fit).
    """
    name = os.fspath(pretrained) if isinstance(pretrained, os.PathLike) else pretrained
    if name is None or str(name).lower() == "none":
        arguments = {**CARD_ARGUMENTS, **({"in_classes": tuple(in_classes)} if in_classes else {})}
        net = FCN4(**arguments, num_classes=num_classes)
        return Backbone(net, DEFAULT_FRONT_END, "no pretrained weights (--pretrained none): the backbone starts "
                        f"from random values; fresh {num_classes}-way head", False)
    if in_classes:
        raise ValueError("in_classes sets the widths of a network trained from scratch; a pretrained network "
                         "has its own (leave in_classes out, or use --pretrained none)")
    if str(name).endswith(".ckpt"):
        from fcn4.checkpoint import architecture, load_checkpoint, read_checkpoint

        entries = read_checkpoint(name)
        arguments = architecture(entries, name)
        old_classes = arguments.pop("num_classes")
        net = FCN4(**arguments, num_classes=num_classes)
        report = load_checkpoint(net, entries, skip_head=True)
        front_end = DEFAULT_FRONT_END
    else:
        from fcn4.hub import load
        from fcn4.weights import resolve

        spec = resolve(name)
        old_classes = spec.num_classes
        net = load(spec, num_classes=num_classes)
        if old_classes == num_classes:  # load() kept the card's head: a fine-tuning head starts fresh
            net.reset_classifier(num_classes)
        report = net.load_report
        front_end = spec.front_end
    backbone = [n for n in report.loaded if not n.startswith("dense.")]
    text = (f"pretrained backbone from {name}: loaded {len(backbone)} parameters "
            f"({net.num_parameters() - _head_size(net):,} values); "
            f"replaced the {old_classes}-way head by a fresh {num_classes}-way head")
    if report.ignored:
        text += f"; ignored {len(report.ignored)} entries the network does not have (optimizer state)"
    return Backbone(net, front_end, text, True)


def network_arguments(net: FCN4) -> dict:
    """The arguments that rebuild ``net`` (for its card's Usage)."""
    return {"in_classes": list(net.in_classes), "kernel_size": [list(k) if k[0] != k[1] else k[0] for k in net.kernel_size],
            "padding": list(net.padding), "maxpool": [list(p) for p in net.maxpool], "has_bias": net.has_bias,
            "num_classes": net.num_classes}


def _head_size(net: FCN4) -> int:
    return sum(int(np.prod(p.shape)) for n, p in net.parameters_dict().items() if n.startswith("dense."))


def standardised_head(dense, mean: np.ndarray, std: np.ndarray):
    """A cell computing ``dense((x - mean) / std)``; ``dense``'s parameters keep their names.

    Standardised embeddings make the head's training well conditioned whatever the backbone's
    scale; :func:`fold_standardisation` then folds the scaling into ``dense``.
    """
    import mindspore as ms
    from mindspore import nn

    class _Head(nn.Cell):
        def __init__(self):
            super().__init__(auto_prefix=False)
            self.dense = dense
            self.feature_mean = ms.Parameter(ms.Tensor(mean.astype(np.float32)), name="feature_mean",
                                             requires_grad=False)
            self.feature_scale = ms.Parameter(ms.Tensor((1.0 / std).astype(np.float32)), name="feature_scale",
                                              requires_grad=False)

        def construct(self, x):
            return self.dense((x - self.feature_mean) * self.feature_scale)

    return _Head()


def fold_standardisation(head) -> None:
    """Fold a :func:`standardised_head`'s scaling into its dense layer, in place.

    Afterwards ``head.dense(x)`` equals what ``head(x)`` gave: ``W' = W * scale`` and
    ``b' = b - W' @ mean``.
    """
    import mindspore as ms

    dense = head.dense
    weight = dense.weight.asnumpy().astype(np.float64)
    scale = head.feature_scale.asnumpy().astype(np.float64)
    mean = head.feature_mean.asnumpy().astype(np.float64)
    folded = weight * scale[None, :]
    bias = dense.bias.asnumpy().astype(np.float64) - folded @ mean
    dense.weight.set_data(ms.Tensor(folded.astype(np.float32)))
    dense.bias.set_data(ms.Tensor(bias.astype(np.float32)))
    head.feature_mean.set_data(ms.Tensor(np.zeros_like(mean, np.float32)))
    head.feature_scale.set_data(ms.Tensor(np.ones_like(scale, np.float32)))
