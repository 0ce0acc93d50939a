"""The kit's synthetic GTZAN-layout corpus: now :mod:`fcn4.training.synthetic` (this name stays)."""
from fcn4.training.synthetic import GENRE_STYLES, write_gtzan_corpus

__all__ = ["GENRE_STYLES", "write_gtzan_corpus"]
