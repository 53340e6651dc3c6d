"""A broken plugin takes down only itself (issue 15, item 8): a hook that raises, a
duplicate name, a misspelled hook, a factory that raises or builds the wrong thing are
each one line naming the culprit, and every other plugin and command keeps working."""

from __future__ import annotations

import importlib.metadata as md
import types

import pytest

import jepakit
from jepakit import hookimpl
from jepakit import plugins as plugmod
from jepakit.cli import main
from jepakit.errors import JepakitError


class _EP:
    """Stands in for an installed entry point."""

    def __init__(self, name, target):
        self.name, self._target, self.dist = name, target, types.SimpleNamespace(version="1.0")

    def load(self):
        return self._target


def module(name: str, **hooks) -> types.ModuleType:
    mod = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(mod, hook_name, hookimpl(fn))
    return mod


def good_maskers(register):
    register("stripes", "jepakit.masks:RandomSubsetMasker", "test masker")


def raising_maskers(register):
    register("half", "jepakit.masks:RandomSubsetMasker", "registered before the hook fails")
    raise RuntimeError("boom in the hook\nsecond line")


def raising_domains(register):
    raise KeyError("no such config")


def dup_maskers(register):
    register("stripes", "jepakit.masks:MultiBlockMasker", "a second stripes")
    register("own", "jepakit.masks:MultiBlockMasker", "this plugin's own")


def misspelled(register):
    register("typo", "jepakit.masks:RandomSubsetMasker", "never registered: the hook name is wrong")


def not_callable(register):
    register("bad", 42, "not a factory")


def install(monkeypatch, *eps):
    monkeypatch.setattr(md, "entry_points", lambda group=None: list(eps) if group == "jepakit" else [])
    monkeypatch.delenv(plugmod.ENV_VAR)
    plugmod.reset()


def domains_output(capsys) -> str:
    assert main(["domains"]) == 0
    return capsys.readouterr().out


def test_a_hook_that_raises_fails_only_its_plugin(monkeypatch, capsys):
    install(monkeypatch, _EP("good", module("goodplug", jepakit_register_maskers=good_maskers)),
            _EP("bad", module("badplug", jepakit_register_maskers=raising_maskers)),
            _EP("worse", module("worseplug", jepakit_register_domains=raising_domains)))
    maskers = jepakit.registry("masker")
    assert "stripes" in maskers and "multiblock" in maskers
    assert "half" not in maskers  # what the failed hook registered before raising is dropped
    infos = {p.name: p for p in jepakit.list_plugins()}
    assert infos["bad"].error == "jepakit_register_maskers failed: RuntimeError: boom in the hook"
    assert infos["worse"].error.startswith("jepakit_register_domains failed: KeyError")
    assert infos["good"].error is None
    out = domains_output(capsys)
    assert "bad 1.0: FAILED to load: jepakit_register_maskers failed: RuntimeError: boom in the hook" in out
    assert "good 1.0" in out and "maskers: stripes" in out and "Traceback" not in out


def test_a_duplicate_name_keeps_the_first_and_names_both(monkeypatch, capsys):
    install(monkeypatch, _EP("good", module("goodplug", jepakit_register_maskers=good_maskers)),
            _EP("dup", module("dupplug", jepakit_register_maskers=dup_maskers)))
    maskers = jepakit.registry("masker")
    assert maskers["stripes"].plugin == "good" and "own" not in maskers
    out = domains_output(capsys)
    assert "dup 1.0: FAILED to load: masker 'stripes' is registered twice: by 'good' and by 'dup'; 'good''s is kept" in out


def test_a_misspelled_hook_is_an_error_naming_the_plugin(monkeypatch, capsys):
    install(monkeypatch, _EP("typo", module("typoplug", jepakit_register_masker=misspelled)),
            _EP("good", module("goodplug", jepakit_register_maskers=good_maskers)))
    assert "stripes" in jepakit.registry("masker") and "typo" not in jepakit.registry("masker")
    out = domains_output(capsys)
    assert ("typo 1.0: FAILED to load: hook 'jepakit_register_masker' is not a jepakit hook "
            "(did you mean jepakit_register_maskers?)") in out


def test_a_registration_the_core_refuses_fails_its_plugin(monkeypatch, capsys):
    install(monkeypatch, _EP("nc", module("ncplug", jepakit_register_maskers=not_callable)))
    assert "bad" not in jepakit.registry("masker")
    assert "nc 1.0: FAILED to load: jepakit_register_maskers failed: registered masker 'bad' with a factory that is not callable" in domains_output(capsys)


def test_a_plugin_registered_at_run_time_is_isolated_too(capsys):
    class Raising:
        @hookimpl
        def jepakit_register_maskers(register):
            raise ValueError("bad day")

    jepakit.register_plugin(Raising, "raising")
    assert "multiblock" in jepakit.registry("masker")
    assert "raising: FAILED to load: jepakit_register_maskers failed: ValueError: bad day" in domains_output(capsys)

    class WrongArgs:
        @hookimpl
        def jepakit_register_maskers(reg):  # the spec's argument is `register`
            pass

    with pytest.raises(JepakitError, match="plugin 'wrongargs'"):
        jepakit.register_plugin(WrongArgs, "wrongargs")


# ------------------------------------------------------------------ factories


