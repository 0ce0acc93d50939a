"""Command line: ``python -m fcn4 {demo,info}`` (also installed as ``fcn4``)."""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]


def _demo(args) -> int:
    """File -> front end -> FCN-4 on one synthesised clip, with untrained weights."""
    import mindspore as ms

    from . import CARD_ARGUMENTS, DEFAULT_FRONT_END, FCN4, MTAT_TAGS, top_k
    from .synth import synth_track, write_audio

    start = time.perf_counter()
    ms.set_device("CPU")
    ms.set_seed(args.seed)
    DEFAULT_FRONT_END.warm_up()
    t_startup = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_audio(Path(tmp) / "synth_clip.wav",
                           synth_track(args.seconds, 22050, seed=args.seed), 22050)
        t0 = time.perf_counter()
        melgram = DEFAULT_FRONT_END.clip(clip)
        t_front = time.perf_counter() - t0
    arguments = ", ".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in CARD_ARGUMENTS.items())
    print(f"FCN-4 built from the hub card's arguments: {arguments}")
    net = FCN4(**CARD_ARGUMENTS)
    net.set_train(False)
    print(f"parameters: {net.num_parameters():,}")
    print(f"start-up: MindSpore and librosa ready in {t_startup:.1f} s "
          "(longer on the first run after install, while numba compiles and caches librosa's kernels)")
    print(f"input: a synthesised {args.seconds:g} s clip at 22.05 kHz (wav) -> melgram "
          f"{list(melgram.shape)} in {t_front * 1000:.0f} ms")
    x = ms.Tensor(melgram[None, None])
    t0 = time.perf_counter()
    embedding = net.forward_features(x)
    probabilities = net.forward_head(embedding).sigmoid().asnumpy()[0]
    t_net = time.perf_counter() - t0
    print(f"network input {list(x.shape)} -> embedding {list(embedding.shape)} -> output "
          f"{[1, probabilities.shape[0]]} in {t_net * 1000:.0f} ms "
          f"({net.macs() * 2 / 1e9:.1f} GFLOP)")
    print(f"top-{args.top_k} tags (UNTRAINED random weights, so these mean nothing yet):")
    for tag, p in top_k(probabilities, MTAT_TAGS, args.top_k):
        print(f"  {tag:<14} {p:.3f}")
    print(f"total time: {time.perf_counter() - start:.1f} s")
    return 0


def _info(args) -> int:
    """Layer shapes, parameters and cost of FCN-4 for an input of ``--frames`` frames."""
    from . import CARD_ARGUMENTS, DEFAULT_FRONT_END, FCN4

    net = FCN4(**CARD_ARGUMENTS, num_classes=args.num_classes)
    frames = args.frames or DEFAULT_FRONT_END.n_frames
    print(f"{'layer':<12} output shape")
    print(f"{'input':<12} {(net.in_classes[0], DEFAULT_FRONT_END.n_mels, frames)}")
    for layer, shape in net.feature_shapes(DEFAULT_FRONT_END.n_mels, frames):
        print(f"{layer:<12} {shape}")
    print(f"parameters: {net.num_parameters():,}")
    print(f"forward cost: {net.macs(DEFAULT_FRONT_END.n_mels, frames) / 1e9:.2f} G multiply-adds per clip")
    print(f"shortest input: {net.min_input_size[1]} frames "
          f"({net.min_input_size[1] * DEFAULT_FRONT_END.hop_length / DEFAULT_FRONT_END.sample_rate:.2f} s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fcn4", description="FCN-4 music auto-tagging for MindSpore")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run one synthesised clip through the front end and FCN-4")
    demo.add_argument("--seconds", type=float, default=30.0, help="length of the clip (default 30)")
    demo.add_argument("--top-k", type=int, default=5, help="tags to print (default 5)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the clip and the weights")
    demo.set_defaults(run=_demo)

    info = commands.add_parser("info", help="print FCN-4's layer shapes, parameters and cost")
    info.add_argument("--frames", type=int, default=None, help="input frames (default 1366)")
    info.add_argument("--num-classes", type=int, default=50, help="outputs of the head (default 50)")
    info.set_defaults(run=_info)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
