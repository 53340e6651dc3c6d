"""The collapse guard: how much the embeddings of a fixed sample of items still differ.

Measured at a fixed cadence during pretraining on the same items every time: RankMe of
the pooled embeddings, their spread across samples, and the spread across samples at
each grid position (a code that depends on the position but not on the item has none).
Spreads are relative to the tokens' RMS, so they read the same for every width.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .contract import Batch
from .errors import CollapseWarning
from .model import Backbone
from .rankme import rankme
from .sigreg import pooled

# the run's RankMe is called collapsed under this share of the width (README, "Which
# recipe"): measured collapsed runs sat at 1.0-1.8, healthy ones at >= 1/4 of the width
COLLAPSE_FLOOR = 1.5


@dataclass
class Health:
    rankme: float  # of the pooled (mean over valid tokens) embeddings
    token_rankme: float  # of tokens minus their position's mean over the sample
    sample_std: float  # across-sample std of pooled embeddings / token RMS
    position_std: float  # across-sample std per grid position / token RMS
    collapsed: bool

    def record(self) -> dict[str, Any]:
        return {"rankme": self.rankme, "token_rankme": self.token_rankme, "sample_std": self.sample_std,
                "position_std": self.position_std, "collapsed": self.collapsed}


def collapse_threshold(width: int, share: float) -> float:
    """RankMe under which a run of encoder ``width`` is called collapsed."""
    return max(COLLAPSE_FLOOR, float(share) * int(width))


def probe_batches(dataset: Any, collate: Callable, samples: int, batch_size: int, to_device: Callable) -> list[Batch]:
    """A fixed sample of ``samples`` items (all if fewer), collated in batches once."""
    idx = probe_indices(len(dataset), samples)
    return [to_device(collate([dataset[i] for i in idx[j : j + batch_size]])) for j in range(0, len(idx), batch_size)]


def probe_indices(n: int, samples: int) -> list[int]:
    """The fixed, seeded sample of ``samples`` of ``n`` items (all if fewer) that RankMe reads."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(12345))[: min(n, int(samples))].tolist()


@torch.no_grad()
def embedding_health(backbone: Backbone, batches: Sequence[Batch], share: float = 0.05, eps: float = 1e-7, per_item: int = 16) -> Health:
    """RankMe and spreads of ``backbone``'s embeddings of ``batches`` (eval mode).

    Two ranks: of the pooled embeddings (what a whole-item probe sees) and of ``per_item``
    tokens per item with their position's mean removed (what a per-token probe sees beyond
    the position: a BEV map whose pooled embedding is all empty cells can be rich there).
    The run is collapsed when both fall under the threshold.
    """
    was = backbone.training
    backbone.eval()
    g = torch.Generator().manual_seed(0)
    try:
        pools, s1, s2, count, sq, tokens = [], None, None, None, 0.0, 0
        picked, where = [], []
        for batch in batches:
            h = backbone(batch)[:, backbone.num_prefix :].float()
            valid = backbone.valid(batch)
            w = torch.ones(h.shape[:2], device=h.device) if valid is None else valid.float()
            pools.append(pooled(h, valid).cpu())
            pos = torch.rand(h.shape[:2], generator=g).argsort(1)[:, :per_item].to(h.device)
            keep = w.gather(1, pos) > 0
            picked.append(h.gather(1, pos.unsqueeze(-1).expand(-1, -1, h.shape[-1]))[keep].cpu())
            where.append(pos[keep].cpu())
            wh = h * w.unsqueeze(-1)
            s1 = wh.sum(0) if s1 is None else s1 + wh.sum(0)
            s2 = (wh * h).sum(0) if s2 is None else s2 + (wh * h).sum(0)
            count = w.sum(0) if count is None else count + w.sum(0)
            sq += float((wh * h).sum())
            tokens += float(w.sum())
    finally:
        backbone.train(was)
    z = torch.cat(pools)
    rms = max((sq / max(tokens * z.shape[1], 1.0)) ** 0.5, 1e-12)
    sample_std = float(z.std(0).mean()) if len(z) > 1 else 0.0
    shared = count > 1
    if bool(shared.any()):
        c = count[shared].unsqueeze(-1)
        var = (s2[shared] - s1[shared] ** 2 / c) / (c - 1)
        position_std = float(var.clamp_min(0).sqrt().mean())
    else:
        position_std = 0.0
    rank = rankme(z, eps)
    pos = torch.cat(where)
    mean = (s1 / count.clamp_min(1).unsqueeze(-1)).cpu()
    tok = torch.cat(picked)
    resid = tok - mean[pos]
    # RankMe is blind to scale: residuals at rounding level (no item-dependent variation)
    # would read as full rank, so a spread under 0.1 % of the tokens' counts as none
    varies = len(pos) > 1 and float(resid.norm()) > 1e-3 * float(tok.norm())
    token_rank = rankme(resid, eps) if varies else 1.0
    floor = collapse_threshold(backbone.width, share)
    return Health(rank, token_rank, sample_std / rms, position_std / rms, rank < floor and token_rank < floor)


def collapse_message(step: int, health: Health, width: int, share: float, recipe: str) -> str:
    """The one line a collapsed run prints, with what to change."""
    fix = ("raise recipe.lam (more SIGReg) or train longer" if recipe == "lejepa"
           else "try --set recipe=lejepa, --set loss.sigreg=0.05 or --set loss.var_weight=1, or a faster EMA (target.half_life)")
    return (
        f"embeddings collapsed at step {step}: RankMe {health.rankme:.1f} pooled and {health.token_rankme:.1f} per token "
        f"of width {width} (collapsed under {collapse_threshold(width, share):.1f}), across-sample spread "
        f"{health.sample_std:.1%} of the token scale, per position {health.position_std:.1%}; {fix}; "
        "train.stop_on_collapse=true stops such runs"
    )


class CollapseGuard:
    """The guard of one run: measures at the run's cadence, warns once, says when to stop.

    ``check(step)`` returns the step's health record, or None off the cadence; ``stop`` is
    True once a collapse was seen and ``train.stop_on_collapse`` asks to stop there.
    """

    def __init__(
        self, backbone: Backbone, batches: Sequence[Batch], every: int, steps: int, share: float, eps: float,
        recipe: str, stop_on_collapse: bool, warned: bool = False, speak: bool = True,
    ):
        self.backbone, self.batches, self.every, self.steps = backbone, batches, int(every), int(steps)
        self.share, self.eps, self.recipe = float(share), float(eps), recipe
        self.stop_on_collapse, self.warned, self.speak = bool(stop_on_collapse), warned, speak
        self.stop, self.message = False, ""

    def check(self, step: int) -> dict[str, Any] | None:
        if not ((self.every and step % self.every == 0) or step == self.steps):
            return None
        health = embedding_health(self.backbone, self.batches, self.share, self.eps)
        if health.collapsed and not self.warned:
            self.warned = True
            self.message = collapse_message(step, health, self.backbone.width, self.share, self.recipe)
            if self.speak:
                warnings.warn(self.message, CollapseWarning, stacklevel=3)
            self.stop = self.stop_on_collapse
        return health.record()
