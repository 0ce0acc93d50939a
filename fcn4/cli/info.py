"""``fcn4 info``: layer shapes, parameters and cost of FCN-4 for an input of ``--frames`` frames; with
``--engines``, the engines this machine can run and the choices measured on it."""
from __future__ import annotations

from . import common

HELP = "print FCN-4's layer shapes, parameters and cost (--engines: the engines measured on this machine)"


def add_arguments(parser) -> None:
    parser.add_argument("--frames", type=common.positive_int, default=None, help="input frames (default 1366)")
    parser.add_argument("--num-classes", type=common.positive_int, default=50, help="outputs of the head (default 50)")
    parser.add_argument("--engines", action="store_true",
                        help="the engines this machine can run, and each choice `--backend auto` measured here "
                             "(cached under the hub folder), with its figures")


def run(args) -> int:
    if args.engines:
        return engines()
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


def engines() -> int:
    """The machine, the engines it can run, and the cached choices (this CPU's first), as a table."""
    from ..hub.cache import get_hub_dir
    from ..inference.engine_cache import cached_choices, cpu_model
    from ..inference.engines import available_engines

    here = cpu_model()
    print(f"CPU: {here}")
    for device in ("cpu", "cuda"):
        for name, why in available_engines(device).items():
            print(f"  {device:<4} {name:<17} {'can run' if why is None else why}")
    found = cached_choices()
    mine = [(p, r) for p, r in found if r["key"]["cpu"] == here]
    print(f"\nengine choices measured on this CPU ({len(mine)}; {len(found) - len(mine)} on others), "
          f"cached in {get_hub_dir()}/engines:")
    if not mine:
        print("  none yet: the first `fcn4 tag` or `fcn4 embed` for a checkpoint measures the engines (a few seconds)")
    for _, record in sorted(mine, key=lambda item: str(item[1].get("measured", ""))):
        key, choice = record["key"], record["choice"]
        weights = _plain(key["weights"] if len(key["weights"]) <= 40 else key["weights"][:37] + "...")
        print(f"\n  weights {weights}; batch {key['batch']}, input {'x'.join(map(str, key['input']))}, "
              f"precision {_plain(key['precision'])}, device {_plain(key['device'])}, {key['threads']} thread(s), "
              f"backend {_plain(key['backend'])}; measured {_plain(record.get('measured', '?'))}")
        print(f"    {'engine':<17} {'clips/s':>8}  status")
        for figure in record["figures"]:
            rate = figure.get("clips_per_second")
            chosen = "  <- chosen" if figure["engine"] == f"{choice['backend']} {choice['dtype']}" else ""
            print(f"    {figure['engine']:<17} {'-' if rate is None else f'{rate:.2f}':>8}  "
                  f"{_plain(figure['status'])}{chosen}")
        check = record.get("check")
        if check:
            print(_plain(f"    self-check on {check.get('clips')} clip(s) beside {check.get('against')}: "
                         f"max |dp| {check.get('max_dp', '-')}, min cosine {check.get('min_cosine', '-')}, "
                         f"top-5 same {check.get('top_same', '-')}"))
        if record.get("note"):
            print(f"    {_plain(record['note'])}")
    return 0


def _plain(text) -> str:
    """``text`` with its control characters (a terminal's escape sequences, in a stranger's file) as ``?``."""
    return "".join(c if c.isprintable() else "?" for c in str(text))
