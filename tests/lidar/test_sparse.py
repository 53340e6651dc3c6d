"""Pure-torch sparse convolution against dense conv3d, and against spconv when it imports."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from jepakit_lidar.sparse import SparseBackbone, SparseVoxels, TorchSparseConv3d


def _sites(shape=(6, 9, 11), batch=2, p=0.15, chans=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    occ = torch.rand(batch, *shape, generator=g) < p
    idx = occ.nonzero()
    return SparseVoxels(torch.randn(idx.shape[0], chans, generator=g), idx, shape, batch), occ


def _dense_weight(conv):
    return conv.weight.permute(0, 4, 1, 2, 3)  # (O, kz, ky, kx, I) -> (O, I, kz, ky, kx)


def test_submanifold_matches_dense_on_active_sites():
    x, occ = _sites()
    conv = TorchSparseConv3d(4, 5, 3, subm=True)
    y = conv(x)
    assert torch.equal(y.indices, x.indices)
    dense = F.conv3d(x.dense(), _dense_weight(conv), padding=1)
    mask = occ.unsqueeze(1).expand_as(dense)
    torch.testing.assert_close(y.dense()[mask], dense[mask], atol=1e-5, rtol=1e-5)
    # and the weight gradient equals the dense one restricted to those sites
    gy = torch.randn_like(y.features)
    (gw_sparse,) = torch.autograd.grad((y.features * gy).sum(), conv.weight)
    d = F.conv3d(x.dense(), _dense_weight(conv), padding=1)
    gd = y.replace(gy).dense()
    (gw_dense,) = torch.autograd.grad((d * gd).sum(), conv.weight)
    torch.testing.assert_close(gw_sparse, gw_dense, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kernel,stride,padding", [(3, 2, 1), ((3, 1, 1), (2, 1, 1), (1, 0, 0)), (2, 2, 0), (3, 1, 1)])
def test_strided_matches_dense_everywhere(kernel, stride, padding):
    x, _ = _sites(p=0.1)
    x = x.replace(x.features.abs() + 0.1)
    conv = TorchSparseConv3d(4, 3, kernel, stride, padding)
    with torch.no_grad():
        conv.weight.abs_()  # positive weights: a site is non-zero in the dense output iff an input reaches it
    y = conv(x)
    dense = F.conv3d(x.dense(), _dense_weight(conv), stride=conv.stride, padding=conv.padding)
    assert y.dense().shape == dense.shape
    torch.testing.assert_close(y.dense(), dense, atol=1e-5, rtol=1e-5)
    support = (dense.abs().sum(1) > 0).nonzero()
    assert torch.equal(torch.sort(y.indices[:, 0] * 10**6 + y.indices[:, 1] * 10**4 + y.indices[:, 2] * 100 + y.indices[:, 3]).values,
                       torch.sort(support[:, 0] * 10**6 + support[:, 1] * 10**4 + support[:, 2] * 100 + support[:, 3]).values)


def test_empty_input_runs():
    x = SparseVoxels(torch.zeros(0, 4), torch.zeros(0, 4, dtype=torch.long), (8, 16, 16), 2)
    net = SparseBackbone(4, (8, 16, 16), (2, 2), blocks=1, backend="torch")
    y = net(x)
    assert y.features.shape == (0, 16) and y.spatial_shape == net.output_shape((8, 16, 16))
    net.eval()
    assert net(x).features.shape == (0, 16)


def _sorted(v: SparseVoxels):
    key = ((v.indices[:, 0] * 1000 + v.indices[:, 1]) * 1000 + v.indices[:, 2]) * 1000 + v.indices[:, 3]
    order = torch.argsort(key)
    return v.indices[order].long(), v.features[order]


def test_spconv_backend_matches_torch_backend():
    pytest.importorskip("spconv.pytorch")
    from jepakit_lidar.sparse import SpconvSparseConv3d

    x, _ = _sites(shape=(10, 24, 20), batch=3, p=0.08)
    for kw in ({"subm": True}, {"stride": 2, "padding": 1}, {"kernel_size": (3, 1, 1), "stride": (2, 1, 1)}):
        a = TorchSparseConv3d(4, 6, **{"kernel_size": 3, **kw})
        b = SpconvSparseConv3d(4, 6, **{"kernel_size": 3, **kw})
        b.load_state_dict(a.state_dict())
        ia, fa = _sorted(a(x))
        ib, fb = _sorted(b(x))
        assert torch.equal(ia, ib)
        torch.testing.assert_close(fa, fb, atol=1e-5, rtol=1e-5)
    # a whole backbone: same state dict, same outputs and same gradients
    torch.manual_seed(0)
    ta = SparseBackbone(4, (8, 16, 16), (2, 2), blocks=1, backend="torch")
    tb = SparseBackbone(4, (8, 16, 16), (2, 2), blocks=1, backend="spconv")
    assert set(ta.state_dict()) == set(tb.state_dict())
    tb.load_state_dict(ta.state_dict())
    ya, yb = ta(x), tb(x)
    ia, fa = _sorted(ya)
    ib, fb = _sorted(yb)
    assert torch.equal(ia, ib)
    torch.testing.assert_close(fa, fb, atol=1e-4, rtol=1e-4)
    fa.pow(2).sum().backward()
    fb.pow(2).sum().backward()
    ga = ta.layers[0].conv.weight.grad
    gb = tb.layers[0].conv.weight.grad
    torch.testing.assert_close(ga, gb, atol=1e-3, rtol=1e-3)
    # a deep copy (the EMA target) shares nothing and computes the same
    import copy

    tc = copy.deepcopy(tb)
    assert tc.layers[0].conv.weight is not tb.layers[0].conv.weight
    torch.testing.assert_close(_sorted(tc(x))[1], fb.detach(), atol=1e-4, rtol=1e-4)
    with torch.no_grad():
        tc.layers[0].conv.weight.zero_()
    assert tb.layers[0].conv.weight.abs().sum() > 0
    assert tc(x).features.abs().sum() == 0  # the copy's spconv module runs on the copy's (zeroed) weight
    # an empty scene does not crash spconv either
    empty = SparseVoxels(torch.zeros(0, 4), torch.zeros(0, 4, dtype=torch.long), (10, 24, 20), 2)
    assert tb(empty).features.shape == (0, 16)
