"""The volume plugin's components: slices aggregated in order, masked slices predicted,
the clustering regularizer."""

from __future__ import annotations

import pytest
import torch

from jepakit import Layout, testing
from jepakit import plugins as plugmod
from jepakit.train import pretrain
from jepakit_volume.clustering import ClusterRegularizer, sinkhorn, swapped
from jepakit_volume.masks import SliceMasker
from jepakit_volume.synthetic import make_volumes
from jepakit_volume.tokenizer import SliceTokenizer


@pytest.fixture(autouse=True)
def fresh_registry():
    plugmod.reset()
    yield
    plugmod.reset()


def _batch(n=4, size=(8, 8, 8), seed=0):
    x, _ = make_volumes(n, seed, size)
    return {"x": torch.from_numpy(x), "valid": torch.ones(n, size[0], dtype=torch.bool)}


def test_token_s_is_slice_s_alone():
    torch.manual_seed(0)
    tok = SliceTokenizer(dim=16, size=(8, 8, 8)).eval()
    batch = _batch()
    with torch.no_grad():
        base = tok.embed(batch)
        moved = dict(batch, x=batch["x"].clone())
        moved["x"][:, 5] += 1.0
        after = tok.embed(moved)
        changed = (after - base).abs().amax(dim=(0, 2)) > 1e-6
    assert changed.tolist() == [s == 5 for s in range(8)]  # slice 5 -> token 5 and nothing else
    keep = torch.tensor([[6, 1, 3]] * 4)
    with torch.no_grad():
        assert torch.allclose(tok(batch, keep), base[:, [6, 1, 3]], atol=1e-6)


def test_context_view_is_augmented_only_in_training():
    """The context view (a subset, training mode) is augmented; the full view, evaluation
    and the check's keep path are not, so probes and conformance see the plain slices."""
    torch.manual_seed(0)
    tok = SliceTokenizer(dim=16, size=(8, 8, 8))
    batch = _batch()
    keep = torch.tensor([[0, 2, 5]] * 4)
    with torch.no_grad():
        plain = tok.embed(batch)[:, [0, 2, 5]]
        tok.train()
        assert torch.equal(tok(batch), tok.embed(batch))  # the full view: never augmented
        assert (tok(batch, keep) - plain).abs().max() > 1e-3  # the context view: augmented
        tok.eval()
        assert torch.allclose(tok(batch, keep), plain, atol=1e-6)
        off = SliceTokenizer(dim=16, size=(8, 8, 8), augment=False)
        off.load_state_dict(tok.state_dict())
        assert torch.allclose(off.train()(batch, keep), plain, atol=1e-6)  # augment=false: the plain slices


def test_the_volume_embedding_depends_on_slice_order():
    """The transformer aggregates the slices in order (their positions are slice indices):
    a volume with two slices swapped embeds differently, and encoding a subset of slices
    (``keep``) puts each at its own position, as in the full volume."""
    tiny = testing.build_tiny("volume", {"recipe": {"name": "jepa"}}, batch_size=4)
    bb = tiny.model.backbone.eval()
    batch = {k: v for k, v in tiny.batch.items() if k in ("x", "valid")}
    batch["valid"] = torch.ones_like(batch["valid"])
    swapped_x = batch["x"].clone()
    swapped_x[:, [2, 9]] = swapped_x[:, [9, 2]]
    with torch.no_grad():
        a, b = bb.embed(batch), bb.embed(dict(batch, x=swapped_x))
        # the same tokens with their positions: the bag of slices is the same, the order is not
        assert (a - b).abs().max() > 1e-4
        # one slice kept alone gets its own slice's position: keeping slice 3 of x equals
        # keeping slice 9 of x whose slice 9 is a copy of slice 3 only if positions are ignored
        copy = batch["x"].clone()
        copy[:, 9] = copy[:, 3]
        one = bb(batch, torch.full((4, 1), 3))
        other = bb(dict(batch, x=copy), torch.full((4, 1), 9))
        assert (one - other).abs().max() > 1e-4
        assert torch.allclose(bb(dict(batch, x=copy), torch.full((4, 1), 3)), one, atol=1e-5)


def test_slice_masker_blocks_and_padding():
    valid = torch.ones(5, 16, dtype=torch.bool)
    valid[1, 2:] = False  # a pretraining image: two views
    valid[2, 1:] = False  # an image at evaluation
    valid[3, 7:] = False  # a short volume
    layout = Layout((16,), flags={"valid": valid})
    masker = SliceMasker(num_targets=2, scale=(0.2, 0.2))
    testing.check_masker(masker, layout, 5)
    m = masker(layout, 5, torch.Generator().manual_seed(1))
    nt = m.target.shape[2]
    assert m.context.shape[1] == 16 - 2 * nt and nt == 3
    w = m.weight
    for b in range(5):
        v = valid[b]
        for j in range(2):
            real = m.target[b, j][w[b, j] > 0]
            assert v[real].all() and not v[m.target[b, j][w[b, j] == 0]].any()  # weight 1 exactly on data slices
            if real.numel() > 1:
                assert (real.diff() == 1).all()  # a block of consecutive slices
        assert v[m.context].any() or v.sum() == 0
    assert w[0].sum() == 6 and w[1].sum() == 1 and w[2].sum() == 0 and w[3].sum() == 6


