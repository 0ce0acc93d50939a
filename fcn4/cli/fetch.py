"""``fcn4 fetch``: download (or find) a card's checkpoint, verify it, and print its path."""
from __future__ import annotations

HELP = "download or find a card's checkpoint, verify it, print its path"


def add_arguments(parser) -> None:
    parser.add_argument("name", help="uid (mindspore/ascend/1.1/fcn4_v1.1) or card file")
    parser.add_argument("--force-reload", action="store_true", help="download again even if cached")
    parser.add_argument("--offline", action="store_true", help="never download (also FCN4_OFFLINE=1)")


def run(args) -> int:
    from ..hub.weights import resolve

    print(resolve(args.name).fetch(force_reload=args.force_reload, offline=args.offline or None))
    return 0
