"""``jepakit sweep``: search spaces, RankMe on held-out items, the validation probe, the
report, resume, and one-line refusals before any training."""

from __future__ import annotations

import json
import math
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

import jepakit
from jepakit import DataBundle, Domain, Task, hookimpl
from jepakit import sweep as sweepmod
from jepakit import train as trainmod
from jepakit.cli import main
from jepakit.errors import ConfigError, JepakitError
from jepakit.sweep import Range, compare, expand, parse_grid, run_sweep

from .conftest import Waves as _Waves

SMALL = ["model.depth=1", "train.steps=4", "train.rankme_every=100", "eval.seeds=1", "train.progress=false"]


class Waves(_Waves):
    """The shared toy signals, shorter (32 samples) to keep the sweeps quick."""

    def __init__(self, n: int, seed: int, length: int = 32):
        super().__init__(n, seed, length)


class Forbidden:
    """A test split that must never be read: tuning on it would be cheating."""

    def __len__(self) -> int:
        return 20

    def __getitem__(self, i: int):
        raise AssertionError("the sweep read the test split")


def load_sweepwaves(path=None, n: int = 80) -> DataBundle:
    return DataBundle(
        Waves(n, 0), {"in_chans": 1, "size": 32},
        {"band": Task(Waves(n, 1), Forbidden(), "multiclass", classes=["low", "mid", "high"])}, describe=f"{n} waves",
    )


TINY = {
    "recipe": {"name": "jepa"},
    "tokenizer": {"name": "patch", "patch": 4},
    "model": {"width": 32, "depth": 2, "heads": 2, "pred_width": 16, "pred_depth": 1, "pred_heads": 2},
    "train": {"steps": 30, "batch_size": 16, "lr": 2e-3, "warmup": 1, "progress": False},
    "masker": {"name": "multiblock", "num_targets": 2},
}


class SweepPlugin:
    @hookimpl
    def jepakit_register_domains(register):
        register(Domain("sweepwaves", load_sweepwaves, summary="test domain", defaults=TINY))


@pytest.fixture
def dom():
    jepakit.register_plugin(SweepPlugin, "sweepwaves")
    return "sweepwaves"


@pytest.fixture
def spy(monkeypatch):
    """Every pretrain call of the sweep: (trial folder, overwrite, pretraining items)."""
    calls: list[tuple[str, bool, int]] = []
    real = trainmod.pretrain

    def pretrain(*args, **kw):
        calls.append((Path(kw["out"]).name, kw["overwrite"], len(kw["bundle"].pretrain)))
        spy.indices = kw["bundle"].pretrain.indices
        run = real(*args, **kw)
        if spy.interrupt_at == len(calls):
            raise KeyboardInterrupt  # killed after this trial's training, before its trial.json
        return run

    spy.calls, spy.interrupt_at = calls, None
    monkeypatch.setattr(trainmod, "pretrain", pretrain)
    return spy


# ------------------------------------------------------------------ search spaces


def test_grid_is_the_cartesian_product_in_order():
    space = parse_grid(["train.lr=1e-4,3e-4,1e-3", "masker.num_targets=2,4", "recipe=jepa,lejepa", "eval.fractions=[0.1,1.0],[1.0]"])
    assert space["train.lr"] == [1e-4, 3e-4, 1e-3] and all(isinstance(v, float) for v in space["train.lr"])
    assert space["masker.num_targets"] == [2, 4] and space["recipe.name"] == ["jepa", "lejepa"]
    assert space["eval.fractions"] == [[0.1, 1.0], [1.0]]  # commas inside brackets do not split
    trials = expand({k: space[k] for k in ("train.lr", "masker.num_targets")})
    assert len(trials) == 6
    assert trials[0] == {"train.lr": 1e-4, "masker.num_targets": 2}
    assert trials[1] == {"train.lr": 1e-4, "masker.num_targets": 4}  # the first key varies slowest
    assert trials[-1] == {"train.lr": 1e-3, "masker.num_targets": 4}
    assert sweepmod.trial_layer(trials[1]) == {"train": {"lr": 1e-4}, "masker": {"num_targets": 4}}


