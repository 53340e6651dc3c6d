"""Checkpoint faults (issue 15: items 1, 3 and 9): non-finite state is never saved,
damaged checkpoints are detected and skipped, the ``latest`` pointer is never trusted
beyond a plain child name, and interrupted saves leave nothing behind."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import jepakit
from jepakit import DataBundle, Domain, hookimpl
from jepakit.checkpoint import find_checkpoint, load_optimizer, optimizer_tensors, read_checkpoint, save_checkpoint
from jepakit.cli import main
from jepakit.errors import DataError, JepakitError, TrainingDiverged
from jepakit.train import load_run, pretrain


def _core_conftest():
    spec = importlib.util.spec_from_file_location("_faults_core_conftest", Path(__file__).parents[1] / "core" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY, Waves = _core_conftest().TINY, _core_conftest().Waves
EIGHT = ["train.steps=8", "train.ckpt_every=4", "train.keep_checkpoints=2"]
_REFERENCE: dict[str, object] = {}


def reference(waves, tmp_path_factory) -> dict[str, object]:
    """The uninterrupted 8-step run: its losses and its final weights' bytes."""
    if not _REFERENCE:
        out = tmp_path_factory.mktemp("reference")
        run = pretrain(waves, out=out, overrides=EIGHT, echo=False)
        _REFERENCE["losses"] = [h["loss"] for h in run.history]
        _REFERENCE["weights"] = (out / "checkpoints" / "step-0000008" / "model.safetensors").read_bytes()
    return _REFERENCE


def two_checkpoints(waves, out: Path) -> Path:
    pretrain(waves, out=out, overrides=EIGHT, echo=False)
    ck = out / "checkpoints"
    assert sorted(p.name for p in ck.glob("step-*")) == ["step-0000004", "step-0000008"]
    return ck


def finite_file(path: Path) -> bool:
    return all(torch.isfinite(v).all() for v in load_file(str(path)).values() if v.is_floating_point())


def edit_state(ckpt: Path, edit) -> None:
    state = json.loads((ckpt / "state.json").read_text())
    edit(state)
    (ckpt / "state.json").write_text(json.dumps(state, indent=1))


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) - 3] ^= 0xFF  # a weight's byte, not the header
    path.write_bytes(bytes(data))


# -- 1: non-finite state --------------------------------------------------------------


def test_a_diverging_update_is_never_saved_and_the_error_names_the_last_finite_checkpoint(waves, tmp_path):
    with pytest.raises(TrainingDiverged, match=r"last good checkpoint is \S*step-0000001\b") as err:
        pretrain(waves, out=tmp_path / "r", overrides=["train.steps=6", "train.ckpt_every=1", "train.lr=1e3"], echo=False)
    assert "\n" not in str(err.value) and not isinstance(err.value, DataError)
    ck = tmp_path / "r" / "checkpoints"
    saved = sorted(p for p in ck.glob("step-*"))
    assert [p.name for p in saved] == ["step-0000001"]
    assert all(finite_file(p / "model.safetensors") and finite_file(p / "optim.safetensors") for p in saved)
    assert find_checkpoint(tmp_path / "r").name == "step-0000001"
    run = load_run(tmp_path / "r")  # what evaluate loads
    assert all(torch.isfinite(v).all() for v in run.model.state_dict().values() if v.is_floating_point())


def _tiny_model_and_optimizer():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.ones(4, 3)).sum().backward()
    opt.step()
    return model, opt


@pytest.mark.parametrize("poison", ["weights", "optimizer"])
def test_save_checkpoint_refuses_non_finite_weights_or_optimizer_state(tmp_path, poison):
    model, opt = _tiny_model_and_optimizer()
    good = save_checkpoint(tmp_path, 1, model, opt, {"config": {}})
    with torch.no_grad():
        if poison == "weights":
            model.weight[0, 0] = float("inf")
        else:
            opt.state[model.weight]["exp_avg_sq"][0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match=r"non-finite.*step 2.*last good checkpoint is \S*step-0000001"):
        save_checkpoint(tmp_path, 2, model, opt, {"config": {}}, last_good=good)
    ck = tmp_path / "checkpoints"
    assert sorted(p.name for p in ck.iterdir()) == ["latest", "step-0000001"]
    assert (ck / "latest").read_text() == "step-0000001"


