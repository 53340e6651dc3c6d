"""seq-JEPA's transformation set: known parameters per view, so that the relative
transformation between two views (the *action*) is known and equivariance is measurable.

A view is the image under one draw of five parameters (:data:`PARAMS`):

* ``rotation``: angle / ``rotation`` degrees, in [-1, 1] (default +-90 deg: the
  synthetic shapes have no rotational symmetry, so +-90 deg is never ambiguous);
* ``scale``: the side of the crop as a share of the image, in ``scale`` (0.6-1.0): a
  crop of 60 % of the side shows the object 1.67x larger;
* ``shift_x``, ``shift_y``: the crop's centre, in units of the image half-width, within
  +-(1 - scale) so that an upright crop stays inside the image;
* ``colour``: in [-1, 1]: a hue rotation by ``colour * hue`` degrees (default 120) for RGB,
  a brightness gain of ``1 + colour * gain`` (default 0.5) for grey images.

The class of the object does not change under any of them (the invariant task); every
parameter is a regression target (the equivariant tasks). The action between view i and
view j is ``params[j] - params[i]``: the relative transformation for rotation, scale
(to first order), colour and the crop shift.

:func:`apply` renders views with one ``affine_grid``/``grid_sample`` (bilinear, zeros
outside the image: the backgrounds of MNIST and the synthetic shapes are black).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

PARAMS = ("rotation", "scale", "shift_x", "shift_y", "colour")
IDENTITY = (0.0, 1.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class TransformSet:
    """Ranges of the transformation parameters (see the module doc)."""

    rotation: float = 90.0
    scale: tuple[float, float] = (0.6, 1.0)
    hue: float = 120.0
    gain: float = 0.5

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, 5)`` parameter draws."""
        rot = rng.uniform(-1.0, 1.0, n) if self.rotation > 0 else np.zeros(n)
        lo, hi = self.scale
        s = rng.uniform(lo, hi, n)
        room = 1.0 - s
        sx, sy = rng.uniform(-1.0, 1.0, n) * room, rng.uniform(-1.0, 1.0, n) * room
        col = rng.uniform(-1.0, 1.0, n) if (self.hue > 0 or self.gain > 0) else np.zeros(n)
        return np.stack([rot, s, sx, sy, col], axis=1).astype(np.float32)

    def apply(self, images: torch.Tensor, params: torch.Tensor | np.ndarray) -> torch.Tensor:
        """``images`` (n, C, H, W) in [0, 1] under ``params`` (n, 5) -> (n, C, H, W)."""
        return apply(images, params, self.rotation, self.hue, self.gain)


def hue_matrix(degrees: torch.Tensor) -> torch.Tensor:
    """``(n, 3, 3)`` RGB hue rotations (rotation about the grey axis, luminance-preserving
    to first order): Rodrigues' formula around (1, 1, 1)/sqrt(3)."""
    t = degrees * (math.pi / 180.0)
    c, s = torch.cos(t), torch.sin(t)
    k = 1.0 / 3.0
    r = math.sqrt(k)
    a = c + (1 - c) * k
    b = (1 - c) * k - r * s
    d = (1 - c) * k + r * s
    rows = [torch.stack([a, b, d], -1), torch.stack([d, a, b], -1), torch.stack([b, d, a], -1)]
    return torch.stack(rows, dim=-2)


def apply(images: torch.Tensor, params: torch.Tensor | np.ndarray, rotation: float = 90.0, hue: float = 120.0,
          gain: float = 0.5) -> torch.Tensor:
    """Render the views (see the module doc)."""
    x = images.float()
    p = torch.as_tensor(np.asarray(params, dtype=np.float32) if not torch.is_tensor(params) else params).float()
    n = x.shape[0]
    theta = p[:, 0] * (rotation * math.pi / 180.0)
    s, tx, ty = p[:, 1], p[:, 2], p[:, 3]
    cos, sin = torch.cos(theta), torch.sin(theta)
    # output coords u in [-1, 1]^2 sample the input at R(theta) (s u) + t: a crop of side s
    # centred at t, rotated by theta
    mat = torch.stack([torch.stack([cos * s, -sin * s, tx], -1), torch.stack([sin * s, cos * s, ty], -1)], dim=1)
    grid = F.affine_grid(mat, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    col = p[:, 4]
    if x.shape[1] == 3 and hue > 0:
        out = torch.einsum("nij,njhw->nihw", hue_matrix(col * hue), out)
    elif x.shape[1] != 3 and gain > 0:
        out = out * (1.0 + col * gain).view(n, 1, 1, 1)
    return out.clamp(0.0, 1.0)


def actions(params: torch.Tensor) -> torch.Tensor:
    """``(..., V, 5)`` view parameters -> ``(..., V - 1, 5)`` actions, view i -> i + 1."""
    return params[..., 1:, :] - params[..., :-1, :]


__all__ = ["IDENTITY", "PARAMS", "TransformSet", "actions", "apply", "hue_matrix"]
