"""Hub entry points of this repository: model names mapped to their builders, nothing more.

``create_network(name, *args, **kwargs)`` is the entry point the MindSpore Hub client calls
(through ``mindspore_hub_conf.py``) with the card's ``model-name``.
"""
from fcn4.network import FCN4

dependencies = ["mindspore", "numpy", "librosa"]

# "fcn-4" is the model-name of the hub's later FCN-4 cards (mindspore/1.7/fcn4_musictagging).
_BUILDERS = {"fcn4": FCN4, "fcn-4": FCN4}


def create_network(name, *args, **kwargs):
    """Build the network called ``name`` (case-insensitive) with the builder's arguments.

    ``create_network("fcn4")`` gives FCN-4 with the hub card's architecture; the card's
    arguments (``in_classes``, ``kernel_size``, ``padding``, ``maxpool``, ``has_bias``) and
    ``num_classes`` / ``output`` may be passed, positionally in the zoo's order too.
    """
    builder = _BUILDERS.get(str(name).lower())
    if builder is None:
        raise NotImplementedError(
            f"no network named {name!r} in this hub repository; known: {', '.join(sorted(_BUILDERS))}")
    return builder(*args, **kwargs)
