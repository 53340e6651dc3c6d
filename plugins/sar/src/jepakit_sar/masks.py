"""SAR-JEPA's local masks.

SAR-JEPA (after LoMaR) draws several small windows of patches and masks most of each
window: the model must complete a local neighbourhood from a few visible patches in it,
which suits small targets in large, mostly-clutter chips. Here each window's masked
patches form one target group; the visible patches of all windows form the context
(minus any patch that another window masks, so context and targets never overlap).
Paper defaults: 4 windows of 7x7 patches on a 14x14 grid, 80 % masked per window; the
defaults below scale the window to a small chip's grid.
"""

from __future__ import annotations

import torch

from jepakit.contract import Layout
from jepakit.kit import SampleMasker, check


class LocalWindowMasker(SampleMasker):
    """``num_windows`` windows of ``window x window`` patches, ``mask_ratio`` of each masked."""

    def __init__(self, num_windows: int = 4, window: int = 4, mask_ratio: float = 0.8):
        check(num_windows >= 1, f"num_windows must be >= 1, got {num_windows}")
        check(window >= 2, f"window must be >= 2 patches, got {window}")
        check(0 < mask_ratio < 1, f"mask_ratio must be in (0, 1), got {mask_ratio}")
        self.num_windows, self.window, self.mask_ratio = int(num_windows), int(window), float(mask_ratio)
        n = self.window**2
        self.n_mask = min(n - 1, max(1, int(n * self.mask_ratio)))

    def sample(self, layout: Layout, b: int, generator: torch.Generator):
        check(len(layout.grid) == 2, f"local window masks need a 2-D token grid, got {layout.grid}")
        gh, gw = layout.grid
        wh, ww = min(self.window, gh), min(self.window, gw)
        n_win = wh * ww
        n_mask = min(n_win - 1, max(1, int(n_win * self.mask_ratio)))
        rows = torch.arange(wh)[:, None]
        cols = torch.arange(ww)[None, :]
        targets, visible = [], []
        for _ in range(self.num_windows):
            top = int(torch.randint(0, gh - wh + 1, (1,), generator=generator))
            left = int(torch.randint(0, gw - ww + 1, (1,), generator=generator))
            cells = ((rows + top) * gw + (cols + left)).flatten()
            perm = cells[torch.randperm(n_win, generator=generator)]
            targets.append(perm[:n_mask].sort().values)
            visible.append(perm[n_mask:])
        masked = torch.zeros(gh * gw, dtype=torch.bool)
        for t in targets:
            masked[t] = True
        ctx = torch.zeros(gh * gw, dtype=torch.bool)
        for v in visible:
            ctx[v] = True
        ctx &= ~masked
        if not ctx.any():  # every visible patch was masked by another window: keep any free patch
            free = (~masked).nonzero().flatten()
            ctx[free[0] if free.numel() else 0] = True
        return ctx.nonzero().flatten(), targets
