"""Tokenizers (joint and per-lead) and the contiguous block masker."""

from __future__ import annotations

import pytest
import torch

from jepakit.errors import DataError
from jepakit.plugins import create
from jepakit_ecg.masks import ContiguousBlockMasker, block_mask_1d
from jepakit_ecg.tokenizer import JointPatchTokenizer, PerLeadTokenizer


def _batch(b=3, length=250, absent=()):
    present = torch.ones(b, 12, dtype=torch.bool)
    for k in absent:
        present[:, k] = False
    x = torch.randn(b, 12, length) * present[..., None]
    return {"signal": x, "present": present}


def test_joint_tokenizer_one_token_per_window_of_all_leads():
    tok = JointPatchTokenizer(dim=16, in_chans=12, length=250, patch=5)
    batch = _batch()
    assert tok.layout(batch).grid == (50,)
    out = tok.embed(batch)
    assert out.shape == (3, 50, 16)
    # token t depends on samples [5t, 5t + 5) of every lead and on nothing else
    moved = {k: v.clone() for k, v in batch.items()}
    moved["signal"][:, 11, 10:15] += 1.0
    diff = (tok.embed(moved) - out).abs().sum(-1)[0]
    assert diff[2] > 0 and diff[torch.arange(50) != 2].max() == 0


def test_joint_tokenizer_marks_absent_leads():
    tok = JointPatchTokenizer(dim=8, in_chans=12, length=100, patch=25)
    torch.nn.init.normal_(tok.absent.weight)  # trained weights are non-zero
    batch = _batch(b=2, length=100)
    gone = {"signal": batch["signal"], "present": batch["present"].clone()}
    gone["present"][1, 3] = False
    delta = tok.embed(gone) - tok.embed(batch)
    assert delta[0].abs().max() == 0 and delta[1].abs().min() > 0


def test_per_lead_tokenizer_grid_lead_embedding_and_valid_flags():
    tok = PerLeadTokenizer(dim=16, in_chans=12, length=250, patch=25)
    batch = _batch(absent=(4, 7))
    layout = tok.layout(batch)
    assert layout.grid == (12, 10)
    valid = layout.flags["valid"].reshape(3, 12, 10)
    assert not valid[:, 4].any() and not valid[:, 7].any() and valid[:, [0, 1, 11]].all()
    out = tok.embed(batch).reshape(3, 12, 10, 16)
    # identical input on two leads still gives different tokens: the lead embedding
    same = {"signal": batch["signal"].clone(), "present": batch["present"]}
    same["signal"][:, 1] = same["signal"][:, 0]
    out = tok.embed(same).reshape(3, 12, 10, 16)
    assert not torch.allclose(out[:, 0], out[:, 1])


def test_tokenizers_reject_wrong_shapes_and_get_patch_from_data():
    tok = create("tokenizer", "ecg-joint", {}, {"dim": 8, "in_chans": 12, "length": 250, "patch": 5, "rate": 100})
    assert tok.patch == 5 and tok.layout(_batch()).grid == (50,)
    with pytest.raises(DataError, match=r"expects signals of shape \(B, 12, 250\)"):
        tok.embed({"signal": torch.zeros(2, 12, 200)})


@pytest.mark.parametrize("steps", [50, 200, 13])
def test_block_mask_exact_fraction_and_minimum_block(steps):
    g = torch.Generator().manual_seed(0)
    for masked in (int(0.75 * steps), int(0.85 * steps)):
        for blocks in (1, 2, 3, 4):
            runs = block_mask_1d(steps, masked, blocks, 10, g)
            lengths = [b - a for a, b in runs]
            assert sum(lengths) == masked
            assert min(lengths) >= min(10, masked)
            assert all(runs[i][1] < runs[i + 1][0] for i in range(len(runs) - 1))  # disjoint, separated
            assert runs[0][0] >= 0 and runs[-1][1] <= steps


def test_masker_joint_grid_ratio_and_contiguity():
    from jepakit.contract import Layout

    masker = ContiguousBlockMasker()
    g = torch.Generator().manual_seed(1)
    ratios = []
    for _ in range(20):
        m = masker(Layout((50,)), 4, g)
        assert m.target.shape[:2] == (4, 1)
        for b in range(4):
            tgt = m.target[b, 0]
            ctx = m.context[b]
            assert set(tgt.tolist()).isdisjoint(ctx.tolist()) and len(tgt) + len(ctx) == 50
            hidden = torch.zeros(50, dtype=torch.bool)
            hidden[tgt] = True
            edges = torch.nonzero(hidden[1:] != hidden[:-1]).flatten().tolist()
            bounds = [0, *[e + 1 for e in edges], 50]
            runs = [(a, z) for a, z in zip(bounds[:-1], bounds[1:]) if hidden[a]]
            assert min(z - a for a, z in runs) >= 10
            ratios.append(len(tgt) / 50)
    assert 0.74 <= min(ratios) and max(ratios) <= 0.86


def test_masker_per_lead_masks_whole_columns_and_skips_absent_leads():
    tok = PerLeadTokenizer(dim=8, in_chans=12, length=500, patch=25)
    batch = _batch(b=2, length=500, absent=(5,))
    layout = tok.layout(batch)
    m = ContiguousBlockMasker(targets="blocks", min_block=3, max_blocks=2)(layout, 2, torch.Generator().manual_seed(0))
    for b in range(2):
        ctx = m.context[b]
        rows, cols = ctx // 20, ctx % 20
        assert 5 not in rows.tolist()
        # a visible moment is visible on every present lead
        for c in cols.unique().tolist():
            assert (rows[cols == c].sort().values == torch.tensor([r for r in range(12) if r != 5])).all()
        tcols = set((m.target[b].flatten() % 20).tolist())
        assert tcols.isdisjoint(cols.tolist())
        assert 5 not in (m.target[b].flatten() // 20).tolist()


def test_lead_embedding_is_not_decayed_but_the_patch_map_is():
    from jepakit.model import Backbone
    from jepakit.train import no_weight_decay_names

    tok = PerLeadTokenizer(dim=16, in_chans=12, length=250, patch=25)
    exempt = no_weight_decay_names(Backbone(tok, tok.grid, 0, width=16, depth=1, heads=2))
    assert "tokenizer.lead" in exempt and "tokenizer.proj.weight" not in exempt
