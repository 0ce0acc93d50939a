"""The FCN-4 network (Choi, Fazekas and Sandler, ISMIR 2016) as a MindSpore ``Cell``.

Parameter names and shapes are those of the MindSpore model zoo's ``MusicTaggerCNN``, so the
published MagnaTagATune checkpoint loads into a network built from the hub card's arguments.
"""
from __future__ import annotations

import time

import numpy as np
from mindspore import nn, ops

from ..base.errors import SettingError
from .arguments import _OUTPUTS, CARD_ARGUMENTS, HEAD_PREFIX, LAYERS, N_BLOCKS, _int, check_arguments  # noqa: F401

__all__ = ["FCN4", "CARD_ARGUMENTS", "HEAD_PREFIX", "N_BLOCKS", "LAYERS", "check_arguments"]

class FCN4(nn.Cell):
    """FCN-4: four conv blocks, a global max over frequency and time, one dense layer.

    Block ``i`` (1..4) is ``conv{i}`` (bias-free) -> ``bn{i}`` -> ReLU -> max pool; the
    fourth pool is replaced, as in the zoo code, by a global max over the two spatial axes,
    which gives the same result on the 4x8 map of a 1366-frame input and lets any input of at
    least :attr:`min_input_size` work. The head ``dense`` maps the ``in_classes[-1]``-d
    embedding to ``num_classes`` outputs.

    Parameters
    ----------
    in_classes : sequence of 5 int
        Input channels, then the output channels of the four convs.
    kernel_size : sequence of 4 or 5 int or (int, int)
        Kernel of each conv. The zoo passes 5 values and uses the first 4; so does this.
    padding : sequence of 4 or 5 int
        ``0`` means MindSpore's ``'same'`` padding, which the zoo network (and so the published
        checkpoint) was trained with although the card passes ``padding=[0]*5``; ``p > 0``
        pads ``p`` zeros on each side instead (``pad_mode='pad'``). Parameter shapes do not
        depend on it.
    maxpool : sequence of 4 (int, int)
        Window (= stride) of each pool. Only the first three are applied; the fourth is kept
        for compatibility with the card and replaced by the global max.
    has_bias : bool
        Whether the head ``dense`` has a bias (the checkpoint has one). The convs never have
        one: the zoo builds them with MindSpore's default ``has_bias=False``, and each is
        followed by batch norm, whose ``beta`` plays that role.
    num_classes : int
        Outputs of the head: 50 MagnaTagATune tags for the published checkpoint.
    output : {'sigmoid', 'logits'}
        What calling the network returns: probabilities (as the zoo model and hub users get)
        or logits (for a loss such as ``BCEWithLogitsLoss``). :meth:`logits` always gives logits.

    Examples
    --------
    >>> import numpy as np, mindspore as ms
    >>> net = FCN4(in_classes=[1, 8, 8, 8, 16], num_classes=10)
    >>> x = ms.Tensor(np.zeros((2, 1, 96, 1366), np.float32))
    >>> net(x).shape, net.forward_features(x).shape
    ((2, 10), (2, 16))
    """

    def __init__(self, in_classes=CARD_ARGUMENTS["in_classes"],
                 kernel_size=CARD_ARGUMENTS["kernel_size"], padding=CARD_ARGUMENTS["padding"],
                 maxpool=CARD_ARGUMENTS["maxpool"], has_bias=CARD_ARGUMENTS["has_bias"],
                 num_classes: int = 50, output: str = "sigmoid"):
        super().__init__()
        checked = check_arguments(in_classes, kernel_size, padding, maxpool, has_bias, num_classes, output)
        self.in_classes, self.kernel_size, self.padding = checked["in_classes"], checked["kernel_size"], checked["padding"]
        self.maxpool, self.has_bias, self.output = checked["maxpool"], has_bias, output
        self.num_features = self.in_classes[-1]

        channels = self.in_classes
        for i in range(N_BLOCKS):
            pad = self.padding[i]
            setattr(self, f"conv{i + 1}", nn.Conv2d(
                channels[i], channels[i + 1], self.kernel_size[i], has_bias=False,
                pad_mode="pad" if pad else "same", padding=pad))
            setattr(self, f"bn{i + 1}", nn.BatchNorm2d(channels[i + 1]))
        self.pool1 = nn.MaxPool2d(self.maxpool[0], self.maxpool[0])
        self.pool2 = nn.MaxPool2d(self.maxpool[1], self.maxpool[1])
        self.pool3 = nn.MaxPool2d(self.maxpool[2], self.maxpool[2])
        self.relu = nn.ReLU()
        self.sigmoid = nn.Sigmoid()
        self.reset_classifier(num_classes)
        self.min_input_size = checked["min_input_size"]

    # ----------------------------------------------------------------- forward paths
    def forward_features(self, x, layer: str = "penultimate"):
        """The ``[N, in_classes[-1]]`` embedding (2048-d for the card's network): the head's input.

        ``layer`` (one of :data:`LAYERS`) takes it from another place: ``blockI`` gives the global mean
        and the global max of block I's map (after its ReLU and, for blocks 1 to 3, its pool), side by
        side: ``2 * in_classes[I]`` values (:meth:`feature_size`). ``block4``'s max half is ``penultimate``.
        """
        if layer not in LAYERS:
            raise ValueError(f"layer must be one of {', '.join(LAYERS)}, got {layer!r}")
        shape = x.shape
        if len(shape) != 4 or shape[1] != self.in_classes[0] \
                or shape[2] < self.min_input_size[0] or shape[3] < self.min_input_size[1]:
            raise ValueError(  # not SettingError: compiled graphs raise only builtin exceptions
                f"FCN4 takes input [N, {self.in_classes[0]}, mels, frames] with at least "
                f"{self.min_input_size} (mels, frames), got {shape}; pad short clips "
                f"(the front end's fit() does) or use a longer excerpt")
        # ReLU after each pool: max and ReLU commute exactly, and ReLU (and its gradient) then
        # runs on the pooled map, 8 to 24 times smaller.
        x = self.relu(self.pool1(self.bn1(self.conv1(x))))
        if layer == "block1":
            return _mean_and_max(x)
        x = self.relu(self.pool2(self.bn2(self.conv2(x))))
        if layer == "block2":
            return _mean_and_max(x)
        x = self.relu(self.pool3(self.bn3(self.conv3(x))))
        if layer == "block3":
            return _mean_and_max(x)
        x = self.bn4(self.conv4(x))
        if layer == "block4":
            return _mean_and_max(self.relu(x))
        return self.relu(ops.amax(x, (2, 3)))

    def feature_size(self, layer: str = "penultimate") -> int:
        """Values :meth:`forward_features` gives per input for ``layer``.

        >>> FCN4().feature_size("block2"), FCN4().feature_size()
        (768, 2048)
        """
        if layer not in LAYERS:
            raise SettingError(f"layer must be one of {', '.join(LAYERS)}, got {layer!r}")
        return self.num_features if layer == LAYERS[-1] else 2 * self.in_classes[LAYERS.index(layer) + 1]

    def layer_view(self, layer: str):
        """A cell that embeds with ``layer`` (its :meth:`forward_features`), for a :class:`~fcn4.Tagger`:
        ``Tagger.from_network(net.layer_view("block2"))`` embeds from block 2 (on the engine chosen for the
        machine: the view is exported under a key of its own). Its tag outputs are not computed (every
        probability 0.5): it is for embeddings only."""
        return _LayerView(self, layer)

    def embed(self, x):
        """Alias of :meth:`forward_features`: the 2048-d FCN-4 embedding of each input."""
        return self.forward_features(x)

    def forward_head(self, features):
        """Logits of the head for embeddings from :meth:`forward_features`."""
        return self.dense(features)

    def logits(self, x):
        """Pre-sigmoid outputs ``[N, num_classes]``, whatever ``output`` is set to."""
        return self.forward_head(self.forward_features(x))

    def construct(self, x):
        y = self.logits(x)
        if self.output == "sigmoid":
            y = self.sigmoid(y)
        return y

    # ------------------------------------------------------------- fine-tuning API
    def reset_classifier(self, num_classes: int, has_bias: bool | None = None) -> "FCN4":
        """Replace the head by a freshly initialised one with ``num_classes`` outputs.

        The backbone (conv1..conv4, bn1..bn4) is kept as it is. The new head is named
        ``dense`` like the old one, so checkpoints of the fine-tuned network keep the zoo's names.
        """
        self.num_classes = _int("num_classes", num_classes, minimum=1, bound="classes")
        if has_bias is not None:
            self.has_bias = bool(has_bias)
        self.dense = nn.Dense(self.num_features, self.num_classes, has_bias=self.has_bias)
        self._structure_changed()
        return self

    def freeze_backbone(self, trainable_blocks: int = 0) -> "FCN4":
        """Freeze the conv blocks except the last ``trainable_blocks``; the head stays trainable.

        Frozen blocks get ``requires_grad=False`` and their batch norms always use the moving
        statistics, so training the rest changes none of their values. Optimizers and gradient
        functions pick their parameters when built: build them after freezing.
        """
        if not 0 <= trainable_blocks <= N_BLOCKS:
            raise SettingError(f"trainable_blocks must be in 0..{N_BLOCKS}, got {trainable_blocks}")
        for i in range(1, N_BLOCKS + 1):
            frozen = i <= N_BLOCKS - trainable_blocks
            conv, bn = getattr(self, f"conv{i}"), getattr(self, f"bn{i}")
            for param in (conv.weight, bn.gamma, bn.beta):
                param.requires_grad = not frozen
            bn.use_batch_statistics = False if frozen else None
        self._structure_changed()
        return self

    def unfreeze(self) -> "FCN4":
        """Make every block trainable again (undo :meth:`freeze_backbone`)."""
        return self.freeze_backbone(N_BLOCKS)

    def _structure_changed(self):
        self._structure_version = getattr(self, "_structure_version", 0) + 1

    @property
    def create_time(self):
        # MindSpore 2.10 keys a cell's compiled graphs by (phase, create_time, id) and reuses
        # the first graph even after set_train, a swapped head or frozen blocks, silently
        # giving stale results. One stamp per (training, structure) state gives each state its
        # own graph, compiled once and reused when the state comes back.
        stamps = self.__dict__.setdefault("_graph_stamps", {})
        state = (bool(self.training), getattr(self, "_structure_version", 0))
        return stamps.setdefault(state, time.time_ns() + len(stamps))

    @property
    def frozen_blocks(self) -> int:
        """How many leading conv blocks :meth:`freeze_backbone` froze."""
        return sum(not getattr(self, f"conv{i}").weight.requires_grad
                   for i in range(1, N_BLOCKS + 1))

    # ---------------------------------------------------------------- shapes, cost
    def num_parameters(self) -> int:
        """Values in all parameters, batch-norm statistics included (17,369,266 for the card's)."""
        return sum(int(np.prod(p.shape)) for p in self.get_parameters())

    def feature_shapes(self, n_mels: int = 96, n_frames: int = 1366) -> list[tuple[str, tuple]]:
        """``(layer, (channels, mels, frames))`` after each block for one input, then the outputs.

        Examples
        --------
        >>> FCN4().feature_shapes()[:2]
        [('block1', (128, 48, 341)), ('block2', (384, 12, 68))]
        """
        rows = [(f"block{i + 1}", (self.in_classes[i + 1],) + out)
                for i, (_, out) in enumerate(self._block_extents(n_mels, n_frames))]
        return rows + [("global_max", (self.num_features,)), ("dense", (self.num_classes,))]

    def macs(self, n_mels: int = 96, n_frames: int = 1366) -> int:
        """Multiply-adds of one forward pass of one input (FLOPs are about twice this)."""
        total = self.num_features * self.num_classes
        for i, ((h, w), _) in enumerate(self._block_extents(n_mels, n_frames)):
            kh, kw = self.kernel_size[i]
            total += self.in_classes[i] * self.in_classes[i + 1] * kh * kw * h * w
        return total

    def _block_extents(self, n_mels: int, n_frames: int):
        """``((h, w) after the conv, (h, w) after the block)`` of each block, for one input."""
        h, w = n_mels, n_frames
        for i in range(N_BLOCKS):
            h, w = self._conv_out(i, 0, h), self._conv_out(i, 1, w)
            conv = (h, w)
            if i < N_BLOCKS - 1:  # the last pool is the global max
                h, w = h // self.maxpool[i][0], w // self.maxpool[i][1]
            yield conv, (h, w)

    def _conv_out(self, block: int, axis: int, size: int) -> int:
        pad = self.padding[block]
        return size if pad == 0 else size + 2 * pad - self.kernel_size[block][axis] + 1

    def arguments(self) -> dict:
        """The arguments that rebuild this network (what its card's Usage writes).

        >>> FCN4(in_classes=[1, 8, 8, 8, 16], num_classes=10).arguments()["in_classes"]
        [1, 8, 8, 8, 16]
        """
        return {"in_classes": list(self.in_classes),
                "kernel_size": [list(k) if k[0] != k[1] else k[0] for k in self.kernel_size],
                "padding": list(self.padding), "maxpool": [list(p) for p in self.maxpool],
                "has_bias": self.has_bias, "num_classes": self.num_classes}

    def extend_repr(self):
        return (f"in_classes={list(self.in_classes)}, kernel_size={[list(k) for k in self.kernel_size]}, "
                f"padding={list(self.padding)}, maxpool={[list(p) for p in self.maxpool]}, "
                f"has_bias={self.has_bias}, num_classes={self.num_classes}, output={self.output!r}")


def _mean_and_max(x):
    """``[N, C, H, W]`` -> ``[N, 2C]``: the global mean of each channel, then its global max."""
    return ops.concat((ops.mean(x, (2, 3)), ops.amax(x, (2, 3))), 1)


class _LayerView(nn.Cell):
    """An :class:`FCN4` whose embedding is a block's pooled map (see :meth:`FCN4.layer_view`)."""

    def __init__(self, network: FCN4, layer: str):
        super().__init__(auto_prefix=False)  # the network's parameter names stay its own
        self.network, self.layer = network, layer
        self.num_classes, self.num_features = network.num_classes, network.feature_size(layer)
        self.min_input_size, self.in_classes = network.min_input_size, network.in_classes

    def forward_features(self, x):
        return self.network.forward_features(x, self.layer)

    def forward_head(self, features):
        return ops.zeros((features.shape[0], self.num_classes), features.dtype)

    def extend_repr(self):
        # In the digest that keys its export: two views of one network differ by their layer alone.
        return f"{self.network.extend_repr()}, layer={self.layer}"

    def construct(self, x):
        return self.forward_features(x)
