"""Built-in regularizers (the ``regularizer`` registry's): terms added to the loss.

``variance`` and ``covariance`` are VICReg's terms on the context tokens, across samples at
each grid position (:func:`jepakit.losses.variance_hinge`); ``sigreg`` is LeJEPA's SIGReg on
the online encoder's full-view embeddings, mixed in as ``(1 - weight) * loss + weight *
SIGReg``. A run names them in its ``regularizers`` section (``{name: {weight: w, ...}}``);
``loss.var_weight``, ``loss.cov_weight`` and ``loss.sigreg`` are short forms of the three.
"""

from __future__ import annotations

from torch import Tensor

from .contract import Regularizer
from .errors import check
from .losses import covariance_penalty, variance_hinge
from .sigreg import NUM_SLICES, SIGReg


def _weight(weight: float, mix: bool) -> float:
    w = float(weight)
    check(w >= 0.0 and (not mix or w <= 1.0), f"weight must be {'in [0, 1] (a mix)' if mix else '>= 0'}, got {weight}")
    return w


class VarianceRegularizer(Regularizer):
    """VICReg's variance hinge on the context tokens: mean over features of relu(gamma -
    std), the std over the samples at each grid position (a code that depends on the
    position but not on the item pays the full hinge)."""

    def __init__(self, weight: float = 1.0, gamma: float = 1.0):
        super().__init__()
        check(float(gamma) > 0, f"gamma must be > 0, got {gamma}")
        self.weight, self.gamma = _weight(weight, False), float(gamma)

    def forward(self, out: dict[str, Tensor]) -> Tensor:
        return variance_hinge(out["context"], self.gamma, out.get("context_idx"))


class CovarianceRegularizer(Regularizer):
    """VICReg's covariance term on the context tokens, across samples at each position:
    squared off-diagonal covariances summed and divided by the width."""

    def __init__(self, weight: float = 1.0):
        super().__init__()
        self.weight = _weight(weight, False)

    def forward(self, out: dict[str, Tensor]) -> Tensor:
        return covariance_penalty(out["context"], out.get("context_idx"))


class SIGRegRegularizer(SIGReg, Regularizer):
    """LeJEPA's SIGReg on the online encoder's full-view embeddings, mixed in:
    ``(1 - weight) * loss + weight * SIGReg``. ``on`` picks the rows tested
    (:func:`jepakit.sigreg.view_sigreg`): ``pooled`` (each item's mean over its valid
    tokens, the reference), ``positions`` (``positions`` random grid positions, each
    across the batch) or both. The direction stream is :class:`jepakit.sigreg.SIGReg`'s:
    seeded by ``seed`` and the optimizer steps taken, identical on every rank."""

    mix = True
    needs_full = True

    def __init__(
        self, weight: float = 0.05, on: str = "pooled", num_slices: int = NUM_SLICES, positions: int = 16, seed: int = 0,
    ):
        SIGReg.__init__(self, num_slices, on, positions, seed)
        self.weight = _weight(weight, True)

    def forward(self, out: dict[str, Tensor]) -> Tensor:
        return self.of_view(out["full"], out.get("valid"))


__all__ = ["CovarianceRegularizer", "SIGRegRegularizer", "VarianceRegularizer"]
