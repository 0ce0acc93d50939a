"""``fcn4 tag``: tag audio files and folders as a table, JSON or CSV; the options it shares with ``embed``."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

from ..audio.decoding import LONG_FILES, WINDOW_MODES
from ..base.errors import SettingError
from ..hub.weights import DEFAULT_UID
from ..inference.backends import BACKENDS, DEVICES, PRECISIONS
from ..inference.reports import FORMATS
from ..inference.settings import AGGREGATES, InferenceSettings
from ..model.arguments import LAYERS
from ..inference.tagger import Tagger
from . import common
from .common import SOME_FAILED, check_output_file, check_output_folder, defaults, output
from .library import add_ray_options, run_ray, split_address

HELP = "tag audio files and folders; exit 1 if any file failed"


def threshold_value(text: str):
    """``--threshold``: ``card``, or a probability from 0 to 1."""
    if str(text).strip().lower() == "card":
        return "card"
    try:
        return common.probability(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"takes card (the card's thresholds) or a probability from 0 to 1, "
                                         f"got {text!r}") from None


#: The flags of :class:`InferenceSettings`' fields: field -> (flag, argparse options); default and help from the field.
SETTINGS_FLAGS = {
    "window": ("--window", {"choices": WINDOW_MODES}),
    "hop_seconds": ("--hop", {"type": common.positive_float, "metavar": "SECONDS"}),
    "aggregate": ("--aggregate", {"choices": AGGREGATES}),
    "min_seconds": ("--min-seconds", {"type": common.non_negative_float}),
    "max_hours": ("--max-hours", {"type": common.positive_float}),
    "long_files": ("--long-files", {"choices": LONG_FILES}),
    "decode_timeout": ("--decode-timeout", {"type": common.positive_float, "metavar": "SECONDS"}),
    "backend": ("--backend", {"choices": BACKENDS}),
    "precision": ("--precision", {"choices": PRECISIONS}),
    "device": ("--device", {"choices": DEVICES}),
    "top_k": ("--top-k", {"type": common.non_negative_int}),
    "threshold": ("--threshold", {"type": threshold_value, "metavar": "card|P"}),
    "layer": ("--layer", {"choices": LAYERS}),
}
#: The settings flags of one command only (tag or embed), not of every command that runs a Tagger.
_OWN_FLAGS = ("top_k", "threshold", "layer")



def add_settings_flags(parser, names) -> None:
    """The flags of the :class:`InferenceSettings` fields ``names``, their defaults and help from the fields."""
    fields = {f.name: f for f in dataclasses.fields(InferenceSettings)}
    for name in names:
        flag, options = SETTINGS_FLAGS[name]
        default = fields[name].default
        parser.add_argument(flag, dest=_dest(flag), default=default,
                            help=fields[name].metadata["help"].format(default=default), **options)


def settings_from_args(args) -> InferenceSettings:
    """The job's :class:`InferenceSettings`, made once from the flags (a command without a flag: its default)."""
    return InferenceSettings(**{name: getattr(args, _dest(flag)) for name, (flag, _) in SETTINGS_FLAGS.items()
                                if hasattr(args, _dest(flag))})


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")  # argparse's own: --hop is args.hop


def add_inference_options(parser) -> None:
    """The flags of every command that runs a Tagger (defaults: ``Tagger`` and :class:`InferenceSettings`)."""
    tagger, predict = defaults(Tagger), defaults(Tagger.predict)
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="audio files and folders (searched recursively for audio files, sorted)")
    parser.add_argument("--weights", default=DEFAULT_UID,
                        help=f"hub uid, card file or .ckpt (default {DEFAULT_UID}, the MagnaTagATune weights)")
    parser.add_argument("--labels", help="output names for a .ckpt without a card: a label set of the "
                                         "package (mtat_top50, gtzan_genres) or a file, one a line")
    add_settings_flags(parser, [name for name in SETTINGS_FLAGS if name not in _OWN_FLAGS])
    parser.add_argument("--batch-size", type=common.positive_int, default=tagger["batch_size"],
                        help=f"windows per network call (default {tagger['batch_size']})")
    parser.add_argument("--workers", type=common.workers, default=tagger["workers"],
                        help="decoding processes (default: one per two CPUs, at most 4; 0 decodes in this process)")
    parser.add_argument("--threads", type=common.threads, default=tagger["threads"],
                        help="the engine's threads (default: all CPUs)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=predict["progress"],
                        help="progress bar (default: when stderr is a terminal)")
    add_ray_options(parser)


def open_tagger(args, settings: InferenceSettings) -> Tagger:
    """The Tagger of the flags and their ``settings``, its engine chosen (with --precision fast, on the
    first files of the PATHs)."""
    tagger = Tagger(args.weights, settings=settings, batch_size=args.batch_size,
                    workers=args.workers, threads=args.threads, labels=args.labels)
    try:
        tagger.prepare(args.paths)
    except BaseException:
        tagger.close()
        raise
    return tagger


