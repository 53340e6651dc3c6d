"""Watching a run: metrics.jsonl (+ optional TensorBoard), the loss-spike detector and
``jepakit runs`` (issue 15, item 10). Tiny models, few steps."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from jepakit import metrics as metmod
from jepakit.cli import main
from jepakit.metrics import LossSpikeWarning, MetricsLogger, SpikeDetector, read_metrics, steps_of
from jepakit.runs import inspect_run, list_runs

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["model.width=16", "model.depth=1", "train.rankme_samples=32", "train.rankme_every=5", "train.ckpt_every=5",
         "train.keep_checkpoints=4"]


def _pretrain(out, steps, *extra, resume=False):
    from jepakit.train import pretrain

    return pretrain("waves", overrides=[f"train.steps={steps}", *SMALL, *extra], out=out, resume=resume, echo=False)


def _steps(run_dir):
    return [x["step"] for x in steps_of(read_metrics(run_dir))]


def test_every_step_is_logged_with_its_scalars(waves, tmp_path):
    run = _pretrain(tmp_path / "r", 12)
    lines = read_metrics(tmp_path / "r" / "metrics.jsonl")
    assert lines[0]["event"] == "start" and lines[0]["pid"] == os.getpid()
    assert lines[-1] == {**lines[-1], "event": "end", "status": "finished", "step": 12}
    recs = steps_of(lines)
    assert [r["step"] for r in recs] == list(range(1, 13))
    for r, h in zip(recs, run.history):
        assert r["loss"] == pytest.approx(h["loss"]) and r["lr"] == pytest.approx(h["lr"])
        assert {"pred_loss", "grad_norm", "ema_momentum", "samples_per_s", "step_seconds", "time"} <= set(r)
        assert r["grad_norm"] > 0 and 0 < r["ema_momentum"] < 1 and r["samples_per_s"] > 0
    measured = [r["step"] for r in recs if "rankme" in r]
    assert measured == [5, 10, 12]
    assert {"token_rankme", "sample_std", "position_std", "collapsed"} <= set(recs[4])
    # the EMA momentum follows the target's schedule
    assert recs[-1]["ema_momentum"] == pytest.approx(run.model.target.current_momentum)


def test_no_tensorboard_means_json_only(waves, tmp_path, monkeypatch):
    monkeypatch.setattr(metmod, "_tensorboard_available", lambda: False)
    _pretrain(tmp_path / "r", 3)
    assert (tmp_path / "r" / "metrics.jsonl").exists()
    assert not (tmp_path / "r" / "tensorboard").exists()


def test_tensorboard_gets_the_scalars_when_installed(tmp_path, monkeypatch):
    calls, made = [], {}

    class Writer:
        def __init__(self, log_dir, purge_step):
            made.update(log_dir=log_dir, purge_step=purge_step)

        def add_scalar(self, tag, value, step):
            calls.append((tag, value, step))

        def flush(self):
            made["flushed"] = True

        def close(self):
            made["closed"] = True

    monkeypatch.setattr(metmod, "summary_writer", Writer)
    log = MetricsLogger(tmp_path, start=7, batch_size=8, speak=False)
    log.log({"step": 8, "lr": 1e-3, "seconds": 0.5, "loss": 0.4, "pred_loss": 0.4, "rankme": 3.0, "collapsed": False},
            grad_norm=2.0)
    log.close()
    tags = {t: (v, s) for t, v, s in calls}
    assert tags["loss/total"] == (0.4, 8) and tags["loss/pred_loss"] == (0.4, 8) and tags["train/lr"] == (1e-3, 8)
    assert tags["train/grad_norm"] == (2.0, 8) and tags["perf/samples_per_s"] == (16.0, 8)
    assert tags["health/rankme"] == (3.0, 8) and tags["health/collapsed"] == (0.0, 8)
    # a resumed run's TensorBoard events past the checkpoint are purged
    assert Path(made.pop("log_dir")) == tmp_path / "tensorboard"
    assert made == {"purge_step": 8, "flushed": True, "closed": True}


def test_tensorboard_is_an_optional_extra():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "core" / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"]["tensorboard"] == ["tensorboard"]
    assert not any(d.startswith("tensorboard") for d in project["dependencies"])


def test_spike_detector_once_per_episode():
    det = SpikeDetector(window=50, sigmas=6, ratio=2, warmup=50)
    noise = [1.0 + 0.01 * math.sin(i * 1.7) for i in range(200)]
    flagged = []
    for i, loss in enumerate(noise[:60] + [9.0, 11.0, 8.0] + noise[60:120] + [float("nan")] + noise[120:140], 1):
        if det.update(loss) is not None:
            flagged.append(i)
    assert flagged == [61, 124]  # one per episode: the 3-step jump, then the NaN
    # nothing during the warm-up, however wild
    det = SpikeDetector(warmup=50)
    assert all(det.update(x) is None for x in [1.0, 50.0, 1.0, 80.0] * 10)
    # a mere 20 % bump over a noiseless baseline is not a spike (needs > 2x the median)
    det = SpikeDetector(warmup=10, min_seen=10)
    assert all(det.update(1.0) is None for _ in range(30)) and det.update(1.2) is None and det.update(2.5) is not None


def test_loss_spike_warns_once_and_is_recorded(tmp_path):
    log = MetricsLogger(tmp_path, start=0, batch_size=4)
    losses = [0.5 + 0.005 * ((i * 7) % 5) for i in range(80)] + [40.0, 35.0] + [0.5] * 5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i, loss in enumerate(losses, 1):
            log.log({"step": i, "lr": 1e-3, "seconds": 0.1, "loss": loss})
    log.close()
    spikes = [w for w in caught if issubclass(w.category, LossSpikeWarning)]
    assert len(spikes) == 1 and "loss spike at step 81" in str(spikes[0].message)
    assert "\n" not in str(spikes[0].message)
    lines = read_metrics(tmp_path)
    events = [x for x in lines if x.get("event") == "loss_spike"]
    assert [e["step"] for e in events] == [81] and events[0]["loss"] == 40.0
    assert [x["step"] for x in steps_of(lines) if x.get("loss_spike")] == [81]
    assert inspect_run_spikes(tmp_path) == [81]


def inspect_run_spikes(path):
    (Path(path) / "config.json").write_text(json.dumps({"train": {"steps": 87}}))
    return inspect_run(path).spikes


KILLABLE = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("core_conftest", sys.argv[1])
cc = importlib.util.module_from_spec(spec); spec.loader.exec_module(cc)
get = cc.Waves.__getitem__
cc.Waves.__getitem__ = lambda self, i: (time.sleep(0.01), get(self, i))[1]   # ~0.16 s a step
import jepakit
from jepakit.train import pretrain
jepakit.register_plugin(cc.WavesPlugin, "waves")
pretrain("waves", overrides=sys.argv[3:], out=sys.argv[2], echo=False)
"""


