"""Progress off a terminal, and plugins that register without importing torch."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from jepakit.lazy import lazy, resolve
from jepakit.progress import LogProgress, progress


def test_progress_off_a_terminal_writes_plain_lines():
    out = io.StringIO()  # not a TTY, like a log file or CI
    bar = progress(total=50, desc="pretrain x", unit="step", file=out)
    assert isinstance(bar, LogProgress)
    for _ in range(50):
        bar.set_postfix({"loss": "0.1"}, refresh=False)
        bar.update(1)
    bar.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 10 and lines[-1].startswith("pretrain x: 50/50 step") and "loss=0.1" in lines[-1]


def test_progress_wraps_an_iterable():
    out = io.StringIO()
    assert list(progress([1, 2, 3], desc="jobs", unit="run", file=out)) == [1, 2, 3]
    assert out.getvalue().splitlines()[-1].startswith("jobs: 3/3 run")


def test_lazy_reference_imports_on_first_use_and_keeps_the_signature():
    import inspect

    ref = lazy("json:dumps")
    assert ref({"a": 1}) == '{"a": 1}' and resolve(ref) is json.dumps
    assert "sort_keys" in inspect.signature(ref).parameters  # loaders' keys are validated against it
    with pytest.raises(ValueError, match="package.module:attribute"):
        lazy("json.dumps")


def test_a_component_registered_by_reference_is_built_and_listed(monkeypatch):
    from jepakit import create, hookimpl, register_plugin, registry, unregister_plugin

    class Plugin:
        @hookimpl
        def jepakit_register_maskers(self, register):
            register("lazy-random", "jepakit.masks:RandomSubsetMasker", "random subsets, by reference")

    name = register_plugin(Plugin(), "lazy-test")
    try:
        assert registry("masker")["lazy-random"].summary == "random subsets, by reference"
        from jepakit.masks import RandomSubsetMasker

        assert isinstance(create("masker", "lazy-random", {}), RandomSubsetMasker)
    finally:
        unregister_plugin(name)


def test_listing_plugins_does_not_import_torch():
    # every installed plugin registers by reference: `jepakit domains` and `--help` stay
    # fast (benchmarks/cli_latency.py prints the times)
    code = ("import sys, jepakit.cli; jepakit.cli.main(['domains']); "
            "print('HEAVY', sorted(m for m in ('torch', 'mne', 'spconv', 'wfdb', 'laspy', 'timm', 'pandas', 'sklearn') if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if k != "JEPAKIT_PLUGINS"}  # every installed plugin
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "FAILED" not in out.stdout, out.stdout
    assert out.stdout.strip().splitlines()[-1] == "HEAVY []", out.stdout


@pytest.mark.parametrize("argv", [["pretrain", "no-such-domain"], ["bench", "no-such-domain"], ["evaluate", "/no/such/run"]])
def test_early_mistakes_answer_without_torch(argv):
    code = (f"import sys, jepakit.cli; rc = jepakit.cli.main({argv!r}); "
            "print('RC', rc, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "RC 2 False", out.stdout + out.stderr
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("error: ")
