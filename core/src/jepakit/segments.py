"""Masking a segmented layout (two modalities, each with its own grid) segment by segment.

A tokenizer of several modalities describes its tokens with
:meth:`jepakit.contract.Layout.of_segments`; the encoder then embeds each segment at the
positions of its own grid (:class:`jepakit.posembed.PositionEmbedding`). The ``segments``
masker draws a registered masker *inside* each segment, on that segment's own grid (so
I-JEPA's 2-D blocks stay 2-D blocks in an image segment), and joins the results:
``targets_in`` names the segments whose targets are predicted, ``context_from`` those
whose tokens the context may see. Within-modality JEPA: both lists hold every segment;
cross-modal prediction (audio from video): ``targets_in: [audio]``, ``context_from:
[video]`` -- the context is then all of the video and none of the audio.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from .contract import Layout, Masker, Masks
from .errors import check
from .masks import _subset
from .plugins import create  # inner maskers are built like any: the registry never imports this module


class SegmentMasker(Masker):
    """A registered masker drawn inside each segment of a segmented layout.

    ``inner``: the masker used in every segment, as a config section (``{name:
    multiblock, num_targets: 2}``); ``per_segment``: sections for named segments that
    differ. ``targets_in`` / ``context_from``: segment names (default: all). A segment in
    ``context_from`` but not in ``targets_in`` is visible whole (its valid tokens); one in
    ``targets_in`` but not in ``context_from`` gives targets only. Target groups of
    different segments are trimmed to the shortest group (a random subset of each, kept
    in grid order), as the core trims per-sample sets.
    """

    def __init__(
        self,
        inner: Mapping[str, Any] | str = "multiblock",
        per_segment: Mapping[str, Mapping[str, Any]] | None = None,
        targets_in: Sequence[str] | None = None,
        context_from: Sequence[str] | None = None,
    ):
        def build(section: Mapping[str, Any] | str) -> Any:
            section = {"name": section} if isinstance(section, str) else dict(section)
            name = section.pop("name", None)
            check(isinstance(name, str) and name != "segments", f"segments: an inner masker needs a name (not 'segments'), got {name!r}")
            return create("masker", name, section)

        self.inner = build(inner)
        self.per_segment = {str(k): build(v) for k, v in (per_segment or {}).items()}
        self.targets_in = None if targets_in is None else [str(s) for s in targets_in]
        self.context_from = None if context_from is None else [str(s) for s in context_from]

    def __call__(self, layout: Layout, batch_size: int, generator: torch.Generator) -> Masks:
        check(bool(layout.segments), "the segments masker needs a segmented layout (Layout.of_segments); this one has none")
        names = [s.name for s in layout.segments]
        for what, chosen in (("targets_in", self.targets_in), ("context_from", self.context_from)):
            bad = [s for s in chosen or () if s not in names]
            check(not bad, f"segments: {what} names {bad}, the layout's segments are {names}")
        unknown = [s for s in self.per_segment if s not in names]
        check(not unknown, f"segments: per_segment names {unknown}, the layout's segments are {names}")
        targets_in = set(names if self.targets_in is None else self.targets_in)
        context_from = set(names if self.context_from is None else self.context_from)
        contexts: list[Tensor] = []
        groups: list[Tensor] = []  # (B, nt_j) each
        weights: list[Tensor | None] = []
        for seg in layout.segments:
            start, stop = layout.span(seg.name)
            flags = {k: v[:, start:stop] for k, v in layout.flags.items()}
            if seg.name in targets_in:
                masker = self.per_segment.get(seg.name, self.inner)
                drawn: Masks = masker(Layout(seg.grid, 0, flags), batch_size, generator)
                if seg.name in context_from:
                    contexts.append(drawn.context + start)
                for j in range(drawn.target.shape[1]):
                    groups.append(drawn.target[:, j] + start)
                    weights.append(None if drawn.weight is None else drawn.weight[:, j])
            elif seg.name in context_from:
                contexts.append(_whole(start, stop, flags.get("valid"), batch_size, generator))
        check(bool(groups), f"segments: no segment gives targets (targets_in {sorted(targets_in)})")
        check(bool(contexts), f"segments: no segment gives context (context_from {sorted(context_from)})")
        nt = min(g.shape[1] for g in groups)
        target, weight = [], []
        for g, w in zip(groups, weights):
            keep = torch.randperm(g.shape[1], generator=generator)[:nt].sort().values
            target.append(g[:, keep])
            weight.append(torch.ones_like(g[:, keep], dtype=torch.float) if w is None else w[:, keep])
        has_weight = any(w is not None for w in weights)
        return Masks(torch.cat(contexts, dim=1), torch.stack(target, dim=1), torch.stack(weight, dim=1) if has_weight else None)


def _whole(start: int, stop: int, valid: Tensor | None, batch_size: int, generator: torch.Generator) -> Tensor:
    """``(B, n)`` every (valid) token of a segment, trimmed to the sample with fewest."""
    if valid is None:
        return torch.arange(start, stop).expand(batch_size, -1)
    rows = [row.nonzero().flatten() + start for row in valid.cpu()]
    n = min(r.numel() for r in rows)
    check(n > 0, "segments: a sample has no valid token in a context segment")
    return torch.stack([_subset(r, n, generator) for r in rows])


__all__ = ["SegmentMasker"]