def test_masked_slices_are_predicted(tmp_path):
    """After a short pretraining run (300 steps, ~10 s), the predictions at the masked
    slices match those slices' target embeddings better than the other masked slices of
    the same volume do (so the predictor uses each slice's position), and far better
    than the same slices of another volume (so it reads the volume's context)."""
    run = pretrain(
        "volume", out=tmp_path / "run", overrides=[
            "data.modalities=volumes", "data.n_volumes=128", "data.n_train=8", "data.n_test=8", "data.size=[12,12,12]",
            "data.noise=0.02", "model.width=32", "model.depth=1", "model.heads=2", "model.pred_width=32", "model.pred_depth=1",
            "model.pred_heads=2", "train.steps=300", "train.batch_size=16", "train.lr=3e-3", "train.rankme_every=0",
            "train.ckpt_minutes=0", "masker.scale=[0.25,0.25]", "train.progress=false",
        ],
    )
    model = run.model.eval()
    x, _ = make_volumes(64, 99, (12, 12, 12), 0.02)
    batch = {"x": torch.from_numpy(x), "valid": torch.ones(64, 12, dtype=torch.bool)}
    masks = SliceMasker(2, (0.25, 0.25))(model.backbone.tokenizer.layout(batch), 64, torch.Generator().manual_seed(0))
    assert masks.target.shape[1:] == (2, 3)
    with torch.no_grad():
        out = model(batch, masks)
    pred, target = out["pred"].flatten(1, 2), out["target"].flatten(1, 2)  # (B, 6, D): 6 masked slices per volume
    own = (pred - target).pow(2).mean()
    other_slices = (pred - target[:, [3, 4, 5, 0, 1, 2]]).pow(2).mean()  # each prediction against another block's slice
    other_volume = (pred - target.roll(1, dims=0)).pow(2).mean()
    assert own < other_slices, f"predictions at their own slices {own:.3f}, at other slices {other_slices:.3f}"
    assert own < 0.75 * other_volume, f"predictions for their own volume {own:.3f}, for another {other_volume:.3f}"
    untrained = (target - target.mean((0, 1))).pow(2).mean()  # the best constant prediction
    assert own < untrained


def test_sinkhorn_codes_use_every_cluster():
    g = torch.Generator().manual_seed(0)
    # cosine-like scores where every row prefers cluster 0: a softmax would put all 64 there
    scores = 0.1 * torch.randn(64, 8, generator=g) + torch.tensor([0.5] + [0.0] * 7)
    assert (scores.argmax(1) == 0).float().mean() > 0.9
    q = sinkhorn(scores, 0.05, 3)
    assert torch.allclose(q.sum(1), torch.ones(64), atol=1e-4)
    assert q.sum(0).min() > 64 / 8 * 0.5 and q.sum(0).max() < 64 / 8 * 2  # equipartition: no cluster starves or hoards
    assert torch.isfinite(sinkhorn(torch.tensor([[50.0, -50.0], [40.0, -60.0]]), 0.05, 3)).all()  # no underflow


def test_swapped_prediction_rewards_agreeing_views():
    g = torch.Generator().manual_seed(0)
    protos = torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=1)
    za = torch.nn.functional.normalize(protos[torch.arange(64) % 8] + 0.1 * torch.randn(64, 16, generator=g), dim=1)
    zb = torch.nn.functional.normalize(protos[torch.arange(64) % 8] + 0.1 * torch.randn(64, 16, generator=g), dim=1)
    agree = swapped(za, zb, protos, 0.1, 0.05, 3)
    disagree = swapped(za, zb[torch.randperm(64, generator=g)], protos, 0.1, 0.05, 3)
    assert agree < disagree


@pytest.mark.parametrize("level", ["slice", "volume", "both"])
def test_cluster_regularizer_levels(level):
    reg = ClusterRegularizer(dim=16, level=level, prototypes=4)
    full = torch.randn(4, 8, 16, requires_grad=True)
    idx = torch.tensor([[0, 2, 4, 6]] * 4)
    valid = torch.ones(4, 8, dtype=torch.bool)
    valid[0, 1:] = False
    out = {"context": full[:, [0, 2, 4, 6]] + 0.1, "context_idx": idx, "full": full, "valid": valid}
    testing.check_regularizer(reg, out, name="cluster")
    term = reg(out)
    term.backward()
    assert full.grad is not None and full.grad.abs().sum() > 0


def test_cluster_regularizer_refuses_bad_arguments():
    with pytest.raises(Exception, match="level must be one of"):
        ClusterRegularizer(dim=8, level="3d")
    with pytest.raises(Exception, match="prototypes must be >= 2"):
        ClusterRegularizer(dim=8, prototypes=1)
