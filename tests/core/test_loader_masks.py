"""Masks (and LeJEPA views) are drawn next to the collate, inside the DataLoader workers
when train.workers > 0, and are the same masks as with workers=0; the loop records how
long it waited for each step's data."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

import jepakit
from jepakit import hookimpl
from jepakit.masks import MultiBlockMasker
from jepakit.metrics import read_metrics, steps_of
from jepakit.train import StepDraw, build, layout_tokenizer, pretrain


class PidMasker(MultiBlockMasker):
    """The multiblock masker, noting in ``log`` which process drew each batch's masks."""

    def __init__(self, log: str, num_targets: int = 2):
        super().__init__(num_targets=num_targets)
        self.log = log

    def __call__(self, layout, batch_size, generator):
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\n")
        return super().__call__(layout, batch_size, generator)


class PidPlugin:
    @hookimpl
    def jepakit_register_maskers(register):
        register("pid", PidMasker, "multiblock, logging the drawing process")


def losses(run) -> list[float]:
    return [h["loss"] for h in run.history]


def test_masks_are_drawn_in_the_workers_and_equal_the_inline_ones(waves, tmp_path):
    jepakit.register_plugin(PidPlugin, "pid")
    runs, pids = {}, {}
    for workers in (0, 2):
        log = tmp_path / f"pids-{workers}.txt"
        sets = ["train.steps=4", f"train.workers={workers}", "masker=pid", f"masker.log={log}"]
        runs[workers] = pretrain(waves, out=tmp_path / f"w{workers}", overrides=sets)
        pids[workers] = {int(x) for x in log.read_text().split()}
    assert losses(runs[0]) == losses(runs[2])
    # the masker is the multiblock one: the same losses as a run that names it
    plain = pretrain(waves, out=tmp_path / "plain", overrides=["train.steps=4", "train.workers=2"])
    assert losses(plain) == losses(runs[0])
    assert pids[0] == {os.getpid()}
    assert os.getpid() not in pids[2] and len(pids[2]) >= 1


def test_lejepa_views_are_drawn_in_the_workers_alike(waves, tmp_path):
    sets = ["recipe=lejepa", "train.steps=3"]
    inline = pretrain(waves, out=tmp_path / "w0", overrides=sets + ["train.workers=0"])
    workers = pretrain(waves, out=tmp_path / "w2", overrides=sets + ["train.workers=2"])
    assert losses(inline) == losses(workers)


def test_the_data_wait_is_recorded_per_step(waves, tmp_path):
    run = pretrain(waves, out=tmp_path / "r", overrides=["train.steps=3", "train.workers=2"])
    waits = [h["data_wait"] for h in run.history]
    assert len(waits) == 3 and all(w >= 0 for w in waits)
    lines = steps_of(read_metrics(tmp_path / "r"))
    assert [x["data_wait"] for x in lines] == pytest.approx(waits)
    assert json.loads((tmp_path / "r" / "history.json").read_text())[0]["data_wait"] == waits[0]


def test_the_step_draw_pickles_for_spawned_workers(waves, tmp_path):
    from jepakit.plugins import get_domain
    from jepakit.train import load_bundle, resolve_config

    dom = get_domain(waves)
    cfg = resolve_config(dom)
    bundle = load_bundle(dom, cfg)
    model, masker = build(cfg, bundle)
    draw = StepDraw(masker, layout_tokenizer(model).layout, 4, 0)
    batch = torch.utils.data.default_collate([bundle.pretrain[i] for i in range(4)])
    again = pickle.loads(pickle.dumps(draw))
    a, b = draw(batch, 7), again(batch, 7)
    assert torch.equal(a.context, b.context) and torch.equal(a.target, b.target)
    assert not any(p.requires_grad for p in again.layout.__self__.parameters())
