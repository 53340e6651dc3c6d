"""Contract v2 prototypes: seed systems expressed as plugins through the public hooks
only (no back door such as swapping a module inside ``Target.attach``).

seq-JEPA's action-conditioned predictor: the transformation (action) that produced a
view is an item key; a registered predictor embeds it and conditions the mask tokens on
it. What the old contract could not give is a non-zero gradient to the action
embedding (the predictor never saw the batch); here it must be non-zero, and the
conditioning must change the predictions.
"""

from __future__ import annotations

import pytest
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


# ---------------------------------------------------------------- ACT-JEPA: two losses


class ChunkWaves(Waves):
    """Waves with the next "actions" (here: a known function of the wave) to predict."""

    def __getitem__(self, i: int) -> dict:
        item = super().__getitem__(i)
        return {**item, "actions": item["x"][..., :8].reshape(8) * 2.0}


def load_chunk_waves(path=None, n: int = 64) -> DataBundle:
    return DataBundle(ChunkWaves(n, 0), {"in_chans": 1, "size": 64},
                      {"band": Task(ChunkWaves(n, 1), ChunkWaves(n, 2), "multiclass")}, describe="waves with actions")


class ChunkPredictor(nn.Module):
    """Predicts the target embeddings (mask tokens reading the context) and an action chunk
    from the pooled context: a dict, ``pred`` plus ``actions``."""

    def __init__(self, width: int, out_dim: int, grid: tuple[int, ...]):
        super().__init__()
        self.pos = nn.Parameter(torch.randn(1, int(torch.tensor(grid).prod()), width) * 0.02)
        self.out = nn.Linear(width, out_dim)
        self.actions = nn.Linear(width, 8)

    def forward(self, context, masks, batch):
        b, m, nt = masks.target.shape
        q = gather_tokens(self.pos.expand(b, -1, -1), masks.target.reshape(b, m * nt))
        attn = torch.softmax(q @ context.transpose(1, 2) / context.shape[-1] ** 0.5, dim=-1)
        return {"pred": self.out(q + attn @ context).reshape(b, m, nt, -1), "actions": self.actions(context.mean(1))}


class ChunkLoss(jepakit.contract.Loss):
    """ACT-JEPA's two declared losses: embedding prediction and action chunks, each with
    its own weight (no zero-padding of actions into the embedding target)."""

    def __init__(self, jepa_weight: float = 1.0, action_weight: float = 1.0):
        super().__init__()
        self.jepa_weight, self.action_weight = jepa_weight, action_weight

    def forward(self, pred, target, weight, out, batch):
        jepa = torch.nn.functional.smooth_l1_loss(pred, target)
        act = torch.nn.functional.mse_loss(out["actions"], batch["actions"].to(pred.dtype))
        out["action_loss"], out["jepa_loss"] = act, jepa
        return self.jepa_weight * jepa + self.action_weight * act


class ChunkPlugin:
    @hookimpl
    def jepakit_register_predictors(register):
        register("chunks", ChunkPredictor, "embeddings and an action chunk (ACT-JEPA prototype)")

    @hookimpl
    def jepakit_register_losses(register):
        register("chunks", ChunkLoss, "embedding loss + action-chunk loss, separately weighted")

    @hookimpl
    def jepakit_register_domains(register):
        register(Domain("chunk-waves", load_chunk_waves, summary="waves with action chunks", defaults=dict(TINY)))


def test_a_registered_loss_weighs_a_predictors_extra_output_against_the_batch(tmp_path):
    jepakit.register_plugin(ChunkPlugin, "chunk")
    sets = ["train.steps=3", "predictor=chunks", "loss.name=chunks"]
    run = pretrain("chunk-waves", out=tmp_path / "a", overrides=[*sets, "loss.action_weight=1.0"])
    assert isinstance(run.model.loss, ChunkLoss)
    assert {"action_loss", "jepa_loss", "pred_loss"} <= set(run.history[-1])  # the parts are logged
    # each part has its own weight: the total is exactly their weighted sum, and the
    # action head's gradient scales with the action weight alone
    batch = torch.utils.data.default_collate([run.bundle.pretrain[i] for i in range(8)])
    from jepakit.masks import MultiBlockMasker

    masks = MultiBlockMasker(num_targets=2)(run.model.backbone.tokenizer.layout(batch), 8, torch.Generator().manual_seed(0))
    grads = []
    for w in (1.0, 3.0):
        run.model.loss.action_weight = w
        run.model.zero_grad(set_to_none=True)
        out = run.model(batch, masks)
        assert float(out["loss"].detach()) == pytest.approx(float((out["jepa_loss"] + w * out["action_loss"]).detach()), rel=1e-6)
        out["loss"].backward()
        grads.append(run.model.predictor.actions.weight.grad.clone())
    assert float(grads[0].abs().sum()) > 0
    torch.testing.assert_close(grads[1], 3.0 * grads[0])
    # a loss argument the loss does not take is one line naming it
    with pytest.raises(jepakit.errors.ConfigError, match="no argument 'bogus'|bogus"):
        pretrain("chunk-waves", out=tmp_path / "b", overrides=[*sets, "loss.bogus=1"])


