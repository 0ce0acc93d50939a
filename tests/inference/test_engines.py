"""The engine chosen for the machine: measured once, cached by (weights, CPU, batch shape, precision,
...), a cache file read as a stranger's, an engine that disagrees refused with its reason, a forced
one used, a missing one named with what to install, and every engine within 1e-4 of graph mode."""
import importlib.util
import json
import logging
import sys

import numpy as np
import pytest

from fcn4 import FCN4
from fcn4.base.errors import BackendError
from fcn4.inference import engines, selfcheck
from fcn4.inference.backend_base import TOLERANCE, MindSporeBackend, difference
from fcn4.inference.backend_openvino import OpenVinoBackend
from fcn4.inference.engine_cache import choice_path, read_choice
from fcn4.inference.engines import EngineRequest, choose_fast, open_engine, self_check
from helpers import SMALL, randomise

SHAPE = (1, 96, 200)
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture
def net():
    return randomise(FCN4(**SMALL, num_classes=12), seed=4)


@pytest.fixture
def builds(net):
    """A network builder that counts its calls (a cached choice must not build the network)."""
    calls = []

    def build():
        calls.append(1)
        return net

    build.calls = calls
    return build


def request(**fields):
    return EngineRequest(**{"batch_size": 2, "input_shape": SHAPE, "threads": 1, **fields})


