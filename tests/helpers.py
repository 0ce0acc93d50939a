"""Helpers shared by the tests (MindSpore loads on first use: decoding workers import this too)."""
import os
from dataclasses import dataclass

import numpy as np

from fcn4.audio.frontend import FrontEnd

#: Narrow FCN-4 for fast tests; the full-size network is used only where size is the point.
SMALL = {"in_classes": [1, 8, 8, 12, 16]}


def randomise(net, seed=0):
    """Give every parameter (BN statistics too) random values, so equalities mean something."""
    import mindspore as ms

    rng = np.random.default_rng(seed)
    for name, param in net.parameters_dict().items():
        value = rng.standard_normal(param.shape).astype(np.float32) * 0.3
        if name.endswith("moving_variance"):
            value = np.abs(value) + 0.5
        param.set_data(ms.Tensor(value))
    return net


def write_genre_folders(root, labels, per_label, seconds=5.0, sample_rate=12000):
    """DIR/<label>/<label><i>.wav: synthetic clips in the kit's styles, a little apart within a genre."""
    from fcn4.audio.synth import synth_track, write_audio
    from finetune.synthetic import GENRE_STYLES

    for label in labels:
        style = GENRE_STYLES[label]
        (root / label).mkdir()
        for i in range(per_label):
            y = synth_track(seconds, sample_rate, seed=i, tempo=style.tempo * (1 + 0.01 * i), root_hz=style.root_hz,
                            brightness=style.brightness)
            write_audio(root / label / f"{label}{i}.wav", y, sample_rate)
    return root


def values(net):
    """Every parameter of ``net`` as a NumPy array, by name."""
    return {name: p.asnumpy().copy() for name, p in net.parameters_dict().items()}


@dataclass(frozen=True)
class CrashingFrontEnd(FrontEnd):
    """Kills the process decoding a path under /crash or a file named crash-*, as a decoder that
    segfaults would."""

    def _usable(self, path):  # every way of reading a file starts here
        if str(path).startswith("/crash") or os.path.basename(str(path)).startswith("crash-"):
            os._exit(70)
        return super()._usable(path)


def msrun_two_ranks(tmp_path, *command, timeout=400):
    """Run ``tests/dp_train.py`` under ``msrun`` with 2 local workers (logs in ``tmp_path/logs``).

    Returns each rank's weights when training started and ended:
    ``(initial rank 0, initial rank 1, final rank 0, final rank 1)``, names to arrays.
    """
    import shutil
    import socket
    import subprocess
    import sys
    from pathlib import Path

    import pytest

    repo = Path(__file__).resolve().parents[1]
    bin_dir = Path(sys.executable).parent
    msrun = shutil.which("msrun", path=str(bin_dir)) or shutil.which("msrun")
    if msrun is None:
        pytest.skip("msrun (installed with mindspore) is not on this machine: data-parallel training is untested")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dump = Path(tmp_path) / "dump"
    dump.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join([str(repo), str(repo / "tests")])}
    argv = [msrun, "--worker_num=2", "--local_worker_num=2", f"--master_port={port}", "--join=True",
            f"--log_dir={Path(tmp_path) / 'logs'}", "python", str(repo / "tests" / "dp_train.py"), str(dump), *command]
    done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)
    logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted((Path(tmp_path) / "logs").glob("*.log")))
    assert done.returncode == 0, f"msrun failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}\n{logs}"
    return tuple(dict(np.load(dump / f"{stage}-rank{rank}.npz")) for stage in ("initial", "final") for rank in (0, 1))


@dataclass(frozen=True)
class SlowFrontEnd(FrontEnd):
    """Takes a minute over a path under /slow, as a decoder stuck on a damaged file would."""

    def _usable(self, path):
        if str(path).startswith("/slow"):
            import time

            time.sleep(60)
        return super()._usable(path)
