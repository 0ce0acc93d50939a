"""The oneDNN instruction-set cap: MindSpore needs it, OpenVINO must not have it.

MindSpore 2.10's oneDNN runs its reference (unvectorised) convolution, over 100x slower, when it may use
AVX-512; capped at AVX2 (``ONEDNN_MAX_CPU_ISA``) it picks its fast kernels. ``import fcn4`` sets that
cap unless the user set a value, and marks it as its own (``FCN4_ONEDNN_CAP``, inherited by child
processes). OpenVINO's CPU plugin carries its own oneDNN, which reads the same variable: capped, it runs
fp32 at about half speed and finds no bf16 kernels at all. :func:`uncapped` lifts our cap (never the
user's) while OpenVINO compiles, which is when its oneDNN reads it.
"""
from __future__ import annotations

import contextlib
import os

__all__ = ["cap", "uncapped", "VARIABLE", "MARK"]

VARIABLE, MARK, CAP = "ONEDNN_MAX_CPU_ISA", "FCN4_ONEDNN_CAP", "AVX2"


def cap() -> None:
    """Cap oneDNN at AVX2 for MindSpore, unless the user chose a value (theirs wins)."""
    if VARIABLE not in os.environ:
        os.environ[VARIABLE] = CAP
        os.environ[MARK] = CAP


@contextlib.contextmanager
def uncapped():
    """Within the block, our cap is lifted (a value the user set stays)."""
    ours = os.environ.get(MARK) is not None and os.environ.get(VARIABLE) == os.environ.get(MARK)
    if ours:
        del os.environ[VARIABLE]
    try:
        yield
    finally:
        if ours:
            os.environ[VARIABLE] = os.environ[MARK]
