"""What every command shares: defaults read from a job's signature, logging beside progress bars,
outputs replaced only once complete, and the exit codes.

Exit codes: 0 done; 1 some inputs failed (each named on stderr); 2 a usage, data or environment
error, named; 3 an internal error (a bug: one line, the traceback in a log file or, with
``--debug``, on stderr); 130 interrupted.
"""
from __future__ import annotations

import argparse
import contextlib
import inspect
import logging
import math
import os
import sys
import traceback
import warnings

from ..base.errors import FCN4Error, SettingError
from ..base.progress import log_line

__all__ = ["defaults", "int_list", "log", "warn", "output", "run_command", "add_verbosity", "verbosity",
           "logging_to_stderr", "OK", "SOME_FAILED", "ERROR", "INTERNAL",
           "INTERRUPTED", "whole_number", "real_number", "positive_int", "non_negative_int", "positive_float",
           "non_negative_float", "probability", "seed", "workers", "threads", "check_output_file",
           "check_output_folder"]

OK, SOME_FAILED, ERROR, INTERNAL, INTERRUPTED = 0, 1, 2, 3, 130


def defaults(job) -> dict:
    """The defaults of a job's parameters (a configuration dataclass or a function): the one place
    they are written, so a flag's default and help never drift from the library's."""
    return {name: p.default for name, p in inspect.signature(job).parameters.items()
            if p.default is not inspect.Parameter.empty}


def int_list(flag: str, text: str) -> tuple[int, ...]:
    """``1,128,384`` -> ``(1, 128, 384)``, or a :class:`~fcn4.SettingError` naming the flag.

    >>> int_list("--in-classes", "1,8,16")
    (1, 8, 16)
    """
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise SettingError(f"{flag} takes comma-separated whole numbers such as 1,128,384,768,2048, "
                           f"got {text!r}") from None


# ---------------------------------------------------------------------- flag values
# argparse ``type=`` functions: a bad value is refused while the command line is parsed, before any
# work, by argparse's one line ``fcn4 CMD: error: argument --FLAG: <why>`` and exit 2.


def whole_number(low: int | None = None, high: int | None = None, what: str | None = None):
    """An argparse ``type=`` that takes a whole number in ``[low, high]`` (None: unbounded).

    >>> whole_number(1)("4")
    4
    >>> whole_number(1)("0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: takes a whole number >= 1, got '0'
    """
    def parse(text: str) -> int:
        try:
            value = int(text)  # int strips the whitespace it takes (not \x1c-\x1f, which str.strip does)
        except (ValueError, TypeError):
            value = None
        if value is None or (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"takes {_what(what or 'a whole number', low, high)}, got {_shown(text)}")
        return value

    parse.__name__ = what or "whole number"  # what argparse names in an error of its own
    return parse


def real_number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
                what: str | None = None):
    """An argparse ``type=`` that takes a finite number in ``[low, high]`` (``(low, high]`` with
    ``low_open``; None: unbounded). NaN and infinities are refused.

    >>> real_number(0, low_open=True)("0.5")
    0.5
    >>> real_number(0, low_open=True)("nan")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: takes a number > 0, got 'nan'
    """
    def parse(text: str) -> float:
        try:
            value = float(text)
        except (ValueError, TypeError):
            value = math.nan
        bad = (not math.isfinite(value) or (low is not None and (value <= low if low_open else value < low))
               or (high is not None and value > high))
        if bad:
            raise argparse.ArgumentTypeError(
                f"takes {_what(what or 'a number', low, high, low_open)}, got {_shown(text)}")
        return value

    parse.__name__ = what or "number"
    return parse


def _what(what: str, low, high, low_open: bool = False) -> str:
    low, high = (v if v is None or isinstance(v, int) else f"{v:g}" for v in (low, high))
    if low is not None and high is not None:
        return f"{what} from {low}{' (exclusive)' if low_open else ''} to {high}"
    if low is not None:
        return f"{what} {'>' if low_open else '>='} {low}"
    return f"{what} <= {high}" if high is not None else what


