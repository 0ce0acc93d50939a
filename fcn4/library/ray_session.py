"""The Ray a library job runs on: one of its own on this machine (127.0.0.1 only, with a token), or a
cluster joined by its address; Ray's own chatter kept off the user's stderr.

A Ray this package starts on this machine listens and connects on 127.0.0.1 only, and asks every
process that joins it for a token of its own (see :func:`local_ray`).
"""
from __future__ import annotations

import contextlib
import os

from ..base.errors import LibraryJobError

__all__ = ["local_ray", "loopback_ray_environment", "ray_session", "ray_reason"]


@contextlib.contextmanager
def ray_session(address: str | None):
    """Ray, initialised for this job (and shut down after) unless the caller already did."""
    import logging

    import ray

    from ..audio.decoding import cpu_count

    with _quiet():
        if ray.is_initialized():
            yield ray
            return
        options = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        with contextlib.ExitStack() as stack:
            try:
                if address is None:  # this machine only: 127.0.0.1 and a token, nothing reachable from outside
                    stack.enter_context(local_ray(num_cpus=cpu_count(), **options))
                else:
                    ray.init(address=address, **options)
                    stack.callback(ray.shutdown)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = "a local Ray" if address is None else f"the Ray cluster at {address!r}"
                hint = ("start one with `ray start --head` (then --ray auto), or pass its address"
                        if address is not None else "see the lines above")
                raise LibraryJobError(f"could not start or join {where}: {str(exc).splitlines()[0]}; {hint}") from None
            yield ray


#: What :func:`loopback_ray_environment` sets for the Ray processes this package starts on this machine.
#: ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is Ray's own switch for a single-machine Ray: with it the
#: node's address stays 127.0.0.1 (else Ray swaps a loopback address for the machine's outward one,
#: and its servers listen there, reachable from the network) for the driver, the GCS, the raylets,
#: and every worker they start (they inherit it). ``RAY_AUTH_MODE=token`` with a token made for the
#: session: a process that joins must present it (none is written to ``~/.ray``).
#: Ray's dashboard process asks cloud metadata servers which cloud it runs on (169.254.169.254 and a
#: DNS look-up of metadata.google.internal) even with usage statistics off: plain-HTTP requests are
#: sent to a closed port of 127.0.0.1 instead (HTTPS, and loopback addresses, are left alone).
#: onnxruntime's telemetry looks its collector up from every process that imports it: off.
_LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": None,
                  "RAY_USAGE_STATS_ENABLED": "0", "http_proxy": "http://127.0.0.1:9",
                  "HTTP_PROXY": "http://127.0.0.1:9", "no_proxy": "127.0.0.1,localhost,::1",
                  "NO_PROXY": "127.0.0.1,localhost,::1", "ORT_DISABLE_TELEMETRY": "1"}
_SESSION_TOKEN: list[str] = []


@contextlib.contextmanager
def loopback_ray_environment():
    """Within: a Ray started in this process (``ray.init()`` without an address, or
    :class:`ray.cluster_utils.Cluster`) and everything it starts stays on 127.0.0.1 and wants a token.

    The variables are set only for the duration (the processes Ray starts meanwhile keep them) and
    restored after, with Ray's view of them in this process; a Ray cluster joined by its address
    later is not affected. Ray must not be running in this process when this is entered or left.
    """
    import secrets

    import ray._private.ray_constants as constants

    if not _SESSION_TOKEN:  # one per process: Ray's token loader in this process keeps what it read
        _SESSION_TOKEN.append(secrets.token_hex(32))
    wanted = {**_LOOPBACK_ONLY, "RAY_AUTH_TOKEN": _SESSION_TOKEN[0]}
    saved = {name: os.environ.get(name) for name in wanted}
    cluster = constants.ENABLE_RAY_CLUSTER  # read when Ray was imported: set for this process too
    try:
        _set_environment(wanted)
        constants.ENABLE_RAY_CLUSTER = False
        _reload_ray_auth()
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = cluster
        _set_environment(saved)
        _reload_ray_auth()


def _set_environment(values: dict) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _reload_ray_auth() -> None:
    """Ray's settings in this process read again from the environment (the authentication mode and
    token are read once and kept)."""
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:  # a Ray without token authentication (before 2.52): nothing kept to read again
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


@contextlib.contextmanager
def local_ray(**options):
    """``ray.init(**options)`` of a Ray on this machine alone, within :func:`loopback_ray_environment`;
    shut down on leaving. Every Ray this package, its tests and its benchmarks start comes from here."""
    import ray

    with loopback_ray_environment():
        try:
            # address="local": a new Ray of its own, always. Without it ray.init() joins the last Ray
            # `ray start` began on this machine (/tmp/ray/ray_current_cluster), token or not.
            ray.init(address="local", _node_ip_address="127.0.0.1", **options)
            yield ray
        finally:  # also what a failed start left running
            ray.shutdown()


@contextlib.contextmanager
def _quiet():
    """Ray's own INFO and WARNING lines (execution plans, deprecations) off the user's stderr; errors stay."""
    import logging
    import warnings

    import ray.data  # noqa: F401 (Ray Data sets its loggers up on import: quieten them after)

    loggers = [logging.getLogger(name) for name in ("ray", "ray.data")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"ray\..*")
            warnings.filterwarnings("ignore", message=r".*(deprecated|Progress bars).*")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def ray_reason(exc: Exception) -> str:
    """The line of a Ray error that says what went wrong (the cause's ``Kind: message``), without
    Ray's colour codes and task headers."""
    import re

    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(exc).splitlines()]
    causes = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception|Interrupt)\b.*: ", line)
              and not line.startswith(("ray.exceptions.", "ray.data"))]
    return causes[-1] if causes else f"{type(exc).__name__}: {lines[0] if lines else 'no detail'}"