def report_failure(command: str, prediction) -> None:
    """A file that failed, or one taken only in part, on stderr as it happens."""
    from ..base.progress import log_line

    if not prediction.ok:
        log_line(f"fcn4 {command}: skipped {prediction.path}: {prediction.error}")
    elif prediction.note:
        log_line(f"fcn4 {command}: note: {prediction.path}: {prediction.note}")


def _check_plot(args) -> None:
    """Refuse a --plot that cannot work before any file is read."""
    if not args.plot:
        return
    if args.window != "track":
        raise SettingError("--plot draws tags over time: it needs --window track")
    if args.plot.lower().endswith(".png"):
        from ..audio.sources import find_audio

        check_output_file("--plot", args.plot)
        if len(find_audio(args.paths)) > 1:
            raise SettingError(f"--plot {args.plot}: one PNG for several files; name a folder instead")
    else:
        check_output_folder("--plot", args.plot, parents=True)
        os.makedirs(args.plot, exist_ok=True)


def add_arguments(parser) -> None:
    add_inference_options(parser)
    add_settings_flags(parser, ["top_k", "threshold"])
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    parser.add_argument("--output", "-o", default=None, metavar="FILE",
                        help="write here instead of stdout (with --ray: the store's folder)")
    parser.add_argument("--plot", default=None, metavar="FILE.png|FOLDER",
                        help="with --window track: draw each file's taggram (its top tags over time) to this PNG "
                             "(one input file) or into this folder (one PNG a file)")


def run(args) -> int:
    from ..inference.reports import TagWriter

    split_address(args)
    settings = settings_from_args(args)
    if args.ray is not None:
        if args.threshold is not None:
            raise SettingError("--threshold with --ray: the store keeps every probability; decide label sets "
                               "when you read it, or tag without --ray")
        return run_ray(args, "tag", settings)
    check_output_file("--output", args.output)
    _check_plot(args)
    start = time.perf_counter()
    with open_tagger(args, settings) as tagger:
        header = {"weights": tagger.weights, "backend": tagger.backend.name, "engine": tagger.engine,
                  "window": settings.window, "hop_seconds": settings.hop_seconds, "aggregate": settings.aggregate}
        cuts = card_thresholds(tagger) if settings.threshold == "card" else None
        number = None if settings.threshold == "card" else settings.threshold
        with output(args.output) as handle:
            writer = TagWriter(handle, args.format, tagger.labels, header, top_k=settings.top_k,
                               threshold=number, per_window=settings.window == "track", label_thresholds=cuts)
            for index, prediction in enumerate(tagger.predict(args.paths, settings, embeddings=False,
                                                              progress=args.progress)):
                report_failure("tag", prediction)
                writer.write(prediction)
                if args.plot and prediction.ok:
                    from ..inference.taggram import save_taggram, taggram_path

                    save_taggram(prediction, taggram_path(args.plot, prediction.path, index),
                                 title=f"{os.path.basename(os.fsdecode(prediction.path))} ({tagger.weights})")
            counts = writer.close()
    where = f", written to {args.output}" if args.output else ""
    print(f"fcn4 tag: {counts['files']} file(s): {counts['tagged']} tagged, {counts['failed']} failed{where} "
          f"({time.perf_counter() - start:.1f} s, {tagger.engine.get('engine', tagger.backend.name)})",
          file=sys.stderr)
    return SOME_FAILED if counts["failed"] else 0


def card_thresholds(tagger) -> list[float]:
    """The per-label thresholds of the card the tagger's weights come from, in its outputs' order.

    Refused, naming the weights and a way out, for weights without a card, a card without a
    Thresholds section, or one whose thresholds do not name every output once.
    """
    from ..hub.cards import read_card

    spec = tagger.spec
    if spec is None or spec.kind != "card" or not spec.card_path:
        raise SettingError(f"--threshold card: the weights {tagger.weights} come with no card to read thresholds "
                           "from; pass --threshold P (a probability), or the card written by python -m finetune")
    thresholds = read_card(spec.card_path).thresholds()
    if not thresholds:
        raise SettingError(f"--threshold card: the card {spec.card_path} has no Thresholds section; calibrate one "
                           "(python -m finetune writes it; fcn4 evaluate --calibrate for MagnaTagATune) or pass "
                           "--threshold P")
    missing = [label for label in tagger.labels if label not in thresholds]
    if missing:
        raise SettingError(f"--threshold card: the card {spec.card_path} gives no threshold for {len(missing)} "
                           f"output(s) ({', '.join(missing[:5])}); calibrate it again, or pass --threshold P")
    return [thresholds[label] for label in tagger.labels]
