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


#: ``fcn4 train``'s flags: one per field of :class:`TrainConfig`, whose default each shows (``{default}``).
FLAGS = {
    "features": {"required": True, "help": "a folder written by fcn4 prepare"},
    "epochs": {"type": common.positive_int, "help": "default {default}"},
    "batch_size": {"type": common.positive_int, "help": "clips per step and process (default {default})"},
    "lr": {"type": common.positive_float, "help": "Adam's learning rate (default {default:g})"},
    "pretrained": {"help": "none (default: random weights), a hub uid, a card or a .ckpt"},
    "out": {"help": "run folder (default runs/<features folder name>)"},
    "name": {"help": "file name of the trained network (default fcn4_<features name>)"},
    "resume": {"action": "store_true", "help": "continue the run in --out from its last finished epoch"},
    "seed": {"type": common.seed, "help": "seed of the initial weights and the shuffling"},
    "select": {"choices": SELECT_METRICS, "help": "valid metric that picks the best epoch (default {default})"},
    "amp_level": {"choices": AMP_LEVELS,
                  "help": "mixed precision (default O0: none; others use a fixed loss scale; for GPU/Ascend)"},
    "loss_scale": {"type": common.positive_float, "help": "fixed loss scale with mixed precision (default {default:g})"},
    "in_classes": {"help": "widths of a network trained from scratch, e.g. 1,128,384,768,2048"},
    "reader_threads": {"flags": ("--reader-threads", "--workers"), "type": common.threads,
                       "help": "MindDataset reading threads (default {default}; --workers is its old name)"},
    "device": {"choices": DEVICES, "help": "where to train (default: what the installed MindSpore build runs on)"},
    "progress": {"action": argparse.BooleanOptionalAction},
}


def add_config_flags(parser, config, flags: dict, *, layered: bool = False) -> None:
    """One flag per field of the configuration dataclass ``config`` named in ``flags`` (argparse
    keywords; ``flags`` the option strings, default ``--field-name``): its default and the
    ``{default}`` in its help come from the dataclass, the one place they are written. With
    ``layered`` a flag not given is left out of the namespace (a config file fills it)."""
    d = defaults(config)
    for name, spec in flags.items():
        spec = dict(spec)
        options = spec.pop("flags", ("--" + name.replace("_", "-"),))
        if "help" in spec:
            spec["help"] = spec["help"].format(default=d.get(name))
        parser.add_argument(*options, dest=name, default=argparse.SUPPRESS if layered else d.get(name), **spec)


def config_from_flags(config, values: dict):
    """``config`` from the flags' ``values`` (``in_classes`` as ``1,8,16,...``); other keys are refused."""
    values = dict(values)
    if isinstance(values.get("in_classes"), str):
        values["in_classes"] = int_list("--in-classes", values["in_classes"])
    return config.from_mapping(values)


def add_arguments(parser) -> None:
    add_config_flags(parser, TrainConfig, FLAGS)


def add_reader_threads(parser, default: int) -> None:
    """``--reader-threads``: the feature store's reading threads (``--workers``, its old name, still works)."""
    parser.add_argument("--reader-threads", "--workers", dest="reader_threads", type=common.threads, default=default,
                        help=f"MindDataset reading threads (default {default}; --workers is its old name)")


def run(args) -> int:
    from ..training.tagging import train

    check_output_folder("--out", args.out, parents=True)
    config = config_from_flags(TrainConfig, {name: getattr(args, name) for name in FLAGS})
    try:
        train(config, log=log, warn=warn)
    except KeyboardInterrupt:
        print(f"fcn4 train: interrupted; finished epochs are saved in {config.run_dir}; continue with the same "
              "command and --resume", file=sys.stderr)
        return INTERRUPTED
    return 0
