"""``fcn4 prepare``: a dataset's audio -> log-mel features in MindRecord shards (resumable)."""
from __future__ import annotations

import argparse

from ..training.mtat import MTAT_SPLIT_METHODS
from ..training.prepare import PREPARE_DATASETS, PrepareConfig, split_methods
from . import common
from .common import check_output_folder, defaults, log, warn

HELP = "audio of a dataset -> log-mel features in MindRecord shards (resumable; unusable files listed in report.json)"


def add_arguments(parser) -> None:
    d = defaults(PrepareConfig)
    splits = sorted(set(MTAT_SPLIT_METHODS) | set(split_methods("gtzan")))
    parser.add_argument("--dataset", choices=PREPARE_DATASETS, default=d["dataset"],
                        help=f"default {d['dataset']} (MagnaTagATune)")
    parser.add_argument("--data-dir", required=True, help="the folder holding annotations_final.csv and the audio "
                                                          "folders 0 ... f (MagnaTagATune)")
    parser.add_argument("--out", required=True, metavar="FEATURES", help="the feature folder to write (or finish)")
    parser.add_argument("--split", choices=splits, default=d["split"],
                        help="the dataset's published split (default): folders for MagnaTagATune (0-b train, c "
                             "valid, d-f test), filtered for GTZAN; or random: seeded, same sizes")
    parser.add_argument("--seed", type=common.seed, default=d["seed"], help="seed of the random split")
    parser.add_argument("--workers", type=common.workers, default=d["workers"],
                        help="decoding processes (default: one per CPU)")
    parser.add_argument("--shard-size", type=common.positive_int, default=d["shard_size"],
                        help=f"clips per MindRecord shard (default {d['shard_size']})")
    parser.add_argument("--min-seconds", type=common.non_negative_float, default=d["min_seconds"],
                        help="skip shorter files instead of padding them (default: half a clip, 14.56 s)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=d["progress"])


def run(args) -> int:
    from ..training.prepare import prepare

    check_output_folder("--out", args.out, parents=True)
    config = PrepareConfig(data_dir=args.data_dir, out=args.out, dataset=args.dataset, split=args.split,
                           seed=args.seed, workers=args.workers, shard_size=args.shard_size,
                           min_seconds=args.min_seconds, progress=args.progress)
    prepare(config, log=log, warn=warn)
    return 0
