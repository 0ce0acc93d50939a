"""``--ray`` for ``fcn4 tag`` and ``fcn4 embed``: the same files on Ray Data, into a resumable Parquet store.

Not a command of its own: the flags and the run that ``tag`` and ``embed`` share when given ``--ray``.
"""
from __future__ import annotations

import re
import sys

from ..base.errors import SettingError
from .common import SOME_FAILED, defaults, positive_int, whole_number

#: ``--ray`` values that are addresses (else the value was a path given after the flag).
_ADDRESS = re.compile(r"^(local|auto|(ray://)?[\w.-]+:\d+)$")


def add_ray_options(parser) -> None:
    from ..library.results import LibraryJobOptions
    from ..library.store import MAX_PART_ROWS

    job = defaults(LibraryJobOptions)
    group = parser.add_argument_group("on Ray Data (pip install 'fcn4-mindspore[ray]')")
    group.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                       help="run on Ray Data into a Parquet store folder (-o): no ADDRESS, a Ray on this "
                            "machine's CPUs; 'auto', the running cluster; or its address. Inputs may also be "
                            "globs, manifests (.txt, .csv, .parquet lists of paths) and URIs pyarrow reads (s3://)")
    group.add_argument("--actors", type=positive_int, default=job["actors"],
                       help="with --ray: network actors (default: one per two CPUs of the cluster)")
    group.add_argument("--retry-failed", action="store_true",
                       help="with --ray: try again the files the store holds as failed")
    group.add_argument("--rows-per-part", type=whole_number(1, MAX_PART_ROWS), default=job["rows_per_part"],
                       help=f"with --ray: files per Parquet part of the store (default {job['rows_per_part']}; "
                            f"a part is also written every {job['part_seconds']:g} s)")


def split_address(args) -> None:
    """``fcn4 tag --ray music/`` means a local Ray and the path ``music/``: such a value moves to the
    paths. At least one path is needed."""
    if args.ray is not None and not _ADDRESS.match(args.ray):
        args.paths.insert(0, args.ray)
        args.ray = "local"
    if not args.paths:
        raise SettingError("name at least one PATH: audio files, folders"
                           + (", globs, manifests or URIs" if args.ray is not None else ""))


def check_ray(args, command: str) -> None:
    """Refuse the flags that have no meaning with --ray, and a missing store folder, before any work."""
    if not args.output:
        raise SettingError(f"fcn4 {command} --ray writes a Parquet store: name its folder with -o FOLDER")
    if args.backend == "mindspore":
        raise SettingError("--ray runs the checked ONNX export (onnxruntime or openvino) on its actors; leave "
                           "--backend at auto")
    single_machine = {"--plot": getattr(args, "plot", None),
                      "--format": None if getattr(args, "format", "table") == "table" else args.format}
    for flag, value in single_machine.items():
        if value:
            raise SettingError(f"{flag} is for single-machine runs; with --ray the output is the Parquet store "
                               f"{args.output}")


def run_ray(args, command: str, settings) -> int:
    """``command --ray``: the files of ``args`` tagged under ``settings`` (:class:`InferenceSettings`) on Ray."""
    from ..base.progress import log_line
    from ..library.job import tag_library
    from ..library.results import LibraryJobOptions

    check_ray(args, command)
    job = LibraryJobOptions(address=None if args.ray == "local" else args.ray, actors=args.actors,
                            threads=args.threads, retry_failed=args.retry_failed, rows_per_part=args.rows_per_part,
                            progress=args.progress)
    result = tag_library(args.paths, args.output, weights=args.weights, labels=args.labels,
                         embeddings=command == "embed", batch_size=args.batch_size, settings=settings,
                         job=job, log=lambda line: log_line(f"fcn4 {command}: {line}"))
    print(f"fcn4 {command}: {result.listed} input(s): {result.skipped} already in the store, {result.tagged} "
          f"{'embedded' if command == 'embed' else 'tagged'}, {result.failed} failed (a row each, with the reason); "
          f"{result.parts} part(s) written to {result.store} ({result.seconds:.1f} s, "
          + (f"of which Ray's start {result.startup_seconds:.1f} s)" if result.ray_started
             else "nothing left to do: Ray not started)"), file=sys.stderr)
    return SOME_FAILED if result.failed else 0
