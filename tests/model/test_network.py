import os

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from fcn4 import CARD_ARGUMENTS, FCN4
from helpers import SMALL, randomise, values
from reference_fcn4 import ZOO_PARAMETERS
from reference_fcn4 import forward as reference_forward


def test_parameter_names_shapes_and_count_equal_the_zoo_network():
    params = FCN4().parameters_dict()
    assert {name: tuple(p.shape) for name, p in params.items()} == ZOO_PARAMETERS
    assert sum(int(np.prod(p.shape)) for p in params.values()) == 17_369_266
    assert FCN4().num_parameters() == 17_369_266


def test_defaults_are_the_hub_card_arguments():
    net = FCN4()
    assert net.in_classes == (1, 128, 384, 768, 2048)
    assert net.maxpool == ((2, 4), (4, 5), (3, 8), (4, 8))
    assert dict(CARD_ARGUMENTS) == {
        "in_classes": (1, 128, 384, 768, 2048), "kernel_size": (3, 3, 3, 3, 3),
        "padding": (0, 0, 0, 0, 0), "maxpool": ((2, 4), (4, 5), (3, 8), (4, 8)), "has_bias": True}
    assert all(getattr(net, f"conv{i}").pad_mode == "same" for i in range(1, 5))
    assert all(not getattr(net, f"conv{i}").has_bias for i in range(1, 5))


def test_full_size_forward_shapes_and_probabilities():
    net = FCN4()
    x = ms.Tensor(np.random.default_rng(0).normal(-20, 10, (2, 1, 96, 1366)).astype(np.float32))
    probabilities = net(x).asnumpy()
    assert probabilities.shape == (2, 50)
    assert ((probabilities > 0) & (probabilities < 1)).all()
    assert net.forward_features(x).shape == (2, 2048)
    assert net.feature_shapes() == [
        ("block1", (128, 48, 341)), ("block2", (384, 12, 68)), ("block3", (768, 4, 8)),
        ("block4", (2048, 4, 8)), ("global_max", (2048,)), ("dense", (50,))]
    assert net.macs() == pytest.approx(10.0e9, rel=0.01)


