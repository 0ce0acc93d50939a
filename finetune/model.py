"""The head-only model of the fine-tuning kit: a dense layer on standardised embeddings.

The network to fine-tune comes from :func:`fcn4.warm_start.build_network` (pretrained backbone,
fresh N-way head).
"""
from __future__ import annotations

import numpy as np

__all__ = ["standardised_head", "fold_standardisation"]


def standardised_head(dense, mean: np.ndarray, std: np.ndarray):
    """A cell computing ``dense((x - mean) / std)``; ``dense``'s parameters keep their names.

    Standardised embeddings make the head's training well conditioned whatever the backbone's
    scale; :func:`fold_standardisation` then folds the scaling into ``dense``.
    """
    import mindspore as ms
    from mindspore import nn

    class _Head(nn.Cell):
        def __init__(self):
            super().__init__(auto_prefix=False)
            self.dense = dense
            self.feature_mean = ms.Parameter(ms.Tensor(mean.astype(np.float32)), name="feature_mean",
                                             requires_grad=False)
            self.feature_scale = ms.Parameter(ms.Tensor((1.0 / std).astype(np.float32)), name="feature_scale",
                                              requires_grad=False)

        def construct(self, x):
            return self.dense((x - self.feature_mean) * self.feature_scale)

    return _Head()


def fold_standardisation(head) -> None:
    """Fold a :func:`standardised_head`'s scaling into its dense layer, in place.

    Afterwards ``head.dense(x)`` equals what ``head(x)`` gave: ``W' = W * scale`` and
    ``b' = b - W' @ mean``.
    """
    import mindspore as ms

    dense = head.dense
    weight = dense.weight.asnumpy().astype(np.float64)
    scale = head.feature_scale.asnumpy().astype(np.float64)
    mean = head.feature_mean.asnumpy().astype(np.float64)
    folded = weight * scale[None, :]
    bias = dense.bias.asnumpy().astype(np.float64) - folded @ mean
    dense.weight.set_data(ms.Tensor(folded.astype(np.float32)))
    dense.bias.set_data(ms.Tensor(bias.astype(np.float32)))
    head.feature_mean.set_data(ms.Tensor(np.zeros_like(mean, np.float32)))
    head.feature_scale.set_data(ms.Tensor(np.ones_like(scale, np.float32)))
