import os
import stat

import mindspore as ms
import numpy as np
import pytest

from fcn4 import FCN4, CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from helpers import SMALL, randomise, values
from reference_fcn4 import ZOO_PARAMETERS

ADAM_SCALARS = {"beta1_power": 0.9 ** 10, "beta2_power": 0.999 ** 10, "learning_rate": 5e-4,
                "global_step": 10}


def write_zoo_checkpoint(path, rng):
    """A file laid out like the published one: the zoo's 22 parameters plus Adam's state."""
    params = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in ZOO_PARAMETERS.items()}
    entries = [{"name": n, "data": ms.Tensor(v)} for n, v in params.items()]
    for name, value in params.items():
        if not name.split(".")[1].startswith("moving"):
            entries += [{"name": f"moment{k}.{name}", "data": ms.Tensor(np.zeros_like(value))} for k in (1, 2)]
    entries += [{"name": n, "data": ms.Tensor(np.array(v, np.float32))} for n, v in ADAM_SCALARS.items()]
    ms.save_checkpoint(entries, str(path))
    return params


@pytest.mark.slow
def test_zoo_layout_checkpoint_with_optimizer_state_loads_every_parameter(tmp_path):
    expected = write_zoo_checkpoint(tmp_path / "zoo.ckpt", np.random.default_rng(0))
    net = FCN4()
    report = load_checkpoint(net, tmp_path / "zoo.ckpt")
    assert sorted(report.loaded) == sorted(ZOO_PARAMETERS)
    assert "moment1.conv2.weight" in report.ignored and "beta1_power" in report.ignored
    assert report.head_skipped == ()
    for name, value in values(net).items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)


@pytest.mark.slow
def test_saved_network_reloads_with_identical_outputs(tmp_path):
    trained = randomise(FCN4(), seed=3)
    path = save_checkpoint(trained, tmp_path / "run" / "fcn4.ckpt", extra={"epoch": 3})
    fresh = FCN4()
    report = load_checkpoint(fresh, path)
    assert len(report.loaded) == 22 and report.ignored == ("epoch",)
    x = ms.Tensor(np.random.default_rng(0).normal(-20, 10, (2, 1, 96, 400)).astype(np.float32))
    np.testing.assert_array_equal(fresh(x).asnumpy(), trained(x).asnumpy())


def test_missing_parameters_are_all_named_and_nothing_is_loaded(tmp_path):
    entries = values(randomise(FCN4(**SMALL)))
    del entries["conv2.weight"], entries["bn3.gamma"]
    net = FCN4(**SMALL)
    before = values(net)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(net, entries)
    assert "conv2.weight" in str(err.value) and "bn3.gamma" in str(err.value)
    for name, value in values(net).items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_wrong_shapes_are_named_with_both_shapes(tmp_path):
    path = save_checkpoint(FCN4(in_classes=[1, 8, 8, 12, 24]), tmp_path / "wider.ckpt")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(FCN4(**SMALL), path)
    message = str(err.value)
    assert str(path) in message
    assert "conv4.weight (file (24, 12, 3, 3), network (16, 12, 3, 3))" in message
    assert "dense.weight" in message and "arguments the checkpoint was trained with" in message


def test_a_swapped_head_needs_skip_head_and_keeps_its_fresh_values(tmp_path):
    path = save_checkpoint(randomise(FCN4(**SMALL)), tmp_path / "mtat.ckpt")
    net = FCN4(**SMALL, num_classes=10)
    with pytest.raises(CheckpointError, match="skip_head=True"):
        load_checkpoint(net, path)
    head = values(net)["dense.weight"]
    report = load_checkpoint(net, path, skip_head=True)
    assert report.head_skipped == ("dense.weight", "dense.bias")
    np.testing.assert_array_equal(values(net)["dense.weight"], head)
    stored = read_checkpoint(path)
    np.testing.assert_array_equal(values(net)["conv1.weight"], stored["conv1.weight"].asnumpy())


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all" * 10])
def test_unreadable_file_error_names_the_file(tmp_path, content):
    path = tmp_path / "broken.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="broken.ckpt.*not a readable MindSpore checkpoint"):
        load_checkpoint(FCN4(**SMALL), path)


def test_missing_file_error_names_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="nowhere.ckpt.*does not exist"):
        read_checkpoint(tmp_path / "nowhere.ckpt")


def test_save_replaces_an_existing_read_only_checkpoint(tmp_path):
    path = tmp_path / "fcn4.ckpt"
    save_checkpoint(FCN4(**SMALL), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o400  # MindSpore writes its files read-only
    newer = randomise(FCN4(**SMALL), seed=9)
    save_checkpoint(newer, path)
    np.testing.assert_array_equal(read_checkpoint(path)["conv1.weight"].asnumpy(), values(newer)["conv1.weight"])
    assert os.listdir(tmp_path) == ["fcn4.ckpt"]


def test_an_interrupted_save_leaves_the_good_checkpoint_in_place(tmp_path, monkeypatch):
    path = tmp_path / "fcn4.ckpt"
    good = randomise(FCN4(**SMALL), seed=1)
    save_checkpoint(good, path)

    def dies_half_way(net, name, **kwargs):
        with open(name, "wb") as f:
            f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(ms, "save_checkpoint", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(randomise(FCN4(**SMALL), seed=2), path)
    assert os.listdir(tmp_path) == ["fcn4.ckpt"]
    np.testing.assert_array_equal(read_checkpoint(path)["conv1.weight"].asnumpy(), values(good)["conv1.weight"])
