"""Video-like framings of an EEG window, tokenised into V-JEPA tubelets on a 3-D grid.

Two framings of the same ``(C, L)`` window:

* :class:`EEGVideoTokenizer` (EEG-VJEPA): the window is a clip of frames, each frame a
  ``channels x frame`` image (all electrodes over a short time window). A tubelet is
  ``tubelet_frames`` consecutive frames x ``channel_group`` neighbouring electrodes x
  ``time_patch`` samples of each frame. Grid: (frame groups, channel groups, patches per frame).
* :class:`ScalpMapTokenizer`: each time step's electrode values are interpolated onto an
  ``image x image`` scalp grid from the montage positions, giving a true image sequence.
  A tubelet is ``tubelet`` time steps x a ``patch x patch`` scalp patch. Grid: (time
  groups, rows, columns).

Both embed a tubelet with one linear map of its samples (V-JEPA's patch embedding, a 3-D
convolution whose kernel equals its stride, written as reshape + Linear because Conv3d's
backward pass is slow on CPU) and flag tokens without data (all electrodes missing or bad, patches
outside the head) as invalid, so the core's maskers never use them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from jepakit import Layout, Tokenizer
from jepakit.kit import check

from .channels import positions_2d, resolve_channels


def _valid(batch: dict, key: str, b: int, c: int, device: torch.device) -> Tensor:
    v = batch.get(key)
    if v is None:
        return torch.ones(b, c, dtype=torch.bool, device=device)
    return v.to(device=device, dtype=torch.bool)


class EEGVideoTokenizer(Tokenizer):
    """EEG-VJEPA framing: frames of ``channels x frame`` samples, tubelets of
    ``tubelet_frames x channel_group x time_patch``; a 3-D grid (time, channel group, patch).

    ``channel_group = in_chans`` gives time-only patches (every token spans all electrodes).
    Sizes are in samples; a window that is not a whole number of tubelets loses its tail.
    """

    def __init__(self, dim: int, in_chans: int, length: int, frame: int = 32, tubelet_frames: int = 2,
                 channel_group: int = 4, time_patch: int | None = None, key: str = "signal", valid_key: str = "valid"):
        super().__init__()
        time_patch = frame if time_patch is None else time_patch
        check(frame >= 1 and tubelet_frames >= 1 and channel_group >= 1 and time_patch >= 1, "sizes must be >= 1")
        check(frame % time_patch == 0, f"frame ({frame}) must be a multiple of time_patch ({time_patch})")
        check(channel_group <= in_chans, f"channel_group ({channel_group}) exceeds the {in_chans} channels")
        self.frames = length // frame
        check(self.frames >= tubelet_frames,
              f"a window of {length} samples holds {self.frames} frame(s) of {frame}, fewer than tubelet_frames={tubelet_frames}")
        self.dim, self.in_chans, self.length = dim, in_chans, length
        self.frame, self.tt, self.cg, self.tp = frame, tubelet_frames, channel_group, time_patch
        self.key, self.valid_key = key, valid_key
        self.groups = math.ceil(in_chans / channel_group)
        self.grid = (self.frames // tubelet_frames, self.groups, frame // time_patch)
        self.proj = nn.Linear(tubelet_frames * channel_group * time_patch, dim)

    def clip(self, x: Tensor) -> Tensor:
        """(B, C, L) -> (B, frames, C_padded, frame): the window as a clip of channel x time frames."""
        b, c, _ = x.shape
        used = self.grid[0] * self.tt * self.frame
        x = x[:, :, :used]
        pad = self.groups * self.cg - c
        if pad:  # electrodes that do not fill the last group: zero rows, flagged via layout
            x = torch.cat([x, x.new_zeros(b, pad, used)], dim=1)
        return x.reshape(b, self.groups * self.cg, used // self.frame, self.frame).permute(0, 2, 1, 3)

    def embed(self, batch: dict) -> Tensor:
        x = batch[self.key].float()
        check(x.dim() == 3 and x.shape[1] == self.in_chans,
              f"expected a ({self.in_chans}, L) signal per sample, got {tuple(x.shape[1:])}")
        clip = self.clip(x)  # (B, F, C_padded, frame)
        b = clip.shape[0]
        (nt, ng, npch), (tt, cg, tp) = self.grid, (self.tt, self.cg, self.tp)
        tubes = clip.reshape(b, nt, tt, ng, cg, npch, tp).permute(0, 1, 3, 5, 2, 4, 6)
        return self.proj(tubes.reshape(b, nt * ng * npch, tt * cg * tp))

    def layout(self, batch: dict) -> Layout:
        x = batch[self.key]
        b = x.shape[0]
        v = _valid(batch, self.valid_key, b, self.in_chans, x.device)
        pad = self.groups * self.cg - self.in_chans
        if pad:
            v = torch.cat([v, v.new_zeros(b, pad)], dim=1)
        group_ok = v.reshape(b, self.groups, self.cg).any(-1)
        flags = group_ok[:, None, :, None].expand(b, self.grid[0], self.groups, self.grid[2]).reshape(b, -1)
        return Layout(grid=self.grid, flags={"valid": flags})


def scalp_interpolation(positions: np.ndarray, image: int, sigma: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Kernel weights (image², C) from electrodes to scalp-grid cells, and the head mask (image²,).

    Cells take a Gaussian-weighted average of the electrodes (Nadaraya-Watson): weights
    renormalised over the electrodes present in a sample, so a missing electrode is
    filled from its neighbours instead of pulling the map to zero. ``sigma`` defaults to
    0.6 x the median nearest-neighbour spacing; cells farther than one spacing from every
    electrode are outside the head.
    """
    pos = np.asarray(positions, dtype=np.float64)
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    spacing = float(np.median(d.min(1)))
    sigma = 0.6 * spacing if sigma is None else float(sigma)
    lo, hi = pos.min(0), pos.max(0)
    centre, half = (lo + hi) / 2, float((hi - lo).max()) / 2 + 0.5 * spacing
    ticks = (np.arange(image) + 0.5) / image * 2 - 1
    # image rows run from the front (nose) to the back, columns from left to right
    yy, xx = np.meshgrid(centre[1] - ticks * half, centre[0] + ticks * half, indexing="ij")
    cells = np.stack([xx.ravel(), yy.ravel()], axis=1)
    dc = np.linalg.norm(cells[:, None] - pos[None], axis=-1)
    weights = np.exp(-(dc**2) / (2 * sigma**2))
    inside = dc.min(1) <= spacing
    weights[~inside] = 0.0
    return weights, inside


