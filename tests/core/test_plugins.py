import importlib.metadata as md
import types

import pytest

import jepakit
from jepakit import hookimpl
from jepakit import plugins as plugmod
from jepakit.cli import main
from jepakit.errors import ConfigError


def test_builtins_register_through_the_hooks():
    assert {"multiblock", "random"} <= set(jepakit.registry("masker"))
    assert {"ema", "sigreg"} <= set(jepakit.registry("target"))
    assert "patch" in jepakit.registry("tokenizer")
    assert all(e.plugin == "jepakit" for e in jepakit.registry("target").values())


def test_create_validates_names_and_arguments():
    with pytest.raises(ConfigError, match=r"unknown masker 'nope' \(masker.name\); valid: .*multiblock"):
        jepakit.create("masker", "nope")
    with pytest.raises(ConfigError, match="has no argument 'num_blocks'; valid: .*num_targets"):
        jepakit.create("masker", "multiblock", {"num_blocks": 3})
    with pytest.raises(ConfigError, match="num_targets must be >= 1"):
        jepakit.create("masker", "multiblock", {"num_targets": 0})
    m = jepakit.create("masker", "multiblock", {"num_targets": 2}, offered={"dim": 8, "unused": 1})
    assert m.num_targets == 2


def test_duplicate_component_is_reported_with_both_plugins():
    class Dup:
        @hookimpl
        def jepakit_register_maskers(register):
            register("random", object)

    jepakit.register_plugin(Dup, "dup")
    # issue 15: the first registration is kept and the second plugin is marked failed, no crash
    assert jepakit.registry("masker")["random"].plugin == "jepakit"
    info = {p.name: p for p in jepakit.list_plugins()}["dup"]
    assert "registered twice: by 'jepakit' and by 'dup'" in info.error


class _EP:
    """Stands in for an installed entry point."""

    def __init__(self, name, target):
        self.name, self._target, self.dist = name, target, types.SimpleNamespace(version="9.9")

    def load(self):
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def test_broken_plugin_is_listed_and_others_keep_working(monkeypatch, capsys):
    good = types.ModuleType("goodplug")

    @hookimpl
    def jepakit_register_maskers(register):
        register("stripes", jepakit.masks.RandomSubsetMasker, "test masker")

    good.jepakit_register_maskers = jepakit_register_maskers
    eps = [_EP("broken", ImportError("No module named 'missing_dep'\nmore")), _EP("good", good)]
    monkeypatch.setattr(md, "entry_points", lambda group=None: eps if group == "jepakit" else [])
    monkeypatch.delenv(plugmod.ENV_VAR)
    plugmod.reset()
    assert "stripes" in jepakit.registry("masker")
    assert main(["domains"]) == 0
    out = capsys.readouterr().out
    assert "broken 9.9: FAILED to load: ImportError: No module named 'missing_dep'" in out
    assert "good 9.9" in out and "maskers: stripes" in out
    # the environment variable restricts which entry points load
    monkeypatch.setenv(plugmod.ENV_VAR, "good")
    plugmod.reset()
    names = {p.name for p in jepakit.list_plugins()}
    assert "good" in names and "broken" not in names


def test_cli_errors_are_one_line(waves, capsys):
    assert main(["pretrain", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: unknown domain 'nope'; valid: waves"
    assert main(["pretrain", "waves", "--set", "model.widht=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown config key 'model.widht'; valid:") and "\n" not in err
    assert main(["pretrain", "waves", "--set", "masker.bogus=1", "--out", "/tmp/x-never"]) == 2
    assert "masker 'multiblock' has no argument 'bogus'" in capsys.readouterr().err
    assert main(["pretrain", "waves", "--set", "data.colour=1"]) == 2
    assert "domain 'waves' has no data option 'colour'; valid: path, n, length" in capsys.readouterr().err
