"""Tag music and extract FCN-4 embeddings from audio files, in batches, with parallel decoding.

>>> tagger = Tagger()                                      # doctest: +SKIP
>>> for p in tagger.tag(["song.mp3", "my_music/"]):        # doctest: +SKIP
...     print(p.path, p.top(3) if p.ok else p.error)
"""
from __future__ import annotations

import contextlib
import logging
import weakref
from collections import deque

import numpy as np

from ..audio.decoding import DecodePool, default_workers, plan
from ..audio.frontend import DEFAULT_FRONT_END, FrontEnd
from ..audio.sources import find_audio
from ..base.errors import BackendError, SettingError
from ..base.progress import progress_bar
from ..hub.weights import DEFAULT_UID, resolve
from ..model.labels import labels_from
from .predictions import Embeddings, Prediction
from .backend_base import run_network
from .settings import AGGREGATES, DECODE_TIMEOUT, MAX_HOURS, InferenceSettings, check_top
from .settings import whole as _whole

__all__ = ["Tagger", "Prediction", "Embeddings", "InferenceSettings", "AGGREGATES", "MAX_HOURS", "DECODE_TIMEOUT",
           "check_top", "run_network"]

logger = logging.getLogger(__name__)


class Tagger:
    """FCN-4 with verified weights, ready to tag files and folders or embed them.

    Parameters
    ----------
    weights : str or path
        A hub uid (default ``mindspore/ascend/1.1/fcn4_v1.1``, the MagnaTagATune weights), a
        card file, or a ``.ckpt`` file (its shapes give the architecture; the card's audio
        settings apply).
    settings : InferenceSettings, optional
        Its engine fields choose the engine: ``backend`` (``auto``: the fastest that agrees with
        MindSpore graph mode on this machine, measured once and remembered; ``onnxruntime``,
        ``openvino`` or ``mindspore`` force one), ``precision`` (``exact``: fp32 within 1e-4 of graph
        mode; ``fast``: bf16 and int8 too, each kept only after a self-check on the first files) and
        ``device`` (``cpu`` or ``cuda``). See :mod:`fcn4.inference.engines`. Its ``layer`` (default
        ``penultimate``) is the block the embeddings come from: another block's view of the network
        (:meth:`fcn4.FCN4.layer_view`) runs on the engine, exported under a key of its own (its tags
        are then not computed).
    backend : str, optional
        Replaces ``settings.backend`` (the first version's argument).
    batch_size : int
        Windows a network call takes (one compiled shape; the last batch is padded).
    workers : int, optional
        Decoding processes (0: decode in this process). Default :func:`default_workers`.
    threads : int, optional
        The engine's threads (default: the CPUs this process may use).
    labels : str or sequence, optional
        Output names, for a checkpoint whose card has none: a label set of the package
        (``mtat_top50``, ``gtzan_genres``), a file (one a line) or a list.

    Examples
    --------
    >>> with Tagger("mindspore/ascend/1.1/fcn4_v1.1") as tagger:        # doctest: +SKIP
    ...     predictions = tagger.tag(["song.mp3"], window="track")
    ...     embeddings = tagger.embed(["my_music/"]).save("embeddings.npz")
    """

    #: The block the embeddings come from: a layer view's (``from_network(net.layer_view(...))``), else penultimate.
    layer = "penultimate"

    def __init__(self, weights=DEFAULT_UID, *, settings: InferenceSettings | None = None, backend: str | None = None,
                 batch_size: int = 4, workers: int | None = None, threads: int | None = None, labels=None):
        settings = _engine(settings, backend)
        self.layer = settings.layer
        self._setup(lambda: _open_weights(weights, labels, settings.layer), workers, settings, batch_size, threads)

    @classmethod
    def from_network(cls, net, *, labels=None, front_end: FrontEnd = DEFAULT_FRONT_END,
                     settings: InferenceSettings | None = None, backend: str | None = None,
                     batch_size: int = 4, workers: int | None = None, threads: int | None = None) -> "Tagger":
        """A tagger for a network in memory (e.g. just fine-tuned); its weights are used as they are."""
        tagger = cls.__new__(cls)
        tagger.layer = getattr(net, "layer", "penultimate")
        source = f"<{type(net).__name__} in memory>"
        tagger._setup(lambda: (lambda: net, None, labels, front_end, source, None), workers,
                      _engine(settings, backend), batch_size, threads)
        return tagger

    def _setup(self, open_weights, workers, settings: InferenceSettings, batch_size, threads):
        """Start the decoding workers, then (while they start) open the weights and the engine."""
        from .engines import EngineRequest, open_engine

        # Checked before any process, network or engine sees them.
        _whole("batch_size", batch_size, 1)
        _whole("workers", workers, 0, none=True)
        _whole("threads", threads, 1, none=True)

        pool = DecodePool(default_workers() if workers is None else workers)
        try:
            build, key, labels, front_end, source, spec = open_weights()
            self.front_end, self.weights, self.spec, self._pool, self._build, self._network = (
                front_end, str(source), spec, pool, build, None)
            input_shape = (1, front_end.n_mels, front_end.n_frames)
            self._request = EngineRequest(settings.backend, settings.precision, settings.device, threads, batch_size,
                                          input_shape)
            self.backend = open_engine(self._request, lambda: self.network, key)
            info = self.backend.info
            if labels is None and info.num_classes == 50:
                labels = "mtat_top50"  # a bare checkpoint with the zoo's head
            self.labels = labels_from(labels) if labels is not None else _numbered(info.num_classes)
            if len(self.labels) != info.num_classes:
                raise SettingError(f"{len(self.labels)} labels for a network with {info.num_classes} outputs "
                                 f"({source}); pass the labels its head was trained with")
        except BaseException:
            pool.close()
            raise
        self._finalizer = weakref.finalize(self, pool.close)
        # A track shorter than one window of the pooling stack (160 frames, 3.39 s for the card's
        # network) would be tagged from padding; it is refused unless min_seconds says otherwise.
        self.min_seconds = front_end.seconds_for(info.min_frames)

    @property
    def engine(self) -> dict:
        """What this tagger runs on: ``engine`` (``backend dtype``), ``precision``, ``device``, ``threads``,
        how it was chosen and, for a fast engine, its self-check (what an output's header records)."""
        return dict(self.backend.choice)

    def prepare(self, paths) -> dict:
        """With ``precision='fast'`` and no choice cached yet: try bf16 and int8 on the clips of the
        first files of ``paths`` (calibration and self-check) and keep the fastest that passes. Done by
        :meth:`predict` itself; call it first to know :attr:`engine` before the work starts."""
        if self.backend.pending:
            from .engines import choose_fast

            self.backend.pending = False
            try:
                self.backend = choose_fast(self.backend, self._first_clips(paths), lambda: self.network,
                                           self.backend.key, self._request)
            except BackendError as exc:  # the fp32 engine stays, and says why
                logger.warning("fast precision: %s; running fp32", exc)
                self.backend.choice = {**self.backend.choice, "note": f"fast precision: {exc}; fp32"}
        return self.engine

    def _first_clips(self, paths, count: int = 16) -> np.ndarray:
        """The centre clips of the first ``count`` readable files of ``paths`` ([N, 1, mels, frames])."""
        clip = InferenceSettings(window="clip")
        sources = [s.path for s in find_audio(paths) if s.error is None][:count]
        jobs = (clip.decode_job(path, self.front_end, self.min_seconds) for path in sources)
        found = [part.windows.melgrams for part in self._pool.stream(jobs) if part.error is None]
        shape = (0, 1, self.front_end.n_mels, self.front_end.n_frames)
        return np.concatenate(found)[:, None].astype(np.float32) if found else np.zeros(shape, np.float32)

    @property
    def network(self):
        """The MindSpore network with the weights (built on first use: a cached ONNX export needs none)."""
        if self._network is None:
            self._network = self._build()
            self._network.set_train(False)
        return self._network

    @property
    def workers(self) -> int:
        return self._pool.workers

    def close(self) -> None:
        """Stop the decoding processes (also done on exit from a ``with`` block)."""
        self._finalizer()

    def __enter__(self) -> "Tagger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Tagger(weights={self.weights!r}, engine={self.backend.choice.get('engine', self.backend.name)!r}, "
                f"batch_size={self.backend.batch_size}, workers={self.workers})")

    # ------------------------------------------------------------------------- work
    def predict(self, paths, settings: InferenceSettings | None = None, *, embeddings: bool = True,
                progress: bool | None = None, **options):
        """Yield a :class:`Prediction` for every file of ``paths``, in order, as they are done.

        Parameters
        ----------
        paths : path or list of paths
            Audio files and folders (searched recursively for audio extensions, sorted).
        settings : InferenceSettings, optional
            How files are windowed and combined (default: :class:`InferenceSettings`' defaults);
            its fields may also be given one by one as keyword arguments (``options``), which
            replace the ones of ``settings``:
        window : {'clip', 'track'}
            ``clip``: the centre :attr:`~fcn4.FrontEnd.clip_seconds` of each file, as in
            training; ``track``: all its windows, ``hop_seconds`` apart (default: no overlap).
        aggregate : {'mean', 'max'}
            How a track's windows combine.
        min_seconds : float, optional
            Shorter files fail instead of being zero-padded (default :attr:`min_seconds`).
        max_hours : float, optional
            Longer files are refused, or with ``long_files='truncate'`` tagged over their first
            ``max_hours`` (:attr:`Prediction.note` says so); None: no limit.
        decode_timeout : float, optional
            Seconds a decoding worker may spend on one file (on each range of a long track);
            a file that takes longer fails, saying so. None: no limit (and none without workers).
        embeddings : bool
            Keep each window's embedding (:attr:`Prediction.window_embeddings`).
        progress : bool, optional
            A progress bar on stderr; default: when stderr is a terminal.

        Files that cannot be used give a :class:`Prediction` with ``error`` set; the others go on.
        A long track is decoded in ranges of windows that the workers share, and memory does not
        grow with a file's length.
        """
        # The settings are checked now, at the call; the work starts when the caller iterates.
        settings = InferenceSettings.of(settings, **options)
        if settings.layer not in ("penultimate", self.layer):  # another block's vectors, never penultimate's
            raise SettingError(f"layer {settings.layer!r}: this tagger's network gives the {self.layer} embeddings "
                               f"only; for another block run `fcn4 embed --layer {settings.layer}`, or "
                               "Tagger.from_network(net.layer_view(layer))")
        return self._predict(paths, settings, embeddings, progress)

    def _predict(self, paths, settings: InferenceSettings, embeddings, progress):
        sources = find_audio(paths)  # listed once: ``paths`` may be a generator, read once
        self.prepare([s.path for s in sources if s.error is None])
        aggregate = settings.aggregate
        parts_of: deque[int] = deque()  # jobs per readable file, known once its jobs are planned

        def jobs():
            for source in sources:
                if source.error is None:
                    parts = plan(source.path, settings.decode_job(source.path, self.front_end, self.min_seconds))
                    parts_of.append(len(parts))
                    yield from parts

        pending: deque[_Pending] = deque()
        queue: list[tuple[_Pending, np.ndarray]] = []
        prefetch = self.backend.batch_size + 2 * self.workers  # a batch in hand, the workers kept busy
        with contextlib.closing(self._pool.stream(jobs(), prefetch)) as decoded, \
                progress_bar(len(sources), "fcn4", "file", progress) as bar:
            for source in sources:
                record = _Pending(source.path, error=source.error)
                pending.append(record)
                if source.error is None:
                    record.add(next(decoded))  # the file's first part: its jobs are planned by now
                    for _ in range(parts_of.popleft() - 1):
                        queue.extend(record.queued())
                        self._run_batches(queue, embeddings, last=False)
                        yield from _finished(pending, bar, self.labels, aggregate, embeddings)
                        record.add(next(decoded))
                    queue.extend(record.queued())
                    record.complete = True
                self._run_batches(queue, embeddings, last=False)
                yield from _finished(pending, bar, self.labels, aggregate, embeddings)
            self._run_batches(queue, embeddings, last=True)
            yield from _finished(pending, bar, self.labels, aggregate, embeddings)

    def tag(self, paths, settings: InferenceSettings | None = None, **options) -> list[Prediction]:
        """Tag every file of ``paths``; settings and options as :meth:`predict`. See :meth:`Prediction.top`."""
        options.setdefault("embeddings", False)
        return list(self.predict(paths, settings, **options))

    def embed(self, paths, settings: InferenceSettings | None = None, *, progress: bool | None = None,
              **options) -> Embeddings:
        """The embeddings (the dense head's ``in_classes[-1]``-d input) of every file of ``paths``.

        Settings and options as :meth:`predict`; with ``window='track'`` each file's vector combines
        its windows (``aggregate``) and every window's vector is kept too.
        """
        settings = InferenceSettings.of(settings, **options)
        window, aggregate = settings.window, settings.aggregate
        rows, failures, windows, window_file, window_start = [], [], [], [], []
        paths_ok = []
        for prediction in self.predict(paths, settings, embeddings=True, progress=progress):
            if not prediction.ok:
                failures.append((prediction.path, prediction.error))
                continue
            window_file.extend([len(paths_ok)] * len(prediction.starts))
            window_start.extend(prediction.starts)
            windows.append(prediction.window_embeddings)
            rows.append(prediction.embedding)
            paths_ok.append(prediction.path)
        width = self.backend.info.num_features
        return Embeddings(
            tuple(paths_ok), np.stack(rows) if rows else np.zeros((0, width), np.float32), tuple(failures),
            np.concatenate(windows) if windows else np.zeros((0, width), np.float32),
            np.asarray(window_file, np.int64), np.asarray(window_start, np.float64),
            window, aggregate, self.weights)

    def _run_batches(self, queue: list, embeddings: bool, last: bool) -> None:
        """Run the queued windows in full batches (``last``: the remainder too) and hand out the outputs."""
        size = self.backend.batch_size
        take = len(queue) if last else len(queue) - len(queue) % size
        if take:
            batch = queue[:take]
            del queue[:take]
            features, probabilities = run_network(self.backend, np.stack([melgram for _, melgram in batch]))
            for (record, _), f, p in zip(batch, features, probabilities):
                record.fill(f if embeddings else None, p)