class ScalpMapTokenizer(Tokenizer):
    """Scalp-map framing: per time step an ``image x image`` map interpolated from the montage
    positions; tubelets of ``tubelet`` samples x ``patch x patch`` cells; 3-D grid (time, row, col)."""

    def __init__(self, dim: int, in_chans: int, length: int, channels: Sequence[str] | str = "1020", image: int = 12,
                 patch: int = 4, tubelet: int = 64, sigma: float | None = None, key: str = "signal", valid_key: str = "valid"):
        super().__init__()
        names = resolve_channels(channels)
        check(len(names) == in_chans, f"{len(names)} channel names for {in_chans} channels")
        check(image >= patch >= 1 and image % patch == 0, f"image ({image}) must be a multiple of patch ({patch})")
        check(1 <= tubelet <= length, f"tubelet ({tubelet}) must be between 1 and the window length ({length})")
        self.dim, self.in_chans, self.length = dim, in_chans, length
        self.image, self.patch, self.tubelet = image, patch, tubelet
        self.key, self.valid_key = key, valid_key
        weights, inside = scalp_interpolation(positions_2d(names), image, sigma)
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32), persistent=False)
        self.register_buffer("inside", torch.tensor(inside), persistent=False)
        self.grid = (length // tubelet, image // patch, image // patch)
        self.proj = nn.Linear(tubelet * patch * patch, dim)

    def _coverage(self, v: Tensor) -> Tensor:
        return v.float() @ self.weights.T  # (B, cells): kernel mass of the electrodes present

    def maps(self, batch: dict) -> Tensor:
        """(B, C, L) -> (B, L_used, image, image) scalp maps; cells without data are 0."""
        x = batch[self.key].float()
        check(x.dim() == 3 and x.shape[1] == self.in_chans,
              f"expected a ({self.in_chans}, L) signal per sample, got {tuple(x.shape[1:])}")
        b = x.shape[0]
        x = x[:, :, : self.grid[0] * self.tubelet]
        v = _valid(batch, self.valid_key, b, self.in_chans, x.device)
        mass = self._coverage(v)
        num = torch.einsum("pc,bct->btp", self.weights, x * v[:, :, None].float())
        ok = (mass > 1e-3) & self.inside[None]
        maps = torch.where(ok[:, None], num / mass.clamp_min(1e-3)[:, None], num.new_zeros(()))
        return maps.reshape(b, -1, self.image, self.image)

    def embed(self, batch: dict) -> Tensor:
        maps = self.maps(batch)
        b, (nt, g, _), p, tt = maps.shape[0], self.grid, self.patch, self.tubelet
        tubes = maps.reshape(b, nt, tt, g, p, g, p).permute(0, 1, 3, 5, 2, 4, 6)
        return self.proj(tubes.reshape(b, nt * g * g, tt * p * p))

    def layout(self, batch: dict) -> Layout:
        x = batch[self.key]
        b, g = x.shape[0], self.image // self.patch
        v = _valid(batch, self.valid_key, b, self.in_chans, x.device)
        ok = (self._coverage(v) > 1e-3) & self.inside[None]
        ok = ok.reshape(b, g, self.patch, g, self.patch).any(4).any(2)
        flags = ok[:, None].expand(b, self.grid[0], g, g).reshape(b, -1)
        return Layout(grid=self.grid, flags={"valid": flags})
