"""Core fixes for real data (issue 14): in-memory data objects (item 9), honest tables
(labelled counts, unscorable classes, identical fractions: item 14), probes fair at
small label counts (item 15), presets that keep synthetic-data keys off user data and
never beat the user's settings (item 16), and pretrain printing what it loaded (item 17)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

import jepakit
from jepakit import DataBundle, Domain, Task, hookimpl
from jepakit.errors import DataError

from .conftest import TINY, Waves, load_waves

SEEN: list[dict] = []


class Blob:
    """An in-memory data object whose str() is far too long for a file name."""

    shape = (300, 12)

    def __str__(self) -> str:
        return "x" * 5000


def load_rec(path=None, n: int = 96, length: int = 64, tag: str | None = None) -> DataBundle:
    SEEN.append({"path": path, "n": n, "length": length, "tag": tag})
    return load_waves(None, n, length)


QUICK = {
    "train": {"steps": 3, "progress": False},
    "eval": {"seeds": 1, "sup_steps": 2, "fractions": [1.0], "random_init": False, "supervised": False, "finetune": False},
    # keys that describe the embedded synthetic data: applied only without user data
    "synthetic": {"n": 48, "tag": "syn"},
}


def _register(name: str, quick: dict = QUICK, **extra) -> str:
    class P:
        @hookimpl
        def jepakit_register_domains(register):
            register(Domain(name, load_rec, summary="recording test domain", defaults=TINY, quick=quick, **extra))

    jepakit.register_plugin(P, name)
    SEEN.clear()
    return name


# ------------------------------------------------------------------ item 9: data objects


def test_data_objects_reach_the_loader_unchanged(tmp_path):
    from jepakit.bench import run_bench, run_evaluate
    from jepakit.train import pretrain

    dom = _register("rec")
    blob = Blob()
    run = pretrain(dom, data=blob, out=tmp_path / "run", overrides=["train.steps=2", "train.progress=false"], echo=False)
    assert SEEN[-1]["path"] is blob
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["data"]["path"] == "<Blob 300x12>" and run.config["data"]["path"] == "<Blob 300x12>"
    SEEN.clear()
    run_evaluate(tmp_path / "run", data=blob, out=tmp_path / "ev", echo=False, overrides=["eval.fractions=[1.0]", "eval.seeds=1"])
    assert SEEN and SEEN[-1]["path"] is blob
    with pytest.raises(DataError, match="in-memory"):
        run_evaluate(tmp_path / "run", out=tmp_path / "ev2", echo=False)
    SEEN.clear()
    res = run_bench(dom, quick=True, data=blob, out=tmp_path / "b", echo=False)
    assert SEEN and all(s["path"] is blob for s in SEEN)
    json.loads((tmp_path / "b" / "metrics.json").read_text())  # still JSON
    assert res.rows


# ------------------------------------------------------------------ item 16: presets


def test_synthetic_preset_keys_apply_only_without_user_data():
    from jepakit.plugins import get_domain
    from jepakit.train import resolve_config

    dom = get_domain(_register("rec"))
    cfg = resolve_config(dom, preset=dom.quick)
    assert cfg["data"]["n"] == 48 and cfg["data"]["tag"] == "syn"
    user = resolve_config(dom, preset=dom.quick, data="scans/")
    assert "n" not in user["data"] and "tag" not in user["data"] and user["data"]["path"] == "scans/"
    via_set = resolve_config(dom, preset=dom.quick, overrides=["data.path=scans/"])
    assert "n" not in via_set["data"]
    # the user's --set beats the preset's synthetic keys
    mine = resolve_config(dom, preset=dom.quick, overrides=["data.n=60"])
    assert mine["data"]["n"] == 60 and mine["data"]["tag"] == "syn"
    # and a synthetic section given by the user goes where its name says
    own = resolve_config(dom, overrides={"synthetic": {"n": 30}})
    assert own["data"]["n"] == 30
    assert "n" not in resolve_config(dom, overrides={"synthetic": {"n": 30}}, data="x.csv")["data"]


def test_evaluating_user_data_drops_the_checkpoints_synthetic_keys(tmp_path):
    from jepakit.bench import run_evaluate
    from jepakit.train import pretrain

    dom = _register("rec")
    from jepakit.plugins import get_domain

    pretrain(dom, out=tmp_path / "run", preset=get_domain(dom).quick, echo=False)
    assert SEEN[-1]["n"] == 48 and SEEN[-1]["tag"] == "syn"
    SEEN.clear()
    blob = Blob()
    run_evaluate(tmp_path / "run", data=blob, out=tmp_path / "ev", echo=False, overrides=["eval.fractions=[1.0]"])
    assert SEEN[-1]["path"] is blob and SEEN[-1]["n"] == 96 and SEEN[-1]["tag"] is None


def test_bench_datasets_do_not_override_the_users_data_settings(tmp_path):
    from jepakit.bench import run_bench

    dom = _register("recsets", datasets={"a": {"n": 40}, "b": {"n": 56}})
    run_bench(dom, quick=True, out=tmp_path / "a", echo=False, overrides=["data.length=32"])
    # a --set of another data key keeps every default dataset, under the user's setting
    assert {s["n"] for s in SEEN} == {40, 56} and {s["length"] for s in SEEN} == {32}
    SEEN.clear()
    run_bench(dom, quick=True, out=tmp_path / "b", echo=False, overrides=["data.n=64"])
    assert {s["n"] for s in SEEN} == {64}


# ------------------------------------------------------------------ item 17: describe line


def test_pretrain_prints_what_it_loaded(tmp_path, capsys, waves):
    from jepakit.bench import run_bench
    from jepakit.train import pretrain

    pretrain(waves, out=tmp_path / "a", overrides=["train.steps=1"])
    out = capsys.readouterr().out
    assert "[waves] pretraining: 96 synthetic waves" in out.splitlines()
    pretrain(waves, out=tmp_path / "b", overrides=["train.steps=1"], echo=False)
    assert "synthetic waves" not in capsys.readouterr().out
    run_bench(waves, quick=True, out=tmp_path / "c", overrides=["train.steps=1", "eval.seeds=1"])
    assert capsys.readouterr().out.count("96 synthetic waves") == 1


# ------------------------------------------------------------------ item 14: tables


class OneHot:
    """Waves with a 5-class multilabel vector; classes 3 and 4 are never positive."""

    def __init__(self, n: int, seed: int):
        self.w = Waves(n, seed)

    def __len__(self) -> int:
        return len(self.w)

    def __getitem__(self, i: int) -> dict:
        item = self.w[i]
        y = np.zeros(5, dtype=np.float32)
        y[item["label"]] = 1
        return {"x": item["x"], "label": torch.from_numpy(y)}


def load_ml(path=None) -> DataBundle:
    return DataBundle(Waves(96, 0), {"in_chans": 1, "size": 64}, {"tags": Task(OneHot(96, 1), OneHot(96, 2), "multilabel")},
                      describe="96 tagged waves")


def test_multilabel_score_counts_scored_classes():
    from jepakit.evaluate import score

    y = np.zeros((10, 5))
    y[:5, 0] = 1
    s = score("multilabel", y, np.random.default_rng(0).random((10, 5)))
    assert s["auc_classes_scored"] == 1 and s["auc_classes"] == 5


def test_table_shows_labelled_counts_identical_fractions_and_unscored_classes():
    from jepakit.report import table

    base = {"task": "t", "kind": "multilabel", "seeds": 1, "macro_auc": 0.7, "macro_auc_std": 0.0, "auc_classes_scored": 1.0, "auc_classes": 5.0}
    summary = [
        {**base, "method": "jepa/linear", "fraction": 0.01, "n_labels": 3},
        {**base, "method": "jepa/linear", "fraction": 0.1, "n_labels": 3},
        {**base, "method": "jepa/linear", "fraction": 1.0, "n_labels": 42},
    ]
    tab = table(summary)
    head = tab.splitlines()[0]
    assert "1% (n=3)" in head and "100% (n=42)" in head
    assert tab.splitlines()[2].startswith("| jepa/linear |")
    assert "1% and 10%" in tab and "same 3" in tab
    assert "1 of 5 classes" in tab


def test_bench_warns_about_unscorable_classes(tmp_path):
    from jepakit.bench import run_bench

    class P:
        @hookimpl
        def jepakit_register_domains(register):
            register(Domain("tags", load_ml, defaults=TINY, quick={
                "train": {"steps": 2, "progress": False}, "eval": {"seeds": 1, "sup_steps": 2, "fractions": [0.01, 0.02, 1.0]}}))

    jepakit.register_plugin(P, "tags")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = run_bench("tags", quick=True, out=tmp_path, echo=False)
    msgs = [str(w.message) for w in caught]
    assert any("macro_auc" in m and "3 of 5 classes" in m for m in msgs), msgs
    md = (tmp_path / "report.md").read_text()
    assert "3 of 5 classes" in md and "(n=3)" in md and "1% and 2%" in md
    assert "3 of 5 classes" in res.table


# ------------------------------------------------------------------ item 15: fair probes


def test_knn_probe_scales_neighbours_with_labels():
    from jepakit.evaluate import _head

    small = _head("knn", False, 0, 20, 100, 25)[-1]
    assert small.n_neighbors <= 5
    assert _head("knn", False, 0, 20, 100, 1000)[-1].n_neighbors == 20


def test_users_settings_win_over_bench_variants(tmp_path):
    from jepakit.bench import run_bench

    quick = {k: v for k, v in QUICK.items() if k != "synthetic"}
    dom = _register("recvar", quick=quick, variants={"a": {}, "b": {"train": {"lr": 1e-4}}})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = run_bench(dom, quick=True, out=tmp_path, echo=False, overrides=["train.lr=0.005"])
    assert {n: r.config["train"]["lr"] for n, r in res.runs.items()} == {"a": 0.005, "b": 0.005}
    assert any("variant 'b'" in str(w.message) and "train.lr" in str(w.message) for w in caught)