class Boom:
    def __init__(self, dim: int = 8):
        raise RuntimeError("CUDA kernel image missing\nat line 3")


def returns_none(**kwargs):
    return None


def returns_dict(num_targets: int = 2):
    return {"num_targets": num_targets}


class FactoryPlugin:
    @hookimpl
    def jepakit_register_tokenizers(register):
        register("boom", Boom, "raises when built")
        register("nothing", returns_none, "returns None")
        register("missing", "jepakit.tokenizers:NoSuchTokenizer", "a reference to nothing")

    @hookimpl
    def jepakit_register_maskers(register):
        register("dictmask", returns_dict, "returns a dict")

    @hookimpl
    def jepakit_register_targets(register):
        register("nulltarget", returns_none, "returns None")


@pytest.fixture
def factories(waves):
    jepakit.register_plugin(FactoryPlugin, "factories")
    return waves


@pytest.mark.parametrize("kind, name, message", [
    ("tokenizer", "boom", "tokenizer 'boom' of plugin 'factories' failed to build: RuntimeError: CUDA kernel image missing"),
    ("tokenizer", "nothing", "tokenizer 'nothing' of plugin 'factories' returned NoneType, not a jepakit.contract.Tokenizer"),
    ("tokenizer", "missing", "tokenizer 'missing' of plugin 'factories' cannot be imported: AttributeError"),
    ("masker", "dictmask", "masker 'dictmask' of plugin 'factories' returned dict, not a jepakit.contract.Masker"),
    ("target", "nulltarget", "target 'nulltarget' of plugin 'factories' returned NoneType, not a jepakit.contract.Target"),
])
def test_factory_failures_are_one_line_naming_the_component(factories, kind, name, message):
    with pytest.raises(JepakitError) as info:
        jepakit.create(kind, name, {}, offered={"dim": 8})
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


@pytest.mark.parametrize("item, message", [
    ("tokenizer=boom", "tokenizer 'boom' of plugin 'factories' failed to build: RuntimeError: CUDA kernel image missing"),
    ("tokenizer=nothing", "tokenizer 'nothing' of plugin 'factories' returned NoneType"),
    ("masker=dictmask", "masker 'dictmask' of plugin 'factories' returned dict"),
])
def test_factory_failures_on_the_command_line(factories, tmp_path, capsys, item, message):
    assert main(["pretrain", "waves", "--out", str(tmp_path / "run"), "--set", item, "--set", "train.steps=2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {message}") and len(err.splitlines()) == 1, err


def test_a_lazy_reference_still_builds():
    class Lazy:
        @hookimpl
        def jepakit_register_maskers(register):
            register("lazy-random", "jepakit.masks:RandomSubsetMasker", "by reference")

    jepakit.register_plugin(Lazy, "lazy")
    m = jepakit.create("masker", "lazy-random", {"num_targets": 2})
    assert m.num_targets == 2 and jepakit.registry("masker")["lazy-random"].plugin == "lazy"


def test_a_command_naming_a_failed_plugins_domain_says_why(monkeypatch, capsys):
    install(monkeypatch, _EP("worse", module("worseplug", jepakit_register_domains=raising_domains)))
    assert main(["pretrain", "worse"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: domain 'worse' is unavailable: plugin 'worse' failed to load: jepakit_register_domains failed: KeyError: 'no such config'"



GOOD = ("from jepakit import Domain, hookimpl\n"
        "@hookimpl\n"
        "def jepakit_register_domains(register):\n"
        "    register(Domain({name!r}, lambda path=None: None, summary={summary!r}))\n")


def _entry_point_plugins(root, sources: dict[str, str]) -> dict:
    """Plugins discoverable as entry points without installing them (a PYTHONPATH env);
    only they load (JEPAKIT_PLUGINS), so the test does not depend on what is installed."""
    import os

    for name, source in sources.items():
        (root / f"{name}.py").write_text(source)
        info = root / f"{name}-0.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0\n")
        (info / "entry_points.txt").write_text(f"[jepakit]\n{name} = {name}\n")
    env = dict(os.environ, PYTHONPATH=str(root), JEPAKIT_PLUGINS=",".join(sources))
    return env


def test_a_plugin_that_exits_at_import_does_not_take_the_cli_down(tmp_path):
    import subprocess
    import sys

    env = _entry_point_plugins(tmp_path, {"goodone": GOOD.format(name="good", summary="fine"), "exiter": "import sys\nsys.exit(3)\n"})
    out = subprocess.run([sys.executable, "-m", "jepakit.cli", "domains"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "domains: good" in out.stdout and "exiter 0.0: FAILED to load: SystemExit" in out.stdout


def test_a_domain_name_two_plugins_register_is_told_where_it_is_used(tmp_path):
    import subprocess
    import sys

    env = _entry_point_plugins(tmp_path, {"first": GOOD.format(name="dup", summary="first"),
                                          "impostor": GOOD.format(name="dup", summary="impostor")})
    code = "import jepakit, warnings; warnings.simplefilter('always'); print(jepakit.get_domain('dup').summary)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    used = out.stdout.strip()
    assert "domain 'dup' is registered by plugins" in out.stderr and "first" in out.stderr and "impostor" in out.stderr
    assert f"this run uses '{used}'" in out.stderr  # the warning names the plugin whose domain runs
