"""Components: the timm-arch tokenizer, the saliency masker's order on a planted salient
region, the block-causal sequential predictor, seq-JEPA's action-conditioned predictor
(non-zero gradient to the action embedding), transformations, and tiny runs of every
variant through the core."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from jepakit.contract import Layout, Masks
from jepakit.errors import ConfigError
from jepakit.model import Backbone
from jepakit.train import pretrain
from jepakit_vision.archs import arch_spec
from jepakit_vision.masks import SaliencyMasker, attention_saliency, rank_blocks
from jepakit_vision.predictors import SeqJEPAPredictor, SequentialPredictor
from jepakit_vision.tokenizer import ImagePatchTokenizer
from jepakit_vision.transforms import TransformSet, apply

TINY = ["model.width=32", "model.depth=2", "model.heads=2", "model.pred_width=32", "model.pred_depth=1", "model.pred_heads=2",
        "train.batch_size=8", "train.rankme_every=0", "train.rankme_samples=16", "data.dataset=shapes",
        "data.n_pretrain=32", "data.n_train=24", "data.n_test=24"]


def test_a_timm_vit_by_name_gives_its_sizes_and_weights_are_refused():
    spec = arch_spec("vit_tiny_patch16_224")
    assert (spec.width, spec.depth, spec.heads, spec.patch, spec.img_size) == (192, 12, 3, 16, 224)
    assert spec.mlp_ratio == pytest.approx(4.0)
    tok = ImagePatchTokenizer(dim=192, in_chans=3, size=32, arch="vit_tiny_patch16_224")
    assert tok.patch == 16 and tok.grid == (2, 2)
    with pytest.raises(ConfigError, match=r"width 192, depth 12, heads 3.*--set model.width=192 --set model.depth=12") as err:
        ImagePatchTokenizer(dim=64, in_chans=3, size=32, arch="vit_tiny_patch16_224")
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="never downloads weights") as err:
        ImagePatchTokenizer(dim=192, in_chans=3, size=32, arch="vit_tiny_patch16_224", pretrained=True)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="not a timm model"):
        arch_spec("vit_nonsense_patch3")


def _planted_backbone(grid: int = 8, width: int = 32) -> Backbone:
    """A one-block encoder whose last-block attention goes to bright patches: the patch
    embedding writes 50 x the patch's mean brightness into feature 0 (nothing else), the
    keys read feature 0 and every query is the same constant vector."""
    tok = ImagePatchTokenizer(dim=width, in_chans=1, size=grid * 4, patch=4)
    bb = Backbone(tok, (grid, grid), 0, width, depth=1, heads=1)
    with torch.no_grad():
        w = tok.proj.proj.weight
        w.zero_()
        w[0] = 50.0 / 16 / 2  # the tokenizer maps [0, 1] to [-1, 1]: x2
        tok.proj.proj.bias.zero_()
        tok.proj.proj.bias[0] = 50.0 / 2
        qkv = bb.blocks[0].attn.qkv
        qkv.weight.zero_()
        qkv.bias.zero_()
        qkv.bias[0] = 8.0  # q = 8 e0 for every token
        qkv.weight[width, 0] = 1.0  # k_0 = normalised feature 0
    return bb


def test_the_saliency_order_follows_a_planted_salient_region():
    bb = _planted_backbone().eval()
    img = torch.zeros(2, 1, 32, 32)
    img[:, :, 20:32, 4:16] = 1.0  # primary: a bright 3x3-patch region at rows 5-7, cols 1-3
    img[:, :, 0:12, 20:32] = 0.6  # secondary: a dimmer one at rows 0-2, cols 5-7
    batch = {"image": img}
    sal = attention_saliency(bb, batch).reshape(2, 8, 8)
    assert sal[0, 5:8, 1:4].min() > sal[0, 0:3, 5:8].max() > sal[0, 3:5, :].max()
    model = SimpleNamespace(backbone=bb, target=SimpleNamespace(encoder=lambda: bb))
    masker = SaliencyMasker(num_targets=2, target_scale=(0.09, 0.09), aspect_ratio=(1.0, 1.0))
    with torch.no_grad():
        masks = masker(Layout((8, 8)), 2, torch.Generator().manual_seed(0), model, batch)
    assert masks.target.shape[:2] == (2, 2)
    rows, cols = masks.target // 8, masks.target % 8
    # group 0 (predicted first) lies in the primary region, group 1 in the secondary one
    assert ((rows[:, 0] >= 5) & (cols[:, 0] >= 1) & (cols[:, 0] <= 3)).all()
    assert ((rows[:, 1] <= 2) & (cols[:, 1] >= 5)).all()
    assert not (set(masks.context[0].tolist()) & set(masks.target[0].flatten().tolist()))
    # swap the brightness: the order follows
    img2 = torch.zeros(1, 1, 32, 32)
    img2[:, :, 20:32, 4:16] = 0.6
    img2[:, :, 0:12, 20:32] = 1.0
    with torch.no_grad():
        m2 = masker(Layout((8, 8)), 1, torch.Generator().manual_seed(0), model, {"image": img2})
    assert (m2.target[0, 0] // 8 <= 2).all() and (m2.target[0, 1] // 8 >= 5).all()


def test_rank_blocks_takes_the_best_blocks_without_overlap():
    sal = torch.zeros(6, 6)
    sal[0:2, 0:2] = 3.0
    sal[4:6, 4:6] = 2.0
    sal[0:2, 4:6] = 1.0
    blocks = rank_blocks(sal, (2, 2), 3)
    got = [torch.nonzero(b.reshape(6, 6)).min(0).values.tolist() for b in blocks]
    assert got == [[0, 0], [4, 4], [0, 4]]


def test_the_sequential_predictor_is_block_causal():
    torch.manual_seed(0)
    pred = SequentialPredictor((4, 4), 0, 16, 8, pred_width=16, pred_depth=2, pred_heads=2).eval()
    ctx = torch.randn(2, 6, 16)
    context = torch.arange(6).expand(2, 6)
    t = torch.tensor([[[6, 7], [10, 11], [14, 15]]]).expand(2, -1, -1)
    base = pred(ctx, Masks(context, t.clone()))
    later = t.clone()
    later[:, 2] = torch.tensor([12, 13])  # move the last group: earlier predictions unchanged
    out = pred(ctx, Masks(context, later))
    torch.testing.assert_close(out[:, :2], base[:, :2])
    assert not torch.allclose(out[:, 2], base[:, 2])
    first = t.clone()
    first[:, 0] = torch.tensor([8, 9])  # move the first group: every later prediction sees it
    out = pred(ctx, Masks(context, first))
    assert not torch.allclose(out[:, 1], base[:, 1]) and not torch.allclose(out[:, 2], base[:, 2])


def test_transformations_have_known_parameters():
    img = torch.zeros(1, 3, 16, 16)
    img[:, 0, 2:6, 8:12] = 1.0  # a red square, top right of centre
    same = apply(img, np.array([[0.0, 1.0, 0.0, 0.0, 0.0]]))
    torch.testing.assert_close(same, img, atol=1e-5, rtol=0)
    rot = apply(img, np.array([[1.0, 1.0, 0.0, 0.0, 0.0]]), rotation=90.0)  # +90 deg
    err = min(float((rot - torch.rot90(img, k, dims=(2, 3))).abs().max()) for k in (1, -1))
    assert err < 1e-4  # a quarter turn of the pixel grid, exactly
    hue = apply(img, np.array([[0.0, 1.0, 0.0, 0.0, 1.0]]), hue=120.0)  # red -> green under a 120 deg hue turn
    assert hue[0, 1].sum() > 0.9 * img[0, 0].sum() and hue[0, 0].sum() < 0.1 * img[0, 0].sum()
    p = TransformSet().sample(500, np.random.default_rng(0))
    assert p[:, 0].min() >= -1 and p[:, 0].max() <= 1 and p[:, 1].min() >= 0.6
    assert (np.abs(p[:, 2]) <= 1 - p[:, 1] + 1e-6).all()


def test_the_action_conditioned_predictor_gets_a_gradient_for_the_action_embedding(tmp_path):
    run = pretrain("vision", out=tmp_path / "seq", overrides=[*TINY, "train.steps=2", "data.views=4", "masker=seq-views",
                                                              "predictor=seq-action", "loss.name=seq-view"], echo=False)
    model = run.model
    assert isinstance(model.predictor, SeqJEPAPredictor)
    assert all(math.isfinite(h["loss"]) for h in run.history)
    from jepakit_vision.data import collate

    batch = collate([run.bundle.pretrain[i] for i in range(4)])
    layout = model.backbone.tokenizer.layout(batch)
    from jepakit_vision.masks import ViewSequenceMasker

    masks = ViewSequenceMasker(4)(layout, 4, torch.Generator(), batch)
    model.train()
    model.zero_grad(set_to_none=True)
    model(batch, masks)["loss"].backward()
    grad = model.predictor.action.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0, "the action embedding must receive a gradient"
    with torch.no_grad():  # and the action changes what is predicted
        context = model.backbone(batch, masks.context)
        a = model.predictor(context, masks, batch)
        moved = dict(batch)
        moved["params"] = batch["params"].clone()
        moved["params"][3::4] += torch.tensor([0.5, 0.0, 0.1, 0.0, 0.3])  # another action to the target view
        b = model.predictor(context, masks, moved)
        same = dict(batch)
        same["params"] = batch["params"] + 0.25  # actions are differences: a common offset changes nothing
        torch.testing.assert_close(model.predictor(context, masks, same), a)
    last = torch.arange(3, 16, 4)
    assert not torch.allclose(a[last], b[last])
    # the evaluation runs on the aggregate (the model has one) and on random init (none)
    from jepakit_vision.evaluate import seq_invariant

    r = seq_invariant(model.encoder_for_eval(), model, run.bundle, 1.0, 0)
    assert 0.0 <= r["accuracy"] <= 1.0 and {"mean_views_accuracy", "view_accuracy", "n_labels"} <= set(r)
    r0 = seq_invariant(model.backbone, None, run.bundle, 0.5, 1)
    assert r0["accuracy"] == pytest.approx(r0["mean_views_accuracy"])


@pytest.mark.parametrize("variant", [
    ["masker=saliency", "predictor=dseq"],
    ["recipe=lejepa"],
    [],
])
def test_every_image_variant_trains_through_the_core(tmp_path, variant):
    run = pretrain("vision", out=tmp_path / "r", overrides=[*TINY, "train.steps=2", *variant], echo=False)
    assert len(run.history) == 2 and all(math.isfinite(h["loss"]) for h in run.history)
    if "predictor=dseq" in variant:
        assert isinstance(run.model.predictor, SequentialPredictor)


def test_dseq_resumes_exactly(tmp_path):
    import shutil

    from jepakit.testing import rewind

    sets = [*TINY, "masker=saliency", "predictor=dseq", "train.steps=4", "train.ckpt_every=2"]
    straight = pretrain("vision", out=tmp_path / "s", overrides=sets, echo=False)
    shutil.copytree(tmp_path / "s", tmp_path / "h")
    rewind(tmp_path / "h", 2)
    resumed = pretrain("vision", out=tmp_path / "h", overrides=sets, resume=True, echo=False)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
