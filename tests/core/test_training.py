import json
import math

import pytest

from jepakit import testing
from jepakit.checkpoint import find_checkpoint
from jepakit.cli import main
from jepakit.errors import TrainingDiverged
from jepakit.train import pretrain


def test_a_new_domain_pretrains_and_the_loss_goes_down(waves, tmp_path):
    run = pretrain(waves, out=tmp_path / "run")
    losses = [h["loss"] for h in run.history]
    assert len(losses) == 30 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-5:]) / 5 < 0.9 * sum(losses[:5]) / 5
    ckpt = find_checkpoint(tmp_path / "run")
    assert (ckpt / "model.safetensors").exists() and (ckpt / "optim.safetensors").exists()
    state = json.loads((ckpt / "state.json").read_text())
    assert state["step"] == 30 and state["domain"] == "waves"


def test_resume_reproduces_the_next_step_loss(waves, tmp_path):
    full = pretrain(waves, out=tmp_path / "full", overrides=["train.steps=8", "train.ckpt_every=4"])
    part = pretrain(waves, out=tmp_path / "part", overrides=["train.steps=8", "train.ckpt_every=4"])
    testing.rewind(tmp_path / "part", 4)  # pretend the second run died after step 4
    resumed = pretrain(waves, out=tmp_path / "part", resume=True)
    assert [h["step"] for h in resumed.history][-4:] == [5, 6, 7, 8]
    assert resumed.history[4]["loss"] == full.history[4]["loss"]
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history]
    assert part.history[-1]["loss"] == full.history[-1]["loss"]


def test_sigreg_and_other_losses_train(waves, tmp_path):
    for sets in (["target.name=sigreg"], ["loss.name=cosine", "loss.var_weight=1.0"], ["masker.name=random", "loss.name=l1"]):
        run = pretrain(waves, out=tmp_path / sets[0], overrides=sets + ["train.steps=4"])
        assert all(math.isfinite(h["loss"]) for h in run.history)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(waves, tmp_path, monkeypatch):
    import jepakit.losses

    calls = {"n": 0}
    real = jepakit.losses.prediction_loss

    def poisoned(*a, **k):
        calls["n"] += 1
        out = real(*a, **k)
        return out * float("nan") if calls["n"] > 4 else out

    monkeypatch.setattr(jepakit.losses, "prediction_loss", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 5 .*last good checkpoint is .*step-0000004"):
        pretrain(waves, out=tmp_path / "r", overrides=["train.steps=8", "train.ckpt_every=2"])
    assert find_checkpoint(tmp_path / "r").name == "step-0000004"


def test_cli_bench_quick_writes_report_metrics_and_plots(waves, tmp_path, capsys):
    assert main(["bench", "waves", "--quick", "--out", str(tmp_path / "b"), "--set", "train.rankme_every=5"]) == 0
    out = capsys.readouterr().out
    assert "| band: accuracy |" in out and "supervised" in out and "random-init/linear" in out
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    methods = {r["method"] for r in metrics["summary"]}
    assert {"jepa/linear", "random-init/linear", "supervised"} <= methods
    assert {r["fraction"] for r in metrics["summary"]} == {0.1, 1.0}
    for png in ("loss.png", "rankme.png", "label_efficiency_band.png"):
        assert (tmp_path / "b" / png).stat().st_size > 1000
    assert "rankme" in metrics and metrics["rankme"]["band:jepa"] > 1.0
    # the checkpoint evaluates on its own
    assert main(["evaluate", str(tmp_path / "b" / "jepa"), "--set", "eval.seeds=1"]) == 0
    assert "jepa/linear" in capsys.readouterr().out


def test_report_tabulates_the_metrics_a_domain_asks_for(waves, tmp_path):
    from jepakit.bench import run_bench

    res = run_bench(waves, quick=True, out=tmp_path, echo=False, overrides=["eval.metrics=[balanced_accuracy, macro_f1]", "eval.supervised=false"])
    assert "| band: balanced_accuracy |" in res.table and "| band: macro_f1 |" in res.table
    assert "| band: accuracy |" not in res.table


def test_eval_can_probe_the_ema_encoder(waves, tmp_path):
    run = pretrain(waves, out=tmp_path, overrides=["train.steps=2"])
    assert run.model.encoder_for_eval("target") is run.model.target.backbone
    assert run.model.encoder_for_eval("online") is run.model.backbone
    sig = pretrain(waves, out=tmp_path / "s", overrides=["train.steps=1", "target.name=sigreg"])
    assert sig.model.encoder_for_eval("target") is sig.model.backbone  # SIGReg has no encoder of its own


def test_eval_variants_picks_which_variants_are_pretrained(tmp_path):
    import dataclasses

    from jepakit.bench import pick_variants
    from jepakit.errors import ConfigError

    dom = dataclasses.replace(_domain_with_variants(), variants={"a": {}, "b": {"train": {"lr": 1e-4}}})
    assert list(pick_variants(dom, None)) == ["a", "b"]
    assert list(pick_variants(dom, ["b"])) == ["b"]
    with pytest.raises(ConfigError, match="has no variant 'c'; valid: a, b"):
        pick_variants(dom, ["c"])


def _domain_with_variants():
    from jepakit import Domain

    return Domain("v", lambda path=None: None)
