"""The job's first stage, on the driver: the inputs streamed into a Parquet listing (flat memory, any
number of paths), each looked up in the store until the first that needs work; and the listing read
back as Ray Data's first stage (:func:`listing_dataset`)."""
from __future__ import annotations

import os
from pathlib import Path

from ..base.files import refuse_link, writing_into
from .inputs import iter_inputs, stat_file
from .keys import KeySet, file_key, path_bytes

__all__ = ["write_listing", "listing_dataset", "LISTING"]

#: The store's sub-folder that holds a running job's listing.
LISTING = "_listing"
#: Paths per row group of the listing: one Ray read task each.
ROWS_PER_GROUP = 65536


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
            if len(chunk[0]) >= ROWS_PER_GROUP:
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


def listing_dataset(ray, listing: Path, *, on_driver: bool):
    """The listing as a Ray dataset, one read task per row group.

    Not ``ray.data.read_parquet``: for a job of a few files its file listing and footer-reading actor
    took 1.5-4 s of the job's 5-10 s (measured on 2 cores, Ray 2.60). The listing is on the driver's
    machine: on a cluster the read tasks run on the driver's node (``on_driver``); through Ray Client
    (a driver away from the cluster) each task carries its rows instead, read here.
    """
    import pyarrow.parquet as pq
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    path = os.path.abspath(listing)  # the driver's: a relative store would be read from a worker's own folder
    client = ray.util.client.ray.is_connected()

    class ListingSource(Datasource):
        supports_distributed_reads = not on_driver or client

        def estimate_inmemory_data_size(self):
            return None

        def get_read_tasks(self, parallelism, *args, **kwargs):
            tasks = []
            with pq.ParquetFile(path) as listed:
                for group in range(listed.num_row_groups):
                    metadata = BlockMetadata(num_rows=listed.metadata.row_group(group).num_rows, size_bytes=None,
                                             exec_stats=None, input_files=None)
                    if client:  # read on the driver now: the cluster cannot see this machine's files
                        read = lambda table=listed.read_row_group(group): [table]
                    else:
                        read = lambda group=group: [_row_group(path, group)]
                    tasks.append(ReadTask(read, metadata))
            return tasks

    # No CPU in Ray's books: reading a row group is light, and a cluster's head node often offers no
    # CPU to tasks, where Ray would then refuse to pin them (num_cpus is a keyword from Ray 2.5x on).
    import inspect

    if "num_cpus" in inspect.signature(ray.data.read_datasource).parameters:
        return ray.data.read_datasource(ListingSource(), num_cpus=0)
    return ray.data.read_datasource(ListingSource(), ray_remote_args={"num_cpus": 0})


def _row_group(path: str, group: int):
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as listed:
        return listed.read_row_group(group)
