"""``python -m finetune``: fine-tune FCN-4 on GTZAN or labelled folders, then publish its card.

The flags are the fields of :class:`~finetune.config.FinetuneConfig`, whose defaults they show;
exit codes as ``python -m fcn4`` (0 done, 2 a setting or data error named, 3 a bug, 130 interrupted).
"""
from __future__ import annotations

import argparse
import sys

from fcn4.cli.common import int_list, run_command
from fcn4.cli.train import add_config_flags
from fcn4.inference.backends import BACKENDS
from fcn4.training.datasets import DATASETS, SPLIT_METHODS
from fcn4.training.parallel import DEVICES
from fcn4.training.trainer import LOSSES

from .config import PUBLISH_TARGETS, SELECT_METRICS, ConfigError, FinetuneConfig, read_config_file

__all__ = ["build_parser", "main", "resolve_config"]

_PROG = "python -m finetune"


#: The kit's flags: one per field of :class:`FinetuneConfig`, whose default each shows (``{default}``).
FLAGS = {
    "dataset": {"choices": sorted(DATASETS), "help": "gtzan, or folder for DIR/<label>/<audio files> (default {default})"},
    "data_dir": {"help": "the dataset's folder (for GTZAN: the folder holding genres_original/; for --manifest: "
                         "where its relative paths start, default the manifest's folder)"},
    "manifest": {"metavar": "FILE", "help": "a CSV, TSV or Parquet table of your labels instead of --dataset: a path "
                                           "column and a labels column (a;b or a|b) or one 0/1 column per label"},
    "task": {"choices": ("single", "multi"), "help": "single- or multi-label (default: read from the manifest)"},
    "threshold_policy": {"metavar": "POLICY", "help": "each label's threshold, chosen on the validation split: f1 "
                                                     "(best F1), precision=P or recall=R (default {default})"},
    "probe": {"action": "store_true", "help": "with --store and --manifest: a cross-validated linear probe of the "
                                              "stored embeddings (no training of the network)"},
    "folds": {"type": int, "help": "folds of the probe's cross-validation (default {default})"},
    "layer": {"choices": ("block1", "block2", "block3", "block4", "penultimate"),
              "help": "head mode: train a head on this block's embeddings (global mean and max of its map; "
                      "MindSpore engine; the head alone is saved, no card); default {default}"},
    "pretrained": {"help": "hub uid, card file, .ckpt, or none for random weights (default {default})"},
    "mode": {"help": "head (frozen backbone, cached embeddings), full, or last-N (N of the 4 conv blocks); "
                     "default {default}"},
    "split": {"choices": SPLIT_METHODS, "help": "filtered: GTZAN's fault-filtered split; random: stratified, seeded "
                                                "(folders always get this); default {default}"},
    "seed": {"type": int, "help": "seed of the head, the split and the shuffling (default {default})"},
    "epochs": {"type": int, "help": "default {default}"},
    "batch_size": {"type": int, "help": "default {default}"},
    "lr": {"type": float, "help": "Adam's learning rate (default {default})"},
    "loss": {"choices": LOSSES, "help": "bce: per-class sigmoid (the seed's); ce: softmax (default {default})"},
    "select": {"choices": SELECT_METRICS,
               "help": "validation metric that picks the best epoch (default {default}, ties to the lower loss)"},
    "out": {"help": "run folder (default runs/<dataset>-<mode>)"},
    "resume": {"action": "store_true", "help": "continue the run in --out from its last finished epoch"},
    "config": {"help": "YAML file of settings (keys as the flags, e.g. batch_size: 16)"},
    "workers": {"type": int, "help": "decoding processes (default: one per two CPUs, at most 4; 0 decodes in "
                                     "this process)"},
    "backend": {"choices": BACKENDS, "help": "embedding engine in head mode (default {default})"},
    "store": {"help": "head mode: take the embeddings from this store (written by `fcn4 embed --ray`) where it "
                      "holds them, computing only the rest"},
    "in_classes": {"help": "widths of a network trained from scratch, e.g. 1,32,64,128,256 (with --pretrained none)"},
    "publish": {"choices": PUBLISH_TARGETS, "help": "where the card goes: run (the run folder), assets (also this "
                                                    "repository's mshub_res/assets), none; default {default}"},
    "card_name": {"help": "card and checkpoint name (default fcn4_<dataset>_<mode>_v1.0)"},
    "user_id": {"help": "the card's user-id, the first part of its uid (default {default})"},
    "asset_link": {"help": "URL where you will host the checkpoint (default: a placeholder to replace)"},
    "device": {"choices": DEVICES, "help": "where to train (default: what the installed MindSpore build runs on); "
                                           "launch with msrun for data parallelism"},
    "progress": {"action": argparse.BooleanOptionalAction, "help": "progress bars (default: on a terminal)"},
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG, description="Fine-tune FCN-4 (MagnaTagATune weights) on GTZAN's genres or your own labelled "
                                "folders, evaluate it and publish a MindSpore Hub card for it.",
        epilog="Settings come from the defaults (the seed recipe), then --config, then the saved config.yaml of a "
               "run being resumed, then these flags. Exit status: 0 done, 2 a setting or data error (named), "
               "3 an internal error (a bug), 130 interrupted.", argument_default=argparse.SUPPRESS)
    add_config_flags(parser, FinetuneConfig, FLAGS, layered=True)
    parser.add_argument("--debug", action="store_true", help="on an internal error, print the traceback")
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
                                                          if k in ("dataset", "manifest", "mode")}).run_dir)
        saved = out / "config.yaml"
        if saved.is_file():
            values = {**values, **read_config_file(saved)}
        elif not ({"data_dir", "manifest"} & set(flags)) and config.data_dir is None and config.manifest is None:
            raise ConfigError(f"nothing to resume in {out}: it has no config.yaml; check --out, or pass --data-dir "
                              "(or --manifest) to start a run there")
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
    from pathlib import Path

    from fcn4.training.parallel import init_world

    from .recipe import run

    def warn(message):
        print(f"finetune: warning: {message}", file=sys.stderr, flush=True)

    def log(message):
        print(message, flush=True)

    result = run(resolve_config(args), log=log, warn=warn)
    if not hasattr(result, "checkpoint"):  # a probe: its table is logged, its files are in the run folder
        log(f"run folder: {result.run_dir} (probe.json, " + ", ".join(Path(r["pr_curves"]).name for r in result.rows)
            + ")")
        return 0
    if not init_world().main:  # under msrun, rank 0 reports
        return 0
    extra = "" if result.dataset.task == "multi" else ", confusion.png"
    log(f"run folder: {result.run_dir} (config.yaml, metrics.json{extra})")
    log(f"checkpoint: {result.checkpoint}")
    if result.card:
        log(f"card:       {result.card} (uid {result.uid})")
        log(f"load it:    hubconf.load({str(result.card)!r})")
    return 0
