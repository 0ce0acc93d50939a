import subprocess
import sys

import pytest

from fcn4.cli import main


def test_info_prints_the_reference_shapes_and_size(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for line in ("block1       (128, 48, 341)", "block3       (768, 4, 8)", "parameters: 17,369,266",
                 "10.01 G multiply-adds", "shortest input: 160 frames (3.39 s of audio)"):
        assert line in out


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline_and_says_weights_are_untrained():
    done = subprocess.run([sys.executable, "-m", "fcn4", "demo", "--seconds", "12"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "parameters: 17,369,266" in out
    assert "melgram [96, 1366]" in out and "output [1, 50]" in out and "embedding [1, 2048]" in out
    assert "UNTRAINED" in out and "total time:" in out
    assert len([line for line in out.splitlines() if line.startswith("  ")]) == 5  # top-5 tags
