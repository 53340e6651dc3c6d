"""Sparse 3-D convolutions over voxel sites, with two interchangeable backends.

``torch``: a pure-PyTorch implementation. Active sites are hashed to int64 keys
(batch, z, y, x in C order) and looked up with ``searchsorted`` over the sorted keys, so
each kernel offset becomes one gather, one matmul and one ``index_add``. Submanifold
convolutions keep the input sites; regular (strided) convolutions create every output
site that some active input reaches, as spconv's ``SparseConv3d`` does.

``spconv``: spconv 2.x modules (on CPU only ``ConvAlgo.Native`` runs). Both backends
hold a weight of shape ``(out, kz, ky, kx, in)`` -- spconv's layout -- under the same
parameter names, so a state dict moves between them unchanged.
"""

from __future__ import annotations

import functools
import itertools
import logging
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jepakit.kit import check


@dataclass
class SparseVoxels:
    """Active sites of a batch: ``features`` (V, C) and ``indices`` (V, 4) long as
    (batch, z, y, x) inside ``spatial_shape`` (D, H, W)."""

    features: Tensor
    indices: Tensor
    spatial_shape: tuple[int, int, int]
    batch_size: int
    # neighbour tables of submanifold convolutions over these very sites, reused by the
    # next layer with the same kernel (spconv's indice_key, without naming keys)
    rulebook: dict = field(default_factory=dict)

    def replace(self, features: Tensor) -> SparseVoxels:
        return SparseVoxels(features, self.indices, self.spatial_shape, self.batch_size, self.rulebook)

    def dense(self) -> Tensor:
        """``(B, C, D, H, W)`` with zeros at inactive sites."""
        d, h, w = self.spatial_shape
        c = self.features.shape[1]
        out = self.features.new_zeros(self.batch_size, d, h, w, c)
        i = self.indices
        out[i[:, 0], i[:, 1], i[:, 2], i[:, 3]] = self.features
        return out.permute(0, 4, 1, 2, 3).contiguous()