@pytest.mark.filterwarnings("ignore:taking over the stale lock")
def test_kill9_then_resume_continues_the_log(waves, tmp_path):
    out = tmp_path / "r"
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE)
    env = dict(os.environ, JEPAKIT_PLUGINS="")
    proc = subprocess.Popen([sys.executable, str(script), str(ROOT / "tests" / "core" / "conftest.py"), str(out),
                             "train.steps=20", *SMALL], env=env)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and (not _steps(out) or max(_steps(out)) < 12):
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.02)
        running = list_runs(tmp_path)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [r.status for r in running] == ["running"]
    killed_at = max(_steps(out))
    assert 12 <= killed_at < 20
    lines = read_metrics(out)
    assert not any(x.get("event") == "end" for x in lines)  # every step was on disk, nothing closed the file
    assert _steps(out) == list(range(1, killed_at + 1))
    info = inspect_run(out)
    assert info.status == "interrupted" and info.step == killed_at
    # (a kill between step 15's line and its checkpoint leaves 5 and 10)
    assert [c.step for c in info.checkpoints] in ([5, 10], [5, 10, 15] if killed_at >= 15 else [5, 10])
    before = {x["step"]: x["loss"] for x in steps_of(lines)}

    run = _pretrain(out, 20, resume=True)
    lines = read_metrics(out)
    assert _steps(out) == list(range(1, 21))  # no step twice
    assert [x["step"] for x in lines if x.get("event") == "start"] == [0, info.checkpoints[-1].step]
    assert lines[-1]["event"] == "end" and lines[-1]["status"] == "finished"
    after = {x["step"]: x["loss"] for x in steps_of(lines)}
    assert all(after[s] == pytest.approx(before[s], rel=1e-4) for s in before)  # the resumed steps redo the same losses
    assert len(run.history) == 20
    assert inspect_run(out).status == "finished"


