"""Synthetic driving scenes ray-cast from a spinning multi-beam LiDAR.

A scene is a street along a random heading: undulating, sloped terrain; building walls
beyond the sidewalks; cars (body + cabin, with the gap under the body) in lanes and
parked; pedestrians; poles; trees (trunk + canopy) and bushes. Rays from a sensor 1.73 m
above the ground hit the nearest surface (so objects occlude each other and the ground),
beams spread with range so far objects get few points, and returns get range noise,
random dropout and a range-dependent loss. Every point carries the class of the surface
it hit; every BEV cell the class of its points (a non-ground class wins over ground).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

CLASSES = ("ground", "car", "pedestrian", "pole", "vegetation", "building")
GROUND, CAR, PEDESTRIAN, POLE, VEGETATION, BUILDING = range(6)
# mean reflectivity per class: a return's intensity before range fall-off and noise
_REFLECT = torch.tensor([0.22, 0.45, 0.30, 0.55, 0.12, 0.35])


@dataclass
class Sensor:
    beams: int = 32
    azimuths: int = 720
    elevation: tuple[float, float] = (-24.0, 4.0)  # degrees
    height: float = 1.73
    max_range: float = 60.0
    range_noise: float = 0.02
    dropout: float = 0.05


class _Terrain:
    def __init__(self, rng: np.random.Generator, height: float):
        # python floats: numpy scalars times tensors take a slow conversion path
        self.h = float(height)
        self.sx, self.sy = (float(v) for v in rng.normal(0, 0.02, 2))  # slope
        self.k = [float(v) for v in rng.uniform(0.05, 0.2, 2)]
        self.a = float(rng.uniform(0.05, 0.35))
        self.ph = [float(v) for v in rng.uniform(0, 2 * math.pi, 2)]
        self.k2 = [float(v) for v in rng.uniform(0.4, 0.9, 2)]  # short-wave slope noise
        self.a2 = float(rng.uniform(0.01, 0.05))

    def z(self, x: Tensor, y: Tensor) -> Tensor:
        return (
            -self.h + self.sx * x + self.sy * y
            + self.a * torch.sin(self.k[0] * x + self.ph[0]) * torch.cos(self.k[1] * y + self.ph[1])
            + self.a2 * torch.sin(self.k2[0] * x) * torch.sin(self.k2[1] * y + self.ph[0])
        )


def _rays(s: Sensor) -> Tensor:
    el = torch.deg2rad(torch.linspace(s.elevation[0], s.elevation[1], s.beams, dtype=torch.float64))
    az = torch.linspace(0, 2 * math.pi, s.azimuths + 1, dtype=torch.float64)[:-1]
    el, az = torch.meshgrid(el, az, indexing="ij")
    return torch.stack([torch.cos(el) * torch.cos(az), torch.cos(el) * torch.sin(az), torch.sin(el)], -1).reshape(-1, 3)


def _hit_ground(d: Tensor, terrain: _Terrain, max_range: float) -> Tensor:
    # start from the sloped plane without the bumps, then Newton steps on the full terrain
    dz_plane = d[:, 2] - terrain.sx * d[:, 0] - terrain.sy * d[:, 1]
    t = torch.where(dz_plane < -1e-6, -terrain.h / dz_plane.clamp(max=-1e-6), torch.full_like(dz_plane, math.inf))
    down = torch.isfinite(t) & (t < 2 * max_range)
    t = t.clamp(max=2 * max_range)
    eps = 1e-3
    for _ in range(6):
        f = t * d[:, 2] - terrain.z(t * d[:, 0], t * d[:, 1])
        f2 = (t + eps) * d[:, 2] - terrain.z((t + eps) * d[:, 0], (t + eps) * d[:, 1])
        slope = (f2 - f) / eps
        t = torch.where(slope < -1e-4, t - f / slope.clamp(max=-1e-4), t).clamp(0.1, 2 * max_range)
    f = t * d[:, 2] - terrain.z(t * d[:, 0], t * d[:, 1])
    ok = down & (f.abs() < 0.05)
    return torch.where(ok, t, torch.full_like(t, math.inf))


def _hit_boxes(d: Tensor, boxes: Tensor) -> Tensor:
    """boxes (K, 7): cx, cy, cz (centre), half l, w, h, yaw -> (R, K) entry distance."""
    if boxes.numel() == 0:
        return d.new_full((d.shape[0], 0), math.inf)
    c, s = torch.cos(boxes[:, 6]), torch.sin(boxes[:, 6])
    o = -boxes[:, :3]
    ol = torch.stack([c * o[:, 0] + s * o[:, 1], -s * o[:, 0] + c * o[:, 1], o[:, 2]], -1)  # (K, 3)
    dl = torch.stack(
        [c * d[:, :1] + s * d[:, 1:2], -s * d[:, :1] + c * d[:, 1:2], d[:, 2:3].expand(-1, boxes.shape[0])], -1
    )  # (R, K, 3)
    dl = torch.where(dl.abs() < 1e-9, torch.full_like(dl, 1e-9), dl)
    half = boxes[:, 3:6]
    t1 = (-half - ol) / dl
    t2 = (half - ol) / dl
    tmin = torch.minimum(t1, t2).amax(-1)
    tmax = torch.maximum(t1, t2).amin(-1)
    ok = (tmax >= tmin) & (tmin > 0)
    return torch.where(ok, tmin, torch.full_like(tmin, math.inf))


def _hit_cylinders(d: Tensor, cyl: Tensor) -> Tensor:
    """cyl (K, 5): cx, cy, radius, z0, z1 (vertical) -> (R, K) entry distance (side or top)."""
    if cyl.numel() == 0:
        return d.new_full((d.shape[0], 0), math.inf)
    ox, oy = -cyl[:, 0], -cyl[:, 1]
    a = (d[:, :1] ** 2 + d[:, 1:2] ** 2).clamp(min=1e-12)
    b = 2 * (ox * d[:, :1] + oy * d[:, 1:2])
    cc = ox**2 + oy**2 - cyl[:, 2] ** 2
    disc = b * b - 4 * a * cc
    t = (-b - disc.clamp(min=0).sqrt()) / (2 * a)
    z = t * d[:, 2:3]
    side = (disc >= 0) & (t > 0) & (z >= cyl[:, 3]) & (z <= cyl[:, 4])
    t_side = torch.where(side, t, torch.full_like(t, math.inf))
    dz = torch.where(d[:, 2:3].abs() < 1e-9, torch.full_like(d[:, 2:3], -1e-9), d[:, 2:3])
    tc = cyl[:, 4] / dz  # the top disc, seen from above
    px, py = tc * d[:, :1] + ox, tc * d[:, 1:2] + oy
    top = (tc > 0) & (d[:, 2:3] < 0) & (px**2 + py**2 <= cyl[:, 2] ** 2)
    return torch.minimum(t_side, torch.where(top, tc, torch.full_like(tc, math.inf)))


def _hit_ellipsoids(d: Tensor, ell: Tensor) -> Tensor:
    """ell (K, 6): centre xyz, radii xyz (axis-aligned) -> (R, K) entry distance."""
    if ell.numel() == 0:
        return d.new_full((d.shape[0], 0), math.inf)
    o = -ell[:, :3] / ell[:, 3:]  # (K, 3) origin in the unit-sphere frame
    ds = d[:, None, :] / ell[None, :, 3:]  # (R, K, 3)
    a = (ds * ds).sum(-1)
    b = 2 * (ds * o).sum(-1)
    c = (o * o).sum(-1) - 1
    disc = b * b - 4 * a * c
    t = (-b - disc.clamp(min=0).sqrt()) / (2 * a)
    return torch.where((disc >= 0) & (t > 0), t, torch.full_like(t, math.inf))


class _Placer:
    """Rejection sampling of object footprints (circles) that must not overlap."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.taken: list[tuple[float, float, float]] = [(0.0, 0.0, 3.0)]  # keep the sensor free

    def free(self, x: float, y: float, r: float) -> bool:
        ok = all((x - a) ** 2 + (y - b) ** 2 >= (r + c) ** 2 for a, b, c in self.taken)
        if ok:
            self.taken.append((x, y, r))
        return ok


