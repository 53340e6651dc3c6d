"""The semi-supervised loss against hand computations; the masker, tokenizer and heads'
shapes and the towers' separation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from jepakit.contract import Layout
from jepakit_pairs.losses import SemiSupervisedContrastive
from jepakit_pairs.masks import CrossModalMasker


def _pairs(b=4, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(b, 2, 1, d, generator=g).expand(b, 2, 5, d)  # two heads, broadcast over 5 target tokens
    t = torch.randn(b, 2, 1, d, generator=g).expand(b, 2, 5, d)
    return p, t


def test_the_ssl_part_is_infonce_by_hand():
    p, t = _pairs()
    loss = SemiSupervisedContrastive(alpha=0.0, temperature=0.5, learn_temperature=False)
    out: dict = {}
    got = loss(p, t, None, out=out, batch={})
    a, b = F.normalize(p[:, 0, 0], dim=-1), F.normalize(t[:, 0, 0], dim=-1)
    logits = (a @ b.T) / 0.5
    by_hand = 0.0
    for i in range(4):  # -log softmax of the matching pair, both directions
        by_hand += -(logits[i, i] - torch.logsumexp(logits[i], 0)) / 8
        by_hand += -(logits[i, i] - torch.logsumexp(logits[:, i], 0)) / 8
    assert float(got) == pytest.approx(float(by_hand), rel=1e-5)
    assert float(out["infonce"]) == pytest.approx(float(by_hand), rel=1e-5) and "supcon" not in out


def test_the_label_part_is_supcon_over_labelled_pairs_only_and_the_mix_is_exact():
    p, t = _pairs(b=6, seed=1)
    y = torch.tensor([0, 0, 1, -1, 1, -1])
    loss = SemiSupervisedContrastive(alpha=1.0, label_temperature=0.5, learn_temperature=False)
    got = loss(p, t, None, out={}, batch={"genre": y})
    keep = y >= 0
    a, b = F.normalize(p[keep, 1, 0], dim=-1), F.normalize(t[keep, 1, 0], dim=-1)
    logits = (a @ b.T) / 0.5
    yk = y[keep]
    pos = (yk[:, None] == yk[None, :]).float()
    row = -((logits.log_softmax(1) * pos).sum(1) / pos.sum(1)).mean()
    col = -((logits.T.log_softmax(1) * pos).sum(1) / pos.sum(1)).mean()
    assert float(got) == pytest.approx(float(0.5 * (row + col)), rel=1e-5)
    # the unlabelled pairs' label-head embeddings do not enter it
    p2 = p.clone()
    p2[3, 1] = 100.0
    assert float(loss(p2, t, None, out={}, batch={"genre": y})) == pytest.approx(float(got), rel=1e-6)
    # fewer than two labelled pairs: zero, still differentiable
    lone = loss(p.clone().requires_grad_(True), t, None, out={}, batch={"genre": torch.tensor([0, -1, -1, -1, -1, -1])})
    assert float(lone.detach()) == 0.0 and lone.requires_grad
    # the mix is (1 - alpha) InfoNCE + alpha SupCon
    mixed = SemiSupervisedContrastive(alpha=0.3, temperature=0.5, label_temperature=0.5, learn_temperature=False)
    out: dict = {}
    total = mixed(p, t, None, out=out, batch={"genre": y})
    assert float(total) == pytest.approx(0.7 * float(out["infonce"]) + 0.3 * float(out["supcon"]), rel=1e-6)
    assert float(out["supcon"]) == pytest.approx(float(got), rel=1e-5)


def test_the_learned_temperature_starts_at_the_given_one_and_alpha_is_checked():
    loss = SemiSupervisedContrastive(temperature=0.07)
    assert float(loss.ssl.temperature.scale().detach()) == pytest.approx(1 / 0.07, rel=1e-5)
    assert any(n.endswith("log_scale") for n, _ in loss.named_parameters())
    from jepakit.errors import JepakitError

    with pytest.raises(JepakitError, match="loss.alpha"):
        SemiSupervisedContrastive(alpha=1.5)


def test_the_masker_gives_the_query_modality_as_context_and_the_other_whole_as_targets():
    layout = Layout.of_segments([("video", (4, 4, 4)), ("audio", (16,))])
    m = CrossModalMasker()(layout, 3, torch.Generator().manual_seed(0))
    assert torch.equal(m.context, torch.arange(64).expand(3, -1))
    assert m.target.shape == (3, 2, 16) and torch.equal(m.target[:, 1], torch.arange(64, 80).expand(3, -1))
    m = CrossModalMasker(query="audio", drop=0.5)(layout, 3, torch.Generator().manual_seed(0))
    assert m.context.shape == (3, 8) and bool(((m.context >= 64) & (m.context < 80)).all())
    assert bool((m.target < 64).all())
    from jepakit.errors import JepakitError

    with pytest.raises(JepakitError, match="masker.query 'text'"):
        CrossModalMasker(query="text")(layout, 2, torch.Generator())


def test_each_tower_sees_its_own_modality_only(small_bundle):
    """The video embedding must not change when the music changes, and vice versa: the
    encoder never attends across the two segments."""
    from jepakit.testing import build_tiny

    tiny = build_tiny("pairs", bundle=small_bundle)
    model = tiny.model.eval()
    batch = tiny.batch
    other = {**batch, "audio": torch.randn_like(batch["audio"])}
    with torch.no_grad():
        q1 = model.predictor(model.backbone(batch, tiny.drawn.context), tiny.drawn, batch)
        q2 = model.predictor(model.backbone(other, tiny.drawn.context), tiny.drawn, other)
        k1 = model.target(model, batch, tiny.drawn)
        k2 = model.target(model, other, tiny.drawn)
    assert torch.equal(q1, q2) and not torch.allclose(k1, k2)
    assert q1.shape == k1.shape == (8, 2, 16, model.target.dim)
    assert not math.isclose(float((q1[:, 0] - q1[:, 1]).abs().sum()), 0.0)  # two different heads
