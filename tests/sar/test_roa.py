"""The integral-image ROA against direct box filters, its invariances and its targets."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from jepakit.contract import Masks
from jepakit_sar.roa import DEFAULT_RADII, half_window_kernels, patchify, roa_gradients, roa_gradients_conv
from jepakit_sar.targets import HOGTarget, PixelTarget, ROATarget


def speckled(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mean = 0.5 + torch.rand(b, 1, h, w, generator=g).cumsum(-1) / w  # a brightness ramp
    return mean * -torch.log(torch.rand(b, 1, h, w, generator=g).clamp_min(1e-7))  # x exponential speckle


def avg_pool_roa(x: torch.Tensor, r: int, eps: float = 1e-2) -> torch.Tensor:
    """Independent ROA: half-window means with avg_pool2d over a reflect-padded image."""
    xp = F.pad(x, (r, r, r, r), mode="reflect")
    h, w = x.shape[-2:]
    k = 2 * r + 1
    vert = F.avg_pool2d(xp, (r + 1, k), stride=1)  # rows [i, i+r] for the top half starting at padded row i
    horiz = F.avg_pool2d(xp, (k, r + 1), stride=1)
    top, bottom = vert[..., :h, :w], vert[..., r : r + h, :w]
    left, right = horiz[..., :h, :w], horiz[..., :h, r : r + w]
    floor = eps * x.mean(dim=(-2, -1), keepdim=True) + 1e-12
    gx = torch.log((left + floor) / (right + floor))
    gy = torch.log((top + floor) / (bottom + floor))
    return torch.sqrt(gx**2 + gy**2)


@pytest.mark.parametrize("shape", [(3, 48, 48), (2, 40, 56), (1, 96, 80)])
def test_integral_image_equals_box_filters_for_every_radius(shape):
    x = speckled(*shape, seed=shape[1])
    fast = roa_gradients(x, DEFAULT_RADII)
    conv = roa_gradients_conv(x, DEFAULT_RADII)
    assert fast.shape == (shape[0], len(DEFAULT_RADII), *shape[1:])
    for i, r in enumerate(DEFAULT_RADII):
        ref = avg_pool_roa(x, r)[:, 0]
        torch.testing.assert_close(fast[:, i], ref, rtol=1e-4, atol=2e-5)
        torch.testing.assert_close(conv[:, i], ref, rtol=1e-4, atol=2e-5)
    assert fast.abs().max() > 0.05  # the ramp and speckle give real gradients


def test_integral_image_matches_on_every_small_radius_and_large_scene():
    x = speckled(1, 300, 260, seed=3) * 1e4  # large values: the centred float32 sums stay accurate
    radii = tuple(range(1, 18))
    torch.testing.assert_close(roa_gradients(x, radii), roa_gradients_conv(x, radii), rtol=1e-4, atol=5e-5)


def test_step_edge_response_and_direction():
    x = torch.ones(1, 1, 64, 64)
    x[..., 32:] = 4.0  # a vertical edge: right half 4x brighter
    g = roa_gradients(x, (5,))[0, 0]
    # at column 32 the left half (columns 27..32) holds five 1s and one 4, the right half only 4s
    f = 0.01 * 2.5  # eps * image mean
    expected = abs(torch.log(torch.tensor((1.5 + f) / (4.0 + f))))
    torch.testing.assert_close(g[:, 32], torch.full((64,), float(expected)), rtol=1e-5, atol=1e-5)
    assert g[:, 32].min() > g[:, 20].max()
    assert g[:, 5].abs().max() < 1e-5 and g[:, 60].abs().max() < 1e-5  # flat far from the edge


@pytest.mark.parametrize("factor", [1e-3, 7.5, 1e5])
def test_invariant_to_scaling_the_image(factor):
    x = speckled(4, 64, 64, seed=1)
    torch.testing.assert_close(roa_gradients(x * factor), roa_gradients(x), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(roa_gradients_conv(x * factor), roa_gradients_conv(x), rtol=1e-4, atol=1e-5)
    t = ROATarget(patch=8)
    torch.testing.assert_close(t.features(x * factor), t.features(x), rtol=1e-4, atol=1e-5)


def test_pixel_target_is_not_scale_free_without_normalisation():
    # the contrast that makes ROA's invariance meaningful: a plain pixel target moves with the scale
    x = speckled(2, 32, 32)
    t = PixelTarget(patch=8, norm=False)
    assert not torch.allclose(t.features(3 * x), t.features(x))


def test_zero_and_negative_inputs_stay_finite():
    for x in (torch.zeros(2, 1, 40, 40), -torch.rand(2, 1, 40, 40), torch.randn(2, 1, 40, 40)):
        for fn in (roa_gradients, roa_gradients_conv):
            out = fn(x)
            assert torch.isfinite(out).all()
    z = torch.zeros(1, 1, 40, 40)
    z[..., 10:20, 10:20] = 1.0  # zero clutter around a bright square: finite, non-zero at its border
    out = roa_gradients(z)
    assert torch.isfinite(out).all() and out.max() > 1.0


def test_tiny_image_uses_edge_padding_without_error():
    x = speckled(1, 16, 16)
    torch.testing.assert_close(roa_gradients(x, (17,)), roa_gradients_conv(x, (17,)), rtol=1e-4, atol=2e-5)


def test_half_window_kernels_are_normalised_halves():
    k = half_window_kernels(3)
    assert k.shape == (4, 1, 7, 7)
    torch.testing.assert_close(k.sum(dim=(1, 2, 3)), torch.ones(4))
    assert (k[0, 0, :, 4:] == 0).all() and (k[2, 0, 4:, :] == 0).all()


def test_patchify_follows_the_token_grid_order():
    maps = torch.arange(2 * 16 * 24, dtype=torch.float32).reshape(1, 2, 16, 24)
    feat = patchify(maps, 8)
    assert feat.shape == (1, 2 * 3, 2 * 64)
    # token 4 = grid row 1, column 1; its first feature is channel 0, pixel (8, 8)
    assert feat[0, 4, 0] == maps[0, 0, 8, 8]
    assert feat[0, 4, 64] == maps[0, 1, 8, 8]
    assert patchify(maps, 8, cell=2).shape == (1, 6, 2 * 16)


class _Model:  # what a target reads from the JEPA model
    class backbone:
        grid = (8, 8)


@pytest.mark.parametrize(
    "target, dim",
    [(ROATarget(patch=8), 4 * 64), (ROATarget(patch=8, radii=(3, 5), cell=2), 2 * 16), (PixelTarget(patch=8), 64), (HOGTarget(patch=8), 9 * 4)],
)
def test_targets_gather_masked_tokens(target, dim):
    x = speckled(3, 64, 64)
    assert target.dim == dim and not target.needs_grad
    feat = target.features(x)
    assert feat.shape == (3, 64, dim) and torch.isfinite(feat).all()
    idx = torch.randint(0, 64, (3, 2, 5))
    out = target(_Model(), {"image": x}, Masks(torch.zeros(3, 4, dtype=torch.long), idx))
    assert out.shape == (3, 2, 5, dim)
    for b in range(3):
        torch.testing.assert_close(out[b, 1, 2], feat[b, idx[b, 1, 2]])


def test_target_patch_must_match_the_grid():
    class Wrong:
        class backbone:
            grid = (4, 4)

    with pytest.raises(ValueError, match="grid"):
        ROATarget(patch=8)(Wrong(), {"image": speckled(1, 64, 64)}, Masks(torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 1, 2, dtype=torch.long)))


def test_hog_histograms_see_orientation():
    x = torch.ones(1, 1, 32, 32)
    x[..., 16:] = 5.0  # vertical edge: horizontal gradient, orientation bin 0
    h = HOGTarget(patch=8, nbins=9, cell=8).features(x)  # one cell per patch
    edge_token = 1 * 4 + 2  # grid row 1, column 2 starts at pixel column 16
    assert h[0, edge_token].argmax() == 0
    assert torch.allclose(h[0, edge_token].norm(), torch.tensor(1.0), atol=1e-5)