def test_a_checkpoint_holding_non_finite_weights_is_never_loaded(waves, tmp_path):
    ck = two_checkpoints(waves, tmp_path / "r")
    # as an older jepakit wrote it: no manifest, NaN weights
    (ck / "step-0000008" / "manifest.json").unlink(missing_ok=True)
    weights = load_file(str(ck / "step-0000008" / "model.safetensors"))
    weights = {k: v * float("nan") if v.is_floating_point() else v for k, v in weights.items()}
    save_file(weights, str(ck / "step-0000008" / "model.safetensors"))
    with pytest.warns(UserWarning, match=r"step-0000008.*non-finite.*step-0000004"):
        run = load_run(tmp_path / "r")
    assert run.checkpoint.name == "step-0000004"


# -- 3: damaged checkpoints -------------------------------------------------------------

DAMAGE = {
    "flipped byte in model.safetensors": lambda c: flip_byte(c / "model.safetensors"),
    "flipped byte in optim.safetensors": lambda c: flip_byte(c / "optim.safetensors"),
    "missing optim.safetensors": lambda c: (c / "optim.safetensors").unlink(),
    "missing model.safetensors": lambda c: (c / "model.safetensors").unlink(),
    "truncated state.json": lambda c: (c / "state.json").write_text((c / "state.json").read_text()[:50]),
    "wrong step": lambda c: edit_state(c, lambda s: s.update(step=7)),
    "negative step": lambda c: edit_state(c, lambda s: s.update(step=-3)),
    "too large step": lambda c: edit_state(c, lambda s: s.update(step=10**9)),
    "edited config lr": lambda c: edit_state(c, lambda s: s["config"]["train"].update(lr=1.0)),
    "edited optimizer lr": lambda c: edit_state(c, lambda s: [g.update(lr=5.0) for g in s["optimizer"]["param_groups"]]),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_good_one(waves, tmp_path, tmp_path_factory, damage):
    ref = reference(waves, tmp_path_factory)
    ck = two_checkpoints(waves, tmp_path / "r")
    DAMAGE[damage](ck / "step-0000008")
    with pytest.warns(UserWarning, match=r"checkpoint \S*step-0000008 is damaged \(.+\); using \S*step-0000004") as rec:
        resumed = pretrain(waves, out=tmp_path / "r", resume=True, echo=False)
    assert all("\n" not in str(w.message) for w in rec)
    # resumed from step 4: the same 8 losses and, bit for bit, the same final weights
    assert [h["step"] for h in resumed.history] == list(range(1, 9))
    assert [h["loss"] for h in resumed.history] == ref["losses"]
    assert (ck / "step-0000008" / "model.safetensors").read_bytes() == ref["weights"]
    assert (ck / "latest").read_text() == "step-0000008"
    read_checkpoint(tmp_path / "r")  # intact again


def test_the_learning_rate_comes_from_the_config_not_from_the_saved_optimizer(tmp_path):
    model, opt = _tiny_model_and_optimizer()
    tensors, meta = optimizer_tensors(opt)
    for g in meta["param_groups"]:
        g["lr"], g["weight_decay"] = 5.0, 0.5
    fresh = torch.optim.AdamW(model.parameters(), lr=1e-3)
    load_optimizer(fresh, tensors, meta)
    assert fresh.param_groups[0]["lr"] == 1e-3 and fresh.param_groups[0]["weight_decay"] == 0.01
    assert torch.equal(fresh.state[model.weight]["exp_avg"], opt.state[model.weight]["exp_avg"])


def test_with_no_good_checkpoint_resume_and_evaluate_stop_with_one_line(waves, tmp_path, capsys):
    ck = two_checkpoints(waves, tmp_path / "r")
    flip_byte(ck / "step-0000004" / "model.safetensors")
    (ck / "step-0000008" / "optim.safetensors").unlink()
    with pytest.raises(JepakitError, match=r"no intact checkpoint in \S*checkpoints.*step-0000008.*step-0000004") as err:
        pretrain(waves, out=tmp_path / "r", resume=True, echo=False)
    assert "\n" not in str(err.value)
    assert load_run(tmp_path / "r").checkpoint.name == "step-0000008"  # evaluate needs no optimizer
    assert main(["pretrain", "waves", "--out", str(tmp_path / "r"), "--resume"]) == 2
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert err_lines[-1].startswith("error: no intact checkpoint") and "Traceback" not in "".join(err_lines)


def test_a_damaged_checkpoint_named_explicitly_is_an_error_not_a_fallback(waves, tmp_path):
    ck = two_checkpoints(waves, tmp_path / "r")
    flip_byte(ck / "step-0000008" / "model.safetensors")
    with pytest.raises(JepakitError, match=r"step-0000008 is damaged \(model.safetensors"):
        load_run(ck / "step-0000008")


# -- 9: pointer, leftovers, fsync, history, data ------------------------------------------


@pytest.mark.parametrize("pointer", ["missing", "absolute", "dotdot", "garbage", "symlink"])
def test_latest_is_only_a_plain_child_name_and_a_bad_one_falls_back(waves, tmp_path, pointer):
    ck = two_checkpoints(waves, tmp_path / "r")
    other = two_checkpoints(waves, tmp_path / "other")
    target = {
        "missing": "step-0000099",
        "absolute": str(other / "step-0000004"),
        "dotdot": "../../other/checkpoints/step-0000004",
        "garbage": "\x00\x01 not a name",
        "symlink": "step-0000009",
    }[pointer]
    if pointer == "symlink":  # a child name, but a link out of the run folder
        (ck / "step-0000009").symlink_to(other / "step-0000004")
    (ck / "latest").write_text(target)
    with pytest.warns(UserWarning, match=r"checkpoints/latest .*; using \S*r/checkpoints/step-0000008"):
        found = find_checkpoint(tmp_path / "r")
    assert found == ck / "step-0000008"
    with pytest.warns(UserWarning):
        run = load_run(tmp_path / "r")
    assert run.checkpoint == ck / "step-0000008"


def test_stale_temporary_folders_are_removed_at_the_next_save_and_resume(waves, tmp_path):
    ck = two_checkpoints(waves, tmp_path / "r")
    (ck / ".tmp-step-0000012").mkdir()
    (ck / ".tmp-step-0000012" / "model.safetensors").write_bytes(b"half")
    (ck / "latest.tmp").write_text("step-0000012")
    model, opt = _tiny_model_and_optimizer()
    save_checkpoint(tmp_path / "s", 1, model, opt, {"config": {}})
    shutil.copytree(ck / ".tmp-step-0000012", tmp_path / "s" / "checkpoints" / ".tmp-step-0000003")
    save_checkpoint(tmp_path / "s", 2, model, opt, {"config": {}})
    assert not list((tmp_path / "s" / "checkpoints").glob(".tmp-*"))
    pretrain(waves, out=tmp_path / "r", resume=True, echo=False)
    assert sorted(p.name for p in ck.iterdir()) == ["latest", "step-0000004", "step-0000008"]


def test_an_interrupted_save_loses_at_most_one_interval_and_resumes_exactly(waves, tmp_path, tmp_path_factory, monkeypatch):
    ref = reference(waves, tmp_path_factory)
    import jepakit.checkpoint as ckmod

    real = ckmod.write_durably

    def killed(path, data):
        if ".tmp-step-0000008" in str(path) and path.name == "optim.safetensors":
            raise KeyboardInterrupt  # the process dies half way through the checkpoint
        return real(path, data)

    monkeypatch.setattr(ckmod, "write_durably", killed)
    with pytest.raises(KeyboardInterrupt):
        pretrain(waves, out=tmp_path / "r", overrides=EIGHT, echo=False)
    monkeypatch.undo()
    ck = tmp_path / "r" / "checkpoints"
    assert (ck / "latest").read_text() == "step-0000004" and (ck / ".tmp-step-0000008").exists()
    resumed = pretrain(waves, out=tmp_path / "r", resume=True, echo=False)
    assert [h["loss"] for h in resumed.history] == ref["losses"]
    assert not list(ck.glob(".tmp-*"))


def test_checkpoint_files_and_folders_are_fsynced_before_latest_moves(tmp_path, monkeypatch):
    model, opt = _tiny_model_and_optimizer()
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst, *a, **k):
        events.append(("replace", os.fspath(dst)))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    save_checkpoint(tmp_path, 3, model, opt, {"config": {}})
    ck = tmp_path / "checkpoints"
    moved = events.index(("replace", str(ck / "latest")))
    before = {path for kind, path in events[:moved] if kind == "fsync"}
    tmp = str(ck / ".tmp-step-0000003")
    for name in ("model.safetensors", "optim.safetensors", "state.json"):
        assert f"{tmp}/{name}" in before, name
    assert tmp in before and str(ck) in before and str(ck / "latest.tmp") in before
    assert ("fsync", str(ck)) in events[moved:]  # the pointer's rename itself


