"""Contract v2 prototypes: seed systems expressed as plugins through the public hooks
only (no back door such as swapping a module inside ``Target.attach``).

seq-JEPA's action-conditioned predictor: the transformation (action) that produced a
view is an item key; a registered predictor embeds it and conditions the mask tokens on
it. What the old contract could not give is a non-zero gradient to the action
embedding (the predictor never saw the batch); here it must be non-zero, and the
conditioning must change the predictions.
"""

from __future__ import annotations

import torch
from torch import nn

import jepakit
from jepakit import DataBundle, Domain, Task, hookimpl
from jepakit.contract import gather_tokens
from jepakit.train import pretrain

from .conftest import TINY, Waves


class ActionWaves(Waves):
    """Waves shifted in time by a known amount: the action that produced the view."""

    def __getitem__(self, i: int) -> dict:
        item = super().__getitem__(i)
        shift = int(i * 7 % 16)
        return {"x": torch.roll(item["x"], shift, dims=-1), "label": item["label"], "action": torch.tensor([shift / 16.0])}


def load_action_waves(path=None, n: int = 64) -> DataBundle:
    return DataBundle(ActionWaves(n, 0), {"in_chans": 1, "size": 64, "action_dim": 1},
                      {"band": Task(ActionWaves(n, 1), ActionWaves(n, 2), "multiclass")}, describe="shifted waves")


class ActionPredictor(nn.Module):
    """Mask tokens at their positions plus an embedding of the batch's action, one
    transformer-free attention read of the context (small on purpose: the point is the
    contract, not the architecture)."""

    def __init__(self, width: int, out_dim: int, pred_width: int, grid: tuple[int, ...], action_dim: int):
        super().__init__()
        self.inp = nn.Linear(width, pred_width)
        self.pos = nn.Parameter(torch.randn(1, int(torch.tensor(grid).prod()), pred_width) * 0.02)
        self.action = nn.Linear(action_dim, pred_width)
        self.out = nn.Linear(pred_width, out_dim)

    def forward(self, context, masks, batch):
        b, m, nt = masks.target.shape
        ctx = self.inp(context)  # (B, Nc, w)
        q = gather_tokens(self.pos.expand(b, -1, -1), masks.target.reshape(b, m * nt))
        q = q + self.action(batch["action"].to(ctx.dtype)).unsqueeze(1)  # condition every query on the action
        attn = torch.softmax(q @ ctx.transpose(1, 2) / ctx.shape[-1] ** 0.5, dim=-1)
        return self.out(q + attn @ ctx).reshape(b, m, nt, -1)


class SeqPlugin:
    @hookimpl
    def jepakit_register_predictors(register):
        register("action", ActionPredictor, "mask tokens conditioned on the batch's action (seq-JEPA prototype)")

    @hookimpl
    def jepakit_register_domains(register):
        register(Domain("action-waves", load_action_waves, summary="waves under known shifts", defaults=dict(TINY)))


def test_action_conditioned_predictor_gets_a_gradient_through_the_public_contract(tmp_path):
    jepakit.register_plugin(SeqPlugin, "seq")
    run = pretrain("action-waves", out=tmp_path / "r", overrides=["train.steps=3", "predictor=action"])
    model = run.model
    assert isinstance(model.predictor, ActionPredictor)
    bundle = run.bundle
    batch = torch.utils.data.default_collate([bundle.pretrain[i] for i in range(8)])
    from jepakit.masks import MultiBlockMasker

    masks = MultiBlockMasker(num_targets=2)(model.backbone.tokenizer.layout(batch), 8, torch.Generator().manual_seed(0))
    model.train()
    model.zero_grad(set_to_none=True)
    model(batch, masks)["loss"].backward()
    grad = model.predictor.action.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0, "the action embedding must receive a gradient"
    with torch.no_grad():  # and the action changes what is predicted
        context = model.backbone(batch, masks.context)
        a = model.predictor(context, masks, batch)
        b = model.predictor(context, masks, {**batch, "action": batch["action"] + 0.5})
    assert not torch.allclose(a, b)


# ---------------------------------------------------------------- data-aware masker


class HalfFlatWaves(Waves):
    """Waves whose first half is flat (zeros): nothing there to predict."""

    def __getitem__(self, i: int) -> dict:
        item = super().__getitem__(i)
        x = item["x"].clone()
        x[..., : x.shape[-1] // 2] = 0.0
        return {"x": x, "label": item["label"]}


def load_half_flat(path=None, n: int = 64) -> DataBundle:
    return DataBundle(HalfFlatWaves(n, 0), {"in_chans": 1, "size": 64},
                      {"band": Task(HalfFlatWaves(n, 1), HalfFlatWaves(n, 2), "multiclass")}, describe="half-flat waves")


class SignalMasker:
    """Targets drawn among the patches whose signal is not flat, read off the batch."""

    drawn: list = []

    def __init__(self, patch: int = 4, num_targets: int = 2, per_target: int = 3):
        self.patch, self.m, self.k = patch, num_targets, per_target

    def __call__(self, layout, batch_size, generator, batch):
        from jepakit.contract import Masks

        x = batch["x"].reshape(batch_size, -1, self.patch)  # (B, N, patch)
        live = x.abs().amax(-1) > 0  # (B, N)
        n = layout.num_tokens
        targets, contexts = [], []
        for b in range(batch_size):
            cand = live[b].nonzero().flatten()
            pick = cand[torch.randperm(cand.numel(), generator=generator)[: self.m * self.k]]
            rest = torch.tensor([i for i in range(n) if i not in set(pick.tolist())])
            targets.append(pick.reshape(self.m, self.k))
            contexts.append(rest)
        masks = Masks(torch.stack(contexts), torch.stack(targets))
        SignalMasker.drawn.append((live, masks.target))
        return masks


class SignalPlugin:
    @hookimpl
    def jepakit_register_maskers(register):
        register("signal", SignalMasker, "targets where the signal is not flat (data-aware prototype)")

    @hookimpl
    def jepakit_register_domains(register):
        register(Domain("half-flat", load_half_flat, summary="half-flat waves", defaults=dict(TINY)))


def test_a_masker_that_names_batch_receives_it_and_places_targets_by_the_data(tmp_path):
    jepakit.register_plugin(SignalPlugin, "signal")
    SignalMasker.drawn.clear()
    run = pretrain("half-flat", out=tmp_path / "r", overrides=["train.steps=3", "masker=signal"])
    assert len(SignalMasker.drawn) == 3
    for live, target in SignalMasker.drawn:
        flat_targets = ~torch.gather(live, 1, target.reshape(target.shape[0], -1))
        assert not flat_targets.any(), "every target token must carry signal"
    # in DataLoader workers too, with the same masks: identical losses
    again = pretrain("half-flat", out=tmp_path / "w", overrides=["train.steps=3", "masker=signal", "train.workers=2"])
    assert [h["loss"] for h in again.history] == [h["loss"] for h in run.history]
