"""``fcn4 train``: FCN-4 on prepared features (data-parallel under msrun)."""
from __future__ import annotations

import argparse
import sys

from ..training.parallel import DEVICES
from ..training.tagging import SELECT_METRICS, TrainConfig
from ..training.trainer import AMP_LEVELS
from . import common
from .common import INTERRUPTED, check_output_folder, defaults, int_list, log, warn

HELP = "train FCN-4 on prepared features (data-parallel under msrun)"


def add_arguments(parser) -> None:
    d = defaults(TrainConfig)
    parser.add_argument("--features", required=True, help="a folder written by fcn4 prepare")
    parser.add_argument("--epochs", type=common.positive_int, default=d["epochs"], help=f"default {d['epochs']}")
    parser.add_argument("--batch-size", type=common.positive_int, default=d["batch_size"],
                        help=f"clips per step and process (default {d['batch_size']})")
    parser.add_argument("--lr", type=common.positive_float, default=d["lr"],
                        help=f"Adam's learning rate (default {d['lr']:g})")
    parser.add_argument("--pretrained", default=d["pretrained"],
                        help="none (default: random weights), a hub uid, a card or a .ckpt")
    parser.add_argument("--out", default=d["out"], help="run folder (default runs/<features folder name>)")
    parser.add_argument("--name", default=d["name"],
                        help="file name of the trained network (default fcn4_<features name>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last finished epoch")
    parser.add_argument("--seed", type=common.seed, default=d["seed"],
                        help="seed of the initial weights and the shuffling")
    parser.add_argument("--select", choices=SELECT_METRICS, default=d["select"],
                        help=f"valid metric that picks the best epoch (default {d['select']})")
    parser.add_argument("--amp-level", choices=AMP_LEVELS, default=d["amp_level"],
                        help="mixed precision (default O0: none; others use a fixed loss scale; for GPU/Ascend)")
    parser.add_argument("--loss-scale", type=common.positive_float, default=d["loss_scale"],
                        help=f"fixed loss scale with mixed precision (default {d['loss_scale']:g})")
    parser.add_argument("--in-classes", default=None,
                        help="widths of a network trained from scratch, e.g. 1,128,384,768,2048")
    add_reader_threads(parser, d["reader_threads"])
    parser.add_argument("--device", choices=DEVICES, default=d["device"],
                        help="where to train (default: what the installed MindSpore build runs on)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=d["progress"])


def add_reader_threads(parser, default: int) -> None:
    """``--reader-threads``: the feature store's reading threads (``--workers``, its old name, still works)."""
    parser.add_argument("--reader-threads", "--workers", dest="reader_threads", type=common.threads, default=default,
                        help=f"MindDataset reading threads (default {default}; --workers is its old name)")


def run(args) -> int:
    from ..training.tagging import train

    check_output_folder("--out", args.out, parents=True)
    config = TrainConfig(features=args.features, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         pretrained=args.pretrained, out=args.out, name=args.name, resume=args.resume, seed=args.seed,
                         select=args.select, amp_level=args.amp_level, loss_scale=args.loss_scale,
                         in_classes=int_list("--in-classes", args.in_classes) if args.in_classes else None,
                         reader_threads=args.reader_threads, device=args.device, progress=args.progress)
    try:
        train(config, log=log, warn=warn)
    except KeyboardInterrupt:
        print(f"fcn4 train: interrupted; finished epochs are saved in {config.run_dir}; continue with the same "
              "command and --resume", file=sys.stderr)
        return INTERRUPTED
    return 0
