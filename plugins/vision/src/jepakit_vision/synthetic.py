"""The synthetic set made for seq-JEPA: coloured pentominoes under known transformations.

Six pentominoes (F, L, N, P, T, Y) none of which has a rotational symmetry, so a
rotation of +-90 degrees is identifiable from one view; T has a mirror symmetry only. Each
object is drawn upright and centred on a black canvas, on a 5x5 cell grid filling 55 %
of the side, in one base colour (orange-red, hue jittered +-10 degrees) so that the colour
transformation is identifiable too, with its cells' brightness jittered +-15 % per object
(objects of one class are not pixel copies). The class is the shape: invariant to
every transformation of :mod:`jepakit_vision.transforms`; the parameters are the
equivariant targets.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .transforms import hue_matrix

SHAPES = {
    "F": [".XX..", "XX...", ".X...", ".....", "....."],
    "L": ["X....", "X....", "X....", "XX...", "....."],
    "N": [".X...", ".X...", "XX...", "X....", "....."],
    "P": ["XX...", "XX...", "X....", ".....", "....."],
    "T": ["XXX..", ".X...", ".X...", ".....", "....."],
    "Y": [".X...", "XX...", ".X...", ".X...", "....."],
}
CLASSES = tuple(SHAPES)


def _mask(rows: list[str]) -> np.ndarray:
    m = np.array([[c == "X" for c in r] for r in rows], dtype=np.float32)
    ys, xs = np.nonzero(m)  # centre the piece on its bounding box, in a 5x5 frame
    m = m[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    out = np.zeros((5, 5), dtype=np.float32)
    top, left = (5 - m.shape[0]) // 2, (5 - m.shape[1]) // 2
    out[top : top + m.shape[0], left : left + m.shape[1]] = m
    return out


def make_shapes(n: int, seed: int, size: int = 32) -> tuple[torch.Tensor, np.ndarray]:
    """``n`` canonical objects ``(n, 3, size, size)`` in [0, 1] and their classes (n,)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n)
    masks = torch.from_numpy(np.stack([_mask(SHAPES[c]) for c in CLASSES]))  # (K, 5, 5)
    side = max(5, int(round(0.55 * size)))
    cells = F.interpolate(masks[:, None], size=(side, side), mode="nearest")[:, 0]  # (K, side, side)
    canvas = torch.zeros(len(CLASSES), size, size)
    off = (size - side) // 2
    canvas[:, off : off + side, off : off + side] = cells
    # soften the cell edges a little (one pixel of blur): bilinear views of hard edges alias
    canvas = F.avg_pool2d(canvas[:, None], 3, stride=1, padding=1, count_include_pad=False)[:, 0]
    shape = canvas[torch.as_tensor(labels)]  # (n, size, size)
    base = torch.tensor([1.0, 0.35, 0.1])  # orange-red
    hue = torch.as_tensor(rng.uniform(-10.0, 10.0, n), dtype=torch.float32)
    colour = torch.einsum("nij,j->ni", hue_matrix(hue), base).clamp(0, 1)
    bright = torch.as_tensor(rng.uniform(0.85, 1.15, n), dtype=torch.float32)
    images = (shape[:, None] * colour[:, :, None, None] * bright[:, None, None, None]).clamp(0, 1)
    return images.contiguous(), labels.astype(np.int64)


__all__ = ["CLASSES", "SHAPES", "make_shapes"]
