"""What every command shares: defaults read from a job's signature, logging beside progress bars,
outputs replaced only once complete, and the exit codes.

Exit codes: 0 done; 1 some inputs failed (each named on stderr); 2 a usage, data or environment
error, named; 3 an internal error (a bug: one line, the traceback in a log file or, with
``--debug``, on stderr); 130 interrupted.
"""
from __future__ import annotations

import contextlib
import inspect
import os
import sys
import traceback
import warnings

from ..base.errors import FCN4Error, SettingError
from ..base.progress import log_line

__all__ = ["defaults", "int_list", "log", "warn", "output", "run_command", "OK", "SOME_FAILED", "ERROR", "INTERNAL",
           "INTERRUPTED"]

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


#: A line on stderr that leaves a progress bar intact.
log = log_line


def warn(line: str) -> None:
    log_line(f"warning: {line}")


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


def run_command(prog: str, job, *, interrupted: str | None = None, debug: bool = False) -> int:
    """Run ``job()`` and turn how it ended into an exit code and one clear line on stderr.

    An :class:`~fcn4.FCN4Error` (the input's fault) or an ``OSError`` (the environment's: a full
    disk, a permission) gives its message and exit 2. Anything else is a bug: one line saying so
    and where its traceback was written (``debug``, ``--debug`` or ``FCN4_DEBUG=1``: on stderr), exit 3.
    """
    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"{prog}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
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
