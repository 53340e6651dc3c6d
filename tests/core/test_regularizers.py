"""The loss and regularizer registries: built-ins through the hooks, short forms in the
loss section equal to the named regularizers, a plugin regularizer through the config,
and checkpoints of the earlier layout loading into the new one."""

from __future__ import annotations

import pytest
import torch

import jepakit
from jepakit import config as cfgmod
from jepakit import hookimpl
from jepakit.contract import Regularizer
from jepakit.errors import ConfigError
from jepakit.train import pretrain


def test_built_in_losses_and_regularizers_are_registered_through_the_hooks():
    assert {"smooth_l1", "l1", "mse", "cosine"} <= set(jepakit.registry("loss"))
    assert {"variance", "covariance", "sigreg"} <= set(jepakit.registry("regularizer"))
    assert "online" in jepakit.registry("target")


@pytest.fixture(autouse=True)
def _waves(waves):
    return waves


def _first_losses(tmp_path, name, *sets):
    run = pretrain("waves", out=tmp_path / name, overrides=["train.steps=2", "train.rankme_every=0", *sets])
    return [h["loss"] for h in run.history], run


def test_short_forms_equal_the_named_regularizers(tmp_path):
    short, run = _first_losses(tmp_path, "short", "loss.var_weight=0.5", "loss.cov_weight=0.1", "loss.sigreg=0.2")
    assert set(run.model.regularizers) == {"variance", "covariance", "sigreg"}
    named, _ = _first_losses(
        tmp_path, "named", "regularizers.variance={weight: 0.5}", "regularizers.covariance={weight: 0.1}",
        "regularizers.sigreg={weight: 0.2}",
    )
    assert short == pytest.approx(named, rel=1e-6)
    assert {"variance", "covariance", "sigreg"} <= set(run.history[-1])
    # the sigreg target is the online target plus the sigreg regularizer it declares
    target, _ = _first_losses(tmp_path, "target", "target=sigreg", "target.lam=0.1")
    online, _ = _first_losses(tmp_path, "online", "target=online", "regularizers.sigreg={weight: 0.1}")
    assert target == pytest.approx(online, rel=1e-6)
    with pytest.raises(ConfigError, match="regularizer 'sigreg' is given twice"):
        pretrain("waves", out=tmp_path / "twice", overrides=["train.steps=1", "target=sigreg", "loss.sigreg=0.1"])


class Spread(Regularizer):
    """Pulls the context's per-feature spread toward ``goal``: a plugin's own term."""

    def __init__(self, weight: float = 1.0, goal: float = 1.0):
        super().__init__()
        self.weight, self.goal, self.steps = weight, goal, 0

    def forward(self, out):
        return (out["context"].std(0).mean() - self.goal).abs()

    def step(self):
        self.steps += 1


class SpreadPlugin:
    @hookimpl
    def jepakit_register_regularizers(register):
        register("spread", Spread, "context spread toward a goal (test)")


def test_a_plugin_regularizer_is_named_in_the_config_weighted_and_stepped(tmp_path):
    jepakit.register_plugin(SpreadPlugin, "spread")
    base, _ = _first_losses(tmp_path, "base")
    with_reg, run = _first_losses(tmp_path, "reg", "regularizers.spread={weight: 2.0, goal: 0.5}")
    reg = run.model.regularizers["spread"]
    assert isinstance(reg, Spread) and reg.weight == 2.0 and reg.goal == 0.5 and reg.steps == 2
    spread = run.history[0]["spread"]
    assert with_reg[0] == pytest.approx(base[0] + 2.0 * spread, rel=1e-5)
    with pytest.raises(ConfigError, match=r"unknown regularizer 'nope' \(regularizers"):
        pretrain("waves", out=tmp_path / "bad", overrides=["train.steps=1", "regularizers.nope={weight: 1}"])


def test_config_layers_merge_regularizers_by_name_and_drop_a_replaced_losss_arguments():
    cfg = cfgmod.merge({"regularizers": {"sigreg": {"weight": 0.1}}}, {"regularizers": {"sigreg": {"on": "positions"}}})
    assert cfg["regularizers"] == {"sigreg": {"weight": 0.1, "on": "positions"}}
    assert cfgmod.merge({"regularizers": {"sigreg": {"weight": 0.1}}}, {"regularizers": {"sigreg": None}})["regularizers"] == {}
    cfg = cfgmod.merge({"loss": {"name": "chunks", "action_weight": 2.0, "var_weight": 0.1}}, {"loss": {"name": "mse"}})
    assert "action_weight" not in cfg["loss"] and cfg["loss"]["var_weight"] == 0.1
    with pytest.raises(ConfigError, match="regularizers.sigreg must be a mapping"):
        cfgmod.merge({"regularizers": {"sigreg": 0.1}})


def test_checkpoints_of_the_earlier_layout_keep_their_sigreg_counter(tmp_path):
    _, run = _first_losses(tmp_path, "r", "target=sigreg")
    state = run.model.state_dict()
    assert int(state["regularizers.sigreg.calls"]) == 2
    old = {("target.calls" if k == "regularizers.sigreg.calls" else k): v for k, v in state.items()}
    fresh = pretrain("waves", out=tmp_path / "f", overrides=["train.steps=1", "train.rankme_every=0", "target=sigreg"]).model
    fresh.load_state_dict(old)
    assert int(fresh.regularizers["sigreg"].calls) == 2
    assert torch.equal(fresh.state_dict()["regularizers.sigreg.calls"], torch.tensor(2))


def test_a_targets_own_calls_buffer_is_not_taken_for_the_old_sigreg_counter(tmp_path):
    from jepakit.contract import Target, gather_tokens

    class Counting(Target):
        def __init__(self):
            super().__init__()
            self.register_buffer("calls", torch.zeros((), dtype=torch.long))

        def forward(self, model, batch, masks):
            return gather_tokens(model.backbone(batch)[:, model.backbone.num_prefix :], masks.target).detach()

        def update(self, model, progress):
            self.calls += 1

    class CountingPlugin:
        @hookimpl
        def jepakit_register_targets(register):
            register("counting", Counting, "test target with a calls buffer")

    jepakit.register_plugin(CountingPlugin, "counting")
    _, run = _first_losses(tmp_path, "c", "target=counting", "loss.sigreg=0.1")
    state = run.model.state_dict()
    assert int(state["target.calls"]) == 2
    fresh = pretrain("waves", out=tmp_path / "f", overrides=["train.steps=1", "train.rankme_every=0", "target=counting",
                                                              "loss.sigreg=0.1"]).model
    fresh.load_state_dict(state)
    assert int(fresh.target.calls) == 2 and int(fresh.regularizers["sigreg"].calls) == 2
