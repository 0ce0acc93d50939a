"""``fcn4 info``: layer shapes, parameters and cost of FCN-4 for an input of ``--frames`` frames."""
from __future__ import annotations

from . import common

HELP = "print FCN-4's layer shapes, parameters and cost"


def add_arguments(parser) -> None:
    parser.add_argument("--frames", type=common.positive_int, default=None, help="input frames (default 1366)")
    parser.add_argument("--num-classes", type=common.positive_int, default=50, help="outputs of the head (default 50)")


def run(args) -> int:
    from ..audio.frontend import DEFAULT_FRONT_END as FE
    from ..model.network import CARD_ARGUMENTS, FCN4

    net = FCN4(**CARD_ARGUMENTS, num_classes=args.num_classes)
    frames = args.frames or FE.n_frames
    if frames < net.min_input_size[1]:
        from ..base.errors import SettingError

        raise SettingError(f"--frames {frames}: FCN-4's pooling needs at least {net.min_input_size[1]} frames "
                           f"({FE.seconds_for(net.min_input_size[1]):.2f} s of audio)")
    print(f"{'layer':<12} output shape")
    print(f"{'input':<12} {(net.in_classes[0], FE.n_mels, frames)}")
    for layer, shape in net.feature_shapes(FE.n_mels, frames):
        print(f"{layer:<12} {shape}")
    print(f"parameters: {net.num_parameters():,}")
    print(f"forward cost: {net.macs(FE.n_mels, frames) / 1e9:.2f} G multiply-adds per clip")
    print(f"shortest input: {net.min_input_size[1]} frames ({FE.seconds_for(net.min_input_size[1]):.2f} s of audio)")
    return 0
