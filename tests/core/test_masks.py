import pytest
import torch

from jepakit import Layout, create
from jepakit.masks import MultiBlockMasker, RandomSubsetMasker


def _check_disjoint(masks, n):
    b = masks.context.shape[0]
    for i in range(b):
        ctx = set(masks.context[i].tolist())
        assert ctx and max(ctx) < n
        for t in masks.target[i]:
            assert not ctx & set(t.tolist())


@pytest.mark.parametrize("grid", [(64,), (14, 14), (4, 8, 8)])
def test_multiblock_masks_any_grid(grid):
    layout = Layout(grid)
    masks = MultiBlockMasker()(layout, 8, torch.Generator().manual_seed(0))
    n = layout.num_tokens
    assert masks.target.shape[:2] == (8, 4)
    _check_disjoint(masks, n)
    assert masks.context.shape[1] >= 4


def test_multiblock_defaults_are_the_ijepa_papers():
    m = create("masker", "multiblock")
    assert m.num_targets == 4 and m.target_scale == (0.15, 0.2) and m.aspect_ratio == (0.75, 1.5)
    assert m.context_scale == (0.85, 1.0) and m.context_aspect == (1.0, 1.0) and not m.allow_overlap


def test_multiblock_2d_blocks_have_the_paper_sizes():
    masks = MultiBlockMasker()(Layout((14, 14)), 32, torch.Generator().manual_seed(1))
    nt = masks.target.shape[-1]
    assert 0.1 * 196 <= nt <= 0.25 * 196  # one block of scale 0.15-0.2 (rounding to whole patches)
    # every target block is a rectangle: its rows x cols span equals its size
    for t in masks.target[0]:
        r, c = t // 14, t % 14
        assert (r.max() - r.min() + 1) * (c.max() - c.min() + 1) == t.numel()


def test_vjepa_context_is_the_complement():
    masks = MultiBlockMasker(context_scale=None, num_targets=2, target_scale=(0.1, 0.1))(Layout((4, 8, 8)), 2, torch.Generator().manual_seed(0))
    for i in range(2):
        union = set(masks.target[i].flatten().tolist()) | set(masks.context[i].tolist())
        assert len(union) >= 0.9 * 256
        # V-JEPA tubes span the whole time axis
        t = masks.target[i, 0]
        assert set((t // 64).tolist()) == {0, 1, 2, 3}


def test_random_subset_respects_valid_flags():
    valid = torch.ones(3, 20, dtype=torch.bool)
    valid[:, :5] = False
    layout = Layout((20,), flags={"valid": valid})
    masks = RandomSubsetMasker(0.4, 0.15, 4)(layout, 3, torch.Generator().manual_seed(0))
    _check_disjoint(masks, 20)
    assert masks.context.min() >= 5 and masks.target.min() >= 5
    targets = masks.target[0]
    assert len(set(targets.flatten().tolist())) == targets.numel()  # target groups are disjoint


def test_bad_masker_arguments_say_which_and_why():
    with pytest.raises(ValueError, match="target_scale must satisfy"):
        MultiBlockMasker(target_scale=(0.3, 0.2))
    with pytest.raises(ValueError, match="context_ratio \\+ num_targets \\* target_ratio"):
        RandomSubsetMasker(0.8, 0.2, 4)