def test_runs_statuses_and_the_checkpoint_to_keep(waves, tmp_path, monkeypatch, capsys):
    _pretrain(tmp_path / "good", 10)
    # collapse_rankme=1: any RankMe is under the width, so every measurement says collapsed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _pretrain(tmp_path / "collapsed", 10, "train.collapse_rankme=1.0")
    # a NaN loss at step 8: TrainingDiverged
    from jepakit.errors import TrainingDiverged
    from jepakit.model import JEPA

    forward, calls = JEPA.forward, {"n": 0}

    def nan_at_8(self, *a, **k):
        out = forward(self, *a, **k)
        calls["n"] += 1
        if calls["n"] == 8:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(JEPA, "forward", nan_at_8)
    with pytest.raises(TrainingDiverged):
        _pretrain(tmp_path / "diverged", 10)
    monkeypatch.setattr(JEPA, "forward", forward)

    runs = {r.path.name: r for r in list_runs(tmp_path)}
    assert {k: r.status for k, r in runs.items()} == {"good": "finished", "collapsed": "collapsed", "diverged": "diverged"}
    good = runs["good"]
    assert [(c.step, c.keep) for c in good.checkpoints] == [(5, False), (10, True)]
    assert all(c.loss is not None and c.rankme is not None and c.rankme_step == c.step for c in good.checkpoints)
    col = runs["collapsed"]
    assert col.collapsed_at == 5
    best = max(col.checkpoints, key=lambda c: (c.rankme, c.step))
    assert col.keep is best
    div = runs["diverged"]
    assert div.diverged_at == 8 and [(c.step, c.keep) for c in div.checkpoints] == [(5, True)]

    assert main(["runs", str(tmp_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:7] == ["RUN", "STATUS", "STEP", "CKPT", "LOSS", "RANKME", "KEEP"]
    assert any(line.startswith("good") and "finished" in line and "10/10" in line for line in table)
    assert any(line.startswith("diverged") and "diverged at 8" in line for line in table)
    assert sum(line.rstrip().endswith("*") or " * " in line for line in table) == 3  # one kept checkpoint a run
    assert main(["runs", str(tmp_path), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["status"] for r in records} == {"finished", "collapsed", "diverged"}


def _fake_run(root, name, lines, ckpts=(), steps=20):
    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"train": {"steps": steps}}))
    for s in ckpts:
        (run / "checkpoints" / f"step-{s:07d}").mkdir()
        (run / "checkpoints" / f"step-{s:07d}" / "state.json").write_text(json.dumps({"step": s}))
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return run


def test_runs_infers_status_from_the_log(tmp_path):
    dead = {"event": "start", "step": 0, "pid": 2**22 + 12345, "host": os.uname().nodename}
    steps = [{"step": s, "loss": 1.0 / s, **({"rankme": 10.0 - s / 2, "collapsed": s >= 15} if s % 5 == 0 else {})}
             for s in range(1, 21)]
    # killed without an end event, its last loss non-finite: diverged
    _fake_run(tmp_path, "nan", [dead, *steps[:12], {"step": 13, "loss": "nan"}], ckpts=(5, 10))
    # killed, healthy: interrupted, a torn last line ignored
    run = _fake_run(tmp_path, "killed", [dead, *steps[:12]], ckpts=(5, 10))
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 13, "lo')
    # a diverged marker left by the loop
    marked = _fake_run(tmp_path, "marked", [dead, *steps[:7]], ckpts=(5,))
    (marked / "DIVERGED").write_text("step 8")
    # collapsed later in the run: keep the best RankMe before it
    _fake_run(tmp_path, "collapsed", [dead, *steps, {"event": "end", "step": 20, "status": "finished"}], ckpts=(5, 10, 15, 20))
    # nested under a bench folder, no log of its own: from history.json
    old = tmp_path / "bench" / "jepa"
    (old / "checkpoints" / "step-0000020").mkdir(parents=True)
    (old / "checkpoints" / "step-0000020" / "state.json").write_text("{}")
    (old / "config.json").write_text(json.dumps({"train": {"steps": 20}}))
    (old / "history.json").write_text(json.dumps([{"step": 20, "loss": 0.3, "rankme": 4.0, "collapsed": False}]))

    # no log, the history appended at each save (history.jsonl; a step's latest record wins)
    appended = tmp_path / "appended"
    (appended / "checkpoints" / "step-0000005").mkdir(parents=True)
    (appended / "checkpoints" / "step-0000005" / "state.json").write_text("{}")
    (appended / "config.json").write_text(json.dumps({"train": {"steps": 20}}))
    (appended / "history.jsonl").write_text("".join(json.dumps({"step": s, "loss": v}) + "\n" for s, v in [(4, 0.6), (5, 9.0), (5, 0.5)]))

    runs = {str(r.path.relative_to(tmp_path)): r for r in list_runs(tmp_path)}
    assert {k: r.status for k, r in runs.items()} == {
        "nan": "diverged", "killed": "interrupted", "marked": "diverged", "collapsed": "collapsed", "bench/jepa": "finished",
        "appended": "interrupted"}
    assert runs["appended"].keep.loss == 0.5
    assert runs["nan"].diverged_at == 13 and runs["nan"].keep.step == 10
    assert runs["killed"].step == 12 and runs["killed"].keep.step == 10
    assert runs["marked"].keep.step == 5
    col = runs["collapsed"]
    assert col.collapsed_at == 15 and col.keep.step == 5 and [c.collapsed for c in col.checkpoints] == [False, False, True, True]
    assert runs["bench/jepa"].keep.loss == 0.3 and runs["bench/jepa"].keep.rankme == 4.0


def test_runs_cli_on_an_empty_or_missing_folder(tmp_path, capsys):
    assert main(["runs", str(tmp_path)]) == 0
    assert "no runs under" in capsys.readouterr().out
    assert main(["runs", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err