def _triple(v: int | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(v, int):
        return (v, v, v)
    t = tuple(int(x) for x in v)
    check(len(t) == 3, f"expected an int or 3 ints, got {v!r}")
    return t  # type: ignore[return-value]


def site_keys(indices: Tensor, spatial_shape: Sequence[int]) -> Tensor:
    """int64 key of each (b, z, y, x) row, unique within a batch of this shape."""
    d, h, w = (int(s) for s in spatial_shape)
    i = indices.long()
    return ((i[:, 0] * d + i[:, 1]) * h + i[:, 2]) * w + i[:, 3]


DENSE_TABLE_MAX = 1 << 24  # grid cells (batch included) up to which lookups use a dense table


class _SiteTable:
    """Coordinate -> row lookup of the active sites: a dense table over the grid when it
    is small enough (one gather), else sorted keys and a binary search."""

    def __init__(self, indices: Tensor, spatial_shape: Sequence[int], batch_size: int | None = None):
        self.shape = tuple(int(s) for s in spatial_shape)
        keys = site_keys(indices, self.shape)
        b = int(batch_size) if batch_size is not None else (int(indices[:, 0].max()) + 1 if indices.numel() else 1)
        volume = b * self.shape[0] * self.shape[1] * self.shape[2]
        self.dense = None
        if volume <= DENSE_TABLE_MAX:
            self.dense = torch.full((volume,), -1, dtype=torch.long, device=indices.device)
            self.dense[keys] = torch.arange(keys.numel(), device=indices.device)
            self.volume = volume
        else:
            self.keys, self.order = torch.sort(keys)

    def find(self, coords: Tensor) -> tuple[Tensor, Tensor]:
        """Rows of ``coords`` (M, 4) among the active sites, and which were found
        (coordinates outside the grid are never found)."""
        inside = (coords[:, 1:] >= 0).all(1)
        for k, s in enumerate(self.shape):
            inside &= coords[:, k + 1] < s
        q = site_keys(coords, self.shape)
        if self.dense is not None:
            inside &= (q >= 0) & (q < self.volume)
            rows = self.dense[torch.where(inside, q, torch.zeros_like(q))]
            return rows, inside & (rows >= 0)
        if self.keys.numel() == 0:
            return torch.zeros_like(inside, dtype=torch.long), torch.zeros_like(inside)
        pos = torch.searchsorted(self.keys, q).clamp_(max=self.keys.numel() - 1)
        found = inside & (self.keys[pos] == q)
        return self.order[pos], found


def _pairs(nbr: Tensor) -> list[tuple[Tensor, Tensor]]:
    """Per kernel offset: (output rows, input rows) of the neighbour table's entries."""
    o_rows, k_idx = (nbr >= 0).nonzero(as_tuple=True)
    i_rows = nbr[o_rows, k_idx]
    order = torch.argsort(k_idx, stable=True)
    counts = torch.bincount(k_idx, minlength=nbr.shape[1]).tolist()
    return list(zip(o_rows[order].split(counts), i_rows[order].split(counts)))


def _offsets(kernel: tuple[int, int, int], device: torch.device) -> Tensor:
    """Kernel offsets (K, 3) in C order (kz, ky, kx), matching the weight's layout."""
    grid = list(itertools.product(*(range(k) for k in kernel)))
    return torch.tensor(grid, dtype=torch.long, device=device)


class TorchSparseConv3d(nn.Module):
    """Pure-torch sparse 3-D convolution (cross-correlation, like ``F.conv3d``).

    ``subm=True``: submanifold -- outputs only at the input sites, centred kernel
    (padding ``kernel // 2``), stride 1. Otherwise a regular sparse convolution with
    ``stride``/``padding`` whose outputs are all sites the active inputs reach.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int] = 3,
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        subm: bool = False,
        bias: bool = False,
    ):
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _triple(kernel_size)
        self.subm = bool(subm)
        self.stride = (1, 1, 1) if subm else _triple(stride)
        self.padding = tuple(k // 2 for k in self.kernel_size) if subm else _triple(padding)
        if subm:
            check(all(k % 2 == 1 for k in self.kernel_size), "submanifold kernels must be odd")
        self.weight = nn.Parameter(torch.empty(out_channels, *self.kernel_size, in_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        # nn.Conv3d's default init, over the same fan-in
        nn.init.kaiming_uniform_(self.weight.view(out_channels, -1), a=5**0.5)

    def output_shape(self, spatial_shape: Sequence[int]) -> tuple[int, int, int]:
        if self.subm:
            return tuple(int(s) for s in spatial_shape)  # type: ignore[return-value]
        return tuple(
            (int(s) + 2 * p - k) // st + 1 for s, p, k, st in zip(spatial_shape, self.padding, self.kernel_size, self.stride)
        )  # type: ignore[return-value]

    def forward(self, x: SparseVoxels) -> SparseVoxels:
        feats, idx = x.features, x.indices.long()
        out_shape = self.output_shape(x.spatial_shape)
        offs = _offsets(self.kernel_size, idx.device)
        k_total = offs.shape[0]
        if self.subm:
            out_idx = idx
            pairs = x.rulebook.get(("subm", self.kernel_size))
            if pairs is None:
                table = _SiteTable(idx, x.spatial_shape, x.batch_size)
                centre = torch.tensor(self.padding, device=idx.device)
                nb = idx.unsqueeze(1).repeat(1, k_total, 1)
                nb[:, :, 1:] += offs - centre
                rows, found = table.find(nb.reshape(-1, 4))
                nbr = torch.where(found, rows, torch.full_like(rows, -1)).reshape(-1, k_total)
                pairs = x.rulebook[("subm", self.kernel_size)] = _pairs(nbr)
        else:
            # input i reaches output o when i = o * stride - padding + k, per axis
            pad = torch.tensor(self.padding, device=idx.device)
            st = torch.tensor(self.stride, device=idx.device)
            lim = torch.tensor(out_shape, device=idx.device)
            num = idx[:, None, 1:] + pad - offs  # (V, K, 3)
            o = torch.div(num, st, rounding_mode="floor")
            ok = ((num - o * st) == 0).all(-1) & (num >= 0).all(-1) & (o < lim).all(-1)
            src, kk = ok.nonzero(as_tuple=True)
            cand = torch.cat([idx[src, :1], o[src, kk]], 1)
            if cand.numel():
                keys = site_keys(cand, out_shape)
                uniq, inv = torch.unique(keys, return_inverse=True)
                d, h, wd = out_shape
                out_idx = torch.stack([uniq // (d * h * wd), (uniq // (h * wd)) % d, (uniq // wd) % h, uniq % wd], 1)
            else:
                inv = idx.new_zeros(0)
                out_idx = idx.new_zeros(0, 4)
            nbr = torch.full((out_idx.shape[0], k_total), -1, dtype=torch.long, device=idx.device)
            nbr[inv, kk] = src
            pairs = _pairs(nbr)
        # gather -> matmul -> scatter per kernel offset over the existing pairs only (LiDAR
        # sites have few of their 27 neighbours, so im2col over all offsets wastes most FLOPs)
        w = self.weight.reshape(self.out_channels, k_total, self.in_channels)
        out = feats.new_zeros(out_idx.shape[0], self.out_channels)
        for k, (o_rows, i_rows) in enumerate(pairs):
            if o_rows.numel():
                out = out.index_add(0, o_rows, feats[i_rows] @ w[:, k].t())
        if self.bias is not None:
            out = out + self.bias
        return SparseVoxels(out, out_idx, out_shape, x.batch_size, x.rulebook if self.subm else {})


def import_spconv():
    """``spconv.pytorch``, imported when a spconv backend is built (never by importing this
    package: it takes seconds) and without the deprecation notices it raises under current
    torch -- 8 FutureWarnings about ``torch.cuda.amp`` and a DeprecationWarning from
    ccimport at import, and torch's one-time ``is_fx_tracing`` log line that its
    ``SparseConvTensor`` metaclass triggers on the first forward. They are spconv's to
    fix and say nothing to a jepakit user."""
    if "spconv.pytorch" in sys.modules:
        return sys.modules["spconv.pytorch"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import spconv.pytorch as spc
    try:  # torch logs that line once per process (lru_cache): spend it here, unheard
        from torch.fx import _symbolic_trace as fx_trace

        once = fx_trace.is_fx_tracing_warning
        logger = logging.getLogger(fx_trace.__name__)
        disabled, logger.disabled = logger.disabled, True
        try:
            once()
        finally:
            logger.disabled = disabled
    except (ImportError, AttributeError):  # another torch version: nothing to silence
        pass
    return spc


@functools.lru_cache(maxsize=1)
def spconv_available() -> bool:
    try:
        import_spconv()
    except Exception:  # ImportError, or a CUDA-build import failure on a machine without it
        return False
    return True


def resolve_backend(name: str) -> str:
    """``auto`` -> ``spconv`` when it imports (GPU, or CPU with its Native kernels: 18 ms
    against the torch backend's 29 ms a bench scene forward+backward on 2 cores), else
    the pure-torch backend. Only ``auto`` and ``spconv`` import spconv."""
    check(name in ("auto", "torch", "spconv"), f"backend must be auto, torch or spconv, got {name!r}")
    if name == "auto":
        return "spconv" if spconv_available() else "torch"
    if name == "spconv" and not spconv_available():
        raise ValueError("backend 'spconv' requested but spconv is not importable; install jepakit-lidar[spconv]")
    return name


class SpconvSparseConv3d(nn.Module):
    """spconv 2.x convolution behind the :class:`SparseVoxels` interface."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int] = 3,
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        subm: bool = False,
        bias: bool = False,
        indice_key: str | None = None,
    ):
        super().__init__()
        spc = import_spconv()

        self.subm = bool(subm)
        # Native is the only algorithm with CPU kernels; implicit GEMM needs CUDA.
        algo = spc.ConvAlgo.Native
        if subm:
            conv = spc.SubMConv3d(in_channels, out_channels, kernel_size, bias=bias, indice_key=indice_key, algo=algo)
        else:
            conv = spc.SparseConv3d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias, algo=algo)
        # The spconv module is kept out of the module tree and its parameters are
        # registered here, so the state dict has the torch backend's keys exactly.
        self._conv = [conv]
        self.weight = conv.weight
        self.bias = conv.bias

    @property
    def conv(self):
        return self._conv[0]

    def forward(self, x: SparseVoxels) -> SparseVoxels:
        spc = import_spconv()  # cached by Python after the first import; a module attribute would break deepcopy
        if x.indices.shape[0] == 0:
            # spconv cannot build index pairs for an empty tensor; the output is empty too
            shape = tuple(x.spatial_shape)
            if not self.subm:
                c = self.conv
                shape = tuple(
                    (s + 2 * p - k) // st + 1 for s, p, k, st in zip(shape, c.padding, c.kernel_size, c.stride)
                )
            return SparseVoxels(x.features.new_zeros(0, self.conv.out_channels), x.indices, shape, x.batch_size)
        # spconv reads raw memory and ignores strides: nonzero() results are column-major
        t = spc.SparseConvTensor(x.features.contiguous(), x.indices.int().contiguous(), list(x.spatial_shape), x.batch_size)
        y = self.conv(t)
        return SparseVoxels(y.features, y.indices.long(), tuple(int(s) for s in y.spatial_shape), x.batch_size)


