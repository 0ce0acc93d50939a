"""FCN-4's architecture arguments: the hub card's values, and their checks, with no network built.

Light on purpose (no MindSpore): the card rules check a stranger's Usage with it before anything
is allocated, and :class:`~fcn4.model.network.FCN4` checks its own arguments with it.
"""
from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

from ..base.errors import SettingError
from ..base.limits import check_range, limit, limit_hint

__all__ = ["CARD_ARGUMENTS", "HEAD_PREFIX", "N_BLOCKS", "LAYERS", "check_arguments"]

#: The architecture arguments of the FCN-4 hub card's Usage (``mindspore/ascend/1.1/fcn4_v1.1``),
#: in the zoo's positional order. They are :class:`FCN4`'s defaults.
CARD_ARGUMENTS = MappingProxyType({
    "in_classes": (1, 128, 384, 768, 2048),
    "kernel_size": (3, 3, 3, 3, 3),
    "padding": (0, 0, 0, 0, 0),
    "maxpool": ((2, 4), (4, 5), (3, 8), (4, 8)),
    "has_bias": True,
})

#: Parameters whose names start with this belong to the classifier head.
HEAD_PREFIX = "dense."
#: Convolutional blocks (conv -> batch norm -> ReLU -> pool) before the global max.
N_BLOCKS = 4
#: Where an embedding can be taken: a block's map (global mean and max pooled, 2 x its channels) or
#: ``penultimate``, the head's input (the last block's global max: ``in_classes[-1]`` values).
LAYERS = ("block1", "block2", "block3", "block4", "penultimate")
_OUTPUTS = ("sigmoid", "logits")


def check_arguments(in_classes=CARD_ARGUMENTS["in_classes"], kernel_size=CARD_ARGUMENTS["kernel_size"],
                    padding=CARD_ARGUMENTS["padding"], maxpool=CARD_ARGUMENTS["maxpool"],
                    has_bias=CARD_ARGUMENTS["has_bias"], num_classes: int = 50, output: str = "sigmoid") -> dict:
    """:class:`FCN4`'s arguments checked and normalised, without building anything.

    Every width, kernel, pool, padding and the class count is checked against its limit
    (:mod:`fcn4.base.limits`), and so is the network's size, before a single value is allocated.
    Returns the normalised arguments and ``min_input_size``; raises :class:`~fcn4.SettingError`
    naming the argument (``TypeError`` for a ``has_bias`` that is no bool).

    >>> check_arguments(in_classes=[1, 60000, 8, 8, 8])
    Traceback (most recent call last):
    ...
    fcn4.base.errors.SettingError: in_classes = 60000 is out of range: it must be between 1 and 16,384 (the limit is 16,384; set FCN4_LIMIT_CHANNELS to raise it)
    """
    widths = _ints("in_classes", in_classes, (N_BLOCKS + 1,), minimum=1, bound="channels")
    kernels = tuple(_pair("kernel_size", k, minimum=1, bound="kernel")
                    for k in _seq("kernel_size", kernel_size, (N_BLOCKS, N_BLOCKS + 1)))
    pads = _ints("padding", padding, (N_BLOCKS, N_BLOCKS + 1), minimum=0, bound="padding")
    pools = tuple(_pair("maxpool", p, minimum=1, bound="pool") for p in _seq("maxpool", maxpool, (N_BLOCKS,)))
    if not isinstance(has_bias, bool):
        raise TypeError(f"has_bias must be True or False, got {has_bias!r}")
    if output not in _OUTPUTS:
        raise SettingError(f"output must be one of {_OUTPUTS}, got {output!r}")
    classes = _int("num_classes", num_classes, minimum=1, bound="classes")
    values = sum(widths[i] * widths[i + 1] * kernels[i][0] * kernels[i][1] + 4 * widths[i + 1]
                 for i in range(N_BLOCKS)) + widths[-1] * classes + classes
    if values > limit("parameters"):
        raise SettingError(f"these arguments make a network of {values:,} values, more than "
                           f"{limit('parameters'):,} ({limit_hint('parameters')})")
    return {"in_classes": widths, "kernel_size": kernels, "padding": pads, "maxpool": pools,
            "min_input_size": tuple(_shortest(kernels, pads, pools, axis) for axis in (0, 1))}


def _shortest(kernels, pads, pools, axis: int) -> int:
    """The shortest input extent along ``axis`` that leaves every feature map non-empty.

    Worked backwards from the last convolution (which the global max needs at least 1 wide):
    a pool of ``p`` needs ``p`` times its output, a padded conv ``k - 1 - 2 pad`` more than its
    output, a ``same`` conv as much as its output.

    >>> _shortest(((3, 3),) * 4, (0,) * 4, ((2, 4), (4, 5), (3, 8), (4, 8)), 1)   # 1366 frames work
    160
    """
    need = 1
    for i in reversed(range(N_BLOCKS)):
        if i < N_BLOCKS - 1:  # the fourth pool is the global max
            need *= pools[i][axis]
        if pads[i]:
            need = need + kernels[i][axis] - 1 - 2 * pads[i]
        need = max(need, 1)
    return need


def _seq(name: str, value, lengths: tuple[int, ...]) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) not in lengths:
        wanted = " or ".join(str(n) for n in lengths)
        raise SettingError(f"{name} must be a list of {wanted} values, got {value!r}")
    return tuple(value)


def _int(name: str, value, minimum: int, bound: str | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SettingError(f"{name} values must be integers >= {minimum}, got {value!r}")
    return check_range(name, value, minimum, bound) if bound else value


def _ints(name: str, value, lengths: tuple[int, ...], minimum: int, bound: str | None = None) -> tuple[int, ...]:
    return tuple(_int(name, v, minimum, bound) for v in _seq(name, value, lengths))


def _pair(name: str, value, minimum: int, bound: str | None = None) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    return _ints(name, value, (2,), minimum, bound)
