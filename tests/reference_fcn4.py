"""An independent NumPy implementation of the reference FCN-4 forward pass (eval mode)."""
import numpy as np


def conv_same(x, w):
    n, _, h, wd = x.shape
    kh, kw = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)))
    out = np.zeros((n, w.shape[0], h, wd))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    return out


def batch_norm(x, gamma, beta, mean, var, eps=1e-5):
    s = (slice(None), None, None)
    return gamma[s] * (x - mean[s]) / np.sqrt(var[s] + eps) + beta[s]


def max_pool(x, kh, kw):
    n, c, h, w = x.shape
    x = x[:, :, :h // kh * kh, :w // kw * kw].reshape(n, c, h // kh, kh, w // kw, kw)
    return x.max(axis=(3, 5))


def forward(params, x, maxpool=((2, 4), (4, 5), (3, 8))):
    """Return (embedding, logits) for parameters given by their zoo names."""
    x = x.astype(np.float64)
    for i in range(1, 5):
        x = conv_same(x, params[f"conv{i}.weight"])
        x = batch_norm(x, *(params[f"bn{i}.{k}"] for k in ("gamma", "beta", "moving_mean", "moving_variance")))
        x = np.maximum(x, 0)
        if i < 4:
            x = max_pool(x, *maxpool[i - 1])
    embedding = x.max(axis=(2, 3))
    return embedding, embedding @ params["dense.weight"].T + params["dense.bias"]


#: The zoo network's parameter names and shapes (what its published checkpoint holds).
ZOO_PARAMETERS = {
    "conv1.weight": (128, 1, 3, 3), "conv2.weight": (384, 128, 3, 3),
    "conv3.weight": (768, 384, 3, 3), "conv4.weight": (2048, 768, 3, 3),
    **{f"bn{i}.{k}": (c,) for i, c in zip(range(1, 5), (128, 384, 768, 2048))
       for k in ("gamma", "beta", "moving_mean", "moving_variance")},
    "dense.weight": (50, 2048), "dense.bias": (50,),
}
