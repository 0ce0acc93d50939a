"""A file dropped on the page: received within a size limit into a private folder, tagged with the
store's own weights and settings (decoded in a worker process, with the usual limits), deleted after."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

import numpy as np

from ..audio.sources import AUDIO_EXTENSIONS
from ..base.errors import SettingError, StoreError

__all__ = ["Uploads", "TooLarge", "TooMany", "MAX_UPLOAD_MB", "MAX_RECEIVING"]

#: Uploads larger than this many MiB are refused (413) unless ``fcn4 app --max-upload-mb`` says otherwise.
MAX_UPLOAD_MB = 200
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,8}$")


#: Uploads received at once; one more is refused (429) until one is done.
MAX_RECEIVING = 4


class TooLarge(Exception):
    """An upload past the limit: 413."""


class TooMany(Exception):
    """More uploads at once than :data:`MAX_RECEIVING`: 429."""


class Uploads:
    """Receives and tags uploads for ``catalog``'s store: one private folder (mode 0700) for the app's
    life, one tagger (built on the first upload), one file tagged at a time."""

    def __init__(self, settings, *, max_bytes: int = MAX_UPLOAD_MB << 20, workers: int = 1, tagger_factory=None):
        self.settings, self.max_bytes, self.workers = settings, int(max_bytes), workers
        self.folder = Path(tempfile.mkdtemp(prefix="fcn4-app-uploads-"))  # private: 0700, a fresh name
        self._tagger = None
        self._factory = tagger_factory
        self._lock = threading.Lock()
        self._receiving = threading.BoundedSemaphore(MAX_RECEIVING)  # each holds a file of up to max_bytes
        #: Set after each file tagged (the server then takes its signal handlers back: see server.serve).
        self.tagged = threading.Event()

    def close(self) -> None:
        with self._lock:
            if self._tagger is not None:
                self._tagger.close()
                self._tagger = None
        shutil.rmtree(self.folder, ignore_errors=True)

    @contextlib.contextmanager
    def receiving(self, name: str | None):
        """A new file in the private folder (``(path, write)``), deleted on exit; ``write(bytes)``
        raises :class:`TooLarge` past the limit. The name's audio extension is kept (decoders read it),
        nothing else of it."""
        from ..base.files import writing_into

        suffix = os.path.splitext(os.path.basename(name or ""))[1].lower()
        if not (_SUFFIX.match(suffix) and suffix in {e.lower() for e in AUDIO_EXTENSIONS}):
            suffix = ".audio"
        if not self._receiving.acquire(blocking=False):
            raise TooMany(f"{MAX_RECEIVING} uploads are being received already; send this one when one is done")
        path = self.folder / f"upload-{uuid.uuid4().hex}{suffix}"
        try:
            with writing_into(self.folder):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except BaseException:
            self._receiving.release()
            raise
        received = [0]

        def write(data: bytes) -> None:
            received[0] += len(data)
            if received[0] > self.max_bytes:
                raise TooLarge(self.limit_message())
            view = memoryview(data)
            with writing_into(self.folder):  # a full disk names the upload folder
                while view:
                    view = view[os.write(fd, view):]  # os.write may write less than it is given
        try:
            yield path, write
        finally:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            self._receiving.release()

    def limit_message(self) -> str:
        return (f"the upload is larger than {self.max_bytes:,} bytes, the limit of this server; start "
                "`fcn4 app` with a larger --max-upload-mb, or tag the file with `fcn4 tag`")

    def tag(self, path: Path, name: str) -> dict:
        """Tags (every label, best first), top tags, the embedding (when the store has them) of the file
        at ``path``, as the store's rows were made; ``error`` says why a file could not be tagged."""
        with self._lock:
            tagger = self._tagger_for_store()
            settings = self.settings.inference
            try:
                prediction = next(iter(tagger.predict([str(path)], settings, embeddings=self.settings.embeddings,
                                                      progress=False)))
            finally:
                self.tagged.set()
        if not prediction.ok:
            return {"name": name, "error": prediction.error}
        probabilities = np.asarray(prediction.probabilities, np.float32)
        order = np.argsort(-probabilities, kind="stable")
        found = {"name": name, "error": None, "note": prediction.note,
                 "tags": [{"tag": self.settings.labels[i], "probability": round(float(probabilities[i]), 5)}
                          for i in order],
                 "top_tags": [self.settings.labels[i] for i in order[:self.settings.top_k or len(order)]]}
        if self.settings.embeddings and prediction.embedding is not None:
            found["embedding"] = np.asarray(prediction.embedding, np.float32)
        return found

    def _tagger_for_store(self):
        if self._tagger is None:
            if self._factory is not None:
                tagger = self._factory()
            else:
                from ..inference.tagger import Tagger

                # The store's precision, backend and window: a dropped file is tagged as the store's rows were.
                tagger = Tagger(self.settings.weights, labels=list(self.settings.labels), workers=self.workers,
                                settings=self.settings.inference)
            sha256 = tagger.spec.sha256 if tagger.spec else None
            if sha256 != self.settings.sha256 or tuple(tagger.labels) != tuple(self.settings.labels):
                tagger.close()
                raise StoreError(f"the weights {self.settings.weights} now have sha256 {sha256}, the store was "
                                 f"written with {self.settings.sha256}: a dropped file's tags would not be "
                                 "comparable; run `fcn4 app` with the store's weights in place")
            self._tagger = tagger
        return self._tagger


def check_name(name: str | None) -> str:
    """The display name of an upload (its base name, at most 200 characters)."""
    name = os.path.basename((name or "").replace("\\", "/"))[:200]
    if "\0" in name:
        raise SettingError("an upload's name holds a NUL character")
    return name or "upload"
