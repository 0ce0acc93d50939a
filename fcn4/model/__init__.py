"""The network and what travels with its weights: FCN4, strict checkpoints, label vocabularies, export.

Imports only ``fcn4.base`` (and MindSpore); every other wing builds on it.
"""
