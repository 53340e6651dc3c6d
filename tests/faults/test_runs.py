"""Pretraining runs that survive interruptions: time-based checkpoints, exact resume with
DataLoader workers and under torchrun, a locked output folder, SIGTERM/SIGINT."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import jepakit
from jepakit import DataBundle, Domain, hookimpl
from jepakit import plugins as plugmod
from jepakit.checkpoint import find_checkpoint
from jepakit.errors import JepakitError
from jepakit.train import pretrain

# a subprocess's pretraining data sleeps this long per item and prints READY after this
# many items, so that a signal lands mid-run
SLOW, READY = "JEPAKIT_TEST_SLOW", "JEPAKIT_TEST_READY"


class Crops(torch.utils.data.Dataset):
    """Random crops plus noise, drawn from the global numpy and torch RNGs as the ECG and
    EEG window datasets draw theirs."""

    def __init__(self, n: int = 48, length: int = 96, crop: int = 64):
        g = np.random.default_rng(0)
        t = np.arange(length) / length
        self.x = np.stack([np.sin(2 * np.pi * (2 + 3 * (i % 3)) * t + g.uniform(0, 6))[None] for i in range(n)]).astype(np.float32)
        self.crop, self.calls = crop, 0
        self.slow, self.ready = float(os.environ.get(SLOW, "0")), int(os.environ.get(READY, "0"))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        start = int(np.random.randint(0, self.x.shape[-1] - self.crop + 1))
        x = torch.from_numpy(self.x[i, :, start : start + self.crop].copy())
        self.calls += 1
        if self.slow:
            time.sleep(self.slow)
        if self.ready and self.calls == self.ready:
            print("READY", flush=True)
        return {"x": x + 0.05 * torch.randn_like(x)}


def load_crops(path=None) -> DataBundle:
    return DataBundle(Crops(), {"in_chans": 1, "size": 64}, {}, describe="48 random crops")


CROPS = {
    "recipe": {"name": "jepa"},
    "tokenizer": {"name": "patch", "patch": 4},
    "model": {"width": 32, "depth": 1, "heads": 2, "pred_width": 16, "pred_depth": 1, "pred_heads": 2},
    "masker": {"name": "multiblock", "num_targets": 2},
    "train": {"steps": 8, "batch_size": 8, "lr": 2e-3, "warmup": 2, "progress": False, "rankme_every": 0},
}


class CropsPlugin:
    @hookimpl
    def jepakit_register_domains(register):
        register(Domain("crops", load_crops, summary="test domain: random crops", defaults=CROPS))


@pytest.fixture
def crops(monkeypatch):
    monkeypatch.setenv(plugmod.ENV_VAR, "")
    monkeypatch.delenv(SLOW, raising=False)
    monkeypatch.delenv(READY, raising=False)
    plugmod.reset()
    jepakit.register_plugin(CropsPlugin, "crops")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic as the subprocesses (OMP_NUM_THREADS=1)
    yield "crops"
    torch.set_num_threads(threads)
    plugmod.reset()


def losses(run) -> list[float]:
    return [h["loss"] for h in run.history]


def die_at_step(monkeypatch, step: int) -> None:
    """Make the loss of ``step`` (1-based) NaN: the run stops there (TrainingDiverged)."""
    import jepakit.losses

    calls = {"n": 0}
    real = jepakit.losses.prediction_loss

    def poisoned(*a, **k):
        calls["n"] += 1
        out = real(*a, **k)
        return out * float("nan") if calls["n"] >= step else out

    monkeypatch.setattr(jepakit.losses, "prediction_loss", poisoned)


def tensors(ckpt) -> dict[str, torch.Tensor]:
    return {**load_file(str(ckpt / "model.safetensors")), **{f"opt.{k}": v for k, v in load_file(str(ckpt / "optim.safetensors")).items()}}


# --- 2: checkpoints on a time interval by default ----------------------------------------


def test_by_default_a_crash_mid_run_leaves_a_checkpoint_to_resume_exactly(crops, tmp_path, monkeypatch):
    import jepakit.train as train

    full = pretrain(crops, out=tmp_path / "full", overrides=["train.steps=8"])
    clock = {"t": 0.0}

    def fake_clock():  # every step takes 2 minutes: the default 5-minute cadence saves every 3rd step
        clock["t"] += 120.0
        return clock["t"]

    monkeypatch.setattr(train, "_clock", fake_clock)
    die_at_step(monkeypatch, 6)
    with pytest.raises(JepakitError, match="loss became nan at step 6"):
        pretrain(crops, out=tmp_path / "part", overrides=["train.steps=8"])
    monkeypatch.undo()
    ckpt = find_checkpoint(tmp_path / "part")
    assert 0 < json.loads((ckpt / "state.json").read_text())["step"] < 6
    resumed = pretrain(crops, out=tmp_path / "part", resume=True)
    assert losses(resumed) == losses(full)


def test_a_checkpoints_content_does_not_depend_on_when_it_was_written(crops, tmp_path, monkeypatch):
    import jepakit.train as train

    by_step = pretrain(crops, out=tmp_path / "steps", overrides=["train.steps=6", "train.ckpt_every=3", "train.ckpt_minutes=0"])
    monkeypatch.setattr(train, "_clock", iter(range(0, 10**6, 1000)).__next__)  # every step past the cadence
    by_time = pretrain(crops, out=tmp_path / "time", overrides=["train.steps=6", "train.keep_checkpoints=10"])
    assert losses(by_time) == losses(by_step)
    for step in (3, 6):
        a, b = tensors(tmp_path / "steps" / "checkpoints" / f"step-{step:07d}"), tensors(tmp_path / "time" / "checkpoints" / f"step-{step:07d}")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert len(list((tmp_path / "time" / "checkpoints").glob("step-*"))) == 6


# --- 4: exact resume with DataLoader workers ---------------------------------------------


def test_resume_is_bit_exact_with_two_workers(crops, tmp_path, monkeypatch):
    sets = ["train.steps=8", "train.workers=2", "train.ckpt_every=4"]
    full = pretrain(crops, out=tmp_path / "full", overrides=sets)
    die_at_step(monkeypatch, 5)
    with pytest.raises(JepakitError, match="step 5"):
        pretrain(crops, out=tmp_path / "part", overrides=sets)
    monkeypatch.undo()
    assert find_checkpoint(tmp_path / "part").name == "step-0000004"
    resumed = pretrain(crops, out=tmp_path / "part", resume=True)
    assert [h["step"] for h in resumed.history] == list(range(1, 9))
    assert losses(resumed) == losses(full)
    # the batches do not depend on the number of workers either
    inline = pretrain(crops, out=tmp_path / "inline", overrides=["train.steps=8", "train.workers=0"])
    assert losses(inline) == losses(full)


# --- 5: the output folder ----------------------------------------------------------------


def write_lock(out, pid: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / ".jepakit.lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))


def test_a_used_output_folder_is_refused_without_resume_or_overwrite(crops, tmp_path):
    first = pretrain(crops, out=tmp_path / "run", overrides=["train.steps=4", "train.ckpt_every=2", "train.keep_checkpoints=3"])
    old_id = json.loads((first.checkpoint / "state.json").read_text())["run_id"]
    with pytest.raises(JepakitError, match=r"already holds a run.*--resume.*--overwrite"):
        pretrain(crops, out=tmp_path / "run", overrides=["train.steps=2"])
    with pytest.raises(JepakitError, match="resume and overwrite"):
        pretrain(crops, out=tmp_path / "run", resume=True, overwrite=True)
    # an --overwrite run that fails to start (a typo) leaves the old run intact too
    with pytest.raises(JepakitError, match="train.stepz"):
        pretrain(crops, out=tmp_path / "run", overrides=["train.stepz=3"], overwrite=True)
    # the refused runs left the old one intact
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step-*")) == ["step-0000002", "step-0000004"]
    second = pretrain(crops, out=tmp_path / "run", overrides=["train.steps=3"], overwrite=True)
    # only the new run's checkpoints remain: an old one can neither be pruned in its place nor resumed
    assert [p.name for p in (tmp_path / "run" / "checkpoints").glob("step-*")] == ["step-0000003"]
    new_id = json.loads((second.checkpoint / "state.json").read_text())["run_id"]
    assert new_id != old_id and json.loads((tmp_path / "run" / "run.json").read_text())["run_id"] == new_id
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["steps"] == 3
    assert not (tmp_path / "run" / ".jepakit.lock").exists()


def test_a_run_that_fails_to_start_leaves_its_folder_usable(crops, tmp_path):
    with pytest.raises(JepakitError, match="train.stepz"):
        pretrain(crops, out=tmp_path / "run", overrides=["train.stepz=3"])
    assert not (tmp_path / "run").exists()  # nor an empty folder
    pretrain(crops, out=tmp_path / "run", overrides=["train.steps=2"])


def test_a_folder_of_other_files_is_refused(crops, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(JepakitError, match=r"not empty \(notes.txt\)"):
        pretrain(crops, out=tmp_path / "run", overrides=["train.steps=2"])
    pretrain(crops, out=tmp_path / "run", overrides=["train.steps=2"], overwrite=True)
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"  # --overwrite replaces a run, not the user's files


def test_resume_refuses_a_checkpoint_of_another_run(crops, tmp_path):
    pretrain(crops, out=tmp_path / "run", overrides=["train.steps=2"])
    (tmp_path / "run" / "run.json").write_text(json.dumps({"run_id": "someoneelse"}))
    with pytest.raises(JepakitError, match="belongs to run"):
        pretrain(crops, out=tmp_path / "run", resume=True)


def test_a_live_lock_refuses_a_second_run(crops, tmp_path):
    write_lock(tmp_path / "run", os.getppid())  # a live process that is not this one
    with pytest.raises(JepakitError, match=rf"in use by process {os.getppid()}"):
        pretrain(crops, out=tmp_path / "run", overrides=["train.steps=2"])
    assert json.loads((tmp_path / "run" / ".jepakit.lock").read_text())["pid"] == os.getppid()


def test_a_stale_lock_is_taken_over_with_one_line(crops, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_lock(tmp_path / "run", dead.pid)
    with pytest.warns(UserWarning, match=rf"stale lock .* of process {dead.pid}") as caught:
        run = pretrain(crops, out=tmp_path / "run", overrides=["train.steps=2"])
    assert all("\n" not in str(w.message) for w in caught)
    assert run.history[-1]["step"] == 2 and not (tmp_path / "run" / ".jepakit.lock").exists()


def test_the_lock_and_the_signal_handlers_are_released_after_a_failed_run(crops, tmp_path, monkeypatch):
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    die_at_step(monkeypatch, 2)
    with pytest.raises(JepakitError, match="step 2"):
        pretrain(crops, out=tmp_path / "run", overrides=["train.steps=4"])
    monkeypatch.undo()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    assert not (tmp_path / "run" / ".jepakit.lock").exists()
    pretrain(crops, out=tmp_path / "run", overrides=["train.steps=2"], overwrite=True)


# --- 6: SIGTERM / SIGINT -----------------------------------------------------------------

CLI_SCRIPT = textwrap.dedent(
    """
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("faults_runs", sys.argv[1])
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    import jepakit
    jepakit.register_plugin(mod.CropsPlugin, "crops")
    from jepakit.cli import main
    sys.exit(main(["pretrain", "crops", "--out", sys.argv[2], *sys.argv[3:]]))
    """
)


def child_env(**extra) -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", JEPAKIT_PLUGINS="", **extra)


def wait_ready(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "READY" in line:  # two torchrun ranks may print theirs on one line ("READYREADY")
            return
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"the run never got going: {proc.stderr.read()[-2000:]}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_run_checkpoints_at_the_step_boundary_and_says_how_to_resume(crops, tmp_path, sig):
    script = tmp_path / "cli.py"
    script.write_text(CLI_SCRIPT)
    out = tmp_path / "run"
    sets = ["train.steps=40"]
    # READY after the collapse guard's probe (all 48 items) and 3 batches of 8
    proc = subprocess.Popen(
        [sys.executable, str(script), __file__, str(out), *(a for s in sets for a in ("--set", s))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(**{SLOW: "0.004", READY: str(48 + 3 * 8)}),
    )
    wait_ready(proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err[-2000:]
    last = err.strip().splitlines()[-1]
    ckpt = find_checkpoint(out)
    step = json.loads((ckpt / "state.json").read_text())["step"]
    assert 3 <= step < 40
    assert f"stopped by {signal.Signals(sig).name} after step {step}" in last and str(ckpt) in last
    assert f"resume with: jepakit pretrain crops --out {out} --resume" in last
    assert not (out / ".jepakit.lock").exists()
    full = pretrain(crops, out=tmp_path / "full", overrides=sets)
    resumed = pretrain(crops, out=out, resume=True)
    assert losses(resumed) == losses(full)


TORCHRUN_SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, sys
    import torch.distributed as dist
    spec = importlib.util.spec_from_file_location("faults_runs", sys.argv[1])
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    import jepakit
    jepakit.register_plugin(mod.CropsPlugin, "crops")
    from jepakit.train import pretrain
    resume = sys.argv[3] == "resume"
    run = pretrain("crops", out=sys.argv[2], overrides=None if resume else ["train.steps=30"], resume=resume)
    print("LOSSES", dist.get_rank(), json.dumps([h["loss"] for h in run.history]), flush=True)
    """
)


