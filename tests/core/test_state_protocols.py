"""Declared bundle state and the dataset protocols of a task.

``DataBundle.state`` is what a loader fitted on the pretraining data (a table's schema):
the core saves it with every checkpoint and export and hands it back to a loader that
names ``state`` when a run is resumed, evaluated, fine-tuned, exported or embedded.
Checkpoints and exports written before it existed hold only ``info``, which is then
handed back instead. A task's datasets follow small protocols
(:class:`jepakit.contract.LabelledDataset`, ``HasLabels``, ``GroupedDataset``); one that
follows none fails in one line naming the task and what is missing."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

import jepakit
from jepakit import DataBundle, Domain, Task, hookimpl
from jepakit.errors import DataError, JepakitError

SMALL = {"model": {"width": 32, "depth": 1, "heads": 2}, "train": {"steps": 3, "rankme_every": 3, "progress": False}}
DEFAULTS = {
    "recipe": {"name": "jepa"}, "tokenizer": {"name": "patch", "patch": 4},
    "model": {"pred_width": 16, "pred_depth": 1, "pred_heads": 2}, "train": {"batch_size": 8},
    "masker": {"name": "multiblock", "num_targets": 2}, "eval": {"seeds": 1, "fractions": [1.0], "heads": ["linear"]},
}
FITTED = {"vocab": ["a", "b", "c"], "scale": 0.25, "nested": {"k": [1, 2], "none": None}}
SEEN: list = []


class Waves(torch.utils.data.Dataset):
    def __init__(self, n: int, seed: int, label_key: str | None = "label"):
        g = np.random.default_rng(seed)
        self.y = g.integers(0, 2, n)
        t = np.arange(32) / 32
        self.x = np.stack([np.sin(2 * np.pi * (2 + 5 * y) * t)[None] for y in self.y]).astype(np.float32)
        self.key = label_key

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        item = {"x": torch.from_numpy(self.x[i])}
        if self.key is not None:
            item[self.key] = int(self.y[i])
        return item


def load_stateful(path=None, n: int = 32, state=None) -> DataBundle:
    SEEN.append(state)
    fitted = FITTED if state is None else state  # "fitted" on the first load, reused after
    task = Task(Waves(24, 1), Waves(16, 2), "multiclass", classes=["low", "high"])
    return DataBundle(Waves(n, 0), {"in_chans": 1, "size": 32}, {"band": task}, state=json.loads(json.dumps(fitted)))


def load_unlabelled_task(path=None) -> DataBundle:
    task = Task(Waves(24, 1, None), Waves(16, 2, None), "multiclass")
    return DataBundle(Waves(32, 0), {"in_chans": 1, "size": 32}, {"band": task})


class StatePlugin:
    @hookimpl
    def jepakit_register_domains(register):
        register(Domain("stateful", load_stateful, defaults=DEFAULTS))
        register(Domain("nolabels", load_unlabelled_task, defaults=DEFAULTS))


@pytest.fixture
def stateful():
    jepakit.register_plugin(StatePlugin, "stateful")
    SEEN.clear()
    return "stateful"


def _pretrain(out, domain="stateful", **train):
    from jepakit.train import pretrain

    cfg = {k: dict(v) for k, v in SMALL.items()}
    cfg["train"].update(train)
    return pretrain(domain, config=cfg, out=out, echo=False)


def _rewrite(path, drop: str) -> None:
    """Remove key ``drop`` from a checkpoint's state.json (an old-format checkpoint), with
    its manifest entry updated so that the checkpoint stays intact."""
    state = json.loads((path / "state.json").read_text())
    state.pop(drop)
    blob = json.dumps(state, indent=1).encode()
    (path / "state.json").write_bytes(blob)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["state.json"] = {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
    (path / "manifest.json").write_text(json.dumps(manifest, indent=1))


def test_a_loader_gets_its_state_back_after_pretrain_then_evaluate_and_resume(tmp_path, stateful):
    from jepakit.bench import run_evaluate

    run = _pretrain(tmp_path / "run")
    assert SEEN == [None]  # a new run: nothing to hand back
    assert run.bundle.state == FITTED
    saved = json.loads((run.checkpoint / "state.json").read_text())
    assert saved["bundle_state"] == FITTED
    run_evaluate(tmp_path / "run", echo=False)
    assert SEEN[-1] == FITTED
    from jepakit.train import pretrain

    with pytest.warns(UserWarning, match="schedules stretch"):
        pretrain("stateful", config={"train": {"steps": 5}}, out=tmp_path / "run", resume=True, echo=False)
    assert SEEN[-1] == FITTED  # a resumed run reads its data with the state it was trained with


def test_a_loader_gets_its_state_back_after_export_then_embed(tmp_path, stateful):
    from jepakit.export import META, embed_to_file, export_run

    _pretrain(tmp_path / "run")
    export_run(tmp_path / "run", tmp_path / "export")
    meta = json.loads((tmp_path / "export" / META).read_text())
    assert meta["bundle_state"] == FITTED
    SEEN.clear()
    embed_to_file(tmp_path / "export", None, tmp_path / "z.npy", echo=False)
    assert SEEN == [FITTED]


def test_an_old_checkpoint_and_export_hand_back_their_info_as_the_state(tmp_path, stateful):
    from jepakit.export import META, embed_to_file, export_run
    from jepakit.train import load_run

    run = _pretrain(tmp_path / "run")
    info = json.loads(json.dumps(run.bundle.info))
    export_run(tmp_path / "run", tmp_path / "export")
    _rewrite(run.checkpoint, "bundle_state")  # as written before bundle state existed
    SEEN.clear()
    load_run(tmp_path / "run")
    assert SEEN == [info]
    meta = json.loads((tmp_path / "export" / META).read_text())
    meta.pop("bundle_state")
    (tmp_path / "export" / META).write_text(json.dumps(meta))
    SEEN.clear()
    embed_to_file(tmp_path / "export", None, tmp_path / "z.npy", echo=False)
    assert SEEN == [info]


def test_a_state_that_is_not_json_is_one_line_error():
    from jepakit.train import load_bundle

    def load(path=None):
        return DataBundle([{"x": np.zeros(2, np.float32)}], state={"when": object()})

    with pytest.raises(JepakitError, match=r"^domain 'odd': DataBundle\.state must be JSON-serialisable") as err:
        load_bundle(Domain("odd", load), {"data": {"path": None}})
    assert "\n" not in str(err.value)


# -- protocols -------------------------------------------------------------------------


def test_protocols_describe_the_datasets_a_task_holds():
    from jepakit.contract import GroupedDataset, HasLabels, LabelledDataset

    assert isinstance(Waves(4, 0), LabelledDataset)
    assert not isinstance(Waves(4, 0), HasLabels)

    class Listed(Waves):
        @property
        def labels(self):
            return self.y

        groups = np.arange(4)

    assert isinstance(Listed(4, 0), HasLabels) and isinstance(Listed(4, 0), GroupedDataset)


def test_labels_and_groups_read_the_protocols():
    from jepakit.evaluate import groups_of, labels_of

    ds = Waves(6, 0)
    np.testing.assert_array_equal(labels_of(ds), ds.y)
    ds.labels = ds.y[::-1].copy()  # a dataset may expose its labels without reading items
    np.testing.assert_array_equal(labels_of(ds), ds.y[::-1])
    ds.groups = np.arange(6) // 2
    np.testing.assert_array_equal(groups_of(ds, "record"), [0, 0, 1, 1, 2, 2])


def test_a_dataset_without_labels_is_one_line_error_naming_the_task():
    from jepakit.evaluate import groups_of, labels_of

    with pytest.raises(DataError) as err:
        labels_of(Waves(4, 0, None), task="band")
    msg = str(err.value)
    assert "\n" not in msg and "'band'" in msg and "labels" in msg and "'label'" in msg and "Waves" in msg
    with pytest.raises(DataError) as err:
        groups_of(Waves(4, 0), "record", task="band")
    msg = str(err.value)
    assert "\n" not in msg and "'band'" in msg and "groups" in msg and "'record'" in msg


def test_probing_a_task_without_labels_is_one_line_error(tmp_path, stateful):
    from jepakit.evaluate import task_features
    from jepakit.train import load_run

    _pretrain(tmp_path / "run", domain="nolabels")
    run = load_run(tmp_path / "run")
    task = run.bundle.tasks["band"]
    ecfg = {"pool": "mean", "batch_size": 8}
    with pytest.raises(DataError) as err:
        task_features(run.model.backbone, task, ecfg, None, "cpu", name="band")
    msg = str(err.value)
    assert "\n" not in msg and "'band'" in msg and "'label'" in msg


# -- info["size"]: an int or a tuple ---------------------------------------------------


def test_as_shape_reads_an_int_a_tuple_or_a_list():
    from jepakit.errors import ArgumentError
    from jepakit.kit import as_shape

    assert as_shape(32, 2) == (32, 32)
    assert as_shape((32, 16), 2) == (32, 16) and as_shape([32, 16], 2) == (32, 16)
    assert as_shape(np.int64(8), 3) == (8, 8, 8) and as_shape(np.array([4, 6]), 2) == (4, 6)
    for bad in ((32, 32, 32), "32", 2.5, True):
        with pytest.raises(ArgumentError) as err:
            as_shape(bad, 2, "data.size")
        assert "\n" not in str(err.value) and "data.size" in str(err.value)


@pytest.mark.parametrize("size", [32, (32, 32), [32, 32]])
def test_a_2d_patch_tokenizer_takes_an_int_or_a_tuple_size(size):
    from jepakit.tokenizers import PatchTokenizer

    for tok in (PatchTokenizer(8, 1, size, patch=(8, 8)), PatchTokenizer(8, 1, size, patch=8, ndim=2)):
        assert tok.grid == (4, 4) and tok.size == (32, 32)
        assert tok({"x": torch.zeros(2, 1, 32, 32)}).shape == (2, 16, 8)
    assert PatchTokenizer(8, 1, (32, 16), patch=8).grid == (4, 2)  # not square
    assert PatchTokenizer(8, 1, 32, patch=8).grid == (4,)  # an int size and an int patch: 1-D, as before
