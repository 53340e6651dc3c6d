"""jepakit.kit, the plugin utilities: no plugin imports a private core name, and the
helpers that replaced the plugins' own copies behave as documented."""

from __future__ import annotations

import ast
import gc
from pathlib import Path

import numpy as np
import pytest

from jepakit import kit
from jepakit.domain import Domain
from jepakit.errors import ConfigError, DataError, DataNotice

ROOT = Path(__file__).resolve().parents[2]


def _private_imports(path: Path) -> list[str]:
    """``module.name`` of every ``_private`` name imported from a jepakit module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "jepakit":
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "jepakit" and any(p.startswith("_") for p in a.name.split("."))]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            # jepakit.masks._pair reached through a module attribute
            base = node.value
            parts = []
            while isinstance(base, ast.Attribute):
                parts.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id == "jepakit":
                found.append(".".join(["jepakit", *reversed(parts), node.attr]))
    return found


def test_no_plugin_imports_a_private_core_name():
    sources = sorted([*ROOT.glob("plugins/*/src/**/*.py"), *ROOT.glob("examples/*/src/**/*.py")])
    assert sources
    bad = {str(p.relative_to(ROOT)): names for p in sources if (names := _private_imports(p))}
    assert not bad, f"import these from jepakit.kit under their public names instead: {bad}"


def test_the_scan_sees_private_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from jepakit.masks import SampleMasker, _pair\nimport jepakit\nx = jepakit.masks._uniform\n")
    assert _private_imports(f) == ["jepakit.masks._pair", "jepakit.masks._uniform"]


def test_kit_names_import_and_old_private_mask_names_still_work():
    from jepakit import masks

    for name in kit.__all__:
        assert getattr(kit, name) is not None
    assert masks._pair is masks.scale_pair is kit.scale_pair
    assert masks._uniform is kit.draw_uniform and masks._block_mask is kit.block_mask
    assert kit.scale_pair(0.2, "x") == (0.2, 0.2)


def test_check_options_one_format():
    kit.check_options("ecg prepare", ["rate"], ["rate", "crop"])
    with pytest.raises(ConfigError, match=r"^ecg prepare has no option 'rat'; valid: rate, crop$"):
        kit.check_options("ecg prepare", ["rat"], ["rate", "crop"])


def test_stratified_split_keeps_classes_and_groups():
    y = np.array([0] * 10 + [1] * 10)
    tr, te = kit.stratified_split(y, 0.3, seed=1)
    assert sorted([*tr, *te]) == list(range(20)) and np.bincount(y[te]).tolist() == [3, 3]
    groups = np.arange(20) // 2  # pairs of items
    tr, te = kit.stratified_split(y, 0.3, seed=1, groups=groups)
    assert not set(groups[tr]) & set(groups[te])
    # a class of one member stays in training; of two, one goes to test
    tr, te = kit.stratified_split([5, 7, 7], 0.1, seed=0)
    assert 0 in tr and len(te) == 1


def test_read_each_skips_and_tells_each_bad_item():
    def read(x):
        if x % 2:
            raise DataError(f"item{x}: odd")
        return x * 10

    failures = kit.Failures()
    with pytest.warns(DataNotice, match="skipped item1: odd"):
        got = list(kit.read_each(range(4), read, failures, source=lambda x: f"item{x}"))
    assert got == [(0, 0), (2, 20)] and [s for s, _ in failures.items] == ["item1", "item3"]


def test_per_dataset_computes_once_per_dataset_and_frees_it():
    calls = []

    class Items(list):
        pass

    @kit.per_dataset
    def features(ds, scale):
        calls.append(len(ds))
        return np.asarray(ds) * scale

    a = Items([1, 2])
    assert features(a, 2.0).tolist() == [2, 4] and features(a, 2.0).tolist() == [2, 4]
    features(a, 3.0)
    assert calls == [2, 2]
    features([1], 1.0)  # a plain list cannot be weakly referenced: cached one at a time
    features([1], 1.0)
    assert calls == [2, 2, 1, 1]
    del a
    gc.collect()


def _domain(**kw):
    def load(path=None, highpass=0.5, crop=4.0):
        from jepakit import DataBundle

        return DataBundle([{"x": np.zeros(2, np.float32)}], {"seen": (highpass, crop)})

    return Domain("renamed-test", load, renamed={"l_freq": "highpass", "window": "crop"}, **kw)


def test_an_old_data_name_loads_with_a_one_line_notice():
    from jepakit.train import load_bundle

    with pytest.warns(UserWarning, match=r"^data\.l_freq is deprecated, use data\.highpass$"):
        bundle = load_bundle(_domain(), {"data": {"path": None, "l_freq": 1.5}})
    assert bundle.info["seen"] == (1.5, 4.0)


def test_an_old_and_a_new_name_together_is_one_line_error():
    from jepakit.train import load_bundle

    with pytest.raises(ConfigError, match=r"data\.window and data\.crop .*give only data\.crop$") as err:
        load_bundle(_domain(), {"data": {"path": None, "window": 2.0, "crop": 2.0}})
    assert "\n" not in str(err.value)


def test_a_users_old_name_overrides_a_presets_new_one_layer_by_layer():
    from jepakit.train import resolve_config

    dom = _domain(defaults={"data": {"crop": 4.0}})
    with pytest.warns(UserWarning, match=r"^data\.window is deprecated, use data\.crop$"):
        cfg = resolve_config(dom, overrides=["data.window=2.0"])
    assert cfg["data"]["crop"] == 2.0 and "window" not in cfg["data"]