def test_checkpoints_do_not_carry_the_history_yet_load_and_resume_recover_it(waves, tmp_path):
    sets = ["train.steps=8", "train.ckpt_every=2", "train.keep_checkpoints=4"]
    run = pretrain(waves, out=tmp_path / "r", overrides=sets, echo=False)
    ck = tmp_path / "r" / "checkpoints"
    sizes = [(p / "state.json").stat().st_size for p in sorted(ck.glob("step-*"))]
    assert max(sizes) - min(sizes) < 100, sizes  # constant (but for the lr digits), not growing with the run
    assert "history" not in json.loads((ck / "step-0000008" / "state.json").read_text())
    (tmp_path / "r" / "history.json").unlink()  # as after a kill: only the checkpoints' history
    assert load_run(tmp_path / "r").history == run.history
    assert load_run(ck / "step-0000004").history == run.history[:4]
    for p in ck.glob("step-*"):
        if p.name != "step-0000004":
            shutil.rmtree(p)
    (ck / "latest").write_text("step-0000004")
    resumed = pretrain(waves, out=tmp_path / "r", resume=True, echo=False)
    assert [h["step"] for h in resumed.history] == list(range(1, 9))
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in run.history]
    assert load_run(tmp_path / "r").history == resumed.history


def load_overflowing_waves(path=None, n: int = 96, length: int = 64) -> DataBundle:
    data = Waves(n, 0, length)
    with np.errstate(over="ignore"):
        data.x[37, 0, 5] = np.float64(1e308)  # read as float32: inf
        data.x[41, 0, 9] = np.float64(-1e308)
    return DataBundle(data, {"in_chans": 1, "size": length}, {}, describe=f"{n} overflowing waves")


class OverflowPlugin:
    @hookimpl
    def jepakit_register_domains(register):
        register(Domain("overflow", load_overflowing_waves, summary="waves with a +-1e308 sample", defaults=TINY))


def test_overflowing_values_in_the_data_are_named_not_a_bare_nan_loss(tmp_path):
    jepakit.register_plugin(OverflowPlugin, "overflow")
    with pytest.raises(DataError, match=r"pretraining data.*non-finite.*'x'.*sample[s]? .*(37|41)") as err:
        pretrain("overflow", out=tmp_path / "r", overrides=["train.steps=8"], echo=False)
    assert "\n" not in str(err.value)
