"""Bad user input answers in one line, ``error: ...`` and exit 2, never a traceback, and
nothing that would change the run is accepted silently (issue 15, item 7).

Every case is a tiny ``waves`` run (tests/faults/conftest.py); the bad ones stop while the
config is resolved, before any data is loaded or a step is trained."""

from __future__ import annotations

import errno
import json
import math
from pathlib import Path

import pytest

from jepakit import config as cfgmod
from jepakit.cli import main
from jepakit.errors import ConfigError

# a valid run costs 2 steps of a tiny model
SMALL = ["train.steps=2", "train.rankme_samples=16", "train.rankme_every=0"]


def cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err.strip()


def one_line(code: int, err: str, *parts: str) -> None:
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    for part in parts:
        assert part in err, err


BAD_SETS = [
    # (--set, what the error must name)
    ("train.steps=abc", ["train.steps", "'abc'", "integer"]),
    ("train.steps=0", ["train.steps", "0", ">= 1"]),
    ("train.steps=-3", ["train.steps", "-3"]),
    ("train.steps=2.5", ["train.steps", "2.5"]),
    ("train.steps=true", ["train.steps", "True"]),
    ("train.lr=nan", ["train.lr", "nan"]),
    ("train.lr=-0.001", ["train.lr", "-0.001", "> 0"]),
    ("train.lr=inf", ["train.lr", "inf"]),
    ("train.lr=fast", ["train.lr", "'fast'"]),
    ("train.min_lr=0.5", ["train.min_lr", "train.lr"]),
    ("train.batch_size=0", ["train.batch_size", "0"]),
    ("train.batch_size=[16]", ["train.batch_size", "[16]"]),
    ("train.warmup=-1", ["train.warmup", "-1"]),
    ("train.warmup=-0.1", ["train.warmup", "-0.1"]),
    ("train.warmup=2.5", ["train.warmup", "2.5"]),
    ("train.ckpt_every=-1", ["train.ckpt_every", "-1"]),
    ("train.keep_checkpoints=0", ["train.keep_checkpoints", "0"]),
    ("train.workers=-2", ["train.workers", "-2"]),
    ("train.clip=-1", ["train.clip", "-1"]),
    ("train.weight_decay=-0.1", ["train.weight_decay"]),
    ("train.seed=abc", ["train.seed", "'abc'"]),
    ("train.rankme_every=-1", ["train.rankme_every"]),
    ("train.collapse_rankme=2", ["train.collapse_rankme"]),
    ("train.progress=maybe", ["train.progress", "'maybe'", "true or false"]),
    ("train.device=banana", ["train.device", "'banana'"]),
    ("model.width=33", ["model.width", "33", "model.heads", "2"]),
    ("model.pred_width=17", ["model.pred_width", "17", "model.pred_heads"]),
    ("model.heads=0", ["model.heads", "0"]),
    ("model.pos=rope", ["model.pos", "'rope'", "sincos"]),
    ("model.mlp_ratio=0", ["model.mlp_ratio"]),
    ("model.drop_path=1.5", ["model.drop_path", "1.5"]),
    ("model.depth=two", ["model.depth", "'two'"]),
    ("loss.name=huber", ["loss.name", "'huber'", "smooth_l1"]),
    ("loss.sigreg=2", ["loss.sigreg", "2"]),
    ("loss.sigreg_on=all", ["loss.sigreg_on", "'all'"]),
    ("loss.var_weight=-1", ["loss.var_weight"]),
    ("eval.fractions=[0, 2]", ["eval.fractions", "[0, 2]"]),
    ("eval.fractions=[]", ["eval.fractions"]),
    ("eval.seeds=0", ["eval.seeds"]),
    ("eval.heads=[svm]", ["eval.heads", "svm", "linear"]),
    ("eval.pool=median", ["eval.pool", "median"]),
    ("eval.encoder=ema", ["eval.encoder", "'ema'", "online"]),
    ("eval.split=train", ["eval.split", "'train'"]),
    ("eval.random_init=perhaps", ["eval.random_init"]),
    ("recipe=nope", ["recipe.name", "'nope'", "lejepa"]),
    ("tokenizer.name=[1, 2]", ["tokenizer.name"]),
]