def _shown(text) -> str:
    """The value as the error shows it: quoted, on one line, not too long."""
    shown = repr(str(text))
    return shown if len(shown) <= 60 else shown[:57] + "...'"


#: Counts of at least one (batch sizes, epochs, threads), at least zero (workers, top-k, seeds),
#: durations and rates above zero, lengths from zero, probabilities.
positive_int = whole_number(1)
non_negative_int = whole_number(0)
positive_float = real_number(0, low_open=True)
non_negative_float = real_number(0)
probability = real_number(0, 1, what="a probability")
#: A random seed (NumPy's and MindSpore's range).
seed = whole_number(0, 2 ** 32 - 1)
#: Processes or threads to start: a bound far above any machine's cores, so a typo cannot fork thousands.
MAX_PARALLEL = 1024
workers = whole_number(0, MAX_PARALLEL)
threads = whole_number(1, MAX_PARALLEL)


# ---------------------------------------------------------------------- output paths
def check_output_file(flag: str, path, *, parents: bool = False) -> None:
    """Refuse, before any work, an output file that cannot be written: an existing folder, or a
    folder that does not exist to hold it (``parents``: the command makes missing folders, so
    only a file in the way is refused), with a :class:`~fcn4.SettingError` naming ``flag`` and the
    path. A symbolic link is fine: the file replaces the link itself, atomically.
    """
    if path is None:
        return
    text = _text(flag, path, "file")
    if os.path.isdir(path) and not os.path.islink(path):
        raise SettingError(f"{flag} '{text}' is a folder; name the file to write, e.g. {os.path.join(text, 'out')}")
    _check_parent(flag, text, path, parents)


def check_output_folder(flag: str, path, *, parents: bool = False) -> None:
    """Refuse, before any work, an output folder that is an existing file, or whose parent folder
    does not exist (``parents``: the command makes missing folders, so only a file in the way is
    refused), with a :class:`~fcn4.SettingError` naming ``flag`` and the path."""
    if path is None:
        return
    text = _text(flag, path, "folder")
    if os.path.exists(path) and not os.path.isdir(path):
        raise SettingError(f"{flag} '{text}' is a file, not a folder; name a folder to write into")
    _check_parent(flag, text, path, parents)


def _text(flag: str, path, what: str) -> str:
    text = os.fsdecode(path)
    if not text.strip():
        raise SettingError(f"{flag}: an empty path; name the {what} to write")
    if "\0" in text:
        raise SettingError(f"{flag} {text!r}: a path cannot hold a NUL character")
    return text


def _check_parent(flag: str, text: str, path, parents: bool) -> None:
    parent = os.path.dirname(os.path.abspath(os.path.expanduser(path)))
    if os.path.isdir(parent):
        return
    if not parents:
        what = "is not a folder" if os.path.exists(parent) else "does not exist"
        raise SettingError(f"{flag} '{text}': the folder {parent} {what}; create it first")
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:  # the nearest that exists
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise SettingError(f"{flag} '{text}': {parent} is a file, so no folder can be made there")


#: A line on stderr (INFO, through logging) that leaves a progress bar intact.
log = log_line
#: The loggers the command lines show: the library's and the fine-tuning kit's.
LOGGERS = ("fcn4", "finetune")


def warn(line: str) -> None:
    """A notice the user should see (``warning: ...`` on stderr, shown with ``--quiet`` too)."""
    logging.getLogger("fcn4.cli").warning(line)


def add_verbosity(parser: argparse.ArgumentParser, suppress: bool = False) -> None:
    """``-v/--verbose`` (DEBUG messages too) and ``-q/--quiet`` (warnings and errors only)."""
    default = argparse.SUPPRESS if suppress else 0
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1, default=default,
                       help="more messages (DEBUG)")
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1, default=default,
                       help="only warnings and errors")


