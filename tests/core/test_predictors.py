"""The predictor registry (jepakit_register_predictors) and the built-in transformer's
one-pass form: all target groups in one attention-masked sequence."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import jepakit
from jepakit import hookimpl
from jepakit.config import on_resume
from jepakit.contract import Layout
from jepakit.errors import ConfigError, JepakitError
from jepakit.masks import MultiBlockMasker
from jepakit.predictors import TransformerPredictor, block_forward, group_mask
from jepakit.train import build, pretrain

GRID = (6, 6)


def predictor(num_prefix: int, **kw) -> TransformerPredictor:
    """A small predictor with trained-looking weights (at init, attention is nearly
    uniform and the mask tokens nearly zero, which would hide differences)."""
    torch.manual_seed(0)
    p = TransformerPredictor(GRID, num_prefix, 24, 20, pred_width=32, pred_depth=3, pred_heads=4, **kw)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in p.named_parameters():
            noise = torch.randn(t.shape, generator=g)
            t.copy_(1.0 + 0.1 * noise if "norm" in name and name.endswith("weight") else 0.15 * noise)
    return p


def inputs(m: int, num_prefix: int, b: int = 3):
    masks = MultiBlockMasker(num_targets=m, target_scale=(0.1, 0.2))(Layout(GRID), b, torch.Generator().manual_seed(m))
    context = torch.randn(b, num_prefix + masks.context.shape[1], 24, generator=torch.Generator().manual_seed(1))
    return context, masks


@pytest.mark.parametrize("m", [1, 4])
@pytest.mark.parametrize("num_prefix", [0, 2])
def test_one_pass_equals_per_group_with_the_context_isolated(m, num_prefix):
    """The defining property: one sequence under the group mask computes what M
    sequences compute when the context does not attend to the mask tokens, forward and
    backward, with the same weights (one state dict)."""
    ref = predictor(num_prefix, isolate_context=True)
    one = predictor(num_prefix, one_pass=True)
    one.load_state_dict(ref.state_dict())
    context, masks = inputs(m, num_prefix)
    c1, c2 = context.clone().requires_grad_(), context.clone().requires_grad_()
    a, b = ref(c1, masks), one(c2, masks)
    assert a.shape == b.shape == (3, m, masks.target.shape[2], 20)
    assert (a - b).abs().max().item() < 1e-5
    a.square().sum().backward()
    b.square().sum().backward()
    assert (c1.grad - c2.grad).abs().max().item() < 1e-5
    for (name, p), q in zip(ref.named_parameters(), one.parameters()):
        assert (p.grad - q.grad).abs().max().item() < 1e-4 * max(1.0, p.grad.abs().max().item()), name


def test_per_group_default_is_i_jepas_full_attention():
    """Without isolate_context the context tokens also see their group's mask tokens (as
    I-JEPA's predictor does): not what one pass computes."""
    full = predictor(0)
    one = predictor(0, one_pass=True)
    one.load_state_dict(full.state_dict())
    context, masks = inputs(4, 0)
    assert (full(context, masks) - one(context, masks)).abs().max().item() > 1e-4


def test_the_modes_share_one_state_dict_with_the_old_keys():
    per_group, one = predictor(1).state_dict(), predictor(1, one_pass=True).state_dict()
    assert list(per_group) == list(one)
    assert {"inp.weight", "mask_token", "blocks.0.attn.qkv.weight", "blocks.2.mlp.fc2.bias", "norm.weight", "out.bias"} <= set(one)


def test_block_forward_is_timm_blocks_forward():
    p = predictor(0)
    x = torch.randn(2, 7, 32)
    for block in p.blocks:
        assert torch.allclose(block_forward(block, x, None), block(x), atol=1e-6)


def test_float_bool_and_split_attention_agree_with_gradients():
    for prefix in (0, 2):
        context, masks = inputs(4, prefix)
        torch.manual_seed(0)
        ref = predictor(prefix, one_pass=True, attn_mask="bool")
        outs, grads = [], []
        for form in ("bool", "float", "split"):
            p = predictor(prefix, one_pass=True, attn_mask=form)
            p.load_state_dict(ref.state_dict())
            ctx = context.clone().requires_grad_(True)
            out = p(ctx, masks)
            out.square().sum().backward()
            outs.append(out.detach())
            grads.append((ctx.grad, p.blocks[0].attn.qkv.weight.grad))
        for out, (gc, gw) in zip(outs[1:], grads[1:]):
            assert (out - outs[0]).abs().max().item() < 1e-5
            assert torch.allclose(gc, grads[0][0], atol=1e-5) and torch.allclose(gw, grads[0][1], atol=1e-5)
    # the per-group form with an isolated context takes the split form too
    context, masks = inputs(4, 0)
    iso = predictor(0, isolate_context=True)
    split = predictor(0, isolate_context=True, attn_mask="split")
    split.load_state_dict(iso.state_dict())
    assert (iso(context, masks) - split(context, masks)).abs().max().item() < 1e-5