# ---------------------------------------------------------------- model-aware masker


def saliency(model, batch) -> torch.Tensor:
    """Per-token saliency from the target (EMA) encoder: each token's distance from the
    item's mean token (a stand-in for an attention map; the contract is the point)."""
    enc = model.target.encoder() or model.backbone
    h = enc(batch)[:, enc.num_prefix :]
    return (h - h.mean(1, keepdim=True)).norm(dim=-1)  # (B, N)


class SalientMasker:
    """Targets are the most salient tokens, group 0 the most salient (DSeq-JEPA's order);
    the context is the rest."""

    seen: list = []

    def __init__(self, num_targets: int = 2, per_target: int = 3):
        self.m, self.k = num_targets, per_target

    def __call__(self, layout, batch_size, generator, model, batch):
        from jepakit.contract import Masks

        assert not model.training and not torch.is_grad_enabled()
        order = saliency(model, batch).argsort(dim=1, descending=True).cpu()
        target = order[:, : self.m * self.k].reshape(batch_size, self.m, self.k)
        context = order[:, self.m * self.k :].sort(dim=1).values
        SalientMasker.seen.append(target)
        return Masks(context, target)


class SaliencyPlugin:
    @hookimpl
    def jepakit_register_maskers(register):
        register("salient", SalientMasker, "targets in the order of the target encoder's saliency (model-aware prototype)")


def test_a_masker_that_names_model_ranks_targets_by_the_encoders_saliency_and_resumes_exactly(waves, tmp_path):
    jepakit.register_plugin(SaliencyPlugin, "salient")
    SalientMasker.seen.clear()
    sets = ["masker=salient", "train.rankme_every=0"]
    straight = pretrain(waves, out=tmp_path / "s", overrides=[*sets, "train.steps=4", "train.ckpt_every=2"])
    assert len(SalientMasker.seen) == 4
    # resumed from the step-2 checkpoint: the masks depend on the weights, which resume restores
    import shutil

    from jepakit.testing import rewind

    shutil.copytree(tmp_path / "s", tmp_path / "h")
    rewind(tmp_path / "h", 2)
    resumed = pretrain(waves, out=tmp_path / "h", overrides=[*sets, "train.steps=4", "train.ckpt_every=2"], resume=True)
    assert len(SalientMasker.seen) == 6
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    # the targets are the most salient tokens, most salient first
    batch = torch.utils.data.default_collate([straight.bundle.pretrain[i] for i in range(4)])
    straight.model.eval()
    with torch.no_grad():
        sal = saliency(straight.model, batch)
        masks = SalientMasker(2, 3)(straight.model.backbone.tokenizer.layout(batch), 4, torch.Generator(), straight.model, batch)
    picked = torch.gather(sal, 1, masks.target.reshape(4, -1))
    assert (picked[:, :-1] >= picked[:, 1:]).all()  # in saliency order
    rest = torch.gather(sal, 1, masks.context)
    assert (picked.min(1).values >= rest.max(1).values).all()  # the most salient are the targets


# ---------------------------------------------------------------- two modalities


class PairedWaves(Waves):
    """Two modalities of one latent: a 1-D wave and an 8x8 "image" of the same frequency."""

    def __getitem__(self, i: int) -> dict:
        item = super().__getitem__(i)
        f = 1 + int(self.labels[i])
        yy, xx = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
        image = torch.sin(2 * torch.pi * f * (xx + yy) / 8.0).unsqueeze(0)
        return {"a": item["x"], "b": image, "label": item["label"]}


def load_pairs(path=None, n: int = 64) -> DataBundle:
    return DataBundle(PairedWaves(n, 0), {}, {"band": Task(PairedWaves(n, 1), PairedWaves(n, 2), "multiclass")},
                      describe="paired waves and images")