def make_scene(seed: int, sensor: Sensor | None = None, extent: float = 40.0) -> dict[str, Tensor]:
    """One scene: ``points`` (P, 4) float32 (x, y, z, intensity) and ``labels`` (P,) long."""
    s = sensor or Sensor()
    rng = np.random.default_rng(seed)
    terrain = _Terrain(rng, s.height)
    heading = rng.uniform(0, 2 * math.pi)
    ch, sh = math.cos(heading), math.sin(heading)

    def world(u: float, v: float) -> tuple[float, float]:  # street frame (u along, v across) -> sensor frame
        return ch * u - sh * v, sh * u + ch * v

    def ground(x: float, y: float) -> float:
        return float(terrain.z(torch.tensor(x), torch.tensor(y)))

    place = _Placer(rng)
    boxes, box_cls, cyls, cyl_cls, ells, ell_cls = [], [], [], [], [], []
    road = rng.uniform(3.5, 7.0)  # half width of the road
    walk = road + rng.uniform(2.0, 4.5)  # the building line
    # buildings: wall segments on both sides with gaps
    for side in (-1, 1):
        u = -extent
        while u < extent:
            length = rng.uniform(6, 25)
            if rng.random() < 0.8:
                depth, height = rng.uniform(3, 10), rng.uniform(3.5, 12)
                v = side * (walk + depth / 2 + rng.uniform(0, 2))
                x, y = world(u + length / 2, v)
                place.taken.append((x, y, 0.5 * min(length, depth)))
                g = ground(x, y)
                boxes.append([x, y, g + height / 2 - 0.3, length / 2, depth / 2, height / 2 + 0.3, heading])
                box_cls.append(BUILDING)
            u += length + rng.uniform(0, 6)
    # cars in lanes and parked along the kerb
    for _ in range(int(rng.integers(4, 14))):
        for _try in range(10):
            u = rng.uniform(-extent * 0.8, extent * 0.8)
            lane = rng.choice([-1, 1]) * (rng.uniform(0.2, 0.8) * road if rng.random() < 0.6 else road - 1.0)
            x, y = world(u, lane)
            length, width = rng.uniform(3.8, 4.9), rng.uniform(1.65, 1.95)
            if place.free(x, y, length / 2):
                yaw = heading + (math.pi if lane < 0 and rng.random() < 0.8 else 0.0) + rng.normal(0, 0.08)
                g = ground(x, y)
                body_h = rng.uniform(0.6, 0.8)
                boxes.append([x, y, g + 0.3 + body_h / 2, length / 2, width / 2, body_h / 2, yaw])
                cab_h = rng.uniform(0.45, 0.7)
                cx, cy = x - 0.2 * length * math.cos(yaw), y - 0.2 * length * math.sin(yaw)
                boxes.append([cx, cy, g + 0.3 + body_h + cab_h / 2, length * 0.28, width * 0.45, cab_h / 2, yaw])
                box_cls += [CAR, CAR]
                break
    # pedestrians on the sidewalks, a few crossing
    for _ in range(int(rng.integers(2, 10))):
        for _try in range(10):
            v = rng.choice([-1, 1]) * (rng.uniform(road + 0.5, walk) if rng.random() < 0.8 else rng.uniform(0, road))
            x, y = world(rng.uniform(-extent * 0.7, extent * 0.7), v)
            r = rng.uniform(0.22, 0.32)
            if place.free(x, y, r + 0.2):
                g = ground(x, y)
                cyls.append([x, y, r, g, g + rng.uniform(1.5, 1.9)])
                cyl_cls.append(PEDESTRIAN)
                break
    # poles along the kerb
    for _ in range(int(rng.integers(2, 8))):
        for _try in range(10):
            x, y = world(rng.uniform(-extent, extent), rng.choice([-1, 1]) * (road + rng.uniform(0.3, 1.0)))
            if place.free(x, y, 0.3):
                g = ground(x, y)
                cyls.append([x, y, rng.uniform(0.08, 0.15), g, g + rng.uniform(3.5, 7.5)])
                cyl_cls.append(POLE)
                break
    # trees on the sidewalks and bushes anywhere off the road
    for _ in range(int(rng.integers(3, 12))):
        for _try in range(10):
            x, y = world(rng.uniform(-extent, extent), rng.choice([-1, 1]) * rng.uniform(road + 1.0, walk + 8))
            crown = rng.uniform(1.2, 3.0)
            if place.free(x, y, 0.5):
                g = ground(x, y)
                trunk = rng.uniform(1.8, 3.5)
                cyls.append([x, y, rng.uniform(0.12, 0.3), g, g + trunk + 0.3])
                cyl_cls.append(VEGETATION)
                ells.append([x, y, g + trunk + crown * 0.8, crown, crown, crown * rng.uniform(0.7, 1.1)])
                ell_cls.append(VEGETATION)
                break
    for _ in range(int(rng.integers(2, 12))):
        for _try in range(10):
            x, y = world(rng.uniform(-extent, extent), rng.choice([-1, 1]) * rng.uniform(road + 0.8, walk + 10))
            r = rng.uniform(0.4, 1.4)
            if place.free(x, y, r):
                g = ground(x, y)
                ells.append([x, y, g + r * 0.3, r, r * rng.uniform(0.6, 1.4), r * rng.uniform(0.4, 0.8)])
                ell_cls.append(VEGETATION)
                break

    d = _rays(s)
    f64 = torch.float64
    hits = [
        _hit_ground(d, terrain, s.max_range)[:, None],
        _hit_boxes(d, torch.tensor(boxes, dtype=f64).reshape(-1, 7)),
        _hit_cylinders(d, torch.tensor(cyls, dtype=f64).reshape(-1, 5)),
        _hit_ellipsoids(d, torch.tensor(ells, dtype=f64).reshape(-1, 6)),
    ]
    cls = torch.tensor([GROUND] + box_cls + cyl_cls + ell_cls, dtype=torch.long)
    t_all = torch.cat(hits, 1)
    t, which = t_all.min(1)
    label = cls[which]
    g = torch.Generator().manual_seed(int(seed))
    keep = torch.isfinite(t) & (t <= s.max_range)
    # returns fade with range: dropout grows towards the maximum range
    p_drop = s.dropout + 0.25 * (t.clamp(max=s.max_range) / s.max_range) ** 2
    keep &= torch.rand(t.shape, generator=g, dtype=f64) >= p_drop
    t = t + s.range_noise * torch.randn(t.shape, generator=g, dtype=f64)
    xyz = (t[:, None] * d)[keep]
    label = label[keep]
    rng_t = t[keep]
    inten = _REFLECT[label].double() * (1 - 0.4 * rng_t / s.max_range) + 0.05 * torch.randn(rng_t.shape, generator=g, dtype=f64)
    pts = torch.cat([xyz, inten.clamp(0, 1)[:, None]], 1).float()
    return {"points": pts, "labels": label}


def cell_labels(
    points: Tensor, labels: Tensor, point_range: tuple[float, ...], cell: tuple[float, float], grid_hw: tuple[int, int]
) -> Tensor:
    """Per-BEV-cell class (H*W,) long: the most frequent non-ground class among the
    cell's points, else ground when it has ground points, else -1 (no points)."""
    h, w = grid_hw
    x0, y0, z0, x1, y1, z1 = point_range
    col = torch.floor((points[:, 0] - x0) / cell[0]).long()
    row = torch.floor((points[:, 1] - y0) / cell[1]).long()
    ok = (col >= 0) & (col < w) & (row >= 0) & (row < h) & (points[:, 2] >= z0) & (points[:, 2] < z1)
    idx = (row * w + col)[ok]
    lab = labels[ok]
    n = len(CLASSES)
    counts = torch.zeros(h * w, n, dtype=torch.long).index_put_((idx, lab), torch.ones_like(idx), accumulate=True)
    objects = counts[:, 1:]
    out = torch.where(objects.sum(1) > 0, objects.argmax(1) + 1, torch.where(counts[:, 0] > 0, 0, -1))
    return out
