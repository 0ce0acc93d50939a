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

from ..base.errors import SettingError
from ..model.checkpoint import read_checkpoint
from .building import MODELS, create_network
from .weights import resolve

__all__ = ["create_network", "load", "load_weights", "MODELS"]


def load(name, *args, source: str | None = None, pretrained: bool = True, force_reload: bool = False, **kwargs):
    """Build the network a card describes and, with ``pretrained``, fill it with verified weights.

    Parameters
    ----------
    name : str or path
        A uid (``"mindspore/ascend/1.1/fcn4_v1.1"``, resolved in this repository's
        ``mshub_res/assets``, then in the cache), the path of a card file, or a ``.ckpt``.
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
    if args and spec.kind != "card":
        raise TypeError(f"{spec.name} is no card, so its arguments have no order: pass them by keyword")
    arguments = spec.network_arguments(*args, **kwargs) if spec.kind == "card" else dict(kwargs)
    built = spec.build(pretrained=pretrained, force_reload=force_reload, **arguments)
    if built.report is not None:
        built.network.load_report = built.report
    return built.network


def load_weights(name, source: str | None = None, force_reload: bool = False) -> dict:
    """The verified checkpoint of a uid or card as a name -> Parameter dict."""
    return read_checkpoint(resolve(_checked_name(name, source)).fetch(force_reload=force_reload))


def _checked_name(name, source):
    if source not in (None, "local", "gitee"):
        raise SettingError(f"source must be 'local' or 'gitee' (or left out), not {source!r}")
    if source == "local" and not str(name).endswith(".md"):
        raise SettingError(f"source='local' takes the path of a card file (.md), not {name!r}")
    return name