def measured(caplog) -> int:
    return sum("choosing the fastest engine" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_the_choice_is_cached_and_measured_again_when_cpu_weights_or_precision_change(builds, monkeypatch, caplog,
                                                                                      hub_dir):
    caplog.set_level(logging.INFO, logger="fcn4")
    monkeypatch.setattr(engines, "cpu_model", lambda: "Test CPU A")
    first = open_engine(request(), builds, "weights-1")
    assert first.choice["chosen"] == "measured" and measured(caplog) == 1 and len(builds.calls) >= 1
    calls = len(builds.calls)
    again = open_engine(request(), builds, "weights-1")
    assert again.choice["chosen"] == "cached" and again.choice["engine"] == first.choice["engine"]
    assert measured(caplog) == 1 and len(builds.calls) == calls  # neither measured nor built again
    monkeypatch.setattr(engines, "cpu_model", lambda: "Test CPU B")
    assert open_engine(request(), builds, "weights-1").choice["chosen"] == "measured" and measured(caplog) == 2
    assert open_engine(request(), builds, "weights-2").choice["chosen"] == "measured" and measured(caplog) == 3
    keys = [request(precision=p).key("weights-1") for p in ("exact", "fast")]
    assert choice_path(keys[0]) != choice_path(keys[1])
    record = read_choice(choice_path(keys[0]), keys[0])
    assert record["key"]["cpu"] == "Test CPU B" and {f["engine"] for f in record["figures"]} >= {"onnxruntime fp32"}


def test_fast_precision_is_chosen_on_the_first_clips_and_cached_apart(builds, monkeypatch, hub_dir, caplog):
    caplog.set_level(logging.INFO, logger="fcn4")
    exact = open_engine(request(), builds, "weights-1")
    pending = open_engine(request(precision="fast"), builds, "weights-1")
    assert pending.pending and pending.choice["engine"] == exact.choice["engine"]  # fp32 until the clips come
    monkeypatch.setattr(selfcheck, "MAX_DP", -1.0)  # no fast engine can pass: fp32 stays, saying why
    clips = np.random.default_rng(5).normal(-30, 15, (16, *SHAPE)).astype(np.float32)
    chosen = choose_fast(pending, clips, builds, "weights-1", request(precision="fast"))
    assert chosen.choice["dtype"] == "fp32" and "no bf16 or int8 engine passed" in chosen.choice["note"]
    key = request(precision="fast").key("weights-1")
    record = read_choice(choice_path(key), key)
    refused = {f["engine"]: f["status"] for f in record["figures"] if f["status"].startswith("refused")}
    assert refused and all("max |dp|" in status for status in refused.values())
    cached = open_engine(request(precision="fast"), builds, "weights-1")
    assert not cached.pending and cached.choice["chosen"] == "cached" and cached.choice["precision"] == "fast"


def test_int8_is_checked_only_on_clips_it_was_not_calibrated_on(builds, monkeypatch, hub_dir):
    from fcn4.inference import quantize

    calibrated, checked, real_quantize, real_check = [], [], quantize.quantize, engines.self_check
    monkeypatch.setattr(quantize, "quantize", lambda e, c, h: calibrated.append(c.copy()) or real_quantize(e, c, h))
    monkeypatch.setattr(engines, "self_check", lambda got, want: checked.append(len(got[0])) or real_check(got, want))
    clips = np.random.default_rng(5).normal(-30, 15, (16, *SHAPE)).astype(np.float32)
    pending = open_engine(request(precision="fast"), builds, "weights-1")
    choose_fast(pending, clips, builds, "weights-1", request(precision="fast"))
    assert len(calibrated) == 1 and np.array_equal(calibrated[0], clips[:8]) and 8 in checked  # the other 8
    key = request(precision="fast").key("weights-1")
    choice_path(key).unlink()
    few = choose_fast(open_engine(request(precision="fast"), builds, "weights-1"), clips[:6], builds, "weights-1",
                      request(precision="fast"))
    assert few.choice["dtype"] != "int8" and "int8 needs 16 readable files" in few.choice["note"]
    assert not choice_path(key).exists()  # nothing cached: measured again with more files


def test_a_fast_candidate_that_fails_in_any_way_is_refused_and_fp32_kept(builds, monkeypatch, hub_dir, caplog):
    from fcn4.inference import quantize
    from fcn4.inference.backend_onnx import OnnxBackend

    caplog.set_level(logging.WARNING, logger="fcn4")
    monkeypatch.setattr(quantize, "quantize", lambda *a: (_ for _ in ()).throw(RuntimeError("no kernel")))
    monkeypatch.setattr(engines, "available_engines", lambda device: {"onnxruntime fp32": None,
                                                                       "onnxruntime int8": None})
    clips = np.random.default_rng(5).normal(-30, 15, (16, *SHAPE)).astype(np.float32)
    pending = open_engine(request(precision="fast"), builds, "weights-1")
    chosen = choose_fast(pending, clips, builds, "weights-1", request(precision="fast"))
    assert chosen.choice["engine"] == "onnxruntime fp32" and "onnxruntime int8 refused: RuntimeError: no kernel" in caplog.text
    info = engines._export(builds, "weights-1", request(), None).info
    with pytest.raises(BackendError, match=r"onnxruntime could not open the int8 model \(bytes\)"):
        OnnxBackend(b"not a model", 2, SHAPE, info, 1, precision="int8")


def test_the_self_check_names_what_a_fast_engine_got_wrong():
    rng = np.random.default_rng(0)
    f, p = rng.normal(size=(3, 16)).astype(np.float32), rng.uniform(size=(3, 12)).astype(np.float32)
    assert self_check((f, p), (f, p))["passed"]
    q = p.copy()
    q[1] = q[1][::-1]  # another clip's order: other top-5 tags
    check = self_check((f, p), (f, q))
    assert not check["passed"] and "top-5 tags differ on 1 of 3" in check["why"] and "max |dp|" in check["why"]
    check = self_check((f, p + 0.03), (f, p))
    assert not check["passed"] and check["why"] == "max |dp| 0.03 > 0.02"
    check = self_check((-f, p), (f, p))
    assert not check["passed"] and "embedding cosine" in check["why"]


@pytest.mark.parametrize("content", [b"{not json", b"[]", b"\xff\xfe", json.dumps({"format": 1}).encode(),
                                     b" " * (1 << 17)])
@pytest.mark.slow
def test_a_hostile_cached_choice_is_ignored_with_a_warning_and_measured_again(builds, content, caplog, hub_dir):
    caplog.set_level(logging.INFO, logger="fcn4")
    first = open_engine(request(), builds, "weights-1")
    path = choice_path(request().key("weights-1"))
    path.write_bytes(content)
    again = open_engine(request(), builds, "weights-1")
    assert again.choice["chosen"] == "measured" and f"ignoring the cached engine choice {path}" in caplog.text
    assert json.loads(path.read_text())["choice"]["backend"] in ("onnxruntime", "openvino")  # replaced, whole
    assert first.choice["engine"] in {f["engine"] for f in json.loads(path.read_text())["figures"]}


def test_a_cached_choice_with_a_forged_figure_or_engine_is_ignored(builds, caplog, hub_dir):
    caplog.set_level(logging.WARNING, logger="fcn4")
    open_engine(request(), builds, "weights-1")
    path = choice_path(request().key("weights-1"))
    record = json.loads(path.read_text())
    for forged in ({**record, "choice": {"backend": "rm -rf", "dtype": "fp32"}},
                   {**record, "figures": [{"engine": "onnxruntime fp32", "clips_per_second": float("inf"),
                                           "status": "ok"}]},
                   {**record, "choice": {"backend": "onnxruntime", "dtype": "int8", "int8": {"file": "../../x.onnx",
                                                                                          "sha256": "0" * 64}}}):
        path.write_text(json.dumps(forged))
        assert open_engine(request(), builds, "weights-1").choice["chosen"] == "measured"
    assert caplog.text.count("ignoring the cached engine choice") == 3


def test_a_cached_choice_that_does_not_fit_the_request_is_ignored_and_measured_again(builds, caplog, hub_dir):
    caplog.set_level(logging.WARNING, logger="fcn4")
    for asked, named in ((request(), {"backend": "openvino", "dtype": "bf16"}),  # exact mode: fp32 only
                         (request(backend="onnxruntime"), {"backend": "openvino", "dtype": "fp32"}),
                         (request(), {"backend": "mindspore", "dtype": "fp32"})):
        open_engine(asked, builds, "weights-1")
        path = choice_path(asked.key("weights-1"))
        path.write_text(json.dumps({**json.loads(path.read_text()), "choice": named}))
        opened = open_engine(asked, builds, "weights-1")
        assert opened.choice["chosen"] == "measured" and opened.choice["dtype"] == "fp32"
        assert asked.backend == "auto" or opened.choice["backend"] == asked.backend
    assert caplog.text.count("ignoring the cached engine choice") == 3
    export = engines._export(builds, "weights-1", request(), None)
    for name in ("mindspore fp32", "openvino bf16"):
        with pytest.raises(BackendError, match=name):
            engines.open_named(name, export, request())


def test_an_engine_that_disagrees_with_graph_mode_is_refused_with_the_reason(builds, monkeypatch, caplog, hub_dir):
    caplog.set_level(logging.WARNING, logger="fcn4")
    real = OpenVinoBackend._run
    monkeypatch.setattr(OpenVinoBackend, "_run", lambda self, x: tuple(a + 0.01 for a in real(self, x)))
    backend = open_engine(request(), builds, "weights-1")
    assert backend.choice["engine"] == "onnxruntime fp32"
    record = json.loads(choice_path(request().key("weights-1")).read_text())
    status = {f["engine"]: f["status"] for f in record["figures"]}["openvino fp32"]
    assert status.startswith("refused: its outputs differ from MindSpore graph mode by 1.0")
    assert "engine openvino fp32 refused" in caplog.text
    with pytest.raises(BackendError, match="no engine agreed with MindSpore graph mode"):
        open_engine(request(backend="openvino"), builds, "weights-1")


def test_an_engine_that_outputs_nan_is_refused(builds, monkeypatch, hub_dir):
    f, p = np.ones((2, 4), np.float32), np.full((2, 3), 0.5, np.float32)
    for bad in ((np.where(np.arange(4) == 1, np.nan, f), p), (f, np.where(np.arange(3) == 0, np.nan, p))):
        assert difference(bad, (f, p)) == float("inf") and difference((f, p), bad) == float("inf")
    real = OpenVinoBackend._run
    monkeypatch.setattr(OpenVinoBackend, "_run", lambda self, x: (lambda f, p: (f, p * np.nan))(*real(self, x)))
    with pytest.raises(BackendError, match="differ from MindSpore graph mode by inf"):
        open_engine(request(backend="openvino"), builds, "weights-1")


@pytest.mark.parametrize("name", ["onnxruntime", "openvino", "mindspore"])
@pytest.mark.slow
def test_a_forced_backend_is_used_and_agrees_with_graph_mode(net, builds, name, hub_dir):
    backend = open_engine(request(backend=name), builds, "weights-1")
    assert backend.name == name and backend.choice["engine"] == f"{name} fp32"
    x = np.random.default_rng(2).normal(-30, 15, (2, *SHAPE)).astype(np.float32)
    assert difference(backend(x), MindSporeBackend(net, 2, SHAPE)(x)) <= TOLERANCE
    if name != "mindspore":
        record = json.loads(choice_path(request(backend=name).key("weights-1")).read_text())
        assert [f["engine"] for f in record["figures"]] == [f"{name} fp32"]


def test_missing_openvino_says_what_to_install_and_auto_measures_the_others(builds, monkeypatch, hub_dir):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
    with pytest.raises(BackendError, match=r"OpenVINO is not installed \(pip install openvino\)"):
        open_engine(request(backend="openvino"), builds, "weights-1")
    backend = open_engine(request(), builds, "weights-1")
    assert backend.name == "onnxruntime"
    record = json.loads(choice_path(request().key("weights-1")).read_text())
    assert {f["engine"]: f["status"] for f in record["figures"]}["openvino fp32"].startswith(
        "unavailable: OpenVINO is not installed (pip install openvino)")


def test_cuda_without_a_gpu_is_one_line_naming_what_to_install(builds, hub_dir):
    with pytest.raises(BackendError) as caught:
        open_engine(request(device="cuda"), builds, "weights-1")
    message = str(caught.value)
    assert "\n" not in message and "pip install 'fcn4-mindspore[gpu]'" in message and "--device cpu" in message


@pytest.mark.slow
@pytest.mark.parametrize("name", ["onnxruntime", "openvino"])
def test_a_cached_choice_starts_without_mindspore_or_the_engines_not_chosen(net, name, tmp_path, hub_dir):
    import os
    import subprocess

    from fcn4 import save_checkpoint
    from fcn4.inference.tagger import Tagger

    checkpoint = str(save_checkpoint(net, tmp_path / "small.ckpt"))
    with Tagger(checkpoint, workers=0, backend=name, labels=[f"t{i}" for i in range(12)]) as tagger:
        assert tagger.engine["engine"] == f"{name} fp32"
    other = {"onnxruntime": "openvino", "openvino": "onnxruntime"}[name]
    code = ("import sys; from fcn4 import Tagger; "
            f"t = Tagger({checkpoint!r}, workers=0, backend={name!r}, labels=[f't{{i}}' for i in range(12)]); "
            "print(t.engine['chosen'], 'mindspore' in sys.modules, sys.modules.get(sys.argv[1]) is not None)")
    done = subprocess.run([sys.executable, "-c", code, other], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "FCN4_HUB_DIR": str(hub_dir)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["cached", "False", "False"]


_LOOKUPS = """
import os, socket, sys
def record(name):
    def looked_up(host, *args, **kwargs):
        with open(sys.argv[1], "a") as f:  # a process forked meanwhile writes here too
            f.write(f"{name} {host}\\n")
        raise OSError("no network in this test")
    return looked_up
socket.getaddrinfo = record("getaddrinfo")
socket.socket.connect = lambda self, address: record("connect")(address[0] if isinstance(address, tuple) else address)
from fcn4 import Tagger
with Tagger(sys.argv[2], workers=0, backend="openvino", labels=[f"t{i}" for i in range(12)]) as tagger:
    tagger.engine
import time; time.sleep(1)  # what a background thread would send, it sends by now
"""


@pytest.mark.slow
def test_opening_openvino_looks_nothing_up_and_writes_nothing_in_the_home_folder(net, tmp_path):
    """`import openvino` alone would write ~/intel/openvino_ga_cid and send an event to Google Analytics."""
    import os
    import subprocess

    from fcn4 import save_checkpoint

    checkpoint = str(save_checkpoint(net, tmp_path / "small.ckpt"))
    home, lookups = tmp_path / "home", tmp_path / "lookups.txt"
    home.mkdir()
    lookups.touch()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}  # (telemetry's own opt-outs)
    done = subprocess.run([sys.executable, "-c", _LOOKUPS, str(lookups), checkpoint], capture_output=True, text=True,
                          timeout=300, env={**env, "HOME": str(home), "FCN4_HUB_DIR": str(tmp_path / "hub")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert lookups.read_text() == ""
    assert not list(home.iterdir())


@pytest.mark.slow
def test_the_command_line_records_the_engine_and_its_check_and_info_prints_the_table(net, tmp_path, capsys):
    from fcn4 import DEFAULT_FRONT_END as FE
    from fcn4 import save_checkpoint
    from fcn4.audio.synth import synth_track, write_audio
    from fcn4.cli import main

    checkpoint = str(save_checkpoint(net, tmp_path / "small.ckpt"))
    clips = [str(write_audio(tmp_path / f"clip{i}.wav", synth_track(8.0, FE.sample_rate, seed=i), FE.sample_rate))
             for i in range(3)]
    out = tmp_path / "tags.json"
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"t{i}" for i in range(12)))
    common = ["--weights", checkpoint, "--labels", str(labels), "--workers", "0", "--min-seconds", "0"]
    assert main(["tag", *clips, *common, "--format", "json", "-o", str(out), "--precision", "fast"]) == 0
    engine = json.loads(out.read_text())["engine"]
    assert engine["precision"] == "fast" and engine["check"]["clips"] == 3 and engine["chosen"] == "measured"
    assert engine["dtype"] != "int8" and "int8 needs 16 readable files" in engine["note"]  # 3 files: not int8
    capsys.readouterr()
    assert main(["info", "--engines"]) == 0
    table = capsys.readouterr().out  # too few files to try int8: the fast choice is not cached, exact is
    assert "precision fast" not in table and "precision exact" in table and "<- chosen" in table
    assert main(["tag", clips[0], *common, "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "fcn4 tag: error: --device cuda:" in err and "[gpu]" in err


@pytest.mark.parametrize("name", ["onnxruntime", "openvino"])
def test_a_ray_actor_opens_the_drivers_engine_on_the_checked_bytes(builds, name, hub_dir):
    from fcn4.inference.engines import open_shipped

    driver = open_engine(request(backend=name), builds, "weights-1")
    actor = open_shipped(driver.choice, driver.model_bytes(), 2, SHAPE, driver.info, threads=1)
    assert actor.name == name and actor.choice["engine"] == f"{name} fp32"
    x = np.random.default_rng(3).normal(-30, 15, (2, *SHAPE)).astype(np.float32)
    np.testing.assert_array_equal(actor(x)[1], driver(x)[1])
    driver.path.write_bytes(driver.path.read_bytes()[:-8] + b"swapped!")
    with pytest.raises(BackendError, match="changed after it was checked"):
        driver.model_bytes()  # a file swapped since it was checked is never shipped


def test_fast_precision_reads_a_generator_of_paths_once_for_the_clips_and_the_work(net, tmp_path, hub_dir,
                                                                                     monkeypatch):
    from fcn4.audio.synth import synth_track, write_audio
    from fcn4.inference.settings import InferenceSettings
    from fcn4.inference.tagger import Tagger

    files = [str(write_audio(tmp_path / f"{i}.wav", synth_track(4.0, 16000, seed=i), 16000)) for i in range(2)]
    seen = []
    monkeypatch.setattr(engines, "choose_fast", lambda backend, clips, *a: seen.append(len(clips)) or backend)
    with Tagger.from_network(net, settings=InferenceSettings(precision="fast"), workers=0, batch_size=2) as tagger:
        done = list(tagger.predict((p for p in files), embeddings=False))
    assert seen == [2] and [p.path for p in done] == files and all(p.ok for p in done)


def test_info_engines_opens_no_link_or_fifo_and_prints_no_control_characters(builds, hub_dir, capsys):
    import os

    from fcn4.cli import info
    from fcn4.inference.engine_cache import cached_choices

    open_engine(request(), builds, "weights-1")
    path = choice_path(request().key("weights-1"))
    path.write_text(json.dumps({**json.loads(path.read_text()), "note": "\x1b[2Jcleared\x07"}))
    os.mkfifo(path.parent / f"choice-{'a' * 32}.json")  # opened for reading, a FIFO waits for ever
    (path.parent / f"choice-{'b' * 32}.json").symlink_to("/dev/zero")  # and this never ends
    assert [p for p, _ in cached_choices()] == [path]
    info.engines()
    out = capsys.readouterr().out
    assert "?[2Jcleared?" in out and "\x1b" not in out and "\x07" not in out
