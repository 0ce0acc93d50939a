"""The package as strangers install it: a wheel, in a fresh environment, used outside the checkout."""
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# One worker builds the wheel once (two building in one tree's build/ folder at once broke each other).
pytestmark = pytest.mark.xdist_group("wheel")

#: What a build of the checkout leaves or needs no copy of.
_NOT_SOURCES = (".git", ".venv", "build", "dist", "site", ".demo", ".bench", "runs", "*.egg-info", "__pycache__",
                ".pytest_cache", ".hypothesis")


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    """A fresh venv holding only the wheel (its dependencies are this environment's, through a .pth)."""
    import shutil

    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # a copy: the build writes its build/ folder there, not in the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*_NOT_SOURCES), symlinks=True)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(work / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (work / "dist").glob("fcn4_mindspore-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # The dependencies (MindSpore and the rest) come from this environment; the package from the wheel alone.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    outside = work / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["FCN4_HUB_DIR"] = str(work / "mscache")
    env["FCN4_OFFLINE"] = "1"  # the card's real URL is never tried: tests reach nothing beyond 127.0.0.1
    return wheel, python, outside, env


@pytest.mark.slow
def test_the_wheel_holds_the_package_and_the_cards_but_no_tests(wheel_env):
    wheel, *_ = wheel_env
    names = zipfile.ZipFile(wheel).namelist()
    assert "fcn4/hub/assets/mindspore/ascend/1.1/fcn4_v1.1.md" in names
    assert "fcn4/cli/tag.py" in names and "finetune/recipe.py" in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/"))]
    card = zipfile.ZipFile(wheel).read("fcn4/hub/assets/mindspore/ascend/1.1/fcn4_v1.1.md")
    assert card == (ROOT / "mshub_res/assets/mindspore/ascend/1.1/fcn4_v1.1.md").read_bytes()  # packed, not copied


@pytest.mark.slow
def test_the_default_uid_works_from_the_wheel_outside_the_checkout(wheel_env):
    _, python, outside, env = wheel_env

    def run(*args):
        return subprocess.run([str(python), *args], capture_output=True, text=True, cwd=outside, env=env, timeout=300)

    where = run("-c", "import fcn4, sys; print(fcn4.__file__); print(fcn4.resolve(fcn4.DEFAULT_UID).card_path)")
    assert where.returncode == 0, where.stderr[-2000:]
    package, card = where.stdout.split()
    assert not package.startswith(str(ROOT)) and "site-packages" in card
    shown = run("-m", "fcn4", "card", "show", "mindspore/ascend/1.1/fcn4_v1.1")
    assert shown.returncode == 0 and "sha256:" in shown.stdout, shown.stderr[-2000:]
    # No checkpoint can be downloaded here: the tagger says where to put it, not that the card is unknown.
    song = outside / "song.wav"
    run("-c", f"from fcn4.audio.synth import synth_track, write_audio; write_audio({str(song)!r}, "
              "synth_track(5.0, 22050), 22050)")
    tagged = run("-m", "fcn4", "tag", str(song), "--workers", "0")
    assert tagged.returncode == 2 and "download it by hand and place it at" in tagged.stderr, tagged.stderr[-2000:]
    assert "offline mode" in tagged.stderr
    assert run("-m", "fcn4", "card", "validate").returncode == 0
