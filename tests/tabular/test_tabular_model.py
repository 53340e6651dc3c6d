"""Tokenizer, maskers and their interplay with the core's prefix handling."""

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from jepakit import Layout
from jepakit.model import Backbone
from jepakit.plugins import create
from jepakit_tabular.data import load
from jepakit_tabular.masks import CorrelatedMasker, SubsetMasker
from jepakit_tabular.schema import TabularNotice
from jepakit_tabular.synthetic import planted_frame
from jepakit_tabular.tokenizer import TabularTokenizer


@pytest.fixture
def bundle(mixed_frame):
    with pytest.warns(TabularNotice):
        return load(mixed_frame, target="label", dependence=False)


def _batch(b, n=8):
    return default_collate([b.pretrain[i] for i in range(n)])


@pytest.mark.parametrize("numeric", ["affine", "periodic"])
def test_tokenizer_shapes_prefix_and_missing(bundle, numeric):
    tok = TabularTokenizer(dim=16, schema=bundle.info["schema"], num_reg_tokens=3, numeric=numeric)
    batch = _batch(bundle)
    lay = tok.layout(batch)
    assert lay.grid == (4,) and lay.num_prefix == 3
    out = tok(batch)
    assert out.shape == (8, 3 + 4, 16) and torch.isfinite(out).all()
    # a missing value uses the column's missing embedding whatever the stored number
    batch["num_missing"][:, 1] = True
    a = tok.embed(batch)
    batch["num"][:, 1] = 123.0
    b = tok.embed(batch)
    torch.testing.assert_close(a[:, 1], b[:, 1])
    assert not torch.allclose(a[0, 1], tok.embed(_batch(bundle))[0, 1])
    # unknown (1) and missing (0) categories have their own rows
    batch["cat"][:, 0] = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    e = tok.embed(batch)[:, 3]
    assert not torch.allclose(e[0], e[1]) and torch.allclose(e[0], e[5]) and torch.allclose(e[1], e[6])
    e.sum().backward()
    assert tok.cat_table.weight.grad is not None


def test_tokenizer_registered_and_offered_schema(bundle):
    tok = create("tokenizer", "tabular", {"num_reg_tokens": 1}, {"dim": 8, **bundle.info})
    assert isinstance(tok, TabularTokenizer) and tok.n_cols == 4


@pytest.mark.parametrize("n", [2, 3, 5, 13, 30])
def test_subset_masks_disjoint(n):
    m = SubsetMasker(num_targets=4)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        masks = m(Layout((n,), num_prefix=2), 6, g)
        assert masks.context.max() < n and masks.target.max() < n  # grid indices, no prefix offset
        for b in range(6):
            ctx = set(masks.context[b].tolist())
            groups = [set(t.tolist()) for t in masks.target[b]]
            assert ctx and all(groups)
            assert all(not (ctx & t) for t in groups)
            for i in range(len(groups)):
                for j in range(i + 1, len(groups)):
                    assert not (groups[i] & groups[j])


def test_masked_tokens_line_up_after_prefix(bundle):
    """Kept columns come out after the regularization tokens, in mask order."""
    tok = TabularTokenizer(dim=8, schema=bundle.info["schema"], num_reg_tokens=2)
    batch = _batch(bundle, 4)
    masks = SubsetMasker(num_targets=1)(tok.layout(batch), 4, torch.Generator().manual_seed(1))
    full = tok.embed(batch)
    part = tok(batch, masks.context)
    assert part.shape[1] == 2 + masks.context.shape[1]
    for b in range(4):
        torch.testing.assert_close(part[b, 2:], full[b, masks.context[b]])
        torch.testing.assert_close(part[b, :2], tok.reg_tokens[0])
    backbone = Backbone(tok, (4,), 2, width=8, depth=1, heads=2, pos="learned")
    assert backbone(batch, masks.context).shape == (4, 2 + masks.context.shape[1], 8)


def test_correlated_masking_groups_dependent_columns():
    frame = planted_frame(rows=600, groups=3, per_group=4, seed=0)
    b = load(frame, dependence=True)
    dep = np.asarray(b.info["dependence"])
    owner = np.array([int(c["name"][1]) for c in b.info["schema"]["numeric"]])
    m = create("masker", "correlated", {"num_targets": 2, "target_share": 0.34}, b.info)
    assert isinstance(m, CorrelatedMasker)
    masks = m(Layout((12,), num_prefix=2), 32, torch.Generator().manual_seed(0))
    same = []
    for bi in range(32):
        ctx = set(masks.context[bi].tolist())
        for t in masks.target[bi]:
            cols = t.tolist()
            assert not (ctx & set(cols))
            same.append(len(set(owner[cols])) == 1)
    assert np.mean(same) > 0.95
    # the random subset masker does not: a planted group is rarely drawn whole
    r = SubsetMasker(num_targets=2, target_share=0.34)(Layout((12,), 2), 32, torch.Generator().manual_seed(0))
    rand_same = [len(set(owner[t.tolist()])) == 1 for bi in range(32) for t in r.target[bi]]
    assert np.mean(rand_same) < 0.3
    assert dep.shape == (12, 12)


def test_correlated_needs_dependence():
    from jepakit.errors import ConfigError

    with pytest.raises(ConfigError, match="dependence"):
        create("masker", "correlated", {}, {})


def test_weight_decay_exempts_offsets_and_codes_not_column_weights(bundle):
    from jepakit.train import no_weight_decay_names

    tok = TabularTokenizer(dim=16, schema=bundle.info["schema"], num_reg_tokens=2)
    backbone = Backbone(tok, (4,), 2, width=16, depth=1, heads=2)
    exempt = no_weight_decay_names(backbone)
    assert {"tokenizer.reg_tokens", "tokenizer.num_missing", "tokenizer.num_bias", "tokenizer.column"} <= exempt
    assert "tokenizer.num_weight" not in exempt  # a per-column weight, decayed like any other
