"""One progress bar for every long job: tqdm on stderr, shown only where someone watches.

Messages go through :mod:`logging` (the ``fcn4`` logger and its children); the command lines give
them one handler that writes through ``tqdm.write``, so a bar that is showing stays intact.
"""
from __future__ import annotations

import logging
import sys

__all__ = ["progress_bar", "show_progress", "log_line"]


def show_progress(enabled: bool | None) -> bool:
    """``enabled``, or by default: whether stderr is a terminal."""
    return sys.stderr.isatty() if enabled is None else bool(enabled)


def progress_bar(total: int | None, desc: str, unit: str, enabled: bool | None = None, **options):
    """A tqdm bar on stderr that vanishes when done, or (unless :func:`show_progress` says so) a
    bar that shows nothing and costs nothing."""
    if not show_progress(enabled):
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, leave=False, **options)


class _NoBar:
    """What a hidden bar does: nothing (and tqdm is never imported)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        pass

    def set_postfix(self, *args, **kwargs):
        pass


def log_line(line: str, level: int = logging.INFO) -> None:
    """Log ``line`` (INFO) on the caller's module logger (under ``fcn4``): the command lines show it
    on stderr without breaking a progress bar; a program that uses the library configures logging."""
    name = sys._getframe(1).f_globals.get("__name__", "fcn4")
    logging.getLogger(name if name.partition(".")[0] in ("fcn4", "finetune") else "fcn4").log(level, line)
