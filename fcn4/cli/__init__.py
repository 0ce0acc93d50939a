"""``python -m fcn4 COMMAND`` (also installed as ``fcn4``): one module per command, its flags beside
the code that runs them, every default read from the job it runs.

Imports every wing of ``fcn4``; nothing in ``fcn4`` imports it.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .common import add_verbosity, run_command, verbosity

__all__ = ["main", "build_parser", "COMMANDS"]

#: The commands, in the order ``--help`` lists them: each is the module ``fcn4.cli.<name>`` with
#: ``HELP``, ``add_arguments(parser)`` and ``run(args) -> exit code``.
COMMANDS = ("demo", "info", "tag", "embed", "similar", "fetch", "card", "prepare", "train", "evaluate", "export", "app")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fcn4", description="FCN-4 music auto-tagging for MindSpore",
        epilog="exit status: 0 done, 1 some inputs failed (each named), 2 a usage or data error (named), "
               "3 an internal error (a bug: one line, the traceback in a log file, or on stderr with --debug)")
    parser.add_argument("--debug", action="store_true", help="on an internal error, print the traceback")
    add_verbosity(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f".{name}", __name__)
        command = commands.add_parser(name, help=module.HELP, description=module.__doc__.splitlines()[0])
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="on an internal error, print the traceback")
        add_verbosity(command, suppress=True)
        module.add_arguments(command)
        if hasattr(module, "run"):
            command.set_defaults(run=module.run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    level = verbosity(args)
    return run_command(f"fcn4 {args.command}", lambda: args.run(args), debug=args.debug, verbosity=level)


if __name__ == "__main__":
    sys.exit(main())
