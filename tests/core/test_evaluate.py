import numpy as np
import pytest

from jepakit.evaluate import fit_predict, group_average, score, subset_indices


@pytest.mark.parametrize("head", ["linear", "knn", "mlp"])
def test_every_head_learns_separable_data(head):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    pred = fit_predict(head, "multiclass", x[:200], y[:200], x[200:], 2, seed=0)
    assert pred.shape == (100, 2) and score("multiclass", y[200:], pred)["accuracy"] > 0.75
    yr = 150 + 60 * (2 * x[:, 0] - x[:, 2])  # on the scale of a real target (diabetes: 25-346)
    r2 = score("regression", yr[200:], fit_predict(head, "regression", x[:200], yr[:200], x[200:], None))["r2"]
    assert r2 > 0.5
    ym = np.stack([x[:, 0] > 0, x[:, 1] > 0], 1).astype(float)
    assert score("multilabel", ym[200:], fit_predict(head, "multilabel", x[:200], ym[:200], x[200:], 2))["macro_auc"] > 0.8


def test_token_probe_and_miou_ignore_unlabelled_cells():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 16, 4))
    y = (x[..., 0] > 0).astype(int)
    y[:, :4] = -1
    pred = fit_predict("linear", "token_multiclass", x[:30], y[:30], x[30:], 2)
    s = score("token_multiclass", y[30:], pred, 2)
    assert pred.shape == (10, 16, 2) and s["miou"] > 0.8 and {"iou_0", "iou_1"} <= set(s)
    perfect = np.eye(2)[np.clip(y[30:], 0, 1)]
    assert score("token_multiclass", y[30:], perfect, 2)["miou"] == 1.0


def test_group_average_and_stratified_subsets():
    x = np.arange(12, dtype=float).reshape(6, 2)
    y = np.array([0, 0, 1, 1, 1, 2])
    groups = np.array([5, 5, 3, 3, 3, 9])
    xg, yg, ids = group_average(x, y, groups)
    np.testing.assert_allclose(xg[0], x[2:5].mean(0))
    assert list(ids) == [3, 5, 9] and list(yg) == [1, 0, 2]
    labels = np.repeat([0, 1, 2], [90, 9, 1])
    idx = subset_indices(labels, "multiclass", 0.01, seed=0)
    assert set(labels[idx]) == {0, 1, 2}  # every class keeps an example even at 1 %
    assert list(subset_indices(labels, "multiclass", 0.1, 3)) == list(subset_indices(labels, "multiclass", 0.1, 3))


def test_pooled_statistics_use_only_valid_tokens_and_bad_pools_are_one_line(waves):
    import torch

    from jepakit import Layout, get_domain
    from jepakit.errors import ConfigError
    from jepakit.model import Backbone
    from jepakit.tokenizers import PatchTokenizer
    from jepakit.train import resolve_config

    class Flagged(PatchTokenizer):
        def layout(self, batch):
            return Layout(self.grid, flags={"valid": batch["valid"]})

    torch.manual_seed(0)
    bb = Backbone(Flagged(8, 1, 16, 4), (4,), width=8, depth=1, heads=2).eval()
    x = torch.randn(2, 1, 16)
    valid = torch.tensor([[True, True, False, False], [True, True, True, True]])
    with torch.no_grad():
        h = bb({"x": x})
        z = bb.embed({"x": x, "valid": valid}, "mean+std+max+flat")
    assert z.shape == (2, bb.pooled_dim("mean+std+max+flat")) == (2, 8 * 7)
    mean, std, top, flat = z[:, :8], z[:, 8:16], z[:, 16:24], z[:, 24:]
    torch.testing.assert_close(mean[0], h[0, :2].mean(0))
    torch.testing.assert_close(std[0], h[0, :2].std(0, unbiased=False))
    torch.testing.assert_close(top[0], h[0, :2].amax(0))
    assert flat[0, 16:].abs().sum() == 0 and torch.equal(flat[1], h[1].flatten())
    with pytest.raises(ConfigError, match="eval.pool"):
        resolve_config(get_domain(waves), overrides={"eval": {"pool": "mean+median"}})
