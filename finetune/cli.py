"""``python -m finetune``: fine-tune FCN-4 on GTZAN or labelled folders, then publish its card."""
from __future__ import annotations

import argparse
import sys

from fcn4.datasets import DATASETS, SPLIT_METHODS
from fcn4.parallel import DEVICES
from fcn4.training import LOSSES

from .config import PUBLISH_TARGETS, ConfigError, FinetuneConfig, read_config_file

__all__ = ["build_parser", "main", "resolve_config"]

_PROG = "python -m finetune"


def build_parser() -> argparse.ArgumentParser:
    d = FinetuneConfig()
    parser = argparse.ArgumentParser(
        prog=_PROG, description="Fine-tune FCN-4 (MagnaTagATune weights) on GTZAN's genres or your own labelled "
                                "folders, evaluate it and publish a MindSpore Hub card for it.",
        epilog="Settings come from the defaults (the seed recipe), then --config, then the saved config.yaml of a "
               "run being resumed, then these flags.", argument_default=argparse.SUPPRESS)
    arg = parser.add_argument
    arg("--dataset", choices=sorted(DATASETS), help=f"gtzan, or folder for DIR/<label>/<audio files> (default {d.dataset})")
    arg("--data-dir", help="the dataset's folder (for GTZAN: the folder holding genres_original/)")
    arg("--pretrained", help=f"hub uid, card file, .ckpt, or none for random weights (default {d.pretrained})")
    arg("--mode", help="head (frozen backbone, cached embeddings; default), full, or last-N (N of the 4 conv blocks)")
    arg("--split", choices=SPLIT_METHODS, help="filtered: GTZAN's fault-filtered split (default); random: "
                                               "stratified, seeded (folders always get this)")
    arg("--seed", type=int, help=f"seed of the head, the split and the shuffling (default {d.seed})")
    arg("--epochs", type=int, help=f"default {d.epochs}")
    arg("--batch-size", type=int, help=f"default {d.batch_size}")
    arg("--lr", type=float, help=f"Adam's learning rate (default {d.lr})")
    arg("--loss", choices=LOSSES, help=f"bce: per-class sigmoid (the seed's); ce: softmax (default {d.loss})")
    arg("--select", choices=("accuracy", "roc_auc", "macro_f1", "loss"),
        help="validation metric that picks the best epoch (default accuracy, ties to the lower loss)")
    arg("--out", help="run folder (default runs/<dataset>-<mode>)")
    arg("--resume", action="store_true", help="continue the run in --out from its last finished epoch")
    arg("--config", help="YAML file of settings (keys as the flags, e.g. batch_size: 16)")
    arg("--workers", type=int, help="decoding processes (default: one per CPU; 0 decodes in this process)")
    arg("--backend", choices=("auto", "onnxruntime", "mindspore"), help="embedding engine in head mode (default auto)")
    arg("--in-classes", help="widths of a network trained from scratch, e.g. 1,32,64,128,256 (with --pretrained none)")
    arg("--publish", choices=PUBLISH_TARGETS, help="where the card goes: run (the run folder; default), assets (also "
                                                   "this repository's mshub_res/assets), none")
    arg("--card-name", help="card and checkpoint name (default fcn4_<dataset>_<mode>_v1.0)")
    arg("--user-id", help=f"the card's user-id, the first part of its uid (default {d.user_id})")
    arg("--asset-link", help="URL where you will host the checkpoint (default: a placeholder to replace)")
    arg("--device", choices=DEVICES, help="where to train (default: what the installed MindSpore build runs on); "
                                          "launch with msrun for data parallelism")
    arg("--progress", action=argparse.BooleanOptionalAction, help="progress bars (default: on a terminal)")
    return parser


def resolve_config(args: argparse.Namespace) -> FinetuneConfig:
    """Defaults < --config file < the resumed run's config.yaml < flags."""
    from pathlib import Path

    flags = {k: v for k, v in vars(args).items() if k != "config"}
    if "in_classes" in flags:
        try:
            flags["in_classes"] = tuple(int(x) for x in flags["in_classes"].split(","))
        except ValueError:
            raise SystemExit(f"{_PROG}: error: --in-classes takes comma-separated integers, "
                             f"got {flags['in_classes']!r}") from None
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
    from fcn4.backends import BackendError
    from fcn4.cards import CardError
    from fcn4.checkpoint import CheckpointError
    from fcn4.training import TrainingError
    from fcn4.weights import WeightsUnavailable

    from .recipe import run

    args = build_parser().parse_args(argv)

    def warn(message):
        print(f"finetune: warning: {message}", file=sys.stderr, flush=True)

    def log(message):
        print(message, flush=True)

    try:
        config = resolve_config(args)
        result = run(config, log=log, warn=warn)
    except (ConfigError, CardError, CheckpointError, WeightsUnavailable, BackendError, TrainingError,
            ValueError, OSError) as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted; finished epochs are saved: add --resume to continue", file=sys.stderr)
        return 130
    from fcn4.parallel import init_world

    if not init_world().main:  # under msrun, rank 0 reports
        return 0
    log(f"run folder: {result.run_dir} (config.yaml, metrics.json, confusion.png)")
    log(f"checkpoint: {result.checkpoint}")
    if result.card:
        log(f"card:       {result.card} (uid {result.uid})")
        log(f"load it:    hubconf.load({str(result.card)!r})")
    return 0
