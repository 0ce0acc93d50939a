"""Running trained weights on audio: the backends (checked ONNX export, MindSpore graph mode), the
Tagger engine (tag, embed), and tagging reports.

Imports ``fcn4.base``, ``fcn4.model``, ``fcn4.audio`` and ``fcn4.hub``.
"""
