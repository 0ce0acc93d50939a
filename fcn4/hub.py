"""The MindSpore Hub protocol for FCN-4: ``create_network``, ``load`` and ``load_weights``.

``hubconf.py`` exposes these; the MindSpore Hub client calls ``create_network`` through
``mindspore_hub_conf.py``. ``load`` keeps ``mindspore_hub.load``'s signature and meaning, and
adds what the client lacks: the card's own Usage arguments as defaults, a checkpoint verified
against the card's sha256 on every use (cached, so offline once fetched), and a strict load.

>>> net = load("mindspore/ascend/1.1/fcn4_v1.1", pretrained=False)   # the card's architecture
>>> net.num_parameters()
17369266
"""
from __future__ import annotations

from mindspore import nn

from .checkpoint import load_checkpoint, read_checkpoint
from .network import FCN4
from .weights import fetch, resolve

__all__ = ["create_network", "load", "load_weights", "MODELS"]

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


def load(name, *args, source: str | None = None, pretrained: bool = True, force_reload: bool = False, **kwargs):
    """Build the network a card describes and, with ``pretrained``, fill it with verified weights.

    Parameters
    ----------
    name : str or path
        A uid (``"mindspore/ascend/1.1/fcn4_v1.1"``, resolved in this repository's
        ``mshub_res/assets``, then in the cache) or the path of a card file.
    *args, **kwargs
        Network arguments; the card's Usage arguments fill whatever is not given. A
        ``num_classes`` other than the card's keeps the trained backbone under a fresh head.
    source : {None, "local", "gitee"}
        As in ``mindspore_hub.load`` 1.8+: ``"local"`` requires ``name`` to be a card file;
        by default a card path or a uid is recognised by itself.
    pretrained : bool
        Load the card's checkpoint (downloaded once, sha256-verified on every use).
    force_reload : bool
        Download the checkpoint again even if a verified copy is cached.

    Returns
    -------
    mindspore.nn.Cell
        The network; ``load_report`` says what the checkpoint filled.
    """
    if not isinstance(pretrained, bool) or not isinstance(force_reload, bool):
        raise TypeError("pretrained and force_reload must be bools")
    spec = resolve(_checked_name(name, source))
    arguments = spec.network_arguments(*args, **kwargs)
    net = create_network(spec.model_name, **arguments)
    if not isinstance(net, nn.Cell):
        raise TypeError(f"create_network({spec.model_name!r}) returned {type(net).__name__}, not a Cell")
    if pretrained:
        swapped_head = spec.num_classes is not None and arguments.get("num_classes") != spec.num_classes
        net.load_report = load_checkpoint(net, fetch(spec, force_reload=force_reload), skip_head=swapped_head)
    return net


def load_weights(name, source: str | None = None, force_reload: bool = False) -> dict:
    """The verified checkpoint of a uid or card as a name -> Parameter dict."""
    return read_checkpoint(fetch(_checked_name(name, source), force_reload=force_reload))


def _checked_name(name, source):
    if source not in (None, "local", "gitee"):
        raise ValueError(f"source must be 'local' or 'gitee' (or left out), not {source!r}")
    if source == "local" and not str(name).endswith(".md"):
        raise ValueError(f"source='local' takes the path of a card file (.md), not {name!r}")
    return name