def test_random_draws_are_seeded_distinct_and_in_range():
    space = parse_grid(["train.lr=1e-5:1e-2", "model.depth=1:6", "loss.sigreg=0:0.1", "masker.num_targets=2,4"])
    assert space["train.lr"] == Range(1e-5, 1e-2, "log") and space["model.depth"] == Range(1, 6, "int")
    assert space["loss.sigreg"].kind == "lin"  # lo = 0: uniform
    a, b, c = expand(space, 8, seed=3), expand(space, 8, seed=3), expand(space, 8, seed=4)
    assert a == b and a != c and len(a) == 8
    assert len({json.dumps(t, sort_keys=True) for t in a}) == 8
    for t in a:
        assert 1e-5 <= t["train.lr"] <= 1e-2 and isinstance(t["model.depth"], int) and 1 <= t["model.depth"] <= 6
        assert 0 <= t["loss.sigreg"] <= 0.1 and t["masker.num_targets"] in (2, 4)
    lrs = np.log10([t["train.lr"] for t in expand({"train.lr": Range(1e-5, 1e-1, "log")}, 200, seed=0)])
    assert lrs.min() < -4 and np.mean(lrs < -3) > 0.35  # log-uniform: half the draws below 1e-3
    with pytest.warns(UserWarning, match="4 distinct"):  # a grid of 4 cannot give 10 distinct trials
        assert len(expand(parse_grid(["train.lr=1,2", "model.depth=1,2"]), 10)) == 4


