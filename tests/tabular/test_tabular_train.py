"""End to end: pretraining lowers the loss, checkpoints keep the schema, the CLI bench
runs on a user CSV."""

import json

import numpy as np
import pytest
import torch

from jepakit.train import load_run, pretrain
from jepakit_tabular.synthetic import planted_frame

TINY = {
    "model": {"width": 32, "depth": 1, "heads": 2, "pred_width": 16, "pred_depth": 1, "pred_heads": 2},
    "train": {"steps": 60, "batch_size": 32, "lr": 2e-3, "progress": False},
}


def _table(tmp_path, n=200):
    f = planted_frame(rows=n, groups=2, per_group=3, seed=1)
    rng = np.random.default_rng(0)
    f["kind"] = np.where(f["g0_0"] > 0, "a", "b")
    f.loc[::9, "g1_1"] = np.nan
    f["y"] = (f["g0_1"] + f["g1_0"] > 0).astype(int)
    f["noise"] = rng.choice(["u", "v", "w"], n)
    p = tmp_path / "tiny.csv"
    f.to_csv(p, index=False)
    return p


@pytest.mark.parametrize("masker", ["tjepa-subset", "correlated"])
def test_pretraining_lowers_loss_and_checkpoint_keeps_schema(tmp_path, masker):
    path = _table(tmp_path)
    cfg = {**TINY, "data": {"path": str(path), "target": "y"}, "masker": {"name": masker}}
    run = pretrain("tabular", config=cfg, out=tmp_path / "run")
    losses = [h["loss"] for h in run.history]
    assert all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    again = load_run(tmp_path / "run")
    assert again.bundle.info["schema"] == run.bundle.info["schema"]
    batch = {k: v[:4] for k, v in torch.utils.data.default_collate([run.bundle.pretrain[i] for i in range(4)]).items()}
    with torch.no_grad():
        torch.testing.assert_close(again.model.backbone.embed(batch), run.model.backbone.embed(batch))


def test_sigreg_target_trains(tmp_path):
    path = _table(tmp_path)
    cfg = {**TINY, "data": {"path": str(path), "target": "y"}, "target": {"name": "sigreg", "lam": 0.1, "num_slices": 32}}
    cfg["train"] = {**TINY["train"], "steps": 20}
    run = pretrain("tabular", config=cfg, out=tmp_path / "sig")
    assert all(np.isfinite(h["loss"]) for h in run.history)


def test_cli_bench_on_csv(tmp_path, capsys):
    from jepakit.cli import main

    path = _table(tmp_path, n=160)
    rc = main([
        "bench", "tabular", "--quick", "--data", str(path), "--set", "data.target=y", "--set", "train.steps=5",
        "--set", "train.progress=false", "--out", str(tmp_path / "bench"),
    ])
    assert rc == 0
    metrics = json.loads((tmp_path / "bench" / "metrics.json").read_text())
    methods = {r["method"] for r in metrics["summary"]}
    assert {"raw/linear", "hgb"} <= methods and any(m.startswith("jepa") for m in methods)


def test_cli_reports_bad_target_in_one_line(tmp_path, capsys):
    from jepakit.cli import main

    path = _table(tmp_path, n=40)
    rc = main(["bench", "tabular", "--quick", "--data", str(path), "--set", "data.target=missing_col"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1 and "no target column 'missing_col'" in err[0]
