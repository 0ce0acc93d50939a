"""Audio -> model input: the front end, decoding in worker processes, finding audio files, synthetic audio.

Imports only ``fcn4.base`` (never MindSpore: decoding workers stay light).
"""
from ..base.compat import attributes as _attributes

# ``fcn4.audio`` was the front end's module: its names stay here for one release (fcn4.base.compat).
__getattr__ = _attributes(__name__)
