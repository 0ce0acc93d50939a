"""What a library job is asked (:class:`LibraryJobOptions`) and what it did (:class:`LibraryResult`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..base.errors import LibraryJobError, SettingError

__all__ = ["LibraryJobOptions", "LibraryResult", "LibraryJobError", "RunCounts", "ROWS_PER_PART", "PART_SECONDS"]

#: Files per part of the store; a part is also written every :data:`PART_SECONDS`.
ROWS_PER_PART = 1000
#: Seconds of work a killed driver may lose at most (a part is written at least this often).
PART_SECONDS = 60.0


@dataclass(frozen=True)
class LibraryJobOptions:
    """How a library job runs on Ray (what it computes is :class:`~fcn4.inference.InferenceSettings`).

    ``address``: None, a Ray of the job's own on this machine (127.0.0.1 and a token); ``auto``, the
    running cluster; else its address. ``actors``: network actors (default one per two CPUs of the
    cluster). ``threads``: onnxruntime threads per actor (default: its node's CPUs shared among its
    actors). ``retry_failed``: try again the files the store holds as failed. A part of the store is
    written every ``rows_per_part`` files or ``part_seconds``. ``progress``: a progress bar on stderr
    (default: when stderr is a terminal).
    """
    address: str | None = None
    actors: int | None = None
    threads: int | None = None
    retry_failed: bool = False
    rows_per_part: int = ROWS_PER_PART
    part_seconds: float = PART_SECONDS
    progress: bool | None = None

    def __post_init__(self):
        from .store import MAX_PART_ROWS

        value = self.rows_per_part
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PART_ROWS:
            # (a part over MAX_PART_ROWS is one the store's own readers would refuse)
            raise SettingError(f"rows_per_part must be a whole number from 1 to {MAX_PART_ROWS:,}, got {value!r}")
        if self.actors is not None and (isinstance(self.actors, bool) or not isinstance(self.actors, int)
                                        or self.actors < 1):
            raise SettingError(f"actors must be a whole number >= 1, got {self.actors!r}")


class RunCounts(NamedTuple):
    """What the Ray run did: files skipped (already stored), tagged, failed; parts written; seconds from
    the job's start to the first results and to the last, and how many files the first results held."""
    skipped: int
    tagged: int
    failed: int
    parts: int
    first_result_seconds: float | None = None
    last_result_seconds: float | None = None
    first_results: int = 0


@dataclass(frozen=True)
class LibraryResult:
    """What a library job did: files listed, skipped as already stored, tagged, failed; parts written;
    seconds in all, until Ray was up (weights checked, inputs listed), and until the first file's
    result (and the last's) came back; whether Ray was started (not when every input was stored)."""
    store: Path
    listed: int
    skipped: int
    tagged: int
    failed: int
    parts: int
    seconds: float
    startup_seconds: float
    first_result_seconds: float | None = None
    last_result_seconds: float | None = None
    first_results: int = 0
    ray_started: bool = True

    @property
    def files_per_second(self) -> float | None:
        """Steady throughput: files done per second after the first results came back (Ray hands
        them over in blocks: the first block's files count as start-up) until the last."""
        done = self.tagged + self.failed
        if self.first_result_seconds is None or self.last_result_seconds <= self.first_result_seconds:
            return None
        return (done - self.first_results) / (self.last_result_seconds - self.first_result_seconds)
