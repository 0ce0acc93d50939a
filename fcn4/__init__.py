"""FCN-4 music auto-tagging for MindSpore: the network, its audio front end, labels, checkpoints and cards.

>>> import fcn4
>>> net = fcn4.FCN4()                                  # the hub card's architecture, 50 MTAT tags
>>> x = fcn4.DEFAULT_FRONT_END.clip("song.mp3")        # doctest: +SKIP
"""
import os as _os

# MindSpore 2.10's oneDNN runs its reference (unvectorised) convolution, over 100x slower,
# when it may use AVX-512; capped at AVX2 it picks its fast kernels. A value the user set wins.
_os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

from .audio import DEFAULT_FRONT_END, AudioError, FrontEnd, Windows  # noqa: E402
from .cards import CardError  # noqa: E402
from .checkpoint import (CheckpointError, LoadReport, load_checkpoint,  # noqa: E402
                         read_checkpoint, save_checkpoint)
from .labels import GTZAN_GENRES, MTAT_TAGS, load_labels, top_k  # noqa: E402
from .network import CARD_ARGUMENTS, FCN4  # noqa: E402
from .weights import DEFAULT_UID, WeightsSpec, WeightsUnavailable  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "FCN4", "CARD_ARGUMENTS",
    "FrontEnd", "DEFAULT_FRONT_END", "Windows", "AudioError",
    "load_checkpoint", "read_checkpoint", "save_checkpoint", "CheckpointError", "LoadReport",
    "load_labels", "top_k", "MTAT_TAGS", "GTZAN_GENRES",
    "WeightsSpec", "WeightsUnavailable", "CardError", "DEFAULT_UID",
]
