"""Hub entry points of this repository: model names mapped to their builders and loaders.

``create_network(name, *args, **kwargs)`` is what the MindSpore Hub client calls (through
``mindspore_hub_conf.py``) with the card's ``model-name``; ``load`` and ``load_weights`` do
what ``mindspore_hub.load`` does, from the cards in ``mshub_res/assets``, verified and offline
once cached.
"""
from fcn4.hub.cache import get_hub_dir, set_hub_dir
from fcn4.hub.protocol import create_network, load, load_weights

dependencies = ["mindspore", "numpy", "librosa", "requests", "yaml"]

__all__ = ["create_network", "load", "load_weights", "get_hub_dir", "set_hub_dir"]
