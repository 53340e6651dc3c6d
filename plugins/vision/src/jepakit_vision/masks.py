"""Maskers: DSeq-JEPA's saliency-ordered targets and seq-JEPA's whole-view targets.

``saliency`` (model-aware, contract v2): the target regions are placed where the current
target (EMA) encoder attends most, and ordered from the most to the least salient, as
DSeq-JEPA identifies "primary discriminative regions" with a transformer-derived saliency
map and predicts them in that order. The saliency of a patch is the attention it
receives in the encoder's last block, averaged over heads and over every query token
(:func:`attention_saliency`). Regions keep I-JEPA's budget: the same number of target
blocks of the same scale and aspect and the same context block as ``multiblock`` (4
blocks of 15-20 % of the grid, context 85-100 % with the targets removed), so DSeq-JEPA
and I-JEPA differ only in *where* the targets lie and in the *order* the predictor
goes through them. A block's score is the mean saliency it covers; blocks are taken
greedily, best first, without overlap (``noise`` > 0 perturbs the scores with Gumbel noise
of that many standard deviations of the scores, drawn from the step's generator).

``seq-views``: for seq-JEPA's flattened sequences (``B * V`` images, sequence-major), the
context is every token of every view and the target is every token of each sequence's
last view, weighted 1 (the other views' target rows are weighted 0: the loss ignores them).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from jepakit.contract import Layout, Masks
from jepakit.kit import SampleMasker, block_mask, block_shape, check, draw_uniform, scale_pair


@torch.no_grad()
def attention_saliency(backbone: torch.nn.Module, batch: dict) -> Tensor:
    """``(B, N)`` saliency of every grid token: the attention it receives in ``backbone``'s
    last transformer block, averaged over heads and query tokens (prefix tokens excluded).
    ``backbone`` is the core's encoder (tokenizer, ``pos``, ``blocks``, ``num_prefix``)."""
    p = backbone.num_prefix
    x = backbone.tokenizer(batch)
    n = x.shape[1] - p
    grid = x[:, p:] + backbone.pos.lookup()[:n].unsqueeze(0).to(x.dtype)
    x = torch.cat([x[:, :p], grid], dim=1) if p else grid
    blocks = list(backbone.blocks)
    check(len(blocks) >= 1, "attention saliency needs an encoder with at least one transformer block")
    for blk in blocks[:-1]:
        x = blk(x)
    last = blocks[-1]
    a = last.attn
    b, length, _ = x.shape
    qkv = a.qkv(last.norm1(x)).reshape(b, length, 3, a.num_heads, a.head_dim).permute(2, 0, 3, 1, 4)
    q, k = a.q_norm(qkv[0]), a.k_norm(qkv[1])
    att = torch.softmax((q.float() @ k.float().transpose(-2, -1)) * a.scale, dim=-1)  # (B, H, L, L)
    return att.mean(dim=(1, 2))[:, p:]


def rank_blocks(saliency: Tensor, shape: tuple[int, int], count: int, allow_overlap: bool = False,
                noise: Tensor | None = None) -> list[Tensor]:
    """``count`` block masks (flat bool over the grid) of ``shape`` on one ``(H, W)``
    saliency map, most salient first: greedy on the mean saliency a block covers,
    skipping blocks that overlap those already taken (unless ``allow_overlap`` or no
    block is left), ``noise`` (same shape as the score map) added to the scores."""
    h, w = shape
    gh, gw = saliency.shape
    scores = F.avg_pool2d(saliency[None, None].float(), (h, w), stride=1)[0, 0]  # (gh - h + 1, gw - w + 1)
    if noise is not None:
        scores = scores + noise
    order = scores.flatten().argsort(descending=True).tolist()
    sw = scores.shape[1]
    covered = torch.zeros(gh, gw, dtype=torch.bool)
    chosen: list[Tensor] = []
    used: set[int] = set()
    for overlap_ok in ((allow_overlap,) if allow_overlap else (False, True)):
        for o in order:
            if len(chosen) == count:
                break
            if o in used:
                continue
            i, j = divmod(o, sw)
            m = torch.zeros(gh, gw, dtype=torch.bool)
            m[i : i + h, j : j + w] = True
            if not overlap_ok and (m & covered).any():
                continue
            used.add(o)
            covered |= m
            chosen.append(m.flatten())
    return chosen


