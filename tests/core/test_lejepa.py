"""The multi-view LeJEPA recipe, its view sampler, and I-JEPA + SIGReg."""

from __future__ import annotations

import math

import pytest
import torch

from jepakit import Layout
from jepakit.config import parse_sets
from jepakit.errors import ConfigError
from jepakit.train import pretrain
from jepakit.views import BlockViews


@pytest.mark.parametrize("grid", [(16,), (6, 8), (4, 6, 6)])
def test_block_views_have_global_and_local_sizes(grid):
    views = BlockViews(global_views=2, local_views=3)(Layout(grid), 8, torch.Generator().manual_seed(0))
    n = math.prod(grid)
    assert len(views.global_views) == 2 and len(views.local_views) == 3
    for v in views.global_views + views.local_views:
        assert v.shape[0] == 8 and v.min() >= 0 and v.max() < n
        assert all(len(set(row.tolist())) == v.shape[1] for row in v)  # no token twice
    assert min(v.shape[1] for v in views.global_views) >= max(v.shape[1] for v in views.local_views) * 0.9


def test_views_respect_valid_flags_and_random_mode():
    valid = torch.ones(4, 20, dtype=torch.bool)
    valid[:, 10:] = False
    layout = Layout((20,), flags={"valid": valid})
    for mode in ("block", "random"):
        views = BlockViews(mode=mode)(layout, 4, torch.Generator().manual_seed(1))
        for v in views.global_views + views.local_views:
            assert bool((v < 10).all())
    with pytest.raises(ValueError, match="mode"):
        BlockViews(mode="crop")


def test_recipe_shorthand_names_the_component():
    assert parse_sets(["recipe=lejepa", "target=sigreg"]) == {"recipe": {"name": "lejepa"}, "target": {"name": "sigreg"}}


def test_lejepa_recipe_trains_resumes_and_is_probed(waves, tmp_path):
    sets = ["recipe=lejepa", "recipe.num_slices=64", "train.steps=6", "train.ckpt_every=3", "recipe.proj_dim=16"]
    run = pretrain(waves, out=tmp_path / "a", overrides=sets)
    keys = set(run.history[-1])
    assert {"loss", "inv", "sigreg", "rankme", "collapsed"} <= keys
    assert all(math.isfinite(h["loss"]) for h in run.history)
    assert run.model.encoder_for_eval("target") is run.model.backbone
    # exact resume, BatchNorm statistics of the projector included
    ck = tmp_path / "a" / "checkpoints"
    again = pretrain(waves, out=tmp_path / "b", overrides=sets)
    import shutil

    for p in (tmp_path / "b" / "checkpoints").glob("step-*"):
        if p.name != "step-0000003":
            shutil.rmtree(p)
    (tmp_path / "b" / "checkpoints" / "latest").write_text("step-0000003")
    resumed = pretrain(waves, out=tmp_path / "b", resume=True)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in run.history]
    assert ck.exists() and again.history[0]["loss"] == run.history[0]["loss"]


def test_lejepa_arguments_are_checked_in_one_line(waves, tmp_path):
    with pytest.raises(ConfigError, match="recipe 'lejepa' has no argument 'lamb'; valid: .*lam"):
        pretrain(waves, out=tmp_path, overrides=["recipe=lejepa", "recipe.lamb=0.1"])
    with pytest.raises(ConfigError, match="recipe 'jepa' takes no arguments"):
        pretrain(waves, out=tmp_path, overrides=["recipe.lam=0.1"])
    with pytest.raises(ConfigError, match="unknown recipe 'mae'"):
        pretrain(waves, out=tmp_path, overrides=["recipe=mae"])


def test_ijepa_plus_sigreg_regularises_the_full_view(waves, tmp_path):
    run = pretrain(waves, out=tmp_path / "s", overrides=["loss.sigreg=0.05", "loss.sigreg_slices=64", "train.steps=3"])
    assert "sigreg" in run.history[-1] and run.history[-1]["sigreg"] > 0
    assert run.model.target.encoder() is not None  # the EMA target stays
    with pytest.raises(ConfigError, match="regularizer .sigreg. is given twice"):
        pretrain(waves, out=tmp_path / "t", overrides=["loss.sigreg=0.05", "target=sigreg", "train.steps=1"])


def test_lejepa_gradients_reach_backbone_and_projector(waves):
    from jepakit import get_domain
    from jepakit.train import build, collate_of, load_bundle, resolve_config

    dom = get_domain(waves)
    cfg = resolve_config(dom, overrides=["recipe=lejepa", "recipe.num_slices=32"])
    bundle = load_bundle(dom, cfg)
    model, views = build(cfg, bundle)
    batch = collate_of(bundle)([bundle.pretrain[i] for i in range(16)])
    out = model(batch, views(model.backbone.tokenizer.layout(batch), 16, torch.Generator().manual_seed(0)))
    out["loss"].backward()
    assert model.backbone.tokenizer.proj.weight.grad.abs().sum() > 0
    assert model.projector[0].weight.grad.abs().sum() > 0