def torchrun(script, out, mode, **env):
    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), __file__, str(out), mode],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(**env),
    )


def rank_losses(stdout: str) -> dict[int, list[float]]:
    out = {}
    for line in stdout.splitlines():
        if line.startswith("LOSSES"):
            _, rank, values = line.split(" ", 2)
            out[int(rank)] = json.loads(values)
    return out


@pytest.mark.slow
def test_sigterm_and_resume_under_torchrun_are_exact(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(TORCHRUN_SCRIPT)
    full = torchrun(script, tmp_path / "full", "fresh")
    out, err = full.communicate(timeout=180)
    assert full.returncode == 0, err[-3000:]
    ref = rank_losses(out)
    assert sorted(ref) == [0, 1] and len(ref[0]) == 30 and ref[0] != ref[1]

    part = torchrun(script, tmp_path / "part", "fresh", **{SLOW: "0.01", READY: str(48 + 3 * 8)})
    wait_ready(part, timeout=120)
    part.send_signal(signal.SIGTERM)  # what a scheduler does to the job
    _, err = part.communicate(timeout=120)
    assert part.returncode != 0
    assert "stopped by SIGTERM after step" in err and "--resume" in err, err[-3000:]
    step = json.loads((find_checkpoint(tmp_path / "part") / "state.json").read_text())["step"]
    assert 3 <= step < 30

    resumed = torchrun(script, tmp_path / "part", "resume")
    out, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err[-3000:]
    got = rank_losses(out)
    assert got[0] == ref[0]
    assert got[1][step:] == ref[1][step:]
