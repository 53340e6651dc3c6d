"""One token per time step: past observations, then placeholders for the future steps.

The grid is ``(window + chunk,)``: the ``window`` past observations ``o[t-T+1 .. t]`` at
positions ``0 .. T-1`` and the ``chunk`` future steps ``o[t+1 .. t+k]`` at ``T .. T+k-1``, so
the core's sin-cos positions are time. The context encoder is only ever shown the past
(the ``chunk`` masker's context); the future steps carry data only in the target
encoder's copy (:class:`jepakit_control.targets.FutureEMATarget` sets ``reveal_future``).
Everywhere else -- the online encoder, probes, export, ``jepakit embed`` -- a future step
is a zero token (its position embedding alone, the same for every item), so no future
observation can leak into a policy's or a probe's features; the layout's ``valid`` flags
mark those steps, and the core's pooled embeddings average the past steps only.

Observations are flattened per step (a state vector, or a small image as its pixels) and
standardised with the training episodes' per-feature mean and std (``obs_mean``,
``obs_std`` from the data's info, kept in the checkpoint's info), then embedded linearly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from jepakit import Layout
from jepakit.contract import Tokenizer
from jepakit.kit import check


class StepTokenizer(Tokenizer):
    def __init__(self, dim: int, obs_shape: Sequence[int], window: int, chunk: int,
                 obs_mean: Sequence[float] | None = None, obs_std: Sequence[float] | None = None):
        super().__init__()
        check(int(window) >= 1 and int(chunk) >= 1, f"window and chunk must be >= 1, got {window} and {chunk}")
        self.dim, self.window, self.chunk = int(dim), int(window), int(chunk)
        self.obs_dim = int(math.prod(int(s) for s in obs_shape))
        mean = torch.zeros(self.obs_dim) if obs_mean is None else torch.tensor([float(x) for x in obs_mean])
        std = torch.ones(self.obs_dim) if obs_std is None else torch.tensor([float(x) for x in obs_std])
        check(mean.numel() == self.obs_dim and std.numel() == self.obs_dim,
              f"obs_mean/obs_std have {mean.numel()}/{std.numel()} values for {self.obs_dim} observation features")
        # rebuilt from the data's info on every load: not part of the weights
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std.clamp_min(1e-6), persistent=False)
        self.proj = nn.Linear(self.obs_dim, self.dim)
        self.reveal_future = False  # True on the target encoder's copy only

    def layout(self, batch) -> Layout:
        b = batch["obs"].shape[0]
        valid = torch.zeros(b, self.window + self.chunk, dtype=torch.bool, device=batch["obs"].device)
        valid[:, : self.window] = True
        return Layout((self.window + self.chunk,), 0, {"valid": valid})

    def _steps(self, x: Tensor) -> Tensor:
        x = x.reshape(x.shape[0], x.shape[1], -1).to(self.proj.weight.dtype)
        return self.proj((x - self.mean) / self.std)

    def embed(self, batch) -> Tensor:
        obs = batch["obs"]
        check(obs.shape[1] == self.window, f"items hold {obs.shape[1]} past observations, the model was built for window {self.window}")
        past = self._steps(obs)
        if self.reveal_future and "future" in batch:
            future = self._steps(batch["future"])
        else:
            future = past.new_zeros(past.shape[0], self.chunk, self.dim)
        return torch.cat([past, future], dim=1)


__all__ = ["StepTokenizer"]
