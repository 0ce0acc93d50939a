"""``fcn4 export``: FCN-4 with its weights as a serving graph (MindIR by default, or ONNX / AIR)."""
from __future__ import annotations

from ..base.errors import SettingError
from ..model.export import EXPORT_FORMATS, export_network
from . import common
from .common import check_output_file, defaults, log

HELP = "export FCN-4 with its weights for serving (MindIR by default)"


def add_arguments(parser) -> None:
    d = defaults(export_network)
    parser.add_argument("--weights", required=True, help="hub uid, card or .ckpt")
    parser.add_argument("--format", type=str.upper, choices=EXPORT_FORMATS, default=d["file_format"],
                        help=f"default {d['file_format']}")
    parser.add_argument("--out", required=True, help="the file to write (model.mindir, model.onnx)")
    parser.add_argument("--batch-size", type=common.positive_int, default=d["batch_size"],
                        help=f"the graph's batch size (default {d['batch_size']})")
    parser.add_argument("--frames", type=common.positive_int, default=None,
                        help="input frames (default: the front end's, 1366)")
    parser.add_argument("--logits", action="store_true", help="output logits instead of probabilities")


def run(args) -> int:
    from ..hub.weights import resolve

    if not args.out.lower().endswith(f".{args.format.lower()}"):
        raise SettingError(f"--out {args.out}: a {args.format} file is named *.{args.format.lower()}")
    check_output_file("--out", args.out, parents=True)

    spec = resolve(args.weights)
    if spec.kind == "none":
        raise SettingError("--weights none: export takes trained weights (a hub uid, a card or a .ckpt)")
    net = spec.build().network
    if args.logits:
        net.output = "logits"
    front_end, frames = spec.front_end, args.frames or spec.front_end.n_frames
    if frames < net.min_input_size[1]:
        raise SettingError(f"--frames {frames}: this network's pooling needs at least {net.min_input_size[1]} frames")
    path = export_network(net, args.out, file_format=args.format, batch_size=args.batch_size,
                          n_mels=front_end.n_mels, n_frames=frames)
    log(f"exported {args.weights} as {args.format.upper()} to {path} (input [{args.batch_size}, 1, "
        f"{front_end.n_mels}, {frames}] log-mel, output "
        f"{'logits' if args.logits else 'tag probabilities'} [{args.batch_size}, {net.num_classes}])")
    return 0
