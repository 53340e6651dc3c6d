"""Embedded default data: a synthetic SAR automatic-target-recognition set.

Each chip images one vehicle of a class given by a 3-D layout of boxes (hull, turret,
cab, cargo bed, blade...) and point features (barrel, road wheels). The boxes carry
scatterers where real vehicles scatter strongly: ground-hull corners (dihedral and
trihedral returns), top edges, and faces seen nearly face-on (glints), while faces
turned away from the radar are attenuated. For a random aspect (rotation about the
vertical) and depression angle the scatterers are projected into the ground-range /
cross-range image plane with layover (height moves a point towards the radar), imaged
through a sinc^2 point-spread function over textured clutter, with the radar shadow
cast behind the vehicle body. Multiplicative Gamma speckle with ``L`` looks (mean 1,
variance 1/L) is applied to the intensity, so at ``L = 1`` every pixel is
exponentially distributed around its mean and speckle, not the class, dominates the
pixels; the class lives in the arrangement of scatterers and the shape of the shadow.

The radar looks along the image rows from the top: row 0 is near range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = ("tank", "apc", "truck", "spg", "dozer")
SPACING_M = 0.3  # metres per pixel, as MSTAR chips


@dataclass(frozen=True)
class Box:
    x: float  # centre along the vehicle's length (m, forward positive)
    y: float  # centre across (m)
    length: float
    width: float
    z0: float  # bottom height (m)
    height: float
    strength: float  # amplitude scale of its edge scatterers


@dataclass(frozen=True)
class Vehicle:
    boxes: tuple[Box, ...]
    points: tuple[tuple[float, float, float, float], ...]  # x, y, z, amplitude


def _wheels(xs: tuple[float, ...], half_track: float, z: float, amp: float) -> tuple:
    return tuple((x, s * half_track, z, amp) for x in xs for s in (-1.0, 1.0))


def _line(x0: float, x1: float, y: float, z: float, amp: float, step: float = 0.45) -> tuple:
    n = max(2, int(round(abs(x1 - x0) / step)) + 1)
    return tuple((float(x), y, z, amp) for x in np.linspace(x0, x1, n))


VEHICLES: dict[str, Vehicle] = {
    "tank": Vehicle(
        (Box(0.0, 0.0, 7.0, 3.6, 0.4, 1.1, 1.0), Box(0.4, 0.0, 2.8, 2.4, 1.5, 0.8, 1.2)),
        _line(1.8, 5.6, 0.0, 1.9, 0.8) + _wheels((-2.8, -1.7, -0.6, 0.6, 1.7, 2.8), 1.7, 0.4, 0.55),
    ),
    "apc": Vehicle(
        (Box(0.0, 0.0, 6.5, 3.0, 0.5, 1.8, 1.0), Box(1.4, 0.6, 0.9, 0.9, 2.3, 0.5, 0.9)),
        _wheels((-2.4, -0.8, 0.8, 2.4), 1.55, 0.5, 0.9),
    ),
    "truck": Vehicle(
        (Box(2.6, 0.0, 1.8, 2.4, 0.9, 1.7, 1.2), Box(-1.2, 0.0, 4.6, 2.5, 1.0, 1.8, 0.45)),
        _wheels((2.6, -0.6, -2.2), 1.1, 0.5, 0.9) + _line(-3.4, 3.4, 0.0, 0.8, 0.35, step=0.8),
    ),
    "spg": Vehicle(
        (Box(0.0, 0.0, 6.8, 3.2, 0.4, 1.2, 1.0), Box(-1.7, 0.0, 3.2, 3.0, 1.6, 1.3, 1.4)),
        _line(0.0, 5.2, 0.0, 2.3, 0.9) + _wheels((-2.6, -1.3, 0.0, 1.3, 2.6), 1.5, 0.4, 0.55),
    ),
    "dozer": Vehicle(
        (
            Box(-0.6, 0.0, 4.0, 2.6, 0.4, 1.6, 1.0),
            Box(-1.1, 0.0, 1.6, 1.6, 2.0, 1.3, 0.9),
            Box(2.1, 0.0, 0.3, 3.8, 0.0, 1.2, 2.0),
        ),
        _wheels((-2.2, -1.1, 0.0, 1.1), 1.4, 0.35, 0.6),
    ),
}


def _box_scatterers(b: Box) -> np.ndarray:
    """Scatterers of one box: rows of (x, y, z, amplitude, normal_x, normal_y)."""
    hx, hy = b.length / 2, b.width / 2
    top = b.z0 + b.height
    rows = []
    for sx in (-1, 1):
        for sy in (-1, 1):
            cx, cy = b.x + sx * hx, b.y + sy * hy
            diag = np.array([sx, sy]) / np.sqrt(2)
            # bottom corners form trihedrals with the ground: the strongest returns
            rows.append((cx, cy, b.z0, 1.6 * b.strength, *diag))
            rows.append((cx, cy, top, 0.9 * b.strength, *diag))
    # top and base edges, each with the outward normal of its face (for glints / self-occlusion)
    for (x0, y0, x1, y1, nx, ny) in (
        (-hx, -hy, hx, -hy, 0, -1),
        (-hx, hy, hx, hy, 0, 1),
        (-hx, -hy, -hx, hy, -1, 0),
        (hx, -hy, hx, hy, 1, 0),
    ):
        n = max(2, int(np.hypot(x1 - x0, y1 - y0) / 0.6))
        for t in np.linspace(0.1, 0.9, n):
            px, py = b.x + x0 + t * (x1 - x0), b.y + y0 + t * (y1 - y0)
            rows.append((px, py, top, 0.45 * b.strength, nx, ny))
            rows.append((px, py, b.z0, 0.6 * b.strength, nx, ny))
    return np.array(rows, dtype=np.float64)


def _templates() -> dict[str, np.ndarray]:
    out = {}
    for name, v in VEHICLES.items():
        parts = [_box_scatterers(b) for b in v.boxes]
        pts = np.array([(x, y, z, a, 0.0, 0.0) for x, y, z, a in v.points], dtype=np.float64)
        out[name] = np.concatenate(parts + [pts.reshape(-1, 6)])
    return out


_TEMPLATES = _templates()


def _smooth_field(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Unit-variance Gaussian random field with a Gaussian correlation of ``sigma`` px."""
    noise = rng.standard_normal((size, size))
    f = np.fft.fftfreq(size)
    k = np.exp(-2 * (np.pi * sigma) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    field = np.real(np.fft.ifft2(np.fft.fft2(noise) * k))
    return field / (field.std() + 1e-12)


def _footprint(b: Box, scale: float, theta: float, rows: np.ndarray, cols: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Ground footprint of a rotated box on the pixel grid."""
    u = (rows - centre[0]) * SPACING_M
    v = (cols - centre[1]) * SPACING_M
    # inverse of the aspect rotation: image (u, v) -> vehicle (x, y)
    x = u * np.cos(theta) + v * np.sin(theta)
    y = -u * np.sin(theta) + v * np.cos(theta)
    return (np.abs(x - b.x * scale) <= b.length * scale / 2) & (np.abs(y - b.y * scale) <= b.width * scale / 2)


def render_chip(cls: int, looks: float, rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, dict]:
    """One speckled amplitude chip ``(size, size)`` of class index ``cls`` and its nuisance parameters."""
    name = CLASSES[cls]
    v = VEHICLES[name]
    theta = rng.uniform(0, 2 * np.pi)  # aspect
    depression = np.deg2rad(rng.uniform(15.0, 45.0))
    scale = rng.uniform(0.93, 1.07)
    tcr = rng.uniform(6.0, 20.0)  # target-to-clutter intensity ratio of a unit scatterer
    centre = size / 2 - 0.5 + rng.uniform(-3, 3, size=2)

    pts = _TEMPLATES[name].copy()
    pts[:, :3] *= scale
    pts[:, :2] += rng.normal(0, 0.08, size=(len(pts), 2))
    amp = pts[:, 3] * rng.lognormal(0.0, 0.4, size=len(pts))
    c, s = np.cos(theta), np.sin(theta)
    u = pts[:, 0] * c - pts[:, 1] * s  # ground range (m), away from the radar
    w = pts[:, 0] * s + pts[:, 1] * c  # cross range (m)
    nu = pts[:, 4] * c - pts[:, 5] * s
    has_normal = (pts[:, 4] != 0) | (pts[:, 5] != 0)
    facing = -nu  # cosine between a face normal and the direction to the radar
    amp = np.where(has_normal & (facing < -0.2), amp * 0.3, amp)  # faces turned away
    amp = amp * np.where(has_normal, 1.0 + 4.0 * np.clip(facing, 0, 1) ** 30, 1.0)  # face-on glints
    row = centre[0] + (u - pts[:, 2] * np.tan(depression)) / SPACING_M  # layover towards the radar
    col = centre[1] + w / SPACING_M

    grid = np.arange(size, dtype=np.float64)
    res = 1.3  # PSF main-lobe width in pixels (slightly oversampled, as MSTAR)
    pr = np.sinc((grid[:, None] - row[None, :]) / res) ** 2
    pc = np.sinc((grid[:, None] - col[None, :]) / res) ** 2
    target = (pr * (tcr * amp**2)[None, :]) @ pc.T

    rr, cc = np.meshgrid(grid, grid, indexing="ij")
    body = np.zeros((size, size), dtype=bool)
    shadow = np.zeros((size, size), dtype=bool)
    for b in v.boxes:
        fp = _footprint(b, scale, theta, rr, cc, centre)
        body |= fp
        reach = int(round((b.z0 + b.height) * scale / np.tan(depression) / SPACING_M))
        cast = np.zeros_like(fp)
        for k in range(1, min(reach, size) + 1):  # shadow falls away from the radar (down the rows)
            cast[k:] |= fp[:-k]
        shadow |= cast
    shadow &= ~body

    clutter = rng.lognormal(0.0, 0.3) * np.exp(0.35 * _smooth_field(rng, size, sigma=rng.uniform(2.0, 5.0)))
    background = np.where(shadow, 0.04 * clutter + 0.01, clutter)
    intensity = background + target
    speckle = rng.gamma(shape=looks, scale=1.0 / looks, size=(size, size))
    amplitude = np.sqrt(intensity * speckle).astype(np.float32)
    meta = {"aspect_deg": float(np.rad2deg(theta)), "depression_deg": float(np.rad2deg(depression)), "looks": looks}
    return amplitude, meta


def make_chips(n: int, looks: float, seed: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``n`` class-balanced chips ``(n, size, size)`` float32 and their labels ``(n,)``."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(CLASSES))
    chips = np.empty((n, size, size), dtype=np.float32)
    for i, cls in enumerate(labels):
        chips[i], _ = render_chip(int(cls), looks, rng, size)
    return chips, labels.astype(np.int64)
