"""The job's first stage, on the driver: the inputs streamed into a Parquet listing (flat memory, any
number of paths), each looked up in the store until the first that needs work."""
from __future__ import annotations

import os
from pathlib import Path

from ..base.files import refuse_link, writing_into
from .inputs import iter_inputs, stat_file
from .keys import KeySet, file_key, path_bytes

__all__ = ["write_listing", "LISTING"]

#: The store's sub-folder that holds a running job's listing.
LISTING = "_listing"


def write_listing(paths, folder: Path, done: KeySet) -> tuple[Path, int, bool]:
    """Stream the inputs into a Parquet listing (path bytes, or the reason a path gave nothing) in
    ``folder``; (the listing, inputs listed, whether any needs work). Each input is looked up in the
    store (``done``) as planning would, by path, size and time, until the first one that is not
    there: from then on the inputs are only listed (Ray's planning tasks look at the rest)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..base.files import remove_stray_temporaries

    refuse_link(folder, "the store's listing folder")
    with writing_into(folder):
        remove_stray_temporaries(folder)
        for stale in folder.glob("*.parquet"):  # a killed run's listing: this run lists again (a link: itself)
            stale.unlink()
    schema = pa.schema([("path", pa.binary()), ("error", pa.string())])
    target = refuse_link(folder / f"listing-{os.getpid()}.parquet", "the store's listing")
    count, chunk, work = 0, ([], []), False
    with writing_into(folder), pq.ParquetWriter(target, schema) as writer:
        def flush():
            writer.write_table(pa.table({"path": chunk[0], "error": chunk[1]}, schema=schema))
            chunk[0].clear()
            chunk[1].clear()

        for source in iter_inputs(paths):
            raw = path_bytes(source.path)
            chunk[0].append(raw)
            chunk[1].append(source.error)
            count += 1
            work = work or _needs_work(raw, source.error, done)
            if len(chunk[0]) >= 65536:
                flush()
        if chunk[0] or not count:
            flush()
    return target, count, work


def _needs_work(raw: bytes, error: str | None, done: KeySet) -> bool:
    """Whether the input ``raw`` is missing from the store ``done`` (its key as :func:`_plan_batch` makes it)."""
    size = mtime = -1
    if not error:
        try:
            size, mtime = stat_file(os.fsdecode(raw))
        except (OSError, ValueError):
            pass  # planning makes it a row with its reason
    return file_key(raw, size, mtime) not in done
