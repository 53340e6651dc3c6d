"""The contrastive losses of the loss registry against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

import jepakit
from jepakit.losses import InfoNCELoss, SupConLoss


def _cos(a, b):
    return float(torch.dot(a, b) / (a.norm() * b.norm()))


def test_infonce_equals_a_hand_computation_on_three_items():
    g = torch.Generator().manual_seed(0)
    p, t = torch.randn(3, 1, 1, 4, generator=g), torch.randn(3, 1, 1, 4, generator=g)
    tau = 0.5
    sims = [[_cos(p[i, 0, 0], t[j, 0, 0]) / tau for j in range(3)] for i in range(3)]
    row = sum(-sims[i][i] + math.log(sum(math.exp(s) for s in sims[i])) for i in range(3)) / 3
    col = sum(-sims[j][j] + math.log(sum(math.exp(sims[i][j]) for i in range(3))) for j in range(3)) / 3
    assert float(InfoNCELoss(tau, symmetric=False)(p, t, None)) == pytest.approx(row, rel=1e-5)
    assert float(InfoNCELoss(tau)(p, t, None)) == pytest.approx((row + col) / 2, rel=1e-5)
    # tokens of zero weight are left out of the contrast
    w = torch.tensor([1.0, 0.0, 1.0]).reshape(3, 1, 1)
    keep = [0, 2]
    sub = [[sims[i][j] for j in keep] for i in keep]
    row2 = sum(-sub[a][a] + math.log(sum(math.exp(s) for s in sub[a])) for a in range(2)) / 2
    assert float(InfoNCELoss(tau, symmetric=False)(p, t, w)) == pytest.approx(row2, rel=1e-5)


def test_supcon_counts_same_label_items_as_positives_and_falls_back_to_infonce():
    g = torch.Generator().manual_seed(1)
    p, t = torch.randn(4, 1, 1, 8, generator=g), torch.randn(4, 1, 1, 8, generator=g)
    tau = 0.2
    distinct = SupConLoss(tau)(p, t, None, {"label": torch.tensor([0, 1, 2, 3])})
    unlabelled = SupConLoss(tau)(p, t, None, {"label": torch.tensor([-1, -1, -1, -1])})
    infonce = InfoNCELoss(tau)(p, t, None)
    assert float(distinct) == pytest.approx(float(infonce), rel=1e-5) and float(unlabelled) == pytest.approx(float(infonce), rel=1e-5)
    y = torch.tensor([0, 0, 1, 1])
    sims = torch.tensor([[_cos(p[i, 0, 0], t[j, 0, 0]) / tau for j in range(4)] for i in range(4)])
    logp = sims.log_softmax(1)
    hand = -sum(float(logp[i][y == y[i]].mean()) for i in range(4)) / 4
    assert float(SupConLoss(tau, symmetric=False)(p, t, None, {"label": y})) == pytest.approx(hand, rel=1e-5)
    with pytest.raises(ValueError, match="supcon needs the batch's 'label'"):
        SupConLoss()(p, t, None, {"x": 1})


def test_a_learned_temperature_is_a_parameter_that_gets_a_gradient():
    loss = InfoNCELoss(0.1, learn_temperature=True)
    p, t = torch.randn(5, 1, 1, 4), torch.randn(5, 1, 1, 4)
    loss(p, t, None).backward()
    (param,) = list(loss.parameters())
    assert param.grad is not None and float(param.grad.abs()) > 0
    assert list(InfoNCELoss(0.1).parameters()) == []


def test_contrastive_losses_are_registered():
    assert {"infonce", "supcon"} <= set(jepakit.registry("loss"))
