"""``make demo``: the fine-tuning kit end to end, offline, on a synthetic GTZAN-layout corpus.

Synthesises ten clearly different synthetic "genres" (20 clips of 30 s each by default; NOT
real music), fine-tunes FCN-4 on them with ``python -m finetune --dataset gtzan``'s recipe
(the MagnaTagATune weights if they are cached, else a random backbone, said so), prints the
test metrics and the card's path, then tags two clips with the published card.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finetune.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", default=".demo", help="where the corpus and the run go (default .demo)")
    parser.add_argument("--clips-per-genre", type=int, default=20)
    parser.add_argument("--mode", default="head", help="head (default), full or last-N")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)

    from fcn4.hub.weights import DEFAULT_UID, WeightsUnavailable, fetch
    from fcn4.inference.backends import cpu_count

    from .config import FinetuneConfig
    from .recipe import run
    from fcn4.training.synthetic import write_gtzan_corpus

    began = time.perf_counter()
    folder = Path(args.folder)
    print(f"demo: synthesising a GTZAN-layout corpus of SYNTHETIC audio ({args.clips_per_genre} clips of 30 s per "
          f"genre) in {folder / 'gtzan'}; the metrics below are not GTZAN results", flush=True)
    corpus = write_gtzan_corpus(folder / "gtzan", args.clips_per_genre, workers=cpu_count())
    try:
        fetch(DEFAULT_UID, offline=True)
        pretrained = DEFAULT_UID
        print(f"demo: fine-tuning from the cached MagnaTagATune weights ({DEFAULT_UID})", flush=True)
    except WeightsUnavailable:
        pretrained = "none"
        print(f"demo: NOTICE: the MagnaTagATune weights ({DEFAULT_UID}) are not cached, so the backbone starts "
              "from random values; `python -m fcn4 fetch` (online) makes the demo use them", flush=True)
    run_dir = folder / "run"
    shutil.rmtree(run_dir, ignore_errors=True)  # the demo's own run folder: each demo starts afresh
    config = FinetuneConfig(data_dir=str(corpus), pretrained=pretrained, mode=args.mode, epochs=args.epochs,
                            out=str(run_dir))
    print(f"demo: python -m finetune --dataset gtzan --data-dir {corpus} --pretrained {pretrained} "
          f"--mode {args.mode} --epochs {args.epochs} --out {run_dir}", flush=True)
    result = run(config, log=lambda m: print(m, flush=True),
                 warn=lambda m: print(f"finetune: warning: {m}", file=sys.stderr, flush=True))
    auc = result.metrics["roc_auc"]
    print(f"\ndemo: test accuracy {result.metrics['accuracy']:.4f}, macro ROC-AUC "
          f"{'n/a' if auc is None else format(auc, '.4f')} on {result.metrics['support']} synthetic clips")
    print(f"demo: card {result.card} (uid {result.uid})")

    from fcn4.inference.tagger import Tagger

    test = result.dataset.splits["test"]
    clips = [test[0].path, test[-1].path]
    # MindSpore itself for two clips: the exported engines pay off over a library, not over two clips
    # (exporting and timing them took 16 of the demo's 39 s).
    with Tagger(result.card, backend="mindspore", workers=0) as tagger:
        for prediction in tagger.tag(clips):
            shown = ", ".join(f"{label} {p:.2f}" for label, p in prediction.top(3))
            print(f"demo: {Path(prediction.path).name}: {shown}")
    print(f"demo: done in {time.perf_counter() - began:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