@pytest.mark.parametrize("item, parts", BAD_SETS, ids=[s for s, _ in BAD_SETS])
def test_bad_set_values_are_one_line_errors_naming_key_and_value(waves, tmp_path, capsys, item, parts):
    code, err = cli(capsys, "pretrain", "waves", "--out", str(tmp_path / "run"), *sum((["--set", s] for s in SMALL), []),
                    "--set", item)
    one_line(code, err, *parts)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_lejepa_arguments_are_checked_at_resolve_time(waves, tmp_path, capsys):
    code, err = cli(capsys, "pretrain", "waves", "--out", str(tmp_path / "a"), "--set", "recipe=lejepa", "--set", "recipe.lam=1.5")
    one_line(code, err, "recipe.lam", "1.5")
    code, err = cli(capsys, "pretrain", "waves", "--out", str(tmp_path / "b"), "--set", "recipe=jepa", "--set", "recipe.lam=0.5")
    one_line(code, err, "recipe 'jepa'", "lam")


def test_values_are_normalised_not_refused():
    """Integral floats (1e3) and YAML 1.1's unquoted exponents ('1e-3' reads as a string)
    are numbers, a single metric name is a list of one."""
    cfg = cfgmod.merge({"train": {"steps": 1e3, "lr": "1e-3", "warmup": 5.0}, "eval": {"metrics": "auc"}})
    assert cfg["train"]["steps"] == 1000 and isinstance(cfg["train"]["steps"], int)
    assert cfg["train"]["lr"] == 1e-3 and cfg["train"]["warmup"] == 5 and cfg["eval"]["metrics"] == ["auc"]
    assert cfgmod.merge({"train": {"warmup": 0.25}})["train"]["warmup"] == 0.25


def test_every_core_key_has_a_declared_spec_and_the_defaults_pass():
    from jepakit import schema

    # a key added to the defaults without a spec is checked against its default's type
    missing = [f"{s}.{k}" for s, keys in cfgmod.DEFAULTS.items() if s not in cfgmod.FREE_SECTIONS for k in keys
               if k not in schema.SCHEMA.get(s, {}) and not isinstance(keys[k], (bool, int, float, str))]
    assert not missing
    schema.validate(cfgmod.merge())
    with pytest.raises(ConfigError, match=r"train\.keep_checkpoints must be an integer >= 1, got 'x'"):
        schema.validate({"train": {"keep_checkpoints": "x"}})
    with pytest.raises(ConfigError, match=r"train\.undeclared must be an integer, got 'x'"):
        schema.validate({"train": {"undeclared": "x"}}, {"train": {"undeclared": 3}})


def test_schema_lists_match_the_code():
    from jepakit import schema
    from jepakit.model import POOL_STATS
    from jepakit.sigreg import SIGREG_ON
    from jepakit.train import RECIPES

    assert set(schema.POOL_STATS) == set(POOL_STATS)
    assert set(schema.SIGREG_ON) == set(SIGREG_ON) and set(schema.RECIPES) == set(RECIPES)


