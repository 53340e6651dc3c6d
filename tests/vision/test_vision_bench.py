"""The bench end to end on the embedded data (``--quick``): both default datasets, the
variants side by side, the raw-pixel baseline, the seq-JEPA aggregate evaluation."""

from __future__ import annotations

import pytest

from jepakit.bench import run_bench


@pytest.mark.slow
def test_quick_bench_runs_both_datasets_with_pixels_and_the_aggregate_evaluation(tmp_path):
    result = run_bench("vision", quick=True, out=tmp_path / "b", echo=False,
                       overrides=["data.test_fraction=0.9"])  # MNIST: 500 pretraining digits, enough here
    methods = {(r["task"], r["method"]) for r in result.summary}
    tasks = {t for t, _ in methods}
    assert {"images:digit", "shapes:shape", "shapes:rotation", "shapes:seq-invariant", "images:seq-invariant"} <= tasks
    for task in ("images:digit", "shapes:rotation"):
        got = {m for t, m in methods if t == task}
        assert {"jepa[ijepa]/linear", "jepa[seq]/linear", "random-init/linear", "supervised", "pixels-pca/linear"} <= got, got
    agg = {r["method"]: r for r in result.summary if r["task"] == "shapes:seq-invariant"}
    assert {"jepa[ijepa]", "jepa[seq]", "random-init"} <= set(agg)
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in agg.values())
    assert (tmp_path / "b" / "report.md").is_file()
