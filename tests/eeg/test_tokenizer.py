"""Framings: tubelet shapes, token contents, validity flags and the core's 3-D masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jepakit import create
from jepakit.masks import MultiBlockMasker
from jepakit_eeg.channels import STANDARD_1020, positions_2d
from jepakit_eeg.tokenizer import EEGVideoTokenizer, ScalpMapTokenizer, scalp_interpolation


def test_vjepa_grid_and_tubelet_contents():
    torch.manual_seed(0)
    tok = EEGVideoTokenizer(dim=8, in_chans=19, length=512, frame=32, tubelet_frames=2, channel_group=4, time_patch=16)
    assert tok.grid == (8, 5, 2)  # 512/(32*2) frame groups, ceil(19/4) channel groups, 32/16 patches per frame
    x = torch.randn(3, 19, 512)
    tokens = tok.embed({"signal": x})
    assert tokens.shape == (3, 80, 8)
    # token (t, g, p) is the linear map of samples [f*32 + p*16, +16) of frames f = 2t, 2t+1 on channels 4g..4g+3
    t, g, p = 5, 2, 1
    idx = (t * 5 + g) * 2 + p
    frames = [x[:, 4 * g: 4 * g + 4, f * 32 + p * 16: f * 32 + p * 16 + 16] for f in (2 * t, 2 * t + 1)]
    tube = torch.stack(frames, dim=1)  # (B, frames, channels, samples) = the conv kernel layout
    manual = torch.einsum("bfcs,dfcs->bd", tube, tok.proj.weight.reshape(8, 2, 4, 16)) + tok.proj.bias
    torch.testing.assert_close(tokens[:, idx], manual, rtol=1e-4, atol=1e-4)
    # the padded 20th channel row is zero, so the last group only sees O2 (channel 18) and padding
    last = tok.clip(x)[:, :, 19]
    assert not last.any()


def test_vjepa_validity_flags_follow_channel_groups():
    tok = EEGVideoTokenizer(dim=8, in_chans=19, length=256, frame=32, tubelet_frames=2, channel_group=4)
    valid = torch.ones(2, 19, dtype=torch.bool)
    valid[0, 4:8] = False  # a whole group missing
    valid[1, 5] = False  # one electrode of a group missing: the group still carries data
    layout = tok.layout({"signal": torch.zeros(2, 19, 256), "valid": valid})
    assert layout.grid == (4, 5, 1)
    flags = layout.flags["valid"].reshape(2, 4, 5, 1)
    assert not flags[0, :, 1].any() and flags[0, :, [0, 2, 3, 4]].all()
    assert flags[1].all()


def test_time_only_framing_spans_all_channels():
    tok = EEGVideoTokenizer(dim=8, in_chans=19, length=512, frame=32, tubelet_frames=2, channel_group=19)
    assert tok.grid == (8, 1, 1)
    with pytest.raises(ValueError):
        EEGVideoTokenizer(dim=8, in_chans=19, length=512, channel_group=20)
    with pytest.raises(ValueError, match="fewer than tubelet_frames"):
        EEGVideoTokenizer(dim=8, in_chans=19, length=40, frame=32, tubelet_frames=2)


def test_sizes_come_from_the_data():
    tok = EEGVideoTokenizer(dim=4, in_chans=7, length=300, frame=25, tubelet_frames=3, channel_group=2)
    assert tok.grid == (4, 4, 1)
    assert tok.embed({"signal": torch.randn(1, 7, 300)}).shape == (1, 16, 4)
    with pytest.raises(ValueError, match=r"\(7, L\)"):
        tok.embed({"signal": torch.randn(1, 8, 300)})


def test_scalp_maps_interpolate_from_montage_positions():
    names = list(STANDARD_1020)
    tok = ScalpMapTokenizer(dim=8, in_chans=19, length=128, channels=names, image=12, patch=4, tubelet=32)
    assert tok.grid == (4, 3, 3)
    const = {"signal": torch.full((1, 19, 128), 2.5)}
    maps = tok.maps(const)
    inside = tok.inside.reshape(12, 12)
    assert maps.shape == (1, 128, 12, 12)
    torch.testing.assert_close(maps[0, 0][inside], torch.full((int(inside.sum()),), 2.5))
    assert not maps[0, 0][~inside].any()
    # one active electrode: the cell nearest to it is dominated by it, cells nearest to
    # every other electrode are dominated by those
    weights, _ = scalp_interpolation(positions_2d(names), 12)
    nearest = weights.argmax(0)  # per electrode, the cell of largest kernel weight
    for c in ("O1", "Fp2", "T7", "Cz"):
        x = torch.zeros(1, 19, 128)
        x[0, names.index(c)] = 1.0
        m = tok.maps({"signal": x})[0, 0].flatten()
        assert m[nearest[names.index(c)]] > 0.5
        others = [nearest[i] for i in range(19) if names[i] != c]
        assert (m[others] < 0.5).all()
    # front of the head is the top row: Fp rows above O rows
    ro = divmod(int(tok.maps({"signal": torch.eye(19)[names.index("O1")][None, :, None].expand(1, 19, 128)})[0, 0].argmax()), 12)[0]
    rf = divmod(int(tok.maps({"signal": torch.eye(19)[names.index("Fp1")][None, :, None].expand(1, 19, 128)})[0, 0].argmax()), 12)[0]
    assert rf < ro


def test_scalp_map_fills_a_missing_electrode_from_neighbours():
    names = list(STANDARD_1020)
    tok = ScalpMapTokenizer(dim=8, in_chans=19, length=64, channels=names, image=12, patch=4, tubelet=32)
    x = torch.ones(1, 19, 64)
    x[0, names.index("Cz")] = 100.0  # garbage on a channel flagged bad
    valid = torch.ones(1, 19, dtype=torch.bool)
    valid[0, names.index("Cz")] = False
    m = tok.maps({"signal": x, "valid": valid})[0, 0]
    inside = tok.inside.reshape(12, 12)
    torch.testing.assert_close(m[inside], torch.ones(int(inside.sum())))
    layout = tok.layout({"signal": x, "valid": valid})
    assert layout.flags["valid"].shape == (1, 2 * 9)
    # corner patches hold no electrode of the 10-20 system: invalid; the centre patch is valid
    grid = layout.flags["valid"].reshape(2, 3, 3)
    assert grid[:, 1, 1].all()
    assert tok.embed({"signal": x, "valid": valid}).shape == (1, 18, 8)


def test_core_multiblock_masks_on_the_3d_grid_respect_validity():
    tok = EEGVideoTokenizer(dim=8, in_chans=19, length=512, frame=32, tubelet_frames=2, channel_group=4, time_patch=16)
    valid = torch.ones(4, 19, dtype=torch.bool)
    valid[:, 8:12] = False  # channel group 2 missing in every sample
    layout = tok.layout({"signal": torch.zeros(4, 19, 512), "valid": valid})
    masker = MultiBlockMasker(num_targets=4, target_scale=(0.15, 0.3), context_scale=None, lead_scale=(0.3, 0.6))
    masks = masker(layout, 4, torch.Generator().manual_seed(0))
    flags = layout.flags["valid"]
    for b in range(4):
        ctx = set(masks.context[b].tolist())
        tgt = set(masks.target[b].flatten().tolist())
        assert ctx and tgt and ctx.isdisjoint(tgt)
        assert flags[b, list(ctx)].all() and flags[b, list(tgt)].all()
    # each target is a 3-D tube: a run of time cells x a block of (group, patch) cells
    cells = np.array(np.unravel_index(masks.target[0, 0].numpy(), layout.grid)).T
    assert 2 <= len(np.unique(cells[:, 0])) <= 8


def test_tokenizers_are_registered_and_take_data_facts():
    tok = create("tokenizer", "eeg-vjepa", {"frame": 16}, {"dim": 12, "in_chans": 19, "length": 256, "sfreq": 64.0})
    assert isinstance(tok, EEGVideoTokenizer) and tok.grid == (8, 5, 1)
    tok = create("tokenizer", "eeg-scalp", {}, {"dim": 12, "in_chans": 19, "length": 256, "channels": list(STANDARD_1020)})
    assert isinstance(tok, ScalpMapTokenizer) and tok.grid == (4, 3, 3)


def test_scalp_tubelet_is_a_linear_map_of_one_scalp_patch_over_time():
    torch.manual_seed(1)
    tok = ScalpMapTokenizer(dim=6, in_chans=19, length=128, channels=list(STANDARD_1020), image=12, patch=4, tubelet=32)
    batch = {"signal": torch.randn(2, 19, 128)}
    tokens = tok.embed(batch)
    maps = tok.maps(batch)
    t, r, c = 2, 1, 0
    patch = maps[:, t * 32:(t + 1) * 32, r * 4:(r + 1) * 4, c * 4:(c + 1) * 4]
    manual = torch.einsum("bthw,dthw->bd", patch, tok.proj.weight.reshape(6, 32, 4, 4)) + tok.proj.bias
    torch.testing.assert_close(tokens[:, (t * 3 + r) * 3 + c], manual, rtol=1e-4, atol=1e-4)
