"""ACT-JEPA through the public contract: the components conform, the two losses are
separately weighted, no future observation reaches a policy's or a probe's features, and
the evaluations give a policy that acts in the simulator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jepakit import testing
from jepakit.errors import ConfigError
from jepakit_control import evaluate as ev
from jepakit_control import sim
from jepakit_control.baselines import RawEncoder, raw_policy
from jepakit_control.losses import ActionHead


@pytest.fixture(scope="module")
def tiny():
    return testing.build_tiny("control")


def test_components_conform(tiny):
    testing.check_tokenizer(tiny.model.backbone.tokenizer, tiny.batch, name="control-steps")
    testing.check_masker(tiny.sampler, tiny.layout, tiny.batch_size, batch=tiny.batch, name="chunk")
    testing.check_target(tiny.model, tiny.batch, tiny.drawn, name="future-ema")
    out = tiny.model(tiny.batch, tiny.drawn)
    testing.check_loss(tiny.model.loss, out["pred"].detach(), out["target"], tiny.drawn.weight, out=out, batch=tiny.batch,
                       masks=tiny.drawn, name="act-jepa")


def test_the_domain_pretrains_and_resumes_exactly(tmp_path):
    result = testing.check_domain("control", steps=4, workdir=tmp_path)
    assert len(result.losses) == 4


def test_context_is_the_past_and_targets_are_the_target_encoders_view_of_the_future(tiny):
    model, batch, masks = tiny.model, tiny.batch, tiny.drawn
    t, k = model.backbone.tokenizer.window, model.backbone.tokenizer.chunk
    assert torch.equal(masks.context[0], torch.arange(t)) and torch.equal(masks.target[0, 0], torch.arange(t, t + k))
    # the online encoder never embeds a future observation; the target encoder's copy does
    changed = {**batch, "future": batch["future"] + 5.0}
    with torch.no_grad():
        assert torch.equal(model.backbone(batch), model.backbone(changed))
        assert torch.equal(model.backbone.embed(batch), model.backbone.embed({k_: v for k_, v in batch.items() if k_ != "future"}))
        a, b = model.target(model, batch, masks), model.target(model, changed, masks)
    assert not torch.allclose(a, b)


def test_each_loss_has_its_own_weight_and_unlabelled_items_never_enter_the_action_loss(tiny):
    model, masks = tiny.model, tiny.drawn
    labelled = torch.tensor([1.0, 0.0] * (tiny.batch_size // 2))
    batch = {**tiny.batch, "labelled": labelled}
    loss = model.loss
    grads = []
    for jw, aw in ((1.0, 1.0), (1.0, 3.0), (0.0, 1.0)):
        loss.jepa_weight, loss.action_weight = jw, aw
        model.zero_grad(set_to_none=True)
        out = model(batch, masks)
        total = jw * out["jepa_loss"] + aw * out["action_loss"]
        assert float(out["loss"].detach()) == pytest.approx(float(total.detach()), rel=1e-6)
        out["loss"].backward()
        g = loss.head.net[-1].weight.grad
        grads.append(None if g is None else g.clone())
    torch.testing.assert_close(grads[1], 3.0 * grads[0])
    loss.jepa_weight, loss.action_weight = 1.0, 1.0
    # an unlabelled item's actions (even NaN) change nothing
    unl = batch["labelled"] < 0.5
    assert unl.any()
    poisoned = {**batch, "actions": torch.where(unl[:, None, None], torch.full_like(batch["actions"], float("nan")), batch["actions"])}
    with torch.no_grad():
        assert float(model(poisoned, masks)["action_loss"]) == pytest.approx(float(model(batch, masks)["action_loss"]))
    with pytest.raises(ConfigError, match="not both 0"):
        testing.build_tiny("control", {"loss": {"jepa_weight": 0.0, "action_weight": 0.0}})


def test_the_expert_succeeds_and_a_failed_episode_is_flagged():
    good = sim.expert_episode(3)
    bad = sim.expert_episode(3, noise=0.5, delay=4)
    assert good.success and not bad.success
    assert good.rewards.sum() > -400 > bad.rewards.sum()
    assert len(good.obs) == len(good.actions) + 1 and good.obs.shape[1] == 2  # velocity hidden by default


def test_evaluations_give_policies_that_act(tiny):
    bundle, cfg = tiny.bundle, tiny.config
    data = bundle.pretrain.control
    fitted_mse = ev.action_error(tiny.model.backbone, tiny.model, bundle, 1.0, 0, cfg)
    assert fitted_mse["own_head"] == 0.0 and np.isfinite(fitted_mse["mse"])
    own = ev.closed_loop_own(tiny.model.backbone, tiny.model, bundle, 1.0, 0, cfg)
    assert own["own_head"] == 1.0 and own["n_labels"] == len(data.demos) and np.isfinite(own["mse"])
    # without an own head, the own-head row is the fitted row (the same policy and episodes)
    assert ev.closed_loop_own(tiny.model.backbone, None, bundle, 1.0, 0, cfg) == {
        **ev.closed_loop(tiny.model.backbone, None, bundle, 1.0, 0, cfg), "mse": pytest.approx(ev.action_error(
            tiny.model.backbone, None, bundle, 1.0, 0, cfg)["mse"])}
    fitted = ev.closed_loop(tiny.model.backbone, None, bundle, 0.5, 0, cfg)
    assert fitted["own_head"] == 0.0 and fitted["n_labels"] == max(1, round(0.5 * len(data.demos)))
    assert -2000 < fitted["return"] <= 0 and 0 <= fitted["success"] <= 1
    raw = raw_policy(bundle, 1.0, 0, cfg)
    assert isinstance(raw.encoder, RawEncoder) and isinstance(raw.head, ActionHead)
    chunks = raw.chunks(np.stack([bundle.pretrain[i]["obs"] for i in range(4)]))
    assert chunks.shape == (4, data.info["chunk"], 1) and np.isfinite(chunks).all()


def test_behaviour_cloning_from_the_expert_beats_random_torques_in_closed_loop(tmp_path):
    """A raw-state MLP trained on 8 expert episodes does better than random torques (~1.5 s)."""
    import jepakit.config as C
    from jepakit.plugins import get_domain
    from jepakit.train import load_bundle

    dom = get_domain("control")
    cfg = C.merge(dom.defaults, {"data": {"demos": 8, "rollouts": 5}, "synthetic": {"episodes": 10, "noisy_episodes": 0}})
    bundle = load_bundle(dom, cfg)
    policy = raw_policy(bundle, 1.0, 0, cfg)
    scored = ev.score_closed_loop(policy, bundle.pretrain.control, 0)
    assert scored["return"] > -1000  # random torques: -1178 (README)


def test_files_without_a_simulator_say_so_and_an_unknown_simulator_is_refused(tmp_path):
    import jepakit.config as C
    from jepakit.plugins import get_domain
    from jepakit_control.data import load
    from jepakit_control.testing import write_tagged

    path = write_tagged(tmp_path / "d.npz", [14, 12, 13, 15, 12, 14, 13, 12, 16, 12])
    bundle = load(str(path), window=4, chunk=3)
    cfg = C.merge(get_domain("control").defaults, {"eval": {"sup_steps": 5}})
    with pytest.warns(Warning, match="name no simulator"):
        out = ev.closed_loop(RawEncoder(bundle.info), None, bundle, 1.0, 0, cfg)
    assert np.isnan(out["return"]) and np.isnan(out["success"]) and out["n_labels"] == len(bundle.pretrain.control.demos)
    assert np.isfinite(ev.action_error(RawEncoder(bundle.info), None, bundle, 1.0, 0, cfg)["mse"])
    with pytest.raises(ConfigError, match="data.env: the closed-loop evaluation knows Pendulum-v1 only"):
        load(str(path), env="CartPole-v1")