def test_forward_equals_an_independent_numpy_implementation(melgrams):
    net = randomise(FCN4(**SMALL, num_classes=7))
    embedding, logits = reference_forward(values(net), melgrams.asnumpy())
    np.testing.assert_allclose(net.forward_features(melgrams).asnumpy(), embedding, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(net.logits(melgrams).asnumpy(), logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(net(melgrams).asnumpy(), 1 / (1 + np.exp(-logits)), rtol=1e-4, atol=1e-5)


def test_logits_output_and_embed_alias(melgrams):
    net = randomise(FCN4(**SMALL))
    as_logits = randomise(FCN4(**SMALL, output="logits"))
    np.testing.assert_array_equal(as_logits(melgrams).asnumpy(), net.logits(melgrams).asnumpy())
    np.testing.assert_array_equal(net.embed(melgrams).asnumpy(), net.forward_features(melgrams).asnumpy())
    np.testing.assert_allclose(net(melgrams).asnumpy(),
                               1 / (1 + np.exp(-net.logits(melgrams).asnumpy())), atol=1e-6)


@pytest.mark.parametrize("frames", [160, 161, 1366, 2000])
def test_any_length_from_the_shortest_input_works(frames):
    net = FCN4(**SMALL)
    assert net.min_input_size == (24, 160)
    x = ms.Tensor(np.ones((1, 1, 96, frames), np.float32))
    assert net.forward_features(x).shape == (1, 16)


@pytest.mark.parametrize("shape", [(1, 1, 96, 159), (1, 1, 23, 400), (1, 2, 96, 400), (96, 400)])
def test_too_small_or_misshaped_input_is_refused_clearly(shape):
    with pytest.raises(ValueError, match=r"at least \(24, 160\)"):
        FCN4(**SMALL)(ms.Tensor(np.ones(shape, np.float32)))


def test_padding_zero_means_same_and_positive_means_explicit(melgrams):
    same = randomise(FCN4(**SMALL))
    explicit = FCN4(**SMALL, padding=[1] * 5)
    for name, value in values(same).items():
        explicit.parameters_dict()[name].set_data(ms.Tensor(value))
    # For a 3x3 kernel, 'same' padding is one zero on each side.
    np.testing.assert_allclose(explicit(melgrams).asnumpy(), same(melgrams).asnumpy(), atol=1e-6)
    wide = FCN4(**SMALL, padding=[2] * 5)
    block1 = wide.pool1(wide.relu(wide.bn1(wide.conv1(melgrams))))
    assert block1.shape == (2, 8, 49, 50)  # (96 + 4 - 2) // 2, (200 + 4 - 2) // 4
    assert wide.feature_shapes(96, 200)[0] == ("block1", tuple(block1.shape[1:]))


def test_has_bias_controls_the_head_bias_only():
    names = set(FCN4(**SMALL, has_bias=False).parameters_dict())
    assert "dense.bias" not in names and "dense.weight" in names
    assert not any(name.startswith("conv") and name.endswith("bias") for name in names)


@pytest.mark.parametrize("kwargs, message", [
    ({"in_classes": [1, 128, 384, 768]}, "in_classes"),
    ({"kernel_size": [3, 3, 3]}, "kernel_size"),
    ({"padding": [-1] * 5}, "padding"),
    ({"maxpool": [(2, 4)] * 3}, "maxpool"),
    ({"num_classes": 0}, "num_classes"),
    ({"output": "probabilities"}, "output"),
])
def test_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FCN4(**kwargs)


def test_reset_classifier_validates_the_class_count():
    with pytest.raises(ValueError, match="num_classes"):
        FCN4(**SMALL).reset_classifier(0)


def test_importing_fcn4_caps_onednn_at_avx2_unless_the_user_chose(monkeypatch):
    """Without the cap, MindSpore 2.10 oneDNN convolutions run over 100x slower on AVX-512 CPUs."""
    import importlib

    import fcn4

    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    importlib.reload(fcn4)
    assert os.environ["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
    importlib.reload(fcn4)
    assert os.environ["ONEDNN_MAX_CPU_ISA"] == "AVX512_CORE"


def test_has_bias_must_be_a_bool():
    with pytest.raises(TypeError, match="has_bias"):
        FCN4(has_bias="yes")


def test_reset_classifier_gives_a_new_head_and_keeps_the_backbone(melgrams):
    net = randomise(FCN4(**SMALL))
    before = values(net)
    net.reset_classifier(10)
    after = values(net)
    assert net(melgrams).shape == (2, 10)
    assert after["dense.weight"].shape == (10, 16) and after["dense.bias"].shape == (10,)
    assert set(after) == set(before)  # the new head keeps the zoo's parameter names
    for name in before:
        if not name.startswith("dense."):
            np.testing.assert_array_equal(after[name], before[name], err_msg=name)


def _train_step(net, x, y):
    loss_fn = nn.BCEWithLogitsLoss()
    optimizer = nn.Adam(net.trainable_params(), learning_rate=0.01)
    grad_fn = ms.value_and_grad(lambda a, b: loss_fn(net.logits(a), b), None, optimizer.parameters)
    net.set_train(True)
    _, grads = grad_fn(x, y)
    optimizer(grads)


@pytest.mark.parametrize("trainable_blocks", [0, 1, 4])
def test_freeze_backbone_trains_only_the_head_and_the_last_blocks(melgrams, trainable_blocks):
    net = randomise(FCN4(**SMALL, num_classes=3)).freeze_backbone(trainable_blocks)
    assert net.frozen_blocks == 4 - trainable_blocks
    trainable_blocks_names = {f"{kind}{i}" for i in range(5 - trainable_blocks, 5) for kind in ("conv", "bn")}
    expected = {n for n in net.parameters_dict()
                if n.startswith("dense.") or (n.split(".")[0] in trainable_blocks_names
                                              and not n.split(".")[1].startswith("moving"))}
    assert {p.name for p in net.trainable_params()} == expected
    before = values(net)
    _train_step(net, melgrams, ms.Tensor(np.eye(3, dtype=np.float32)[:2]))
    changed = {name for name, value in values(net).items() if not np.array_equal(value, before[name])}
    moving = {n for n in net.parameters_dict() if n.split(".")[0] in trainable_blocks_names and "moving" in n}
    assert changed == expected | moving  # frozen BN statistics do not move either


def test_unfreeze_makes_everything_trainable_again():
    net = FCN4(**SMALL).freeze_backbone()
    net.unfreeze()
    assert net.frozen_blocks == 0
    assert len(net.trainable_params()) == 4 + 4 * 2 + 2
    assert all(getattr(net, f"bn{i}").use_batch_statistics is None for i in range(1, 5))


@pytest.mark.slow
def test_graph_mode_follows_train_eval_freeze_and_head_changes(melgrams):
    """MindSpore reuses a cell's first compiled graph unless its key changes; FCN4 must not."""
    def run(mode):
        ms.set_context(mode=mode)
        net = randomise(FCN4(**SMALL, output="logits"))
        out = {"eval": net(melgrams).asnumpy()}
        net.set_train(True)
        out["train"] = net(melgrams).asnumpy()
        out["moving_mean"] = net.bn1.moving_mean.asnumpy().copy()
        net.set_train(False)
        out["eval_again"] = net(melgrams).asnumpy()
        net.freeze_backbone().set_train(True)
        out["frozen_train"] = net(melgrams).asnumpy()
        net.reset_classifier(3)
        randomise(net, seed=5)
        out["new_head"] = net(melgrams).asnumpy()
        return out

    graph, pynative = run(ms.GRAPH_MODE), run(ms.PYNATIVE_MODE)
    assert graph["new_head"].shape == (2, 3)
    assert not np.allclose(pynative["train"], pynative["eval"])  # the check below means something
    for key in pynative:
        np.testing.assert_allclose(graph[key], pynative[key], rtol=1e-4, atol=1e-5, err_msg=key)
