"""LeJEPA (Balestriero & LeCun 2025) as a recipe for every domain: several views of each
item, each encoded with all of its tokens visible, pooled, projected by an MLP with
BatchNorm; an invariance loss pulls every view's projection to the mean of the global
views' and SIGReg keeps each view's projections isotropic Gaussian over the batch. No
predictor, no EMA, one hyper-parameter (``lam``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .contract import Batch, Views, gather_tokens
from .errors import check
from .model import Backbone
from .sigreg import NUM_SLICES, SIGReg, pooled


def projector(width: int, hidden: int, out: int) -> nn.Sequential:
    """LeJEPA's projector: two hidden layers with BatchNorm and ReLU, then a linear map."""
    return nn.Sequential(
        nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
        nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
        nn.Linear(hidden, out),
    )


class LeJEPA(nn.Module):
    """Backbone + projector trained on :class:`~jepakit.contract.Views`.

    loss = (1 - lam) * invariance + lam * SIGReg, with invariance the mean squared
    distance of every view's projection to the mean of the global views' projections and
    SIGReg (``num_slices`` directions, the reference's 1024) averaged over views. The
    backbone, not the projector, is what is probed. ``forward(batch, views)`` returns a
    dict with ``loss``, ``inv`` and ``sigreg``.
    """

    def __init__(
        self, backbone: Backbone, lam: float = 0.05, num_slices: int = NUM_SLICES, proj_dim: int = 128,
        proj_hidden: int = 512, seed: int = 0,
    ):
        super().__init__()
        check(0.0 < float(lam) < 1.0, f"recipe.lam must be in (0, 1), got {lam}")
        check(int(proj_dim) == 0 or (int(proj_dim) >= 2 and int(proj_hidden) >= 2),
              "recipe.proj_dim (0: no projector) and recipe.proj_hidden must be >= 2")
        self.backbone = backbone
        self.lam = float(lam)
        # proj_dim 0: the losses act on the pooled backbone embedding itself
        self.projector = projector(backbone.width, int(proj_hidden), int(proj_dim)) if int(proj_dim) else nn.Identity()
        self.sigreg = SIGReg(num_slices, "pooled", seed=seed)

    def embed_view(self, batch: Batch, keep: Tensor, valid: Tensor | None) -> Tensor:
        """Pooled backbone embedding (B, width) of the tokens ``keep`` (B, n)."""
        h = self.backbone(batch, keep)[:, self.backbone.num_prefix :]
        v = None if valid is None else gather_tokens(valid.unsqueeze(-1).float(), keep).squeeze(-1)
        return pooled(h, v)

    def forward(self, batch: Batch, views: Views) -> dict[str, Tensor]:
        valid = self.backbone.valid(batch)
        every = list(views.global_views) + list(views.local_views)
        emb = torch.cat([self.embed_view(batch, keep, valid) for keep in every])
        z = self.projector(emb)
        z = z.reshape(len(every), -1, z.shape[-1])
        center = z[: len(views.global_views)].mean(0)
        inv = (z - center).pow(2).mean()
        reg = self.sigreg(z.float())  # (V, B, K): one test per view over the batch
        loss = (1.0 - self.lam) * inv + self.lam * reg
        return {"loss": loss, "inv": inv, "sigreg": reg}

    @torch.no_grad()
    def update(self, progress: float) -> None:
        self.sigreg.step()

    def encoder_for_eval(self, which: str = "online") -> Backbone:
        check(which in ("online", "target"), f"eval.encoder must be online or target, got {which!r}")
        return self.backbone  # LeJEPA has no target encoder

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]
