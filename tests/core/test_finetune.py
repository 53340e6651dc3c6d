"""Fine-tuning and the from-scratch reference: one loop (jepakit.finetune), its layer-wise
learning rates, schedule and early stopping, the bench's finetune rows and the CLI."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

import jepakit
from jepakit import DataBundle, Domain, Task, hookimpl
from jepakit.cli import main
from jepakit.evaluate import _Supervised, score
from jepakit.finetune import (
    FitSettings,
    Fitted,
    fit,
    fit_scores,
    layer_of,
    lr_factor,
    param_groups,
    supervised_scores,
    validation_items,
)
from jepakit.model import Backbone
from jepakit.tokenizers import PatchTokenizer

from .conftest import TINY, load_waves

LENGTH, PATCH = 16, 4


class Toy(torch.utils.data.Dataset):
    """Signals of 4 patches; ``kind`` picks the label: the sign of patch 0's mean
    (multiclass), the signs of patches 0 and 1 (multilabel), patch 0's mean (regression)
    or each patch's sign, the last patch unlabelled (token_multiclass)."""

    def __init__(self, n: int, seed: int, kind: str = "multiclass", groups: int | None = None):
        g = np.random.default_rng(seed)
        self.x = g.normal(size=(n, 1, LENGTH)).astype(np.float32)
        means = self.x[:, 0].reshape(n, LENGTH // PATCH, PATCH).mean(-1)
        self.kind = kind
        if kind == "multiclass":
            self.labels = (means[:, 0] > 0).astype(int)
        elif kind == "multilabel":
            self.labels = (means[:, :2] > 0).astype(np.float32)
        elif kind == "regression":
            self.labels = (10 + 5 * means[:, 0]).astype(np.float32)
        else:
            self.labels = (means > 0).astype(int)
            self.labels[:, -1] = -1
        if groups is not None:  # a grouped task's datasets carry their groups
            self.groups = np.arange(n) // groups

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        item = {"x": torch.from_numpy(self.x[i]), "label": torch.as_tensor(self.labels[i])}
        if hasattr(self, "groups"):
            item["record"] = int(self.groups[i])
        return item


def toy_task(kind: str, n: int = 80, groups: int | None = None) -> Task:
    return Task(Toy(n, 1, kind, groups), Toy(40, 2, kind), kind, group_key="record" if groups else None)


def backbone(depth: int = 3, seed: int = 0, pos: str = "sincos") -> Backbone:
    torch.manual_seed(seed)
    return Backbone(PatchTokenizer(8, 1, LENGTH, PATCH), (LENGTH // PATCH,), width=8, depth=depth, heads=2, pos=pos)


def settings(**kw) -> FitSettings:
    base = {"steps": 30, "batch_size": 16, "lr": 3e-3, "warmup": 0.1, "eval_every": 5, "patience": 3, "val_fraction": 0.2, "val_min": 1}
    return FitSettings(**{**base, **kw})


def test_layer_wise_lr_decay_gives_the_documented_rates_and_weight_decay():
    model = _Supervised(backbone(depth=3, pos="learned"), "multiclass", 2)
    groups = param_groups(model, lr=1e-2, layer_decay=0.5, weight_decay=0.05)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    wd_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert len(lr_of) == len(named)  # every parameter in exactly one group
    expect = {
        "head.weight": 1e-2, "head.bias": 1e-2, "backbone.norm.weight": 1e-2,  # L + 1: the peak rate
        "backbone.blocks.2.attn.qkv.weight": 1e-2 * 0.5,  # block i of L: decay^(L - i)
        "backbone.blocks.1.mlp.fc1.weight": 1e-2 * 0.5**2,
        "backbone.blocks.0.norm1.weight": 1e-2 * 0.5**3,
        "backbone.tokenizer.proj.weight": 1e-2 * 0.5**4,  # tokenizer and positions: decay^(L + 1)
        "backbone.pos.table": 1e-2 * 0.5**4,
    }
    for name, lr in expect.items():
        assert lr_of[id(named[name])] == pytest.approx(lr), name
    assert wd_of[id(named["head.weight"])] == 0.05 and wd_of[id(named["backbone.blocks.0.attn.qkv.weight"])] == 0.05
    for exempt in ("head.bias", "backbone.norm.weight", "backbone.blocks.0.norm1.weight", "backbone.pos.table"):
        assert wd_of[id(named[exempt])] == 0.0, exempt
    assert layer_of("backbone.tokenizer.proj.bias", 3) == 0 and layer_of("backbone.blocks.0.attn.proj.bias", 3) == 1
    # decay 1.0 (the scratch model): one rate for everything
    assert {g["lr"] for g in param_groups(model, 1e-2, 1.0)} == {1e-2}


def test_the_scratch_row_never_decays_and_the_finetune_row_takes_its_own_rate():
    from jepakit.config import DEFAULTS

    ecfg = dict(DEFAULTS["eval"], sup_lr=2e-3, ft_lr=5e-4, layer_decay=0.6)
    scratch, ft = FitSettings.of(ecfg, pretrained=False), FitSettings.of(ecfg, pretrained=True)
    assert (scratch.lr, scratch.layer_decay) == (2e-3, 1.0) and (ft.lr, ft.layer_decay) == (5e-4, 0.6)
    assert (scratch.steps, scratch.batch_size, scratch.warmup) == (ft.steps, ft.batch_size, ft.warmup)  # one budget
    old = {k: v for k, v in ecfg.items() if k not in ("ft_lr", "layer_decay", "sup_patience")}  # a config from before
    assert FitSettings.of(old, pretrained=True).layer_decay == DEFAULTS["eval"]["layer_decay"]


def test_warm_up_then_cosine():
    f = [lr_factor(s, 10, 0.2) for s in range(10)]
    assert f[:3] == [0.5, 1.0, 1.0]  # 2 warm-up steps, then the cosine starts at the peak
    assert all(a > b for a, b in zip(f[2:], f[3:])) and 0 < f[-1] < 0.05
    assert f[6] == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert [lr_factor(s, 10, 3) for s in range(3)] == pytest.approx([1 / 3, 2 / 3, 1.0])  # a number of steps
    assert lr_factor(0, 10, 0.0) == 1.0


def test_the_loop_applies_the_schedule_to_every_group(monkeypatch):
    import jepakit.finetune as ft

    seen = []
    real = ft.param_groups
    monkeypatch.setattr(ft, "param_groups", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    fit(backbone(), toy_task("multiclass"), np.arange(40), settings(steps=7, lr=1e-2, layer_decay=0.5, patience=0), None, "cpu", 0, 2)
    last = lr_factor(6, 7, 0.1)  # the groups hold the rates of the last step
    for g in seen[0]:
        assert g["lr"] == pytest.approx(1e-2 * g["lr_scale"] * last)
    assert {round(g["lr_scale"], 6) for g in seen[0]} == {1.0, 0.5, 0.25, 0.125, 0.0625}


def test_validation_split_whole_groups_every_class_kept_and_too_few_labels():
    task = toy_task("multiclass", n=60, groups=3)  # 20 records of 3 windows
    items = np.arange(60)
    tr, va, note = validation_items(task, items, 0.2, seed=0)
    rec = task.train.groups
    assert len(va) == 12 and set(rec[va]).isdisjoint(rec[tr]) and "4 of 20 labelled groups" in note
    assert set(task.train.labels[tr]) == {0, 1}
    # the only example of a class stays in training
    plain = toy_task("multiclass")
    y = plain.train.labels
    tr, va, _ = validation_items(plain, np.concatenate([np.flatnonzero(y == 0)[:1], np.flatnonzero(y == 1)[:6]]), 0.5, 0)
    assert 0 in set(y[tr]) and len(va) == 4 and set(y[va]) == {1}
    tr, va, note = validation_items(plain, np.arange(4), 0.2, seed=0)
    assert len(va) == 0 and len(tr) == 4 and "no early stopping: 4 labelled items (fewer than 5)" in note
    fitted = fit(backbone(), plain, np.arange(4), settings(steps=3), None, "cpu", 0, 2)
    assert fitted.n_val == 0 and fitted.steps_run == 3 and "no early stopping" in fitted.early_stopping
    # a hold-out under eval.sup_val_min: every label trains
    tr, va, note = validation_items(plain, np.arange(40), 0.2, seed=0, min_val=20)
    assert len(va) == 0 and len(tr) == 40 and "hold-out of 8 of 40 labelled items would be under eval.sup_val_min (20)" in note
    assert len(validation_items(plain, np.arange(80), 0.25, seed=0, min_val=20)[1]) == 20


def test_early_stopping_stops_and_restores_the_best_weights(monkeypatch):
    task = toy_task("multiclass", n=100)
    tr, va, _ = validation_items(task, np.arange(100), 0.2, seed=0)
    task.train.labels[tr] = 1 - task.train.labels[tr]  # training labels contradict the validation items
    snapshots = {}
    real = Fitted.predict

    def spy(self, dataset, indices=None, *a, **k):
        if dataset is task.train:  # an evaluation on the validation items
            snapshots[self.steps_run] = copy.deepcopy(self.model.state_dict())
        return real(self, dataset, indices, *a, **k)

    monkeypatch.setattr(Fitted, "predict", spy)
    fitted = fit(backbone(), task, np.arange(100), settings(steps=300, lr=1e-2, eval_every=4, patience=3), None, "cpu", 0, 2)
    accs = [h["accuracy"] for h in fitted.history]
    assert fitted.steps_run < 300 and "stopped" in fitted.early_stopping
    assert len(accs) == len(snapshots) and accs[-1] < accs[0]  # validation got worse as training went on
    assert fitted.steps_run == fitted.history[-1]["step"] and fitted.best_step <= fitted.steps_run - 3 * 4
    final = fitted.model.state_dict()
    assert all(torch.equal(final[k], v) for k, v in snapshots[fitted.best_step].items())
    assert not all(torch.equal(final[k], v) for k, v in snapshots[fitted.steps_run].items())


@pytest.mark.parametrize("kind", ["multiclass", "multilabel", "regression", "token_multiclass"])
def test_every_task_kind_trains_and_scores(kind):
    task = toy_task(kind)
    n_classes = {"multiclass": 2, "multilabel": 2, "regression": None, "token_multiclass": 2}[kind]
    pred, y, fitted = fit_scores(backbone(), task, np.arange(80), settings(steps=40, lr=1e-2), None, "cpu", 0, n_classes)
    shape = {"multiclass": (40, 2), "multilabel": (40, 2), "regression": (40,), "token_multiclass": (40, 4, 2)}[kind]
    assert pred.shape == shape and np.isfinite(pred).all()
    assert fitted.n_val == 16 and fitted.history and fitted.best_step is not None
    s = score(kind, y, pred, n_classes)
    primary = {"multiclass": "accuracy", "multilabel": "macro_auc", "regression": "r2", "token_multiclass": "miou"}[kind]
    assert math.isfinite(s[primary])
    if kind == "regression":  # predictions come back on the labels' scale
        assert abs(pred.mean() - y.mean()) < 3


def test_scratch_and_finetune_share_one_loop():
    """A pretrained start differs from a scratch one only in its weights: with the same
    weights, rate and no layer decay, the two paths give the same predictions."""
    from jepakit.config import DEFAULTS

    task = toy_task("multiclass")
    ecfg = dict(DEFAULTS["eval"], sup_steps=20, sup_eval_every=5, sup_lr=3e-3, ft_lr=3e-3, layer_decay=1.0, sup_batch_size=16, sup_val_min=1)
    start = backbone(seed=5)
    items = np.arange(60)
    scratch, _ = supervised_scores(lambda: copy.deepcopy(start), task, items, ecfg, None, "cpu", 0, 2)
    tuned, _ = supervised_scores(lambda: copy.deepcopy(start), task, items, ecfg, None, "cpu", 0, 2, pretrained=True)
    np.testing.assert_array_equal(scratch, tuned)
    other, _ = supervised_scores(lambda: backbone(seed=6), task, items, ecfg, None, "cpu", 0, 2, pretrained=True)
    assert not np.array_equal(other, tuned)  # another start, another model
    decayed, _ = supervised_scores(lambda: copy.deepcopy(start), task, items, dict(ecfg, layer_decay=0.5), None, "cpu", 0, 2, pretrained=True)
    assert not np.array_equal(decayed, tuned)  # the layer decay reaches the fine-tune row


def test_bench_has_a_finetune_row_from_the_pretrained_encoder(waves, tmp_path, monkeypatch):
    import jepakit.bench as bench
    from jepakit.bench import run_bench

    starts = []
    real = bench.supervised_scores

    def spy(make_backbone, *a, pretrained=False, **k):
        starts.append((pretrained, make_backbone()))
        return real(make_backbone, *a, pretrained=pretrained, **k)

    monkeypatch.setattr(bench, "supervised_scores", spy)
    res = run_bench(waves, quick=True, out=tmp_path, echo=False, overrides=["eval.random_init=false", "eval.fractions=[1.0]", "eval.seeds=1"])
    methods = [r["method"] for r in res.rows]
    assert methods.count("finetune") == methods.count("supervised") == 1  # 1 fraction x 1 seed
    assert "| finetune |" in res.table
    encoder = res.runs["jepa"].model.encoder_for_eval("online")
    tuned = [b for p, b in starts if p]
    assert len(tuned) == 1 and all(b is not encoder for b in tuned)
    ref = encoder.state_dict()
    assert all(torch.equal(v, tuned[0].state_dict()[k]) for k, v in ref.items())  # a copy of the pretrained weights
    assert [p for p, _ in starts] == [False, True]  # the scratch row, then the finetune row


def test_cli_finetune_writes_results_and_weights_without_pickle(waves, tmp_path, capsys):
    from safetensors.torch import load_file

    from jepakit.train import pretrain

    pretrain(waves, out=tmp_path / "run", overrides=["train.steps=3"], echo=False)
    out = tmp_path / "ft"
    argv = ["finetune", str(tmp_path / "run"), "--fraction", "0.5", "--seed", "1", "--set", "eval.sup_steps=6",
            "--set", "eval.sup_eval_every=2", "--set", "eval.sup_val_min=5", "--out", str(out), "--compare-scratch"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "finetune waves/band: 50% labels (n=48, seed 1)" in printed
    assert any(line.startswith("accuracy") and "scratch" in line for line in printed.splitlines())
    result = json.loads((out / "finetune.json").read_text())
    assert result["task"] == "band" and result["n_labels"] == 48 and 0 <= result["metrics"]["accuracy"] <= 1
    assert result["scratch"] is not None and "early stopping on 10 of 48" in result["early_stopping"]
    weights = load_file(str(out / "finetuned.safetensors"))
    meta = json.loads((out / "finetuned.json").read_text())
    assert weights["head.weight"].shape == (3, 32) and meta["outputs"] == 3 and meta["kind"] == "multiclass"
    assert not list(out.glob("*.pt")) and not list(out.glob("*.pkl"))


class Unlabelled:
    @hookimpl
    def jepakit_register_domains(register):
        def load(path=None):
            b = load_waves()
            return DataBundle(b.pretrain, b.info, {})

        register(Domain("quiet", load, summary="no labels", defaults=TINY))


def test_cli_finetune_errors_are_one_line(waves, tmp_path, capsys):
    from jepakit.train import pretrain

    pretrain(waves, out=tmp_path / "run", overrides=["train.steps=2"], echo=False)
    assert main(["finetune", str(tmp_path / "run"), "--task", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: domain 'waves' has no task 'nope'; valid: band"
    assert main(["finetune", str(tmp_path / "run"), "--set", "model.width=8"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot change model.width" in err
    assert main(["finetune", str(tmp_path / "run"), "--set", "eval.layer_decay=1.5"]) == 2
    assert "eval.layer_decay must be a finite number in (0, 1]" in capsys.readouterr().err
    assert main(["finetune", str(tmp_path / "run"), "--fraction", "0"]) == 2
    assert "--fraction must be in (0, 1]" in capsys.readouterr().err
    jepakit.register_plugin(Unlabelled, "quiet")
    pretrain("quiet", out=tmp_path / "quiet", overrides=["train.steps=2"], echo=False)
    assert main(["finetune", str(tmp_path / "quiet")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no labelled task" in err
