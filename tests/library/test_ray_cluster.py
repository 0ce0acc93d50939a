"""A two-node Ray cluster on 127.0.0.1 only (token required), a worker node killed mid-job, and the job
still ends with every input in the store exactly once; no process of the cluster has a socket off
the loopback."""
import os
import threading
import time

import pytest

from fcn4.library.job import loopback_ray_environment, tag_library
from fcn4.library.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.ray]  # two Ray nodes: processes


@pytest.fixture
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    # Every node and the driver on 127.0.0.1 with the session's token, as the job's own local Ray.
    with loopback_ray_environment():
        # A dead node is noticed in about 2 s, not Ray's default 15 s or more: the test waits for it.
        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 2, "node_ip_address": "127.0.0.1", "include_dashboard": False,
            "_system_config": {"health_check_period_ms": 1000, "health_check_failure_threshold": 2}})
        try:
            worker = cluster.add_node(num_cpus=2, node_ip_address="127.0.0.1")
            ray.init(address=cluster.address, log_to_driver=False, _node_ip_address="127.0.0.1")
            try:
                yield cluster, worker
            finally:
                ray.shutdown()
        finally:
            cluster.shutdown()


def test_a_worker_node_killed_mid_job_loses_and_doubles_nothing(music, checkpoint, tmp_path, cluster,
                                                                watch_sockets):
    import ray

    cluster, worker = cluster
    assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
    root, files = music
    library = tmp_path / "many"
    library.mkdir()
    for i in range(48):
        name = sorted(files)[i % len(files)]
        os.link(files[name], library / f"{i:02d} {os.path.basename(name)}")
    store, outcome = tmp_path / "store", {}

    def job():
        try:
            outcome["result"] = tag_library([library], store, weights=checkpoint, rows_per_part=2, actors=2)
        except BaseException as exc:  # noqa: BLE001 (reported by the test below)
            outcome["error"] = exc

    runner = threading.Thread(target=job)
    with watch_sockets(os.getpid()) as watch:  # this process, both nodes' daemons, all their workers
        runner.start()
        deadline = time.monotonic() + 240
        while not list(store.glob("part-*.parquet")) and runner.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        working = runner.is_alive() and len(list(store.glob("part-*.parquet"))) < 24
        cluster.remove_node(worker, allow_graceful=False)  # the node dies with what it held
        runner.join(timeout=400)
    assert working, "the node was killed while the job worked"
    assert sum(name == "raylet" for _, name in watch.processes) == 2 and watch.samples >= 10
    assert not watch.outside, sorted(watch.outside)[:20]
    assert not runner.is_alive() and "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    table = Store(store).table(["path", "status"], latest=False)
    assert result.listed == 48 and result.tagged + result.failed == 48
    assert table.num_rows == 48 and len(set(table["path"].to_pylist())) == 48
    too_short = sum(1 for i in range(48) if sorted(files)[i % len(files)] == "short.ogg")
    assert table["status"].to_pylist().count("error") == too_short
