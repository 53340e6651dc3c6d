"""Tokenizer (sparse input dropping, empty tokens), BEV masker, synthetic scenes, pretraining."""

from __future__ import annotations

import torch

from jepakit_lidar.data import load
from jepakit_lidar.dataset import collate_scenes
from jepakit_lidar.masks import BEVMasker
from jepakit_lidar.presets import QUICK
from jepakit_lidar.synthetic import CLASSES, Sensor, cell_labels, make_scene
from jepakit_lidar.tokenizer import SparseBEVTokenizer

DATA = dict(QUICK["synthetic"], scenes=4, train_scenes=3, test_scenes=2)


def _bundle():
    return load(**DATA)


def _tok(bundle, **kw):
    torch.manual_seed(0)
    return SparseBEVTokenizer(32, bundle.info["in_chans"], bundle.info["spatial_shape"], channels=(8, 16, 16), backend="torch", **kw)


def test_layout_and_occupancy():
    b = _bundle()
    batch = b.collate([b.pretrain[0], b.pretrain[1]])
    tok = _tok(b)
    lay = tok.layout(batch)
    assert lay.grid == tuple(b.info["bev_grid"]) == (16, 16)
    occ = lay.flags["occupied"]
    assert occ.shape == (2, 256) and 0.1 < occ.float().mean() < 0.95
    c = batch["voxel_coords"]
    want = torch.zeros(2, 16, 16, dtype=torch.bool)
    want[c[:, 0], c[:, 2] // 4, c[:, 3] // 4] = True
    assert torch.equal(occ, want.reshape(2, -1))


def test_keep_drops_other_cells_voxels_and_empty_token():
    b = _bundle()
    batch = b.collate([b.pretrain[0], b.pretrain[1]])
    tok = _tok(b).eval()
    occ = tok.layout(batch).flags["occupied"]
    g = torch.Generator().manual_seed(0)
    keep = torch.stack([torch.randperm(256, generator=g)[:100].sort().values for _ in range(2)])
    out = tok(batch, keep)
    assert out.shape == (2, 100, 32)
    # voxels outside the kept cells may change arbitrarily without changing the output
    cells = tok.cells(batch["voxel_coords"])
    kept = torch.zeros(2, 256, dtype=torch.bool).scatter_(1, keep, True)
    outside = ~kept[batch["voxel_coords"][:, 0], cells]
    assert outside.any()
    noisy = dict(batch, voxel_feats=torch.where(outside[:, None], torch.randn_like(batch["voxel_feats"]) * 10, batch["voxel_feats"]))
    torch.testing.assert_close(tok(noisy, keep), out)
    # while the full forward does depend on them
    assert not torch.allclose(tok(noisy), tok(batch))
    # empty cells carry exactly the learnable empty token
    empty_kept = ~torch.gather(occ, 1, keep)
    assert empty_kept.any()
    torch.testing.assert_close(out[empty_kept], tok.empty_token.expand(int(empty_kept.sum()), -1))
    # and the gradient reaches the empty token and the sparse convolutions
    tok.train()
    tok(batch, keep).pow(2).mean().backward()
    assert tok.empty_token.grad.abs().sum() > 0 and tok.backbone.layers[0].conv.weight.grad.abs().sum() > 0


def test_empty_scene_in_a_batch():
    b = _bundle()
    empty = {"voxel_feats": torch.zeros(0, 6), "voxel_coords": torch.zeros(0, 3, dtype=torch.long)}
    batch = collate_scenes([empty, b.pretrain[0]])
    tok = _tok(b)
    out = tok(batch)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[0], tok.empty_token.expand(256, -1))
    all_empty = collate_scenes([empty, empty])
    assert tok(all_empty).shape == (2, 256, 32)


def _layout(occ):
    from jepakit import Layout

    return Layout((16, 16), 0, {"occupied": occ})


