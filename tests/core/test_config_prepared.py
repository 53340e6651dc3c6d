import numpy as np
import pytest
import torch

from jepakit import config as cfgmod
from jepakit.errors import ConfigError, DataError
from jepakit.model import Backbone
from jepakit.posembed import sincos_grid
from jepakit.prepared import PreparedStore, WindowDataset, write_prepared
from jepakit.tokenizers import PatchTokenizer


def test_sets_parse_yaml_scalars_and_validate():
    layer = cfgmod.parse_sets(["model.width=64", "train.lr=3e-4", "eval.fractions=[0.1, 1.0]", "masker.name=random"])
    cfg = cfgmod.merge({"masker": {"name": "multiblock", "num_targets": 2}}, layer)
    assert cfg["model"]["width"] == 64 and cfg["train"]["lr"] == 3e-4 and cfg["eval"]["fractions"] == [0.1, 1.0]
    assert cfg["masker"] == {"name": "random"}  # the multiblock arguments went with the old name
    with pytest.raises(ConfigError, match="unknown config section 'modle'"):
        cfgmod.merge({"modle": {}})
    with pytest.raises(ConfigError, match="--set expects key=value"):
        cfgmod.parse_sets(["model.width"])


def test_sincos_grid_is_distinct_per_position():
    for grid in [(16,), (4, 4), (2, 3, 4)]:
        pe = sincos_grid(grid, 48)
        assert pe.shape == (np.prod(grid), 48)
        assert torch.cdist(pe, pe).add(torch.eye(len(pe)) * 10).min() > 1e-3


def test_context_encoder_sees_only_context_tokens():
    tok = PatchTokenizer(16, 1, 32, 4)
    bb = Backbone(tok, tok.grid, 0, 16, 1, 2)
    seen = []
    bb.blocks[0].register_forward_hook(lambda m, i, o: seen.append(i[0].shape[1]))
    keep = torch.tensor([[0, 3, 5], [1, 2, 7]])
    out = bb({"x": torch.randn(2, 1, 32)}, keep)
    assert out.shape == (2, 3, 16) and seen == [3]


def test_patch_tokenizer_rejects_wrong_shapes_in_one_line():
    tok = PatchTokenizer(16, 2, (8, 8), 4)
    with pytest.raises(DataError, match=r"expects inputs of shape \(B, 2, 8, 8\), got \(1, 3, 8, 8\)"):
        tok.embed({"x": torch.zeros(1, 3, 8, 8)})


def test_prepared_round_trip_and_windows(tmp_path):
    recs = [(np.random.randn(3, n).astype(np.float32), {"label": i % 2, "name": f"r{i}"}) for i, n in enumerate([100, 250, 80])]
    write_prepared(tmp_path / "p", recs, attrs={"rate": 100})
    store = PreparedStore(tmp_path / "p")
    assert len(store) == 3 and store.attrs == {"rate": 100} and store.channels == 3
    for i, (a, meta) in enumerate(recs):
        np.testing.assert_array_equal(store.read(i), a)
        assert store.meta(i) == meta
    np.testing.assert_array_equal(store.read(1, 10, 20), recs[1][0][:, 10:30])
    windows = WindowDataset(store, 50, stride=50, fields=("label",))
    assert len(windows) == 2 + 5 + 1
    item = windows[3]
    assert item["signal"].shape == (3, 50) and item["record"] == 1 and int(item["label"]) == 1
    with pytest.raises(DataError, match="shorter than one window"):
        WindowDataset(store, 120)
    with pytest.raises(DataError, match="not a prepared store"):
        PreparedStore(tmp_path)


def test_memory_store_serves_the_same_windows_with_labels_and_groups(tmp_path):
    from jepakit.prepared import MemoryStore

    recs = [(np.random.randn(2, n).astype(np.float32), {"label": i}) for i, n in enumerate([60, 90])]
    mem = MemoryStore(recs)
    disk = PreparedStore(write_prepared(tmp_path / "p", recs))
    for store in (mem, disk):
        w = WindowDataset(store, 30, stride=30, fields=("label",))
        assert list(w.labels) == [0, 0, 1, 1, 1] and list(w.groups) == [0, 0, 1, 1, 1]
        np.testing.assert_array_equal(w[3]["signal"].numpy(), recs[1][0][:, 30:60])
