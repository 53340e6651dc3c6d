"""The collapse guard in every run, the validation split for choosing settings, and the
RankMe column of bench tables."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

import jepakit
from jepakit import Layout, Tokenizer, hookimpl
from jepakit.cli import main
from jepakit.errors import CollapseWarning, TrainingCollapsed
from jepakit.train import pretrain


class Blind(Tokenizer):
    """Ignores its input: every item gets the same tokens, so every embedding collapses."""

    def __init__(self, dim: int, size: int):
        super().__init__()
        self.dim, self.n = dim, size // 4
        self.code = torch.nn.Parameter(torch.randn(self.n, dim))

    def layout(self, batch):
        return Layout((self.n,))

    def embed(self, batch):
        return self.code.expand(batch["x"].shape[0], -1, -1) + 0 * batch["x"].mean()


class BlindPlugin:
    @hookimpl
    def jepakit_register_tokenizers(register):
        register("blind", Blind)


@pytest.fixture
def blind(waves):
    jepakit.register_plugin(BlindPlugin, "blind")
    return waves


def test_a_collapsed_run_warns_once_and_records_it(blind, tmp_path):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        run = pretrain(blind, out=tmp_path, overrides=["tokenizer=blind", "train.steps=6", "train.rankme_every=2"])
    msgs = [w for w in seen if issubclass(w.category, CollapseWarning)]
    assert len(msgs) == 1 and "RankMe" in str(msgs[0].message) and "recipe=lejepa" in str(msgs[0].message)
    hist = json.loads((tmp_path / "history.json").read_text())
    measured = [h for h in hist if "rankme" in h]
    assert [h["step"] for h in measured] == [2, 4, 6] and all(h["collapsed"] for h in measured)
    assert measured[-1]["sample_std"] < 1e-4
    assert run.history[-1]["collapsed"]


def test_stop_on_collapse_stops_with_one_line(blind, tmp_path, capsys):
    with pytest.raises(TrainingCollapsed, match="collapsed at step 2"):
        pretrain(blind, out=tmp_path / "a", overrides=["tokenizer=blind", "train.steps=6", "train.rankme_every=2", "train.stop_on_collapse=true"])
    assert (tmp_path / "a" / "checkpoints" / "step-0000002").exists()
    code = main(["pretrain", "waves", "--out", str(tmp_path / "b"), "--set", "tokenizer=blind", "--set", "train.steps=4",
                 "--set", "train.rankme_every=2", "--set", "train.stop_on_collapse=true"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: embeddings collapsed at step 2")
    # the CLI prints jepakit's warnings as one line, without the source line
    assert warnings.formatwarning("embeddings collapsed", CollapseWarning, "x.py", 1) == "warning: embeddings collapsed\n"


def test_healthy_run_is_not_called_collapsed(waves, tmp_path):
    run = pretrain(waves, out=tmp_path, overrides=["recipe=lejepa", "recipe.num_slices=64", "train.steps=20"])
    assert not run.history[-1]["collapsed"] and run.history[-1]["rankme"] > 1.5


def test_bench_metrics_and_table_show_rankme_and_collapse(blind, tmp_path):
    from jepakit.bench import run_bench

    res = run_bench(blind, quick=True, out=tmp_path, echo=False, overrides=["tokenizer=blind", "eval.supervised=false"])
    assert "| RankMe |" in res.table.splitlines()[0]
    assert res.table.splitlines()[2].startswith("| jepa/linear |") and res.table.splitlines()[2].split("|")[-2].strip() != "–"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["pretraining"]["jepa"]["collapsed"] is True and metrics["pretraining"]["jepa"]["rankme"] < 1.5
    assert "COLLAPSED" in (tmp_path / "report.md").read_text()


def test_validation_split_holds_out_training_items(waves, tmp_path, monkeypatch):
    from jepakit import get_domain
    from jepakit.bench import run_bench
    from jepakit.evaluate import validation_task

    task = get_domain(waves).load().tasks["band"]
    val = validation_task(task, 0.3, 0)
    assert len(val.train) + len(val.test) == len(task.train)
    assert set(val.train.indices) & set(val.test.indices) == set()
    assert list(val.test.labels) == [task.train[int(i)]["label"] for i in val.test.indices]

    class Forbidden:
        def __len__(self):
            return len(task.test)

        def __getitem__(self, i):
            raise AssertionError("the test split was read")

    import dataclasses

    import jepakit.bench

    real = jepakit.bench.load_bundle

    def guarded(*a, **k):
        b = real(*a, **k)
        return dataclasses.replace(b, tasks={k: dataclasses.replace(t, test=Forbidden()) for k, t in b.tasks.items()})

    monkeypatch.setattr(jepakit.bench, "load_bundle", guarded)
    res = run_bench(waves, quick=True, out=tmp_path, echo=False, overrides=["eval.split=validation"])
    assert {r["method"] for r in res.rows} >= {"jepa/linear", "random-init/linear", "supervised"}


def test_validation_keeps_groups_whole():
    import numpy as np

    from jepakit import Task
    from jepakit.evaluate import validation_task

    class Windows(torch.utils.data.Dataset):
        groups = np.repeat(np.arange(10), 4)
        labels = np.repeat(np.arange(10) % 2, 4)

        def __len__(self):
            return 40

        def __getitem__(self, i):
            return {"x": torch.zeros(1), "label": int(self.labels[i]), "record": int(self.groups[i])}

    val = validation_task(Task(Windows(), Windows(), "multiclass", group_key="record"), 0.3, 0)
    assert set(val.train.groups) & set(val.test.groups) == set() and len(set(val.test.groups)) == 3


class _Alternating(torch.nn.Module):
    """Item b's tokens are +a_b and -a_b at alternate positions: the pooled embedding is 0
    for every item, yet every token carries the item (a dense map, not a collapse)."""

    dim = 16

    def layout(self, batch):
        return Layout((8,))

    def forward(self, batch, keep=None):
        sign = torch.tensor([1.0, -1.0] * 4).view(1, 8, 1)
        return batch["a"].unsqueeze(1) * sign


def test_dense_maps_are_judged_per_token_not_by_their_pooled_mean():
    from jepakit.collapse import embedding_health
    from jepakit.model import Backbone

    backbone = Backbone(_Alternating(), (8,), 0, width=16, depth=0, heads=2, pos="none")
    backbone.norm = torch.nn.Identity()
    batches = [{"a": torch.randn(64, 16, generator=torch.Generator().manual_seed(i))} for i in range(4)]
    health = embedding_health(backbone, batches)
    assert health.rankme < 1.5 and health.token_rankme > 10 and not health.collapsed
    # the same tokens with no item in them: a code per position is collapsed
    same = [{"a": torch.ones(64, 16)} for _ in range(4)]
    assert embedding_health(backbone, same).collapsed