def test_masker_splits_occupied_and_empty():
    g = torch.Generator().manual_seed(0)
    occ = torch.rand(3, 256, generator=g) < 0.4
    masker = BEVMasker(num_targets=3, target_scale=(0.1, 0.1), target_empty_ratio=0.25, context_ratio=1.0, context_empty_ratio=0.5, empty_weight=0.3)
    m = masker(_layout(occ), 3, torch.Generator().manual_seed(1))
    assert m.weight is not None and m.weight.shape == m.target.shape
    for b in range(3):
        ctx, tgt, w = m.context[b], m.target[b], m.weight[b]
        assert not set(ctx.tolist()) & set(tgt.reshape(-1).tolist())
        torch.testing.assert_close(w, torch.where(occ[b][tgt], 1.0, 0.3))
    # before trimming to common lengths. With every empty cell of a region a target, the
    # targets are the regions: outside them all occupied cells and half the empty ones are context
    full = BEVMasker(num_targets=3, target_scale=(0.1, 0.1), target_empty_ratio=1.0, context_ratio=1.0, context_empty_ratio=0.5)
    full.begin_batch(_layout(occ), torch.Generator().manual_seed(2))
    ctx, tgts, wts = full.sample(_layout(occ), 0, torch.Generator().manual_seed(3))
    h, w = full._shape
    covered = torch.zeros(256, dtype=torch.bool)
    for t in tgts:
        assert t.numel() == h * w  # a whole block
        covered[t] = True
    o = occ[0]
    assert not covered[ctx].any()
    assert int(o[ctx].sum()) == int((~covered & o).sum())
    assert int((~o[ctx]).sum()) == round(0.5 * int((~covered & ~o).sum()))
    # with no occupied cell, a target holds target_empty_ratio of its block
    none = torch.zeros(1, 256, dtype=torch.bool)
    masker.begin_batch(_layout(none), torch.Generator().manual_seed(4))
    ctx, tgts, wts = masker.sample(_layout(none), 0, torch.Generator().manual_seed(5))
    h, w = masker._shape
    assert all(t.numel() == max(1, round(0.25 * h * w)) for t in tgts)
    assert all(torch.equal(x, torch.full_like(x, 0.3)) for x in wts)
    # and with every cell occupied, a target is its whole block at weight 1
    allocc = torch.ones(1, 256, dtype=torch.bool)
    ctx, tgts, wts = masker.sample(_layout(allocc), 0, torch.Generator().manual_seed(5))
    assert all(t.numel() == h * w and (x == 1).all() for t, x in zip(tgts, wts))


def test_masker_random_mode_and_no_occupancy_flag():
    from jepakit import Layout

    masker = BEVMasker(mode="random", num_targets=2, target_scale=(0.2, 0.2), target_empty_ratio=1.0)
    m = masker(Layout((16, 16)), 2, torch.Generator().manual_seed(0))
    assert m.target.shape[:2] == (2, 2) and (m.weight == 1).all()  # all cells count as occupied without the flag


def test_synthetic_scene_is_deterministic_and_labelled():
    s = Sensor(beams=16, azimuths=180, max_range=30.0)
    a, b, c = make_scene(5, s, 25.0), make_scene(5, s, 25.0), make_scene(6, s, 25.0)
    assert torch.equal(a["points"], b["points"]) and not torch.equal(a["points"][:100], c["points"][:100])
    pts, lab = a["points"], a["labels"]
    assert pts.shape[1] == 4 and torch.isfinite(pts).all() and len(pts) == len(lab)
    assert (pts[:, :3].norm(dim=1) <= 30.5).all()
    seen = set(torch.cat([make_scene(k, s, 25.0)["labels"] for k in range(6)]).tolist())
    assert seen == set(range(len(CLASSES)))
    # ground points lie below the sensor, building points reach higher than car points
    assert pts[lab == 0, 2].mean() < -1.0
    # cell labels: an object class wins over ground in the same cell, empty cells are -1
    p = torch.tensor([[0.5, 0.5, -1.7, 0.0], [0.6, 0.5, -1.7, 0.0], [0.5, 0.6, -1.0, 0.0], [1.5, 0.5, -1.7, 0.0]])
    lab = torch.tensor([0, 0, 1, 0])
    cl = cell_labels(p, lab, (0.0, 0.0, -3.0, 2.0, 2.0, 1.0), (1.0, 1.0), (2, 2))
    assert cl.tolist() == [1, 0, -1, -1]


def test_pretrain_loss_goes_down(tmp_path, monkeypatch):
    from jepakit import plugins as registry
    from jepakit.train import pretrain

    # load only this plugin: the others' imports (wfdb, mne...) cost more than the run
    monkeypatch.setenv("JEPAKIT_PLUGINS", "lidar")
    registry.reset()
    try:
        over = {
            "data": dict(DATA, point_range=[-9.6, -9.6, -3.0, 9.6, 9.6, 3.0], scenes=6, train_scenes=2, test_scenes=1),
            "train": {"steps": 24, "batch_size": 3, "lr": 2e-3, "warmup": 3, "rankme_every": 0, "progress": False, "seed": 0},
            "model": {"width": 32, "depth": 1, "heads": 2, "pred_width": 32, "pred_depth": 1, "pred_heads": 2},
            "tokenizer": {"name": "sparse-bev", "channels": [8, 16, 16], "blocks": 0, "backend": "torch"},
        }
        run = pretrain("lidar", config=over, out=tmp_path / "run")
    finally:
        registry.reset()
    losses = [h["loss"] for h in run.history]
    assert len(losses) == 24 and all(torch.isfinite(torch.tensor(losses)))
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < first, (first, last)
    emb = run.model.backbone.embed(collate_scenes([run.bundle.tasks["bev_seg"].test[0]]), pool="tokens")
    assert emb.shape == (1, 144, 32)