@pytest.mark.parametrize(
    "items, message",
    [
        (["train.lr"], "expects key=v1"),
        (["lr=1,2"], "section.name"),
        (["train.lr=1,,2"], "empty value"),
        (["train.lr=1,2", "train.lr=3"], "twice"),
        (["data.n=10,20"], "cannot vary"),
        (["train.lr=1e-3:1e-4"], "lo < hi"),
        (["train.lr=-1:1:log"], "lo > 0"),
        (["train.lr=1:2:cubic"], "int, log or lin"),
    ],
)
def test_bad_grid_syntax_is_one_config_error(items, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_grid(items)
    assert "\n" not in str(info.value)


def test_a_range_needs_random():
    with pytest.raises(ConfigError, match="ranges need --random"):
        expand(parse_grid(["train.lr=1e-4:1e-2"]))


# ----------------------------------------------------------- judging the trials


def test_compare_spearman_regret_and_picks_on_hand_made_records():
    recs = [
        {"trial": "t1", "rankme": 5.0, "probe": 0.60},
        {"trial": "t2", "rankme": 9.0, "probe": 0.70},  # RankMe's pick
        {"trial": "t3", "rankme": 7.0, "probe": 0.80},  # the labels' pick
        {"trial": "t4", "rankme": 3.0, "probe": 0.50},
        {"trial": "t5", "rankme": None, "probe": None, "status": "diverged"},
    ]
    s = compare(recs)
    assert s["pick"] == "t2" and s["label_pick"] == "t3"
    assert s["spearman"] == pytest.approx(0.8)  # ranks 2,4,3,1 vs 2,3,4,1: 1 - 6*2/(4*15)
    assert s["regret"] == pytest.approx(0.10)
    assert s["n_compared"] == 4 and s["spearman_note"] == ""
    # ties go to the first trial; a perfect agreement has no regret
    tie = compare([{"trial": "a", "rankme": 2.0, "probe": 0.1}, {"trial": "b", "rankme": 2.0, "probe": 0.2},
                   {"trial": "c", "rankme": 1.0, "probe": 0.3}])
    assert tie["pick"] == "a" and tie["regret"] == pytest.approx(0.2) and tie["spearman"] == pytest.approx(-math.sqrt(0.75))
    few = compare(recs[:2])
    assert math.isnan(few["spearman"]) and "at least 3" in few["spearman_note"] and few["regret"] == pytest.approx(0.0)
    flat = compare([{"trial": str(i), "rankme": 4.0, "probe": 0.1 * i} for i in range(4)])
    assert math.isnan(flat["spearman"]) and "RankMe is the same" in flat["spearman_note"]
    unlabelled = compare([{"trial": str(i), "rankme": float(i), "probe": None} for i in range(4)])
    assert unlabelled["pick"] == "3" and unlabelled["label_pick"] is None and math.isnan(unlabelled["regret"])


def test_holdout_split_keeps_groups_whole():
    class Grouped:
        groups = np.repeat(np.arange(10), 3)

        def __len__(self):
            return 30

    train, held, by = sweepmod.holdout_split(Grouped(), 0.2, seed=0)
    assert by == "groups" and len(held) == 6 and len(train) == 24
    assert not set(Grouped.groups[held]) & set(Grouped.groups[train])
    again = sweepmod.holdout_split(Grouped(), 0.2, seed=0)[1]
    assert list(again) == list(held)
    sub = sweepmod.Items(Grouped(), train)
    assert len(sub) == 24 and list(sub.groups) == list(Grouped.groups[train])  # subset attributes follow the items


# ----------------------------------------------------------------- whole sweeps


def test_sweep_writes_report_and_best_and_judges_held_out_items(dom, spy, tmp_path, capsys):
    out = tmp_path / "sw"
    res = run_sweep(dom, grid=["train.lr=1e-3,5e-3", "masker.num_targets=1,2"], overrides=SMALL, out=out)
    assert [c[0] for c in spy.calls] == ["trial-001", "trial-002", "trial-003", "trial-004"]
    # 20 % of the 80 pretraining items are held out of every trial's pretraining
    assert {c[2] for c in spy.calls} == {64}
    train_idx, held_idx, by = sweepmod.holdout_split(Waves(80, 0), 0.2, 0)
    assert by == "items" and list(spy.indices) == list(train_idx)
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["holdout"] == {"fraction": 0.2, "by": "items", "held_out": 16, "rankme_items": 16, "pretrain_items": 64}
    assert len(summary["trials"]) == 4 and summary["metric"] == "accuracy" and summary["task"] == "band"
    ranks = [t["rankme"] for t in summary["trials"]]
    assert summary["pick"] == f"trial-{int(np.argmax(ranks)) + 1:03d}" == res.pick
    probes = [t["probe"] for t in summary["trials"]]
    assert summary["label_pick"] == f"trial-{int(np.argmax(probes)) + 1:03d}"
    assert summary["regret"] == pytest.approx(max(probes) - probes[int(np.argmax(ranks))])
    assert (out / "best").resolve() == (out / res.pick).resolve()
    # the recorded RankMe is that of the saved encoder on the held-out items
    run = trainmod.load_run(out / "best")
    rec = json.loads((out / res.pick / "trial.json").read_text())
    again = sweepmod.held_out_rankme(run.model.encoder_for_eval("online"), run.bundle.pretrain, held_idx, run.config,
                                     trainmod.collate_of(run.bundle), "cpu")
    assert rec["rankme"] == pytest.approx(again, rel=1e-4)
    assert rec["overrides"] == summary["trials"][int(res.pick[-3:]) - 1]["overrides"] and rec["status"] == "done"
    md = (out / "sweep.md").read_text()
    assert f"**{res.pick}** (RankMe pick" in md and "Spearman correlation between RankMe and accuracy" in md
    assert "Regret of RankMe's pick" in md and "| trial | overrides | RankMe | accuracy (validation) | seconds |" in md
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "sweep-spec.json").is_file()
    err = capsys.readouterr().err
    assert "sweep sweepwaves: 4/4 trial" in err  # one progress line per trial
    from jepakit.runs import list_runs

    assert [r.path.name for r in list_runs(out)] == ["trial-001", "trial-002", "trial-003", "trial-004"]


def test_sweep_without_labels_plots_rankme_per_trial(tmp_path):
    def load(path=None):
        return DataBundle(Waves(40, 0), {"in_chans": 1, "size": 32}, {})

    d = Domain("unlabelled", load, defaults=TINY)
    res = run_sweep(d, grid=["train.lr=1e-3,5e-3"], overrides=SMALL, out=tmp_path / "u", echo=False)
    assert res.metric is None and res.label_pick is None and math.isnan(res.regret)
    assert res.pick in ("trial-001", "trial-002") and (tmp_path / "u" / "sweep.png").is_file()
    summary = json.loads((tmp_path / "u" / "sweep.json").read_text())  # strict JSON: NaN written as null
    assert summary["regret"] is None and summary["spearman"] is None
    assert "no labelled task" in (tmp_path / "u" / "sweep.md").read_text()