class PairTokenizer(jepakit.contract.Tokenizer):
    """One tokenizer for two modalities: 4-sample patches of ``a`` (16 tokens, 1-D) and
    2x2 patches of ``b`` (4x4 tokens, 2-D), as two segments of one layout."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.a = nn.Linear(4, dim)
        self.b = nn.Linear(4, dim)

    def layout(self, batch):
        return jepakit.contract.Layout.of_segments([("a", (16,)), ("b", (4, 4))])

    def embed(self, batch):
        a = batch["a"].reshape(-1, 16, 4)
        b = batch["b"].reshape(-1, 4, 2, 4, 2).permute(0, 1, 3, 2, 4).reshape(-1, 16, 4)
        return torch.cat([self.a(a), self.b(b)], dim=1)


class PairPlugin:
    @hookimpl
    def jepakit_register_tokenizers(register):
        register("pair", PairTokenizer, "a wave and an image as two segments (two-modality prototype)")

    @hookimpl
    def jepakit_register_domains(register):
        defaults = {**TINY, "tokenizer": {"name": "pair"}, "masker": {"name": "segments", "inner": {"name": "multiblock", "num_targets": 2}}}
        register(Domain("pairs", load_pairs, summary="paired waves and images", defaults=defaults))


def test_a_two_modality_domain_keeps_each_segments_grid_and_masks_per_segment(tmp_path):
    from jepakit.contract import Layout
    from jepakit.export import export_run, load_encoder
    from jepakit.posembed import sincos_grid

    jepakit.register_plugin(PairPlugin, "pairs")
    run = pretrain("pairs", out=tmp_path / "r", overrides=["train.steps=3", "train.ckpt_every=3"])
    backbone = run.model.backbone
    assert [s.name for s in backbone.segments] == ["a", "b"]
    # the image segment keeps its 2-D positions (plus one segment embedding for all its tokens)
    width = backbone.width
    table = backbone.pos.lookup().detach()
    b_rows = table[16:] - backbone.pos.segment[1].detach()
    torch.testing.assert_close(b_rows, sincos_grid((4, 4), width))
    torch.testing.assert_close(table[:16] - backbone.pos.segment[0].detach(), sincos_grid((16,), width))
    # within each modality: every target group lies inside one segment, disjoint from the context
    layout = Layout.of_segments([("a", (16,)), ("b", (4, 4))])
    masks = jepakit.create("masker", "segments", {"inner": {"name": "multiblock", "num_targets": 2}})(layout, 8, torch.Generator().manual_seed(0))
    assert masks.target.shape[1] == 4
    for j in range(4):
        in_a = masks.target[:, j] < 16
        assert in_a.all() or (~in_a).all()
    for b in range(8):
        assert not set(masks.context[b].tolist()) & set(masks.target[b].flatten().tolist())
    # cross-modal: predict the image from the whole wave
    cross = jepakit.create("masker", "segments", {"targets_in": ["b"], "context_from": ["a"]})(layout, 8, torch.Generator().manual_seed(0))
    assert torch.equal(cross.context, torch.arange(16).expand(8, -1))
    assert ((cross.target >= 16) & (cross.target < 32)).all()
    with pytest.raises(jepakit.errors.ArgumentError, match="targets_in names"):
        jepakit.create("masker", "segments", {"targets_in": ["video"]})(layout, 2, torch.Generator())
    run_cross = pretrain("pairs", out=tmp_path / "x", overrides=["train.steps=2", "masker.targets_in=[b]", "masker.context_from=[a]"])
    assert all(h["loss"] == h["loss"] for h in run_cross.history)
    # a task about one modality embeds that segment alone (as a query clip has no music)
    from jepakit.evaluate import embed

    items = [run.bundle.pretrain[i] for i in range(4)]
    backbone = run.model.backbone.eval()
    z_b, _ = embed(backbone, items, segment="b")
    with torch.no_grad():
        alone = backbone(torch.utils.data.default_collate(items), torch.arange(16, 32).expand(4, -1)).mean(1)
    torch.testing.assert_close(torch.from_numpy(z_b), alone)
    assert backbone.pooled_dim("mean+flat", "b") == 32 + 16 * 32
    with pytest.raises(jepakit.errors.ArgumentError, match="no segment 'c'"):
        backbone.embed(torch.utils.data.default_collate(items), segment="c")
    # the exported encoder rebuilds the segments without data
    export_run(tmp_path / "r", tmp_path / "e")
    enc = load_encoder(tmp_path / "e")
    assert [s.name for s in enc.segments] == ["a", "b"]
    batch = torch.utils.data.default_collate([run.bundle.pretrain[i] for i in range(4)])
    torch.testing.assert_close(enc.embed(batch), run.model.backbone.eval().embed(batch))
    # jepakit embed --segment (its Python twin): one modality's embeddings alone
    import numpy as np

    from jepakit.export import embed_to_file

    embed_to_file(tmp_path / "e", None, tmp_path / "b.npy", segment="b", echo=False)
    saved = np.load(tmp_path / "b.npy")
    mine, _ = embed(enc, [run.bundle.pretrain[i] for i in range(len(run.bundle.pretrain))], segment="b")
    assert saved.shape == (len(run.bundle.pretrain), 32)
    np.testing.assert_allclose(saved, mine, rtol=1e-5, atol=1e-6)
    with pytest.raises(jepakit.errors.JepakitError, match="--segment 'c'"):
        embed_to_file(tmp_path / "e", None, tmp_path / "c.npy", segment="c", echo=False)
