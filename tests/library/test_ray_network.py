"""A Ray this package starts on this machine is reachable from nowhere else: every socket of the job's
process tree (driver, GCS, raylet, workers) is on 127.0.0.1, and a process without the session's token
cannot join. A rerun with nothing left to do ends without starting Ray."""
import os
import subprocess
import sys

import pytest

from fcn4.library.job import _LOOPBACK_ONLY, local_ray, loopback_ray_environment, tag_library

pytestmark = [pytest.mark.slow, pytest.mark.ray]  # Ray starts processes

_RAY_VARIABLES = (*_LOOPBACK_ONLY, "RAY_AUTH_TOKEN")


def _cli(*args):
    return [sys.executable, "-m", "fcn4", *args, "--no-progress"]


def test_a_local_job_listens_and_connects_on_127_0_0_1_only(watched_job):
    store, watch, returncode, err = watched_job
    assert returncode == 1 and "10 input(s): 0 already in the store, 7 embedded, 3 failed" in err, err[-3000:]
    assert f"written to {store}" in err  # (three of the files are bad)
    names = {name for _, name in watch.processes}
    assert {"gcs_server", "raylet"} <= names, names  # the watch saw Ray's processes ...
    assert any(status == "LISTEN" for _, _, status, _, _ in watch.seen)  # ... and their servers
    assert sum(1 for *_, remote in watch.seen if remote) >= 10, watch.seen  # ... and their connections
    assert watch.samples >= 20
    assert not watch.outside, sorted(watch.outside)[:20]


def test_a_rerun_with_nothing_to_do_ends_in_seconds_without_starting_ray(watched_job, music, checkpoint,
                                                                         monkeypatch):
    import fcn4.library.job

    store, *_ = watched_job
    root, _ = music
    again = subprocess.run(_cli("embed", "--ray", str(root), "-o", str(store), "--weights", checkpoint),
                           capture_output=True, text=True, timeout=120)
    assert "10 input(s): 10 already in the store, 0 embedded, 0 failed" in again.stderr, again.stderr[-3000:]
    assert "nothing left to do: Ray not started" in again.stderr  # (its time: make bench --only library)

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started with nothing to do")

    monkeypatch.setattr(fcn4.library.job, "_ray_session", no_ray)
    result = fcn4.library.job.embed_library([root], store, weights=checkpoint)
    assert (result.listed, result.skipped, result.tagged, result.failed, result.parts) == (10, 10, 0, 0, 0)
    assert result.seconds < 3 and not result.ray_started, result
    import ray

    assert not ray.is_initialized()
    assert not list((store / "_listing").iterdir())  # the listing does not outlive the job


def test_a_local_ray_wants_its_token_and_leaves_the_environment_as_it_was(tmp_path, monkeypatch):
    import ray
    import ray._private.ray_constants as constants

    # A Ray found on this machine (RAY_ADDRESS, or the last `ray start`) is never joined: a local job
    # starts a Ray of its own, on loopback with its token (this address would refuse the connection).
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    before = {k: os.environ.get(k) for k in _RAY_VARIABLES}, constants.ENABLE_RAY_CLUSTER
    with local_ray(num_cpus=1, include_dashboard=False, log_to_driver=False) as started:
        address = started.get_runtime_context().gcs_address
        token = os.environ["RAY_AUTH_TOKEN"]
        assert address.startswith("127.0.0.1:") and not constants.ENABLE_RAY_CLUSTER
        join = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
                "print(ray.get(ray.remote(lambda: 'joined').remote()))")
        bare = {k: v for k, v in os.environ.items() if k not in _RAY_VARIABLES}
        bare.update(HOME=str(tmp_path),  # no ~/.ray/auth_token to fall back on
                    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")  # the joining driver on 127.0.0.1 too
        outsider = subprocess.run([sys.executable, "-c", join, address], capture_output=True, text=True,
                                  timeout=120, env={**bare, "RAY_gcs_server_port_wait_time_s": "2"})  # 2 tries, not 20
        assert outsider.returncode != 0 and "joined" not in outsider.stdout
        assert "auth" in outsider.stderr.lower(), outsider.stderr[-2000:]
        member = subprocess.run([sys.executable, "-c", join, address], capture_output=True, text=True,
                                timeout=120, env={**bare, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token})
        assert member.stdout.strip().endswith("joined"), member.stderr[-2000:]
    assert not ray.is_initialized()
    assert ({k: os.environ.get(k) for k in _RAY_VARIABLES}, constants.ENABLE_RAY_CLUSTER) == before
    with loopback_ray_environment():  # the same token for the process's next local Ray
        assert os.environ["RAY_AUTH_TOKEN"] == token


def test_a_changed_file_is_work_again(watched_job, music, checkpoint, tmp_path, local_ray):
    """The driver's look-up stops at the first input the store lacks: here the last one listed. (On the
    shared Ray, last in this module: the others want none in this process.)"""
    import shutil

    store, *_ = watched_job
    root, files = music
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    late = tmp_path / "zz.wav"
    shutil.copy(files["one.wav"], late)
    result = tag_library([root, late], copy, weights=checkpoint, embeddings=True)
    assert (result.listed, result.skipped, result.tagged) == (11, 10, 1)
