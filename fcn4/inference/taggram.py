"""The taggram: a track's tags over time, as musicnn draws it (tags x windows, probability as colour)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..base.errors import SettingError

__all__ = ["taggram_figure", "save_taggram", "taggram_path"]


def taggram_figure(prediction, top: int = 10, title: str | None = None):
    """A matplotlib figure of ``prediction``'s windows: its ``top`` tags (by mean probability) over time."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    probabilities = np.asarray(prediction.window_probabilities)  # [windows, tags]
    order = np.argsort(-probabilities.mean(axis=0), kind="stable")[:max(1, top)]
    starts = np.asarray(prediction.starts, np.float64)
    step = float(np.median(np.diff(starts))) if len(starts) > 1 else 29.12
    minutes = starts[-1] + step > 600
    scale, unit = (60.0, "min") if minutes else (1.0, "s")
    figure = Figure(figsize=(max(6.0, min(16.0, 4.0 + 0.15 * len(starts))), 1.6 + 0.32 * len(order)), dpi=110,
                    layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(probabilities[:, order].T, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0,
                        interpolation="nearest", extent=(starts[0] / scale, (starts[-1] + step) / scale,
                                                         len(order) - 0.5, -0.5))
    axes.set_yticks(range(len(order)), [prediction.labels[i] for i in order])
    axes.set_xlabel(f"time ({unit})")
    axes.set_title(title or os.path.basename(os.fsdecode(prediction.path)), fontsize=10)
    figure.colorbar(image, ax=axes, label="probability", fraction=0.04, pad=0.02)
    return figure


def save_taggram(prediction, path, top: int = 10, title: str | None = None) -> Path:
    """Draw :func:`taggram_figure` to a PNG, atomically."""
    from ..base.files import replace_durably, temporary_beside

    if not prediction.ok or not len(prediction.starts):
        raise SettingError(f"no taggram for {prediction.path}: it has no windows ({prediction.error})")
    figure = taggram_figure(prediction, top, title)
    path = Path(path)
    with temporary_beside(path, ".png") as tmp:
        figure.savefig(tmp, format="png")
        replace_durably(tmp, path)
    return path


def taggram_path(target, audio_path, index: int) -> Path:
    """Where the taggram of ``audio_path`` goes: ``target`` itself if it names a .png, else
    ``target/<NNNN>-<audio file stem>.png`` (the number keeps equal stems of different folders apart)."""
    target = Path(target)
    if target.suffix.lower() == ".png":
        return target
    stem = Path(os.fsdecode(audio_path)).stem
    return target / f"{index:04d}-{stem}.png"
