"""The one build path: a :class:`~fcn4.hub.weights.WeightsSpec` -> the network, filled with its weights.

Every user of weights comes here: ``hubconf.load``, the tagger, the recipes' warm start (training
on MagnaTagATune, the fine-tuning kit), evaluation, export and publishing. The checkpoint is read
once; the head is loaded only when it is kept.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mindspore import nn

from ..base.compat import attributes
from ..base.errors import SettingError
from ..model.network import CARD_ARGUMENTS, FCN4, HEAD_PREFIX

__all__ = ["Built", "build", "create_network", "MODELS"]

#: Model names (a card's ``model-name``, lower-cased) and their builders. "fcn-4" is the
#: model-name of the hub's later FCN-4 cards (mindspore/1.7/fcn4_musictagging).
MODELS = {"fcn4": FCN4, "fcn-4": FCN4}


def create_network(name, *args, **kwargs):
    """Build the network called ``name`` (case-insensitive) with the builder's arguments.

    ``create_network("fcn4")`` gives FCN-4 with the hub card's architecture; the card's
    arguments (``in_classes``, ``kernel_size``, ``padding``, ``maxpool``, ``has_bias``) and
    ``num_classes`` / ``output`` may be passed, positionally in the zoo's order too.
    """
    builder = MODELS.get(str(name).lower())
    if builder is None:
        raise NotImplementedError(
            f"no network named {name!r} in this hub repository; known: {', '.join(sorted(MODELS))}")
    return builder(*args, **kwargs)


@dataclass
class Built:
    """A network built from weights: what was loaded, whether the trained head was kept.

    ``report`` is the :class:`~fcn4.LoadReport` (None for random values); ``pretrained_classes``
    the outputs of the weights' own head.
    """
    network: FCN4
    spec: object
    report: object | None
    head_kept: bool
    pretrained_classes: int | None

    @property
    def pretrained(self) -> bool:
        return self.report is not None

    @property
    def front_end(self):
        """The audio settings the weights expect."""
        return self.spec.front_end

    def describe(self) -> str:
        """One line for a log: where the values came from and what happened to the head."""
        net, name = self.network, self.spec.name
        if not self.pretrained:
            return (f"no pretrained weights (--pretrained none): the network starts from random values; "
                    f"fresh {net.num_classes}-way head")
        if self.head_kept:
            text = (f"pretrained weights from {name}: loaded {len(self.report.loaded)} parameters "
                    f"({net.num_parameters():,} values), the {net.num_classes}-way head included")
        else:
            backbone = [n for n in self.report.loaded if not n.startswith(HEAD_PREFIX)]
            text = (f"pretrained backbone from {name}: loaded {len(backbone)} parameters "
                    f"({net.num_parameters() - _head_size(net):,} values); "
                    f"replaced the {self.pretrained_classes}-way head by a fresh {net.num_classes}-way head")
        if self.report.ignored:
            text += f"; ignored {len(self.report.ignored)} entries the network does not have (optimizer state)"
        return text


def build(spec, num_classes: int | None = None, *, keep_head: bool = True, labels=None, pretrained: bool = True,
          force_reload: bool = False, in_classes=None, **arguments) -> Built:
    """The network ``spec`` describes, with its weights.

    Parameters
    ----------
    spec : WeightsSpec
    num_classes : int, optional
        Outputs of the head; default: as many as the weights have.
    keep_head : bool
        Keep the trained head when it has ``num_classes`` outputs (else the head is fresh).
    labels : sequence of str, optional
        The data's labels: a kept head whose card names other labels (or the same in another
        order) is refused, since it would score the wrong labels.
    pretrained : bool
        Load the weights (``False``: the architecture alone, random values).
    **arguments
        Network arguments on top of the weights' own. ``in_classes`` (None: the weights') sets
        the widths of a network trained from scratch only: pretrained weights have their own.

    Raises the weights' own errors: :class:`~fcn4.WeightsUnavailable` says where to put the file,
    :class:`~fcn4.CheckpointError` names a checkpoint that does not fit.
    """
    from ..model.checkpoint import architecture, load_checkpoint, read_checkpoint

    pretrained = pretrained and spec.kind != "none"
    if in_classes is not None:
        arguments["in_classes"] = tuple(in_classes)
    entries = None
    if spec.kind == "checkpoint":
        entries = read_checkpoint(spec.fetch(force_reload=force_reload))
        base = {**CARD_ARGUMENTS, **architecture(entries, spec.checkpoint), **spec.arguments}
    else:
        base = spec.network_arguments()
    if "in_classes" in arguments and pretrained and _plain(arguments["in_classes"]) != _plain(base["in_classes"]):
        raise SettingError(f"in_classes sets the widths of a network trained from scratch; {spec.name} has its own "
                           f"({list(base['in_classes'])}): leave in_classes out, or use --pretrained none")
    if num_classes is not None:
        arguments["num_classes"] = num_classes
    old_classes = base.get("num_classes")
    final = {**base, **arguments}
    keep = pretrained and keep_head and old_classes == final.get("num_classes", old_classes)
    if keep and labels is not None and spec.labels and tuple(spec.labels) != tuple(labels):
        raise SettingError(f"the outputs of {spec.name} are {_preview(spec.labels)}, but the data's labels are "
                           f"{_preview(labels)}: the trained head would score the wrong labels; use weights "
                           "trained on these labels in this order")
    net = create_network(spec.model_name, **final)
    if not isinstance(net, nn.Cell):
        raise TypeError(f"create_network({spec.model_name!r}) returned {type(net).__name__}, not a Cell")
    report = None
    if pretrained:
        path = spec.fetch(force_reload=force_reload)
        entries = read_checkpoint(path) if entries is None else entries
        report = load_checkpoint(net, entries, skip_head=not keep, label=str(path))
    return Built(net, spec, report, keep, old_classes if pretrained else None)


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def _preview(labels) -> str:
    labels = list(labels)
    return ", ".join(labels[:4]) + (f", ... ({len(labels)} in all)" if len(labels) > 4 else "")


def _head_size(net: FCN4) -> int:
    return sum(int(np.prod(p.shape)) for n, p in net.parameters_dict().items() if n.startswith(HEAD_PREFIX))


# fcn4.warm_start (0.1) is this module now: its names stay for one release (fcn4.base.compat).
__getattr__ = attributes(__name__)
