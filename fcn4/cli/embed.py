"""``fcn4 embed``: the 2048-d FCN-4 embeddings of audio files and folders, to ``.npz``."""
from __future__ import annotations

import dataclasses
import sys
import time

from ..base.errors import SettingError
from .common import SOME_FAILED, check_output_file
from .library import run_ray, split_address
from .tag import add_inference_options, add_settings_flags, open_tagger, predict_options, settings_from_args

HELP = "2048-d FCN-4 embeddings of audio files to .npz; exit 1 if any file failed"


def add_arguments(parser) -> None:
    add_inference_options(parser)
    add_settings_flags(parser, ["layer"])
    parser.add_argument("--output", "-o", required=True, metavar="FILE.npz|FOLDER",
                        help="where to write (numpy.load(FILE, allow_pickle=False) reads it); with --ray, the "
                             "Parquet store's folder")


def run(args) -> int:
    split_address(args)
    layer = settings_from_args(args).layer
    if args.ray is not None:
        if layer != "penultimate":
            raise SettingError(f"--layer {layer} with --ray: the library job's engine exports the penultimate layer "
                               "only so far; embed without --ray, or leave --layer out")
        return run_ray(args, "embed", settings_from_args(args))
    if not args.output.endswith(".npz"):
        raise SettingError(f"--output '{args.output}': embeddings are written as .npz; name the file FILE.npz")
    check_output_file("--output", args.output)
    start = time.perf_counter()
    with (open_tagger(args) if layer == "penultimate" else _layer_tagger(args, layer)) as tagger:
        embeddings = dataclasses.replace(tagger.embed(args.paths, **predict_options(args)), layer=layer)
    for path, reason in embeddings.failures:
        print(f"fcn4 embed: skipped {path}: {reason}", file=sys.stderr)
    embeddings.save(args.output)
    print(f"fcn4 embed: {len(embeddings.paths)} embedding(s) of {embeddings.vectors.shape[1]} values "
          f"({args.window}) written to {args.output}; {len(embeddings.failures)} file(s) failed "
          f"({time.perf_counter() - start:.1f} s, {tagger.backend.name} backend)", file=sys.stderr)
    return SOME_FAILED if embeddings.failures else 0


def _layer_tagger(args, layer: str):
    """A tagger embedding from ``layer`` (:meth:`fcn4.FCN4.layer_view`) on the engine the flags choose: the
    view is exported, checked against graph mode and cached like the whole network, keyed by its layer."""
    from ..hub.weights import resolve
    from ..inference.tagger import Tagger

    spec = resolve(args.weights)
    spec.fetch()
    net = spec.build().network
    tagger = Tagger.from_network(net.layer_view(layer), labels=args.labels or spec.labels, front_end=spec.front_end,
                                 settings=settings_from_args(args), batch_size=args.batch_size,
                                 workers=args.workers, threads=args.threads)
    tagger.weights = spec.name
    try:
        tagger.prepare(args.paths)
    except BaseException:
        tagger.close()
        raise
    return tagger
