"""The head-only model of the fine-tuning kit: a dense layer on standardised embeddings.

The network to fine-tune comes from :meth:`fcn4.WeightsSpec.build` (pretrained backbone,
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
    from fcn4.model.checkpoint import assign

    dense = head.dense
    weight = dense.weight.asnumpy().astype(np.float64)
    scale = head.feature_scale.asnumpy().astype(np.float64)
    mean = head.feature_mean.asnumpy().astype(np.float64)
    folded = weight * scale[None, :]
    bias = dense.bias.asnumpy().astype(np.float64) - folded @ mean
    assign(dense.weight, folded)
    assign(dense.bias, bias)
    assign(head.feature_mean, np.zeros_like(mean))
    assign(head.feature_scale, np.ones_like(scale))
