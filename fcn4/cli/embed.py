"""``fcn4 embed``: the 2048-d FCN-4 embeddings of audio files and folders, to ``.npz``."""
from __future__ import annotations

import dataclasses
import sys
import time

from ..base.errors import SettingError
from .common import SOME_FAILED, check_output_file
from .library import run_ray, split_address
from .tag import add_inference_options, add_settings_flags, open_tagger, settings_from_args

HELP = "2048-d FCN-4 embeddings of audio files to .npz; exit 1 if any file failed"


def add_arguments(parser) -> None:
    add_inference_options(parser)
    add_settings_flags(parser, ["layer"])
    parser.add_argument("--output", "-o", required=True, metavar="FILE.npz|FOLDER",
                        help="where to write (numpy.load(FILE, allow_pickle=False) reads it); with --ray, the "
                             "Parquet store's folder")


def run(args) -> int:
    split_address(args)
    settings = settings_from_args(args)
    if args.ray is not None:
        return run_ray(args, "embed", settings)
    if not args.output.endswith(".npz"):
        raise SettingError(f"--output '{args.output}': embeddings are written as .npz; name the file FILE.npz")
    check_output_file("--output", args.output)
    start = time.perf_counter()
    with open_tagger(args, settings) as tagger:  # another --layer: that block's view, on the engine chosen here
        embeddings = dataclasses.replace(tagger.embed(args.paths, settings, progress=args.progress),
                                         layer=settings.layer)
    for path, reason in embeddings.failures:
        print(f"fcn4 embed: skipped {path}: {reason}", file=sys.stderr)
    embeddings.save(args.output)
    print(f"fcn4 embed: {len(embeddings.paths)} embedding(s) of {embeddings.vectors.shape[1]} values "
          f"({args.window}) written to {args.output}; {len(embeddings.failures)} file(s) failed "
          f"({time.perf_counter() - start:.1f} s, {tagger.backend.name} backend)", file=sys.stderr)
    return SOME_FAILED if embeddings.failures else 0