def test_resume_skips_complete_trials_and_reruns_the_interrupted_one(dom, spy, tmp_path, capsys):
    out = tmp_path / "sw"
    grid = ["train.lr=1e-3,3e-3,5e-3"]
    spy.interrupt_at = 2  # killed during trial 2: trained, no trial.json
    with pytest.raises(KeyboardInterrupt, match="1 of 3 trials complete.*--resume"):
        run_sweep(dom, grid=grid, overrides=SMALL, out=out, echo=False)
    first = out / "trial-001" / "trial.json"
    assert first.is_file() and not (out / "trial-002" / "trial.json").exists() and (out / "trial-002" / "checkpoints").is_dir()
    assert not (out / "trial-003").exists() and not (out / "sweep.json").exists()
    before, mtime = first.read_bytes(), first.stat().st_mtime_ns

    # a non-empty folder without --resume, and --resume with another spec: refused before any work
    spy.calls.clear()
    spy.interrupt_at = None
    sets = [a for s in SMALL for a in ("--set", s)]
    assert main(["sweep", dom, "--grid", grid[0], "--out", str(out), *sets]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--resume" in err and "\n" not in err
    assert main(["sweep", dom, "--grid", "train.lr=1e-3,2e-3", "--out", str(out), "--resume", *sets]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds another sweep" in err and "\n" not in err
    assert main(["sweep", dom, "--grid", grid[0], "--out", str(out), "--resume", *sets, "--set", "model.width=64"]) == 2
    assert "model.width" in capsys.readouterr().err
    assert spy.calls == []

    # --resume without the grid takes the recorded trials
    assert main(["sweep", dom, "--out", str(out), "--resume", *sets]) == 0
    assert spy.calls == [("trial-002", True, 64), ("trial-003", False, 64)]  # trial 1 not trained again
    assert first.read_bytes() == before and first.stat().st_mtime_ns == mtime
    summary = json.loads((out / "sweep.json").read_text())
    assert [t["trial"] for t in summary["trials"]] == ["trial-001", "trial-002", "trial-003"]
    assert all(t["status"] == "done" for t in summary["trials"]) and (out / "best").exists()


def test_bad_grid_and_unknown_keys_fail_in_one_line_before_training(dom, spy, tmp_path, capsys):
    cases = [
        (["--grid", "train.lr"], "--grid expects"),
        (["--grid", "train.lrr=1e-3,2e-3"], "unknown config key 'train.lrr'"),
        (["--grid", "train.lr=1e-3,abc"], "train.lr"),  # the schema refuses the value
        (["--grid", "masker.num_targetz=1,2"], "has no argument 'num_targetz'"),  # the factory's arguments, checked by a build
        (["--grid", "train.lr=1e-4:1e-2"], "ranges need --random"),
        ([], "needs a search space"),
    ]
    for args, message in cases:
        out = tmp_path / "bad"
        assert main(["sweep", dom, *args, "--out", str(out), "--set", "train.steps=4"]) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and message in err and "\n" not in err, (args, err)
        assert not out.exists(), args
    assert spy.calls == []


@pytest.mark.slow
def test_parallel_jobs_run_trials_in_spawned_workers(tmp_path, monkeypatch, spy):
    # a domain defined in an importable module, so that spawned workers unpickle it
    (tmp_path / "sweep_pardom.py").write_text(textwrap.dedent("""
        import numpy as np
        import torch
        from jepakit import DataBundle

        class Items:
            def __init__(self, n):
                self.x = np.random.default_rng(0).normal(size=(n, 1, 32)).astype(np.float32)
            def __len__(self):
                return len(self.x)
            def __getitem__(self, i):
                return {"x": torch.from_numpy(self.x[i])}

        def load(path=None):
            return DataBundle(Items(40), {"in_chans": 1, "size": 32}, {})
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    import sweep_pardom

    d = Domain("pardom", sweep_pardom.load, defaults=TINY)
    res = run_sweep(d, grid=["train.lr=1e-3,5e-3"], overrides=SMALL, out=tmp_path / "p", jobs=2, echo=False)
    assert spy.calls == []  # trained in the workers, not here
    assert [t["status"] for t in res.trials] == ["done", "done"]
    assert all((tmp_path / "p" / f"trial-00{i}" / "checkpoints").is_dir() for i in (1, 2))
    assert res.pick is not None and (tmp_path / "p" / "best").exists()


def test_jobs_must_be_positive(dom):
    with pytest.raises(JepakitError, match="--jobs"):
        run_sweep(dom, grid=["train.lr=1e-3"], jobs=0)