def verbosity(args) -> int:
    """The level ``-v``/``-q`` asked for (1, -1; 0: neither), taken off ``args`` (it is no setting of a job)."""
    value = getattr(args, "verbosity", 0)
    if hasattr(args, "verbosity"):
        del args.verbosity
    return value


class _TqdmHandler(logging.Handler):
    """Each record as one line on stderr through ``tqdm.write``: a progress bar showing stays intact."""

    def emit(self, record):
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 (logging's convention: a handler never raises)
            self.handleError(record)


class _Formatter(logging.Formatter):
    """INFO lines as they are; the others with their level (``warning: ...``)."""

    def format(self, record):
        text = super().format(record)
        return text if record.levelno == logging.INFO else f"{record.levelname.lower()}: {text}"


@contextlib.contextmanager
def logging_to_stderr(level: int = 0):
    """One handler on the ``fcn4`` and ``finetune`` loggers for the ``with`` block: INFO and up
    (``level`` 1: DEBUG too; -1: WARNING and up), on stderr through ``tqdm.write``."""
    handler = _TqdmHandler()
    handler.setFormatter(_Formatter("%(message)s"))
    threshold = logging.DEBUG if level > 0 else logging.WARNING if level < 0 else logging.INFO
    before = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        before.append((logger, logger.level))
        logger.setLevel(threshold)
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, old_level in before:
            logger.removeHandler(handler)
            logger.setLevel(old_level)


@contextlib.contextmanager
def output(path):
    """stdout, or a file that replaces ``path`` only once complete; any file name can be written to either."""
    if path is None:
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(errors="surrogateescape")  # a file name that is not UTF-8: its own bytes
        yield sys.stdout
        return
    from ..base.files import replace_durably, temporary_beside

    with temporary_beside(path) as tmp:
        # Names the OS gave as bytes that are not UTF-8 are written back as those bytes (table, CSV);
        # JSON escapes them (\udcXX), which os.fsencode turns back into the bytes.
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            yield handle
        replace_durably(tmp, path)


def run_command(prog: str, job, *, interrupted: str | None = None, debug: bool = False, verbosity: int = 0) -> int:
    """Run ``job()`` and turn how it ended into an exit code and one clear line on stderr.

    An :class:`~fcn4.FCN4Error` (the input's fault) or an ``OSError`` (the environment's: a full
    disk, a permission) gives its message and exit 2. Anything else is a bug: one line saying so
    and where its traceback was written (``debug``, ``--debug`` or ``FCN4_DEBUG=1``: on stderr), exit 3.
    Messages of the ``fcn4`` and ``finetune`` loggers show on stderr meanwhile (:func:`logging_to_stderr`
    at ``verbosity``).
    """
    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"{prog}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings(), logging_to_stderr(verbosity):
        warnings.showwarning = show_warning
        try:
            return job()
        except FCN4Error as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return ERROR
        except OSError as exc:  # the environment's fault (a full disk, a permission), named by the OS
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return ERROR
        except KeyboardInterrupt:
            print(f"{prog}: interrupted" + (f"; {interrupted}" if interrupted else ""), file=sys.stderr)
            return INTERRUPTED
        except Exception as exc:  # noqa: BLE001 (a bug: say so, with what is needed to report it)
            return _internal(prog, exc, debug or os.environ.get("FCN4_DEBUG", "") not in ("", "0"))


def _internal(prog: str, exc: Exception, debug: bool) -> int:
    text = traceback.format_exc()
    summary = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}"
    if debug:
        sys.stderr.write(text)
        where = "the traceback is above"
    else:
        import tempfile

        fd, log = tempfile.mkstemp(prefix="fcn4-error-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"{' '.join(sys.argv)}\n{text}")
        where = f"the traceback is in {log} (or run again with --debug)"
    print(f"{prog}: internal error (a bug, not your input): {summary}; {where}; please report it", file=sys.stderr)
    return INTERNAL
