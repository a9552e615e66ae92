"""Representation similarity by linear CKA (Kornblith et al. 2019): CKA(X, Y) = HSIC(K, L) / sqrt(HSIC(K, K)
HSIC(L, L)) with the linear Gram matrices K = X X^T, L = Y Y^T of two layers' features for the same n samples.
`linear_cka` is the full-batch form (centred Grams); `minibatch_cka` sums the unbiased HSIC estimator (Song et al.
2012) over minibatches, as Nguyen, Raghu, Kornblith 2021 do for large sets. Both are invariant to orthogonal
transforms and isotropic scaling of either feature set, and CKA(X, X) = 1.
"""
import torch
from torch import Tensor, nn

from reslab.mechanisms.common import hooks, preserved, residual_blocks


def gram(x: Tensor) -> Tensor:
    """The linear Gram matrix (n, n) of features x (n, ...), in float64."""
    x = x.detach().flatten(1).double()
    return x @ x.T


def _centre(k: Tensor) -> Tensor:
    return k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()


def linear_cka(x: Tensor, y: Tensor) -> float:
    """Full-batch linear CKA of features x (n, ...) and y (n, ...): ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on
    centred features, computed from the Grams."""
    k, lm = _centre(gram(x)), _centre(gram(y))
    return float((k * lm).sum() / (k.norm() * lm.norm()))


def unbiased_hsic(k: Tensor, lm: Tensor) -> Tensor:
    """Song et al. 2012's unbiased HSIC estimator of two Gram matrices (n > 3)."""
    n = k.shape[0]
    k, lm = k.clone().fill_diagonal_(0), lm.clone().fill_diagonal_(0)
    ones = torch.ones(n, dtype=k.dtype, device=k.device)
    value = (k * lm).sum() + k.sum() * lm.sum() / ((n - 1) * (n - 2)) - 2 * (ones @ k) @ (lm @ ones) / (n - 2)
    return value / (n * (n - 3))


def minibatch_cka(features: list[list[Tensor]]) -> Tensor:
    """(layers, layers) CKA matrix from `features[b][i]`, layer i's features on minibatch b: the unbiased HSIC of
    every pair summed over the minibatches, then normalised."""
    layers = len(features[0])
    hsic = torch.zeros(layers, layers, dtype=torch.float64)
    for batch in features:
        grams = [gram(f) for f in batch]
        for i in range(layers):
            for j in range(i, layers):
                hsic[i, j] += unbiased_hsic(grams[i], grams[j]).cpu()
    hsic = torch.triu(hsic) + torch.triu(hsic, 1).T
    diag = hsic.diagonal().clamp_min(1e-300).sqrt()
    return hsic / diag[:, None] / diag[None, :]


def block_features(model: nn.Module, x: Tensor) -> list[Tensor]:
    """Every residual block's output on x (eval mode)."""
    out = []
    with preserved(model), hooks([b.register_forward_hook(lambda m, i, o: out.append(o.detach().clone()))
                                  for b in residual_blocks(model)]), torch.inference_mode():
        model.eval()(x)
    return out


def block_cka(model: nn.Module, x: Tensor, batch: int = 256) -> Tensor:
    """The minibatch CKA matrix between every pair of residual blocks' outputs on inputs x, in minibatches of
    `batch` (a last one with fewer than 4 samples is left out)."""
    chunks = [c for c in x.split(batch) if len(c) > 3]
    return minibatch_cka([block_features(model, c) for c in chunks])


def block_structure(matrix: Tensor, threshold: float = 0.9) -> int:
    """The largest number of consecutive blocks whose CKA with one another is at least `threshold` (1 when no two
    neighbours are that similar): Nguyen et al.'s "block structure" as one number."""
    n, best = matrix.shape[0], 1
    for lo in range(n):
        for hi in range(lo + 1, n):
            if bool((matrix[lo: hi + 1, lo: hi + 1] >= threshold).all()):
                best = max(best, hi - lo + 1)
            else:
                break
    return best
