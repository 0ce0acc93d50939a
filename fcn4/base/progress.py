"""One progress bar for every long job: tqdm on stderr, shown only where someone watches."""
from __future__ import annotations

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


def log_line(line: str) -> None:
    """Print ``line`` on stderr without breaking a progress bar that is showing."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)
