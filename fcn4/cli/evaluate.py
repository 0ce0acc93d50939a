"""``fcn4 evaluate``: exact macro ROC-AUC and PR-AUC of weights on prepared features."""
from __future__ import annotations

import json
import sys

from ..base.errors import CardError, SettingError
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
    parser.add_argument("--split", choices=SPLITS, default=None,
                        help=f"default {d['split']}; with --calibrate valid (the test split stays unseen)")
    parser.add_argument("--batch-size", type=common.positive_int, default=d["batch_size"],
                        help=f"clips per network call (default {d['batch_size']})")
    add_reader_threads(parser, d["reader_threads"])
    parser.add_argument("--json", default=None, metavar="FILE", help="write the metrics here (default: stdout)")
    parser.add_argument("--calibrate", default=None, metavar="CARD.md",
                        help="also choose each tag's threshold on --split (default valid) and write the weights' card "
                             "with them (its Thresholds section) here, for fcn4 tag --threshold card")
    parser.add_argument("--threshold-policy", default="f1", metavar="POLICY",
                        help="with --calibrate: f1 (best F1, default), precision=P or recall=R")


def run(args) -> int:
    check_output_file("--json", args.json)
    if args.split is None:  # thresholds chosen on the test split would flatter it: --calibrate reads valid
        args.split = "valid" if args.calibrate else defaults(evaluate)["split"]
    elif args.calibrate and args.split == "test":
        log("warning: --calibrate --split test chooses the thresholds on the test split, so its metrics with "
            "them are optimistic; leave --split out to calibrate on valid")
    card = None
    if args.calibrate:
        from ..hub.weights import resolve
        from ..training.thresholds import parse_policy

        check_output_file("--calibrate", args.calibrate)
        parse_policy(args.threshold_policy)
        card = resolve(args.weights).card_path
        if card is None:
            raise SettingError(f"--calibrate: the weights {args.weights} come with no card to write thresholds "
                               "into; name a hub uid or a card")
    result = evaluate(args.weights, args.features, split=args.split, batch_size=args.batch_size,
                      reader_threads=args.reader_threads, log=log,
                      threshold_policy=args.threshold_policy if args.calibrate else None)
    if card is not None:
        _write_calibrated(card, result, args)
    text = json.dumps(result, indent=1) + "\n"
    if args.json:
        from ..base.files import write_text_atomic

        write_text_atomic(args.json, text)
        log(f"metrics written to {args.json}")
    else:
        sys.stdout.write(text)
    return 0


def _write_calibrated(card, result: dict, args) -> None:
    """The weights' card with a Thresholds section of ``result``'s thresholds, checked by the hub's rules, at
    ``--calibrate``."""
    from pathlib import Path

    from ..base.files import write_text_atomic
    from ..hub.cards import parse_card, with_thresholds
    from ..hub.rules import validate_card

    thresholds = {label: row["threshold"] for label, row in result["thresholds"].items()}
    text = with_thresholds(Path(card).read_text("utf-8"), thresholds, f"{args.threshold_policy}, {args.split} split")
    problems = validate_card(parse_card(text, args.calibrate))
    if problems:
        raise CardError(args.calibrate, problems)
    write_text_atomic(args.calibrate, text)
    if args.split == "train":
        log("note: thresholds chosen on the train split; the valid split keeps them honest")
    log(f"thresholds of {len(thresholds)} tags ({args.threshold_policy}, {args.split} split) written into "
        f"{args.calibrate}; put the checkpoint beside it and tag with --weights {args.calibrate} --threshold card")
