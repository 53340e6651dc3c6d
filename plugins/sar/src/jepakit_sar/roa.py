"""Multi-scale ratio-of-averages (ROA) gradient magnitudes, as in SAR-JEPA.

For a radius ``r`` the window around a pixel is ``(2r+1) x (2r+1)``; its two horizontal
halves (columns ``-r..0`` and ``0..r``, each ``(2r+1) x (r+1)``, sharing the centre
column as SAR-JEPA's kernels do) and its two vertical halves give

    Gx = log(mean_left / mean_right),  Gy = log(mean_top / mean_bottom),  G = sqrt(Gx^2 + Gy^2).

Ratios of local means are the classical constant-false-alarm edge detector for SAR:
multiplicative speckle and the overall radiometric scale cancel, where a difference
(Sobel, pixel targets) grows with the local brightness.

Two implementations share these definitions exactly:

* :func:`roa_gradients` takes box means from one integral image (``torch.cumsum``), so
  each radius costs four lookups per half-window whatever ``r`` is;
* :func:`roa_gradients_conv` convolves with ``(2r+1) x (2r+1)`` half-window kernels (what
  SAR-JEPA does); its cost grows as ``r^2``. It is the reference for the tests and the
  throughput benchmark.

Non-positive inputs: the image is clamped at 0 (amplitudes and intensities cannot be
negative) and every half-window mean gets ``eps * mean(image) + 1e-12`` added before the
ratio. The epsilon is relative to the chip's own mean so that multiplying the image by a
constant leaves the output unchanged; the absolute ``1e-12`` only matters for an all-zero
image, whose gradients are then exactly 0 instead of NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_RADII: tuple[int, ...] = (5, 9, 13, 17)
DEFAULT_EPS = 1e-2
_TINY = 1e-12
DOUBLE_ABOVE = 128 * 128  # pixels; above this the integral image is accumulated in float64


def _as_b1hw(x: Tensor) -> Tensor:
    if x.dim() == 2:
        return x[None, None]
    if x.dim() == 3:
        return x[:, None]
    if x.dim() == 4 and x.shape[1] == 1:
        return x
    raise ValueError(f"ROA expects (H, W), (B, H, W) or (B, 1, H, W) images, got shape {tuple(x.shape)}")


def _pad(x: Tensor, r: int) -> Tensor:
    # reflect padding (as SAR-JEPA) needs r < size; tiny images fall back to edge copies
    mode = "reflect" if r < min(x.shape[-2:]) else "replicate"
    return F.pad(x, (r, r, r, r), mode=mode)


def _floor(x: Tensor, eps: float) -> Tensor:
    return eps * x.mean(dim=(-2, -1), keepdim=True) + _TINY


def _check_radii(radii: Sequence[int]) -> tuple[int, ...]:
    radii = tuple(int(r) for r in radii)
    if not radii or min(radii) < 1:
        raise ValueError(f"ROA radii must be positive integers, got {radii!r}")
    return radii


def _magnitude(left: Tensor, right: Tensor, top: Tensor, bottom: Tensor, floor: Tensor) -> Tensor:
    gx = torch.log((left.clamp_min(0) + floor) / (right.clamp_min(0) + floor))
    gy = torch.log((top.clamp_min(0) + floor) / (bottom.clamp_min(0) + floor))
    return torch.sqrt(gx * gx + gy * gy)


@torch.no_grad()
def roa_gradients(
    image: Tensor, radii: Sequence[int] = DEFAULT_RADII, eps: float = DEFAULT_EPS, double: bool | None = None
) -> Tensor:
    """ROA gradient magnitudes of ``image`` ((H, W), (B, H, W) or (B, 1, H, W)) through an
    integral image: ``(B, len(radii), H, W)``.

    The integral image is taken of the image minus its mean, which keeps float32 sums
    accurate to ~1e-5 on chips; its partial sums still grow with the image area, so
    ``double=None`` accumulates in float64 for images larger than 128 x 128 pixels
    (``True``/``False`` force one or the other).
    """
    radii = _check_radii(radii)
    x = _as_b1hw(image).float().clamp_min(0)
    b, _, h, w = x.shape
    floor = _floor(x, eps)
    centre = x.mean(dim=(-2, -1), keepdim=True)
    big = max(radii)
    xp = _pad(x, big) - centre
    if double is None:
        double = h * w > DOUBLE_ABOVE
    if double:
        xp = xp.double()
    s = xp.new_zeros(b, 1, h + 2 * big + 1, w + 2 * big + 1)
    s[..., 1:, 1:] = xp.cumsum(-2).cumsum(-1)

    def box(y0: int, y1: int, x0: int, x1: int) -> Tensor:
        # sum over padded rows [i + y0, i + y1) and columns [j + x0, j + x1) for every output (i, j)
        return (
            s[..., y1 : y1 + h, x1 : x1 + w]
            - s[..., y0 : y0 + h, x1 : x1 + w]
            - s[..., y1 : y1 + h, x0 : x0 + w]
            + s[..., y0 : y0 + h, x0 : x0 + w]
        )

    out = []
    for r in radii:
        o, k = big - r, 2 * r + 1
        area = float((r + 1) * k)
        top = box(o, o + r + 1, o, o + k) / area + centre
        bottom = box(o + r, o + k, o, o + k) / area + centre
        left = box(o, o + k, o, o + r + 1) / area + centre
        right = box(o, o + k, o + r, o + k) / area + centre
        out.append(_magnitude(left.float(), right.float(), top.float(), bottom.float(), floor))
    return torch.cat(out, dim=1)


def half_window_kernels(r: int) -> Tensor:
    """The four ``(2r+1) x (2r+1)`` half-window averaging kernels (left, right, top,
    bottom) as a ``(4, 1, 2r+1, 2r+1)`` conv weight."""
    k = 2 * r + 1
    ker = torch.zeros(4, 1, k, k)
    ker[0, 0, :, : r + 1] = 1.0
    ker[1, 0, :, r:] = 1.0
    ker[2, 0, : r + 1, :] = 1.0
    ker[3, 0, r:, :] = 1.0
    return ker / ((r + 1) * k)


@torch.no_grad()
def roa_gradients_conv(image: Tensor, radii: Sequence[int] = DEFAULT_RADII, eps: float = DEFAULT_EPS) -> Tensor:
    """Reference implementation with ``(2r+1)``-sized convolution kernels (cost ~ r^2)."""
    radii = _check_radii(radii)
    x = _as_b1hw(image).float().clamp_min(0)
    floor = _floor(x, eps)
    out = []
    for r in radii:
        means = F.conv2d(_pad(x, r), half_window_kernels(r).to(x))
        left, right, top, bottom = means.unbind(1)
        out.append(_magnitude(left, right, top, bottom, floor[:, 0]).unsqueeze(1))
    return torch.cat(out, dim=1)


def patchify(maps: Tensor, patch: int, cell: int = 1) -> Tensor:
    """``(B, C, H, W)`` maps -> ``(B, N, C * (patch // cell)**2)`` per-token features in the
    token grid's C order (row-major patches), channels outermost within a token.
    ``cell > 1`` averages ``cell x cell`` pixels first (a smaller target)."""
    b, c, h, w = maps.shape
    if h % patch or w % patch:
        raise ValueError(f"image {h}x{w} is not a multiple of the patch size {patch}")
    if cell > 1:
        if patch % cell:
            raise ValueError(f"cell {cell} must divide the patch size {patch}")
        maps = F.avg_pool2d(maps, cell)
        patch //= cell
        h, w = h // cell, w // cell
    gh, gw = h // patch, w // patch
    x = maps.reshape(b, c, gh, patch, gw, patch).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, gh * gw, c * patch * patch)
