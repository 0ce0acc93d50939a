"""``fcn4 evaluate``: exact macro ROC-AUC and PR-AUC of weights on prepared features."""
from __future__ import annotations

import json
import sys

from ..training.datasets import SPLITS
from ..training.tagging import evaluate
from . import common
from .common import check_output_file, defaults, log
from .train import add_reader_threads

HELP = "exact macro ROC-AUC and PR-AUC of weights on prepared features"


def add_arguments(parser) -> None:
    d = defaults(evaluate)
    parser.add_argument("--weights", required=True, help="hub uid, card or .ckpt")
    parser.add_argument("--features", required=True, help="a folder written by fcn4 prepare")
    parser.add_argument("--split", choices=SPLITS, default=d["split"], help=f"default {d['split']}")
    parser.add_argument("--batch-size", type=common.positive_int, default=d["batch_size"],
                        help=f"clips per network call (default {d['batch_size']})")
    add_reader_threads(parser, d["reader_threads"])
    parser.add_argument("--json", default=None, metavar="FILE", help="write the metrics here (default: stdout)")


def run(args) -> int:
    check_output_file("--json", args.json)
    result = evaluate(args.weights, args.features, split=args.split, batch_size=args.batch_size,
                      reader_threads=args.reader_threads, log=log)
    text = json.dumps(result, indent=1) + "\n"
    if args.json:
        from ..base.files import write_text_atomic

        write_text_atomic(args.json, text)
        log(f"metrics written to {args.json}")
    else:
        sys.stdout.write(text)
    return 0