class SaliencyMasker(SampleMasker):
    """DSeq-JEPA's targets: I-JEPA-sized blocks at the most salient places of the target
    encoder's attention, ordered most salient first (group 0 = the primary region).

    Args:
        num_targets: target blocks per image, predicted in saliency order.
        target_scale: (min, max) share of the grid one block covers (I-JEPA's 0.15-0.2).
        aspect_ratio: (min, max) height/width of the blocks.
        context_scale: (min, max) share of the grid of the context block (targets removed);
            null: the context is every token no target covers.
        min_keep: fewest context tokens a draw may leave before it is drawn again.
        allow_overlap: whether target blocks may overlap.
        noise: Gumbel noise on the block scores, in standard deviations of the scores (0: Top-N).
        encoder: ``target`` (the EMA encoder, DSeq-JEPA's) or ``online``: whose attention ranks.
        tries: context draws before falling back to the complement of the targets.
    """

    def __init__(
        self,
        num_targets: int = 4,
        target_scale: Sequence[float] = (0.15, 0.2),
        aspect_ratio: Sequence[float] = (0.75, 1.5),
        context_scale: Sequence[float] | None = (0.85, 1.0),
        min_keep: int = 4,
        allow_overlap: bool = False,
        noise: float = 0.0,
        encoder: str = "target",
        tries: int = 20,
    ):
        check(int(num_targets) >= 1, f"num_targets must be >= 1, got {num_targets}")
        check(encoder in ("target", "online"), f"encoder must be target (the EMA encoder, DSeq-JEPA's) or online, got {encoder!r}")
        check(float(noise) >= 0.0, f"noise must be >= 0, got {noise}")
        self.num_targets = int(num_targets)
        self.target_scale = scale_pair(target_scale, "target_scale")
        self.aspect_ratio = scale_pair(aspect_ratio, "aspect_ratio")
        self.context_scale = None if context_scale is None else scale_pair(context_scale, "context_scale")
        share = self.num_targets * self.target_scale[1]
        check(allow_overlap or share < 1.0, f"num_targets {self.num_targets} x target_scale max {self.target_scale[1]:g} = "
              f"{share:.0%} of the grid leaves no context; lower them")
        self.min_keep, self.allow_overlap, self.noise, self.encoder, self.tries = int(min_keep), bool(allow_overlap), float(noise), encoder, int(tries)
        self.last_saliency: Tensor | None = None  # (B, N) of the last call, for inspection

    def __call__(self, layout: Layout, batch_size: int, generator: torch.Generator, model, batch) -> Masks:
        check(len(layout.grid) == 2 and not layout.segments,
              f"the saliency masker needs a 2-D token grid (an image's), got {layout.grid}")
        enc = model.target.encoder() if self.encoder == "target" else None
        enc = enc if enc is not None else model.backbone
        sal = attention_saliency(enc, batch).float().cpu()
        self.last_saliency = sal
        self._sal = sal.reshape(sal.shape[0], *layout.grid)
        return SampleMasker.__call__(self, layout, sal.shape[0], generator)

    def begin_batch(self, layout: Layout, generator: torch.Generator) -> None:
        grid = layout.grid
        self._t_shape = block_shape(grid, draw_uniform(self.target_scale, generator), draw_uniform(self.aspect_ratio, generator), 1.0)
        if self.context_scale is not None:
            self._c_shape = block_shape(grid, draw_uniform(self.context_scale, generator), 1.0, 1.0)

    def sample(self, layout: Layout, b: int, generator: torch.Generator):
        grid, n = layout.grid, layout.num_tokens
        sal = self._sal[b]
        noise = None
        if self.noise > 0:
            h, w = self._t_shape
            u = torch.rand(grid[0] - h + 1, grid[1] - w + 1, generator=generator).clamp(1e-9, 1 - 1e-9)
            noise = -torch.log(-torch.log(u)) * self.noise * float(sal.std())
        targets = rank_blocks(sal, self._t_shape, self.num_targets, self.allow_overlap, noise)
        covered = torch.stack(targets).any(0)
        if self.context_scale is None:
            ctx = ~covered
        else:
            for _ in range(self.tries):
                ctx = block_mask(grid, self._c_shape, generator) & ~covered
                if int(ctx.sum()) >= self.min_keep:
                    break
        if not ctx.any():
            ctx = ~covered if (~covered).any() else torch.zeros(n, dtype=torch.bool).index_fill_(0, torch.tensor([0]), True)
        return ctx.nonzero().flatten(), [t.nonzero().flatten() for t in targets]


class ViewSequenceMasker:
    """seq-JEPA's masks over flattened view sequences (see the module doc). ``views``
    comes from the data (``data.views``).

    On single images (``data.views`` 0: no sequence, no ``params`` in the batch) there is
    nothing for seq-JEPA to predict; it says so in one line and draws I-JEPA's multi-block
    masks instead (the core's ``multiblock`` with its defaults), so that the component
    stays usable -- and checkable by the registry-wide conformance tests, which build it
    on the domain's single-image quick data.

    Args:
        views: images per sequence (``data.views``, offered by the data).
    """

    def __init__(self, views: int = 1):
        self.views = int(views)
        self._fallback = None

    def __call__(self, layout: Layout, batch_size: int, generator: torch.Generator, batch) -> Masks:
        if self.views < 2 or "params" not in batch:
            if self._fallback is None:
                import jepakit
                from jepakit.kit import notice

                notice("masker seq-views: the data are single images (data.views=0), not view sequences: drawing "
                       "I-JEPA multi-block masks instead; set data.views=4 for seq-JEPA")
                self._fallback = jepakit.create("masker", "multiblock", {})
            return self._fallback(layout, batch_size, generator)
        rows = int(batch["image"].shape[0])
        check(rows % self.views == 0, f"a batch of {rows} images is not made of sequences of {self.views} views")
        n = layout.num_tokens
        context = torch.arange(n).expand(rows, n).clone()
        target = torch.arange(n).expand(rows, 1, n).clone()
        weight = torch.zeros(rows, 1, n)
        weight[self.views - 1 :: self.views] = 1.0
        return Masks(context, target, weight)


__all__ = ["SaliencyMasker", "ViewSequenceMasker", "attention_saliency", "rank_blocks"]
