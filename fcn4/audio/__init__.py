"""Audio -> model input: the front end, decoding in worker processes, finding audio files, synthetic audio.

Imports only ``fcn4.base`` (never MindSpore: decoding workers stay light).
"""
from ..base.lazy import lazy_exports as _lazy_exports

# ``fcn4.audio`` was the front end's module: its names stay here for one release.
__getattr__ = _lazy_exports(__name__, {"frontend": ("FrontEnd", "Windows", "AudioError", "DEFAULT_FRONT_END")})
