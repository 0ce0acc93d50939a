"""The cached ONNX export: its sha256 is recorded when written and checked before each use (a swapped
export is never run), and a symbolic link for the cache folder is refused, never followed."""
import json
import os

import numpy as np
import pytest

from fcn4 import FCN4
from fcn4.base.errors import UnsafePathError
from fcn4.inference.backends import BackendError, OnnxBackend
from helpers import SMALL, randomise

SHAPE = (1, 96, 200)


def export(seed, key):
    net = randomise(FCN4(**SMALL, num_classes=5), seed=seed)
    return OnnxBackend.export(net, key, 1, SHAPE)


@pytest.mark.slow  # exports and opens a network four times
def test_the_export_records_its_sha256_and_a_swapped_export_is_never_run(hub_dir):
    a = export(1, "weights-a")
    b = export(2, "weights-b")
    record = json.loads(a.path.with_suffix(".json").read_text())
    assert len(record["sha256"]) == 64 and a.sha256 == record["sha256"]
    x = np.random.default_rng(0).normal(-30, 15, (1, *SHAPE)).astype(np.float32)
    want = a(x)[1]
    again = OnnxBackend.cached("weights-a", 1, SHAPE)
    np.testing.assert_allclose(again(x)[1], want, atol=1e-6)
    a.path.write_bytes(b.path.read_bytes())  # another model, under a's name
    opened = OnnxBackend.cached("weights-a", 1, SHAPE)  # from the copy optimised for this CPU, made from a's
    np.testing.assert_allclose(opened(x)[1], want, atol=1e-6)  # a's network, never b's
    with pytest.raises(BackendError, match="changed after it was checked"):
        opened.model_bytes()  # never shipped to other processes ...
    assert not a.path.exists() and not list(a.path.parent.glob(f"{a.path.stem}.cpu-*"))  # ... removed: made anew
    a = export(1, "weights-a")
    for tuned in a.path.parent.glob(f"{a.path.stem}.cpu-*"):
        tuned.unlink()
    a.path.write_bytes(b.path.read_bytes())
    assert OnnxBackend.cached("weights-a", 1, SHAPE) is None  # refused and removed: the caller exports again
    assert not a.path.exists()


def test_an_export_swapped_after_it_was_checked_is_not_shipped(hub_dir):
    a = export(1, "weights-a")
    b = export(2, "weights-b")
    opened = OnnxBackend.cached("weights-a", 1, SHAPE)
    assert opened.model_bytes() == a.path.read_bytes()
    a.path.write_bytes(b.path.read_bytes())
    with pytest.raises(BackendError, match="changed after it was checked"):
        opened.model_bytes()


def test_a_link_for_the_hub_export_folder_is_refused_and_the_outside_untouched(hub_dir, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    hub_dir.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, hub_dir / "onnx")
    with pytest.raises(UnsafePathError, match=str(hub_dir / "onnx")):
        export(1, "weights-a")
    with pytest.raises(UnsafePathError, match=str(hub_dir / "onnx")):
        OnnxBackend.cached("weights-a", 1, SHAPE)
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]


def test_a_link_for_a_cached_export_is_refused(hub_dir, tmp_path):
    a = export(1, "weights-a")
    elsewhere = tmp_path / "elsewhere.onnx"
    elsewhere.write_bytes(a.path.read_bytes())
    a.path.unlink()
    os.symlink(elsewhere, a.path)
    with pytest.raises(UnsafePathError, match=str(a.path)):
        OnnxBackend.cached("weights-a", 1, SHAPE)
    assert elsewhere.exists()


def test_a_second_exporter_waits_for_the_first_and_opens_its_export(hub_dir, monkeypatch, caplog):
    import logging
    import threading
    import time

    import mindspore as ms

    from fcn4.base.locks import waiting_lock
    from fcn4.inference import backend_onnx

    caplog.set_level(logging.INFO, logger="fcn4")
    net = randomise(FCN4(**SMALL, num_classes=5), seed=1)
    path = OnnxBackend.cache_path("weights-a", 1, SHAPE)
    path.parent.mkdir(parents=True)
    held, released = threading.Event(), []

    def first():
        with waiting_lock(path.with_suffix(".lock")):
            held.set()
            time.sleep(1.0)
            released.append(time.monotonic())

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(10)
    made = backend_onnx.export_network(net, "weights-a", 1, SHAPE)
    waited = bool(released)  # the first had let go before the second exported
    thread.join()
    assert waited and "waiting for another process exporting" in caplog.text
    monkeypatch.setattr(ms, "export", lambda *a, **k: pytest.fail("exported twice"))
    assert backend_onnx.export_network(net, "weights-a", 1, SHAPE).record == made.record  # found under the lock
    path.unlink()
    monkeypatch.setattr(backend_onnx, "_export_unlocked", lambda *a: (_ for _ in ()).throw(FileNotFoundError(2, "gone")))
    with pytest.raises(BackendError, match="could not be written or read: .*gone"):
        backend_onnx.export_network(net, "weights-a", 1, SHAPE)


def test_the_export_is_optimised_for_this_cpu_once_then_opened_from_that_checked_copy(hub_dir, monkeypatch):
    from fcn4.inference.backend_onnx import Export, find_export

    a = export(1, "weights-a")
    tuned = list(a.path.parent.glob("*.cpu-*.onnx"))
    assert len(tuned) == 1  # made by the first open, from the same session
    record = json.loads(tuned[0].with_suffix(".json").read_text())
    assert record["source_sha256"] == a.sha256 and record["max_difference"] <= 1e-4
    x = np.random.default_rng(0).normal(-30, 15, (1, *SHAPE)).astype(np.float32)
    want = a(x)
    real_read = Export.read
    with monkeypatch.context() as patched:
        patched.setattr(Export, "read", lambda *args: pytest.fail("the portable export was opened"))
        again = find_export("weights-a", 1, SHAPE).onnxruntime(1)
    for got, expected in zip(again(x), want):
        np.testing.assert_allclose(got, expected, atol=1e-6)
    assert again.model_bytes() == a.path.read_bytes()  # what it ships to other processes: the portable export
    tuned[0].write_bytes(tuned[0].read_bytes()[:-64] + b"\0" * 64)  # damaged: never run
    opened = []
    monkeypatch.setattr(Export, "read", lambda self, *args: opened.append(self) or real_read(self, *args))
    third = find_export("weights-a", 1, SHAPE).onnxruntime(1)
    assert opened and not tuned[0].exists()  # the portable export instead; the copy removed, made again next time
    np.testing.assert_allclose(third(x)[1], want[1], atol=1e-6)
    find_export("weights-a", 1, SHAPE).onnxruntime(1)
    assert tuned[0].exists()


def test_a_link_for_the_copy_optimised_for_this_cpu_is_refused(hub_dir, tmp_path):
    from fcn4.inference.backend_onnx import find_export

    a = export(1, "weights-a")
    tuned = next(a.path.parent.glob("*.cpu-*.onnx"))
    elsewhere = tmp_path / "elsewhere.onnx"
    elsewhere.write_bytes(tuned.read_bytes())
    tuned.unlink()
    os.symlink(elsewhere, tuned)
    with pytest.raises(UnsafePathError, match="optimised for this CPU"):
        find_export("weights-a", 1, SHAPE).onnxruntime(1)
    assert elsewhere.exists()