def test_cuda_without_a_gpu_is_one_line(waves, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, err = cli(capsys, "pretrain", "waves", "--out", str(tmp_path / "a"), "--set", "train.device=cuda")
    one_line(code, err, "train.device", "'cuda'", "no CUDA GPU")
    code, err = cli(capsys, "pretrain", "waves", "--out", str(tmp_path / "b"), "--set", "train.device=cuda:3")
    one_line(code, err, "train.device", "'cuda:3'")


@pytest.mark.parametrize("item, parts", [
    ("masker.target_scale=[0.5, 0.6]", ["masker 'multiblock'", "target"]),  # 2 targets of 60 %: no context left
    ("masker.context_scale=[0.9, 1.5]", ["masker 'multiblock'", "context_scale"]),
    ("masker.num_targets=6", ["masker 'multiblock'", "num_targets"]),  # 6 x 20 % > 100 %
    ("masker.min_keep=0", ["masker 'multiblock'", "min_keep"]),
])
def test_masker_scales_that_leave_no_context_are_refused(waves, tmp_path, capsys, item, parts):
    code, err = cli(capsys, "pretrain", "waves", "--out", str(tmp_path / "run"), *sum((["--set", s] for s in SMALL), []),
                    "--set", item)
    one_line(code, err, *parts)


@pytest.mark.parametrize("text, parts", [
    ("train:\n  steps: [1, 2\n", ["not valid YAML"]),
    ('{"train": {"steps": 3,}', ["not valid"]),  # corrupt JSON
    ("- 1\n- 2\n", ["must hold a mapping"]),
    ("train: 3\n", ["section 'train' must be a mapping"]),
    ("train:\n  steps: abc\n", ["train.steps", "'abc'"]),
    (b"\xff\xfe\x00garbage\x00", ["not a text file"]),
])
def test_corrupt_config_files_are_one_line(waves, tmp_path, capsys, text, parts):
    path = tmp_path / "cfg.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    code, err = cli(capsys, "pretrain", "waves", "--out", str(tmp_path / "run"), "--config", str(path))
    one_line(code, err, *parts)


def test_a_folder_as_config_is_one_line(waves, tmp_path, capsys):
    code, err = cli(capsys, "pretrain", "waves", "--out", str(tmp_path / "run"), "--config", str(tmp_path))
    one_line(code, err, "config file", str(tmp_path))


def test_a_file_as_out_is_one_line_before_any_work(waves, tmp_path, capsys):
    f = tmp_path / "a-file"
    f.write_text("x")
    code, err = cli(capsys, "pretrain", "waves", "--out", str(f), *sum((["--set", s] for s in SMALL), []))
    one_line(code, err, "--out", str(f), "not a folder")
    code, err = cli(capsys, "pretrain", "waves", "--out", str(f / "sub"), *sum((["--set", s] for s in SMALL), []))
    one_line(code, err, "--out", "not a folder")


@pytest.mark.parametrize("err_no, parts", [
    (errno.EROFS, ["cannot write", "read-only file system"]),
    (errno.EACCES, ["cannot write", "permission denied"]),
    (errno.ENOSPC, ["disk is full", "no space left"]),
])
def test_os_errors_writing_out_are_one_line(waves, tmp_path, capsys, monkeypatch, err_no, parts):
    real = Path.write_text

    def failing(self, *a, **k):
        if self.name == "config.json":
            raise OSError(err_no, __import__("os").strerror(err_no), str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", failing)
    code, err = cli(capsys, "pretrain", "waves", "--out", str(tmp_path / "run"), *sum((["--set", s] for s in SMALL), []))
    one_line(code, err, "config.json", *parts)


def test_a_full_disk_during_a_checkpoint_says_the_previous_one_is_intact(waves, tmp_path, capsys, monkeypatch):
    import jepakit.checkpoint as ck

    real = ck.save_checkpoint
    calls = []

    def full(run_dir, step, *a, **k):
        calls.append(step)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(Path(run_dir) / "checkpoints" / f".tmp-step-{step:07d}"))
        return real(run_dir, step, *a, **k)

    monkeypatch.setattr("jepakit.train.save_checkpoint", full)
    code, err = cli(capsys, "pretrain", "waves", "--out", str(tmp_path / "run"), "--set", "train.steps=2",
                    "--set", "train.ckpt_every=1", "--set", "train.rankme_every=0", "--set", "train.rankme_samples=16")
    one_line(code, err, "disk is full", "checkpoint", "step-0000001", "intact")


# ------------------------------------------------------------------ --resume with --set / --config


@pytest.fixture
def done(waves, tmp_path):
    """A finished 2-step run."""
    out = tmp_path / "run"
    assert main(["pretrain", "waves", "--out", str(out), *sum((["--set", s] for s in SMALL), [])]) == 0
    return out


def test_resume_applies_a_longer_train_steps(done, capsys):
    assert main(["pretrain", "waves", "--out", str(done), "--resume", "--set", "train.steps=4"]) == 0
    hist = json.loads((done / "history.json").read_text())
    assert [h["step"] for h in hist] == [1, 2, 3, 4] and all(math.isfinite(h["loss"]) for h in hist)
    assert json.loads((done / "config.json").read_text())["train"]["steps"] == 4


@pytest.mark.parametrize("item, parts", [
    ("model.width=64", ["--resume", "model.width", "32", "64", "train.steps"]),
    ("masker.num_targets=3", ["--resume", "masker.num_targets"]),
    ("train.lr=0.1", ["--resume", "train.lr"]),
    ("train.steps=1", ["train.steps", "1", "step 2"]),
    ("train.stpes=5", ["unknown config key 'train.stpes'"]),
    ("train.steps=abc", ["train.steps", "'abc'"]),
])
def test_resume_refuses_other_changes_in_one_line(done, capsys, item, parts):
    before = (done / "config.json").read_text()
    code, err = cli(capsys, "pretrain", "waves", "--out", str(done), "--resume", "--set", item)
    one_line(code, err, *parts)
    assert (done / "config.json").read_text() == before


def test_resume_refuses_a_config_file_that_changes_the_model(done, capsys, tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  depth: 3\n")
    code, err = cli(capsys, "pretrain", "waves", "--out", str(done), "--resume", "--config", str(f))
    one_line(code, err, "--resume", "model.depth")


def test_resume_with_an_unchanged_setting_is_accepted(done, capsys):
    assert main(["pretrain", "waves", "--out", str(done), "--resume", "--set", "train.steps=2", "--set", "model.width=32"]) == 0


def test_resolve_errors_are_config_errors():
    with pytest.raises(ConfigError, match=r"train\.steps must be an integer >= 1, got 0"):
        cfgmod.merge({"train": {"steps": 0}})


def test_a_width_too_small_for_the_position_embedding_is_one_line(waves, tmp_path, capsys):
    code, err = cli(capsys, "pretrain", "waves", "--out", str(tmp_path / "run"), *sum((["--set", s] for s in SMALL), []),
                    "--set", "model.width=1", "--set", "model.heads=1")
    one_line(code, err, "width 1 is too small")


def test_a_loader_that_refuses_a_data_option_is_one_line(waves, tmp_path, capsys):
    code, err = cli(capsys, "pretrain", "waves", "--out", str(tmp_path / "run"), "--set", "data.n=-1")
    one_line(code, err, "domain 'waves' could not load its data", "negative")


def test_evaluate_and_bench_validate_their_settings(done, tmp_path, capsys):
    code, err = cli(capsys, "evaluate", str(done), "--set", "eval.seeds=abc", "--out", str(tmp_path / "ev"))
    one_line(code, err, "eval.seeds", "'abc'")
    code, err = cli(capsys, "bench", "waves", "--quick", "--set", "train.steps=-1", "--out", str(tmp_path / "b"))
    one_line(code, err, "train.steps", "-1")


def test_prepare_options_are_checked(tmp_path, capsys):
    import jepakit
    from jepakit import DataBundle, Domain, hookimpl

    def prepare(src, out, rate: int = 100):
        return out

    class P:
        @hookimpl
        def jepakit_register_domains(register):
            register(Domain("prep", lambda path=None: DataBundle([], {}, {}), summary="t", prepare=prepare))

    jepakit.register_plugin(P, "prep")
    code, err = cli(capsys, "prepare", "prep", str(tmp_path), str(tmp_path / "o"), "--set", "rte=250")
    one_line(code, err, "prepare has no option 'rte'; valid: rate")
    code, err = cli(capsys, "prepare", "prep", str(tmp_path), str(tmp_path / "o"), "--set", "rate")
    one_line(code, err, "option=value")