def _finished(pending: deque, bar, labels, aggregate: str, embeddings: bool):
    """Yield the predictions of the files at the head of ``pending`` whose windows all ran, in order."""
    while pending and pending[0].done:
        bar.update()
        yield pending.popleft().prediction(labels, aggregate, embeddings)


class _Pending:
    """One file's windows while their batches run (a long track's arrive in parts)."""

    def __init__(self, path: str, error: str | None = None):
        self.path, self.error, self.note = path, error, None
        self.starts = np.zeros(0)
        self.features, self.probabilities = [], []
        self.complete = error is not None
        self._new = None

    def add(self, part) -> None:
        """Take one decoded part of the file: its windows, or the reason the file fails."""
        self.note = self.note or part.note
        if part.error is not None:
            self.error = self.error or part.error
        elif self.error is None:
            self.starts = np.concatenate([self.starts, part.windows.starts])
            self._new = part.windows.melgrams

    def queued(self):
        """The windows of the part just added, for the batches (none once the file failed)."""
        new, self._new = self._new, None
        return [] if new is None or self.error is not None else [(self, melgram) for melgram in new]

    @property
    def done(self) -> bool:
        return self.error is not None or (self.complete and len(self.probabilities) == len(self.starts))

    def fill(self, features, probabilities) -> None:
        self.features.append(features)
        self.probabilities.append(probabilities)

    def prediction(self, labels, aggregate: str, embeddings: bool) -> Prediction:
        if self.error is not None:
            return Prediction(self.path, labels, self.error, aggregate=aggregate)
        return Prediction(self.path, labels, None, self.starts, np.stack(self.probabilities),
                          np.stack(self.features) if embeddings else None, aggregate, self.note)


