import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mindspore import nn

import hubconf
from fcn4 import CARD_ARGUMENTS, FCN4
from fcn4.hub.cards import read_card
from reference_fcn4 import ZOO_PARAMETERS

REPO = Path(__file__).resolve().parents[2]

# The arguments of the hub card's Usage, as written there.
CARD_USAGE = dict(in_classes=[1, 128, 384, 768, 2048], kernel_size=[3, 3, 3, 3, 3], padding=[0] * 5,
                  maxpool=[(2, 4), (4, 5), (3, 8), (4, 8)], has_bias=True)


def shapes(net):
    return {name: tuple(p.shape) for name, p in net.parameters_dict().items()}


@pytest.mark.parametrize("name", ["fcn4", "FCN4", "Fcn4", "fcn-4"])
def test_create_network_without_arguments_builds_the_card_network(name):
    net = hubconf.create_network(name)
    assert isinstance(net, FCN4) and shapes(net) == ZOO_PARAMETERS


def test_create_network_with_the_card_usage_arguments():
    net = hubconf.create_network("fcn4", **CARD_USAGE)
    assert shapes(net) == ZOO_PARAMETERS
    assert net.extend_repr() == FCN4().extend_repr() == FCN4(**CARD_ARGUMENTS).extend_repr()


def test_create_network_takes_the_zoo_positional_order():
    net = hubconf.create_network("fcn4", [1, 8, 8, 12, 16], [3] * 5, [0] * 5, [(2, 4), (4, 5), (3, 8), (4, 8)], False,
                                 num_classes=10)
    assert shapes(net)["conv4.weight"] == (16, 12, 3, 3) and shapes(net)["dense.weight"] == (10, 16)
    assert "dense.bias" not in shapes(net)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(NotImplementedError, match=r"'resnet50'.*known: fcn-4, fcn4"):
        hubconf.create_network("resnet50")


@pytest.mark.slow
def test_the_mindspore_hub_client_can_import_the_conf_from_a_copy_of_the_repo(tmp_path):
    """Do what the client does with source='local': the code folder beside the card, named after
    the basename of its repo-link, first on sys.path and the working directory, then
    mindspore_hub_conf.create_network(model-name lower-cased, *the Usage's arguments)."""
    card = read_card(REPO / "mshub_res" / "assets" / "mindspore" / "ascend" / "1.1" / "fcn4_v1.1.md")
    folder = tmp_path / os.path.basename(card.fields["repo-link"].strip("<>"))
    assert folder.name == "fcn-4" and card.fields["model-name"] == "fcn4"
    folder.mkdir()
    for item in ("hubconf.py", "mindspore_hub_conf.py", "fcn4"):
        copy = shutil.copytree if (REPO / item).is_dir() else shutil.copy
        copy(REPO / item, folder / item)
    script = (
        "import os, sys\n"
        f"folder = {str(folder)!r}\n"
        "sys.path.insert(0, folder); os.chdir(folder)\n"
        "import importlib\n"
        "conf = importlib.import_module('mindspore_hub_conf')\n"
        "net = conf.create_network('fcn4', in_classes=[1, 8, 8, 12, 16])\n"
        "import fcn4, mindspore.nn as nn\n"
        "assert fcn4.__file__.startswith(folder), fcn4.__file__\n"
        "assert isinstance(net, nn.Cell)\n"
        "print(type(net).__name__, len(net.parameters_dict()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("FCN4 22")


def test_mindspore_hub_conf_reexports_create_network():
    import mindspore_hub_conf

    assert mindspore_hub_conf.create_network is hubconf.create_network
    assert isinstance(mindspore_hub_conf.create_network("fcn4", in_classes=[1, 8, 8, 12, 16]), nn.Cell)


def test_the_core_library_imports_neither_hubconf_nor_the_kit():
    imported = set()
    for path in (REPO / "fcn4").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert {"mindspore", "numpy"} <= imported  # the walk sees the imports
    assert not imported & {"hubconf", "mindspore_hub_conf", "finetune"}
