"""``python -m finetune``: fine-tune FCN-4 on GTZAN or labelled folders, then publish its card.

The flags are the fields of :class:`~finetune.config.FinetuneConfig`, whose defaults they show;
exit codes as ``python -m fcn4`` (0 done, 2 a setting or data error named, 3 a bug, 130 interrupted).
"""
from __future__ import annotations

import argparse
import sys

from fcn4.cli.common import int_list, run_command
from fcn4.inference.backends import BACKENDS
from fcn4.training.datasets import DATASETS, SPLIT_METHODS
from fcn4.training.parallel import DEVICES
from fcn4.training.trainer import LOSSES

from .config import PUBLISH_TARGETS, SELECT_METRICS, ConfigError, FinetuneConfig, read_config_file

__all__ = ["build_parser", "main", "resolve_config"]

_PROG = "python -m finetune"


def build_parser() -> argparse.ArgumentParser:
    d = FinetuneConfig()
    parser = argparse.ArgumentParser(
        prog=_PROG, description="Fine-tune FCN-4 (MagnaTagATune weights) on GTZAN's genres or your own labelled "
                                "folders, evaluate it and publish a MindSpore Hub card for it.",
        epilog="Settings come from the defaults (the seed recipe), then --config, then the saved config.yaml of a "
               "run being resumed, then these flags. Exit status: 0 done, 2 a setting or data error (named), "
               "3 an internal error (a bug), 130 interrupted.", argument_default=argparse.SUPPRESS)
    arg = parser.add_argument
    arg("--dataset", choices=sorted(DATASETS), help=f"gtzan, or folder for DIR/<label>/<audio files> (default {d.dataset})")
    arg("--data-dir", help="the dataset's folder (for GTZAN: the folder holding genres_original/)")
    arg("--pretrained", help=f"hub uid, card file, .ckpt, or none for random weights (default {d.pretrained})")
    arg("--mode", help=f"head (frozen backbone, cached embeddings), full, or last-N (N of the 4 conv blocks); "
                       f"default {d.mode}")
    arg("--split", choices=SPLIT_METHODS, help=f"filtered: GTZAN's fault-filtered split; random: stratified, seeded "
                                               f"(folders always get this); default {d.split}")
    arg("--seed", type=int, help=f"seed of the head, the split and the shuffling (default {d.seed})")
    arg("--epochs", type=int, help=f"default {d.epochs}")
    arg("--batch-size", type=int, help=f"default {d.batch_size}")
    arg("--lr", type=float, help=f"Adam's learning rate (default {d.lr})")
    arg("--loss", choices=LOSSES, help=f"bce: per-class sigmoid (the seed's); ce: softmax (default {d.loss})")
    arg("--select", choices=SELECT_METRICS,
        help=f"validation metric that picks the best epoch (default {d.select}, ties to the lower loss)")
    arg("--out", help="run folder (default runs/<dataset>-<mode>)")
    arg("--resume", action="store_true", help="continue the run in --out from its last finished epoch")
    arg("--config", help="YAML file of settings (keys as the flags, e.g. batch_size: 16)")
    arg("--workers", type=int, help="decoding processes (default: one per two CPUs, at most 4; 0 decodes in "
                                    "this process)")
    arg("--backend", choices=BACKENDS, help=f"embedding engine in head mode (default {d.backend})")
    arg("--store", help="head mode: take the embeddings from this store (written by `fcn4 embed --ray`) where it "
                        "holds them, computing only the rest")
    arg("--in-classes", help="widths of a network trained from scratch, e.g. 1,32,64,128,256 (with --pretrained none)")
    arg("--publish", choices=PUBLISH_TARGETS, help=f"where the card goes: run (the run folder), assets (also this "
                                                   f"repository's mshub_res/assets), none; default {d.publish}")
    arg("--card-name", help="card and checkpoint name (default fcn4_<dataset>_<mode>_v1.0)")
    arg("--user-id", help=f"the card's user-id, the first part of its uid (default {d.user_id})")
    arg("--asset-link", help="URL where you will host the checkpoint (default: a placeholder to replace)")
    arg("--device", choices=DEVICES, help="where to train (default: what the installed MindSpore build runs on); "
                                          "launch with msrun for data parallelism")
    arg("--progress", action=argparse.BooleanOptionalAction, help="progress bars (default: on a terminal)")
    arg("--debug", action="store_true", help="on an internal error, print the traceback")
    return parser


def resolve_config(args: argparse.Namespace) -> FinetuneConfig:
    """Defaults < --config file < the resumed run's config.yaml < flags."""
    from pathlib import Path

    flags = {k: v for k, v in vars(args).items() if k != "config"}
    if "in_classes" in flags:
        flags["in_classes"] = int_list("--in-classes", flags["in_classes"])
    values = read_config_file(args.config) if getattr(args, "config", None) else {}
    config = FinetuneConfig.from_mapping(values, source=getattr(args, "config", "settings"))
    if flags.get("resume"):
        out = Path(flags.get("out") or config.replace(**{k: v for k, v in flags.items()
                                                          if k in ("dataset", "mode")}).run_dir)
        saved = out / "config.yaml"
        if saved.is_file():
            values = {**values, **read_config_file(saved)}
        elif "data_dir" not in flags and config.data_dir is None:
            raise ConfigError(f"nothing to resume in {out}: it has no config.yaml; check --out, or pass --data-dir "
                              "to start a run there")
    values.update(flags)
    values["resume"] = bool(flags.get("resume"))
    return FinetuneConfig.from_mapping(values)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    if hasattr(args, "debug"):
        del args.debug  # not a setting of the run
    return run_command(_PROG, lambda: _run(args), interrupted="finished epochs are saved: add --resume to continue",
                       debug=debug)


def _run(args) -> int:
    from fcn4.training.parallel import init_world

    from .recipe import run

    def warn(message):
        print(f"finetune: warning: {message}", file=sys.stderr, flush=True)

    def log(message):
        print(message, flush=True)

    result = run(resolve_config(args), log=log, warn=warn)
    if not init_world().main:  # under msrun, rank 0 reports
        return 0
    log(f"run folder: {result.run_dir} (config.yaml, metrics.json, confusion.png)")
    log(f"checkpoint: {result.checkpoint}")
    if result.card:
        log(f"card:       {result.card} (uid {result.uid})")
        log(f"load it:    hubconf.load({str(result.card)!r})")
    return 0
