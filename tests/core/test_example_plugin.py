"""The README's third-party plugin example works as written."""

import importlib.util
from pathlib import Path

import jepakit
from jepakit.train import pretrain

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "jepakit-sines" / "src" / "jepakit_sines" / "plugin.py"


def test_readme_example_plugin_registers_and_pretrains(tmp_path):
    spec = importlib.util.spec_from_file_location("jepakit_sines_plugin", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    jepakit.register_plugin(module, "sines")
    assert "sines" in jepakit.registry("domain")
    run = pretrain("sines", out=tmp_path, overrides={"train": {"steps": 3, "progress": False}, "data": {"n": 64}})
    assert len(run.history) == 3
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert EXAMPLE.read_text().strip() in readme  # the README shows exactly this file