def test_group_mask():
    mask = group_mask(2, 2, 2)
    expect = torch.tensor([
        [1, 1, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 1, 0, 0],
        [1, 1, 1, 1, 0, 0],
        [1, 1, 0, 0, 1, 1],
        [1, 1, 0, 0, 1, 1],
    ], dtype=torch.bool)
    assert torch.equal(mask, expect)


def test_transformer_is_registered_and_validates_its_arguments():
    assert jepakit.registry("predictor")["transformer"].plugin == "jepakit"
    with pytest.raises(ConfigError, match="predictor 'transformer' has no argument 'onepass'; valid: .*one_pass"):
        jepakit.create("predictor", "transformer", {"onepass": True}, {"grid": GRID, "num_prefix": 0, "width": 8, "out_dim": 8})
    with pytest.raises(ConfigError, match="attn_mask must be"):
        jepakit.create("predictor", "transformer", {"attn_mask": "int"}, {"grid": GRID, "num_prefix": 0, "width": 8, "out_dim": 8})


def test_set_predictor_one_pass_trains_and_the_checkpoint_loads_in_either_mode(waves, tmp_path):
    run = pretrain(waves, out=tmp_path / "r", overrides=["train.steps=3", "predictor.one_pass=true"])
    assert run.config["predictor"] == {"name": "transformer", "one_pass": True}
    assert run.model.predictor.one_pass is True
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in run.history)
    # the same weights in the per-group form (switching mode on a checkpoint)
    cfg = {**run.config, "predictor": {"name": "transformer"}}
    model, _ = build(cfg, run.bundle)
    result = model.load_state_dict(run.model.state_dict(), strict=False)
    assert not result.missing_keys and not result.unexpected_keys
    assert model.predictor.one_pass is False


def test_configs_that_predate_the_predictor_section_build_and_resume(waves, tmp_path):
    run = pretrain(waves, out=tmp_path / "r", overrides=["train.steps=2"])
    old = {k: v for k, v in run.config.items() if k != "predictor"}
    model, _ = build(old, run.bundle)
    assert type(model.predictor) is TransformerPredictor
    assert set(model.state_dict()) == set(run.model.state_dict())
    new = on_resume(old, [{"train": {"steps": 4}}], 2)
    assert new["predictor"] == {"name": "transformer"} and new["train"]["steps"] == 4
    with pytest.raises(ConfigError, match="cannot change predictor.one_pass"):
        on_resume(old, [{"predictor": {"one_pass": True}}], 2)


class Facts(nn.Module):
    """A plugin's predictor: records what the core offered and what forward received."""

    seen: dict = {}

    def __init__(self, grid, num_prefix, width, out_dim, pred_width, in_chans, dim, scale: float = 1.0):
        super().__init__()
        Facts.seen = dict(grid=grid, num_prefix=num_prefix, width=width, out_dim=out_dim, pred_width=pred_width,
                          in_chans=in_chans, dim=dim, scale=scale)
        self.lin = nn.Linear(width, out_dim)

    def forward(self, context, masks, batch):
        Facts.seen["batch_keys"] = sorted(batch)
        b, m, nt = masks.target.shape
        pooled = self.lin(context.mean(1)) * Facts.seen["scale"]
        return pooled[:, None, None].expand(b, m, nt, -1)


class FactsPlugin:
    @hookimpl
    def jepakit_register_predictors(register):
        register("pooled", Facts, "the pooled context, everywhere")


class NotAModule:
    @hookimpl
    def jepakit_register_predictors(register):
        register("broken", lambda: object(), "not a module")


def test_a_plugin_predictor_gets_the_offered_facts_and_the_batch(waves, tmp_path):
    jepakit.register_plugin(FactsPlugin, "facts")
    run = pretrain(waves, out=tmp_path / "r", overrides=["train.steps=2", "predictor=pooled", "predictor.scale=0.5"])
    assert isinstance(run.model.predictor, Facts)
    seen = Facts.seen
    assert seen["grid"] == (16,) and seen["num_prefix"] == 0 and seen["width"] == 32 and seen["dim"] == 32
    assert seen["out_dim"] == 32 and seen["pred_width"] == 16 and seen["in_chans"] == 1 and seen["scale"] == 0.5
    assert seen["batch_keys"] == ["label", "x"]

    jepakit.register_plugin(NotAModule, "notamodule")
    with pytest.raises(JepakitError, match="predictor 'broken' of plugin 'notamodule' returned object, not a torch nn.Module"):
        jepakit.create("predictor", "broken")


def test_domains_lists_predictors(capsys):
    from jepakit.cli import main

    assert main(["domains"]) == 0
    assert "predictors: transformer" in capsys.readouterr().out
