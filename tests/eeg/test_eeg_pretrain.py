"""End to end: the eeg domain pretrains through the core (a few steps on tiny data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jepakit import get_domain
from jepakit.train import pretrain

TINY = {
    "data": {"subjects": 6, "seconds": 16.0},
    "model": {"width": 32, "depth": 1, "heads": 2, "pred_width": 32, "pred_depth": 1, "pred_heads": 2},
    "train": {"steps": 40, "batch_size": 8, "lr": 2e-3, "warmup": 5, "progress": False},
}


@pytest.mark.parametrize("tokenizer", [{}, {"tokenizer": {"name": "eeg-scalp", "image": 8, "patch": 4, "tubelet": 64}}])
def test_pretraining_loss_goes_down(tmp_path, tokenizer):
    dom = get_domain("eeg")
    assert "abnormal" in dom.load(subjects=4, seconds=8.0).tasks
    run = pretrain(dom, overrides={**TINY, **tokenizer}, out=tmp_path / "run")
    losses = np.array([h["loss"] for h in run.history])
    assert len(losses) == 40 and np.isfinite(losses).all()
    assert losses[-8:].mean() < 0.7 * losses[:4].mean()
    # the encoder embeds an evaluation window into a finite, non-constant vector
    item = run.bundle.tasks["abnormal"].test[0]
    with torch.no_grad():
        z = run.model.backbone.embed({k: v[None] if hasattr(v, "dim") else v for k, v in item.items()}, "mean")
    assert z.shape == (1, 32) and float(z.std()) > 0