def _open_weights(weights, labels=None, layer: str = "penultimate"):
    """(network builder, cache key, labels or None, front end, source, spec) for a uid, card or .ckpt.

    The weights are resolved and verified now, once; the network is built only if a backend
    needs it. ``labels``, when given, replace the card's. Another ``layer`` than the penultimate is
    the network's view of that block, under a key of its own.
    """
    spec = resolve(weights)
    if spec.kind == "none":
        raise SettingError("weights 'none': tagging needs trained weights (a hub uid, a card or a .ckpt)")
    spec.fetch()  # raises WeightsUnavailable (where to get the file, where to put it) before any work
    build, key = (lambda: spec.build().network), spec.cache_key
    if layer != "penultimate":
        build, key = (lambda: spec.build().network.layer_view(layer)), f"{spec.cache_key} layer={layer}"
    return build, key, labels or spec.labels, spec.front_end, spec.name, spec


def _engine(settings: InferenceSettings | None, backend: str | None) -> InferenceSettings:
    """The tagger's settings (their engine fields), ``backend`` replacing theirs when given."""
    if settings is not None and not isinstance(settings, InferenceSettings):
        raise SettingError(f"settings must be an InferenceSettings, got {type(settings).__name__}")
    return InferenceSettings.of(settings, **({} if backend is None else {"backend": backend}))


def _numbered(n: int) -> tuple[str, ...]:
    return tuple(f"output_{i}" for i in range(n))
