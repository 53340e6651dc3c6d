"""Masker, tokenizer, synthetic data, domain registration and an end-to-end pretraining run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jepakit import plugins as plugmod
from jepakit.contract import Layout
from jepakit_sar.data import load
from jepakit_sar.masks import LocalWindowMasker
from jepakit_sar.synthetic import CLASSES, make_chips, render_chip
from jepakit_sar.tokenizer import SARPatchTokenizer


@pytest.fixture(autouse=True)
def only_sar(monkeypatch):
    """Load the sar plugin alone (other plugins in the checkout may be half-built)."""
    monkeypatch.setenv(plugmod.ENV_VAR, "sar")
    plugmod.reset()
    yield
    plugmod.reset()


def test_local_masks_are_windows_mostly_masked():
    masker = LocalWindowMasker(num_windows=3, window=4, mask_ratio=0.8)
    g = torch.Generator().manual_seed(0)
    masks = masker(Layout((8, 8)), 16, g)
    assert masks.target.shape[:2] == (16, 3) and masks.target.shape[2] == 12  # int(16 * 0.8)
    for b in range(16):
        ctx = set(masks.context[b].tolist())
        for j in range(3):
            t = masks.target[b, j]
            rows, cols = t // 8, t % 8
            assert rows.max() - rows.min() < 4 and cols.max() - cols.min() < 4  # inside one 4x4 window
            assert ctx.isdisjoint(t.tolist())
        assert len(ctx) >= 1


def test_local_masks_reject_bad_arguments_and_grids():
    with pytest.raises(ValueError):
        LocalWindowMasker(mask_ratio=1.0)
    with pytest.raises(ValueError, match="2-D"):
        LocalWindowMasker()(Layout((16,)), 2, torch.Generator())


def test_tokenizer_shapes_and_scale_free_input():
    tok = SARPatchTokenizer(dim=32, img_size=64, patch=8)
    x = torch.rand(2, 1, 64, 64) + 0.1
    assert tok.layout({"image": x}).grid == (8, 8)
    e = tok.embed({"image": x})
    assert e.shape == (2, 64, 32)
    torch.testing.assert_close(tok.embed({"image": 50 * x}), e, rtol=1e-4, atol=1e-4)
    kept = tok({"image": x}, keep=torch.tensor([[0, 5], [63, 1]]))
    torch.testing.assert_close(kept[1, 0], e[1, 63])
    with pytest.raises(Exception, match="expects images of shape"):
        tok.embed({"image": torch.rand(2, 1, 32, 32)})


@pytest.mark.parametrize("size", [32, (32, 32), [32, 32]])
def test_tokenizer_takes_an_int_or_a_tuple_image_size(size):
    for tok in (SARPatchTokenizer(dim=8, img_size=size, patch=8), SARPatchTokenizer(dim=8, img_size=size, patch=(8, 8))):
        assert tok.grid == (4, 4)
        assert tok({"image": torch.rand(2, 1, 32, 32)}).shape == (2, 16, 8)
    tok = SARPatchTokenizer(dim=8, img_size=(32, 16), patch=8)  # a rectangular chip
    assert tok.grid == (4, 2) and tok({"image": torch.rand(2, 1, 32, 16)}).shape == (2, 8, 8)


def test_synthetic_chips_are_deterministic_balanced_and_speckled():
    a, ya = make_chips(20, 1, seed=7, size=64)
    b, yb = make_chips(20, 1, seed=7, size=64)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert np.bincount(ya).tolist() == [4] * len(CLASSES)
    # the same scene under more looks is smoother: intensity coefficient of variation ~ 1/sqrt(L) in clutter
    cv = {}
    for looks in (1, 4):
        amp, _ = render_chip(0, looks, np.random.default_rng(3), 64)
        corner = amp[:12, :12] ** 2  # clutter far from the vehicle
        cv[looks] = corner.std() / corner.mean()
    assert cv[1] > 1.5 * cv[4]


def test_default_data_has_one_task_per_look():
    bundle = load(n_pretrain=12, n_train=10, n_test=10)
    assert list(bundle.tasks) == ["L1", "L2", "L4"]
    assert len(bundle.pretrain) == 12
    item = bundle.tasks["L1"].train[0]
    assert item["image"].shape == (1, 64, 64) and 0 <= int(item["label"]) < len(CLASSES)
    assert bundle.info["img_size"] == 64 and bundle.info["patch"] == 8


def test_domain_is_registered_with_roa_pixel_hog_variants():
    import jepakit

    dom = jepakit.get_domain("sar")
    assert set(dom.variants) >= {"roa", "pixel", "hog"}
    for kind, name in (("tokenizer", "sar-patch"), ("masker", "sar-local"), ("target", "roa"), ("target", "hog"), ("target", "pixel")):
        assert name in jepakit.registry(kind)


@pytest.mark.parametrize("target, masker", [("roa", "sar-local"), ("ema", "multiblock")])
def test_pretraining_loss_goes_down(tmp_path, target, masker):
    from jepakit.train import pretrain

    run = pretrain(
        "sar",
        out=tmp_path / target,
        overrides={
            "data": {"n_pretrain": 64, "n_train": 5, "n_test": 5, "looks": [1]},
            "target": {"name": target},
            "masker": {"name": masker},
            "model": {"width": 32, "depth": 2, "heads": 2, "pred_width": 32, "pred_depth": 1, "pred_heads": 2},
            "train": {"steps": 40, "batch_size": 16, "lr": 2e-3, "warmup": 4, "progress": False},
        },
    )
    losses = [h["loss"] for h in run.history]
    assert len(losses) == 40 and all(np.isfinite(losses))
    assert np.mean(losses[-8:]) < 0.8 * np.mean(losses[:4])
    z = run.model.backbone.embed(next(iter(torch.utils.data.DataLoader(run.bundle.pretrain, batch_size=4))))
    assert z.shape == (4, 32) and torch.isfinite(z).all()


def test_roa_feature_baseline_predicts_probabilities():
    from jepakit_sar.baselines import roa_linear_baseline

    task = load(n_pretrain=3, n_train=25, n_test=15, looks=[4]).tasks["L4"]
    pred = roa_linear_baseline(task, list(range(25)), seed=0)
    assert pred.shape == (15, len(CLASSES))
    np.testing.assert_allclose(pred.sum(1), 1.0, rtol=1e-6)