def make_conv(backend: str, *args, indice_key: str | None = None, **kwargs) -> nn.Module:
    if backend == "spconv":
        return SpconvSparseConv3d(*args, indice_key=indice_key, **kwargs)
    return TorchSparseConv3d(*args, **kwargs)


class SparseBlock(nn.Module):
    """conv -> BatchNorm over active sites -> ReLU."""

    def __init__(self, backend: str, cin: int, cout: int, kernel=3, stride=1, padding=0, subm=True, key=None):
        super().__init__()
        self.conv = make_conv(backend, cin, cout, kernel, stride=stride, padding=padding, subm=subm, indice_key=key)
        self.norm = nn.BatchNorm1d(cout, eps=1e-3, momentum=0.01)

    def forward(self, x: SparseVoxels) -> SparseVoxels:
        y = self.conv(x)
        f = y.features
        # batch statistics need two or more sites; an empty or single-site batch skips them
        if f.shape[0] > 1 or (not self.training and f.shape[0] > 0):
            f = self.norm(f)
        return y.replace(F.relu(f))


class SparseBackbone(nn.Module):
    """SECOND-style sparse 3-D backbone: a submanifold stem, then stages each starting
    with a strided sparse convolution followed by ``blocks`` submanifold convolutions."""

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int] = (16, 32, 64),
        strides: Sequence[int | Sequence[int]] = (2, 2),
        blocks: int = 1,
        backend: str = "auto",
    ):
        super().__init__()
        check(len(channels) == len(strides) + 1, "channels needs one entry more than strides (the stem)")
        self.backend = resolve_backend(backend)
        layers: list[nn.Module] = [SparseBlock(self.backend, in_channels, channels[0], key="subm0")]
        for _ in range(blocks):
            layers.append(SparseBlock(self.backend, channels[0], channels[0], key="subm0"))
        self.strides = [_triple(s) for s in strides]
        for i, s in enumerate(self.strides):
            k = tuple(3 if st > 1 else 1 for st in s)
            p = tuple(1 if st > 1 else 0 for st in s)
            layers.append(SparseBlock(self.backend, channels[i], channels[i + 1], k, s, p, subm=False))
            for _ in range(blocks):
                layers.append(SparseBlock(self.backend, channels[i + 1], channels[i + 1], key=f"subm{i + 1}"))
        self.layers = nn.ModuleList(layers)
        self.out_channels = int(channels[-1])

    def output_shape(self, spatial_shape: Sequence[int]) -> tuple[int, int, int]:
        shape = tuple(int(s) for s in spatial_shape)
        for s in self.strides:
            k = tuple(3 if st > 1 else 1 for st in s)
            p = tuple(1 if st > 1 else 0 for st in s)
            shape = tuple((n + 2 * pp - kk) // st + 1 for n, pp, kk, st in zip(shape, p, k, s))
        return shape  # type: ignore[return-value]

    def forward(self, x: SparseVoxels) -> SparseVoxels:
        for layer in self.layers:
            x = layer(x)
        return x
