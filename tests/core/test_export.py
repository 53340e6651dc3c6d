"""Using the encoder outside jepakit: export a run, load it in a fresh process without
pickle or data, embed a dataset to Parquet/npy with item ids, evaluate unlabelled data."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import jepakit
from jepakit import DataBundle, Domain, hookimpl
from jepakit.cli import main
from jepakit.errors import JepakitError
from jepakit.export import CARD, META, WEIGHTS, embed_to_file, export_run, item_id, load_encoder
from jepakit.train import pretrain

SMALL = {"model": {"width": 32, "depth": 1, "heads": 2}, "train": {"steps": 3, "rankme_every": 3, "progress": False}}


def _run(domain: str, out, **extra) -> jepakit.train.Run:
    cfg = {k: dict(v) for k, v in SMALL.items()}
    for section, values in extra.items():
        cfg.setdefault(section, {}).update(values)
    return pretrain(domain, config=cfg, out=out, echo=False)


def _batch(run, n: int = 8) -> dict:
    from jepakit.train import collate_of

    return collate_of(run.bundle)([run.bundle.pretrain[i] for i in range(n)])


# a domain without labels whose items carry their own "id"
class Plain(torch.utils.data.Dataset):
    def __init__(self, n: int = 40, length: int = 32):
        g = np.random.default_rng(3)
        t = np.arange(length) / length
        self.x = np.stack([np.sin(2 * np.pi * g.uniform(1, 8) * t)[None] for _ in range(n)]).astype(np.float32)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"x": torch.from_numpy(self.x[i]), "id": f"plain-{i:03d}"}


def load_plain(path=None, n: int = 40) -> DataBundle:
    return DataBundle(Plain(n), {"in_chans": 1, "size": 32}, describe=f"{n} unlabelled waves")


class PlainPlugin:
    @hookimpl
    def jepakit_register_domains(register):
        register(Domain("plain", load_plain, defaults={
            "recipe": {"name": "jepa"}, "tokenizer": {"name": "patch", "patch": 4},
            "model": {"pred_width": 16, "pred_depth": 1, "pred_heads": 2}, "train": {"batch_size": 8},
            "masker": {"name": "multiblock", "num_targets": 2},
        }))


@pytest.fixture
def plain():
    jepakit.register_plugin(PlainPlugin, "plain")
    return "plain"


def test_export_loads_in_a_fresh_process_without_pickle_or_data(tmp_path, waves):
    run = _run(waves, tmp_path / "run", eval={"encoder": "target"})
    export_run(tmp_path / "run", tmp_path / "export")
    x = _batch(run)["x"]
    np.save(tmp_path / "x.npy", x.numpy())
    with torch.no_grad():
        want = run.model.encoder_for_eval("target").eval().embed({"x": x}).numpy()
        online = run.model.encoder_for_eval("online").eval().embed({"x": x}).numpy()
    assert np.abs(want - online).max() > 1e-4  # the export must hold the target encoder, not the online one
    code = (
        "import pickle, sys, numpy as np, torch\n"
        "import jepakit.export\n"
        "def refuse(*a, **k): raise AssertionError('pickle used')\n"
        "torch.load = pickle.load = pickle.loads = refuse\n"
        "from jepakit import load_encoder, registry\n"
        "assert 'waves' not in registry('domain')\n"  # no domain, no data: the tokenizer alone
        "enc = load_encoder(sys.argv[1])\n"
        "assert not enc.training\n"
        "z = enc.embed({'x': torch.from_numpy(np.load(sys.argv[2]))}, pool='mean')\n"
        "np.save(sys.argv[3], z.detach().numpy())\n"
    )
    env = {**os.environ, "JEPAKIT_PLUGINS": ""}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "export"), str(tmp_path / "x.npy"), str(tmp_path / "z.npy")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    got = np.load(tmp_path / "z.npy")
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_export_folder_holds_safetensors_json_and_a_model_card(tmp_path, waves, capsys):
    run = _run(waves, tmp_path / "bench" / "jepa")
    # a benchmark folder above the run: its table goes into the card
    summary = [{"task": "band", "method": "jepa", "fraction": 1.0, "kind": "multiclass", "n_labels": 96, "seeds": 1,
                "accuracy": 0.875, "accuracy_std": 0.0}]
    (tmp_path / "bench" / "metrics.json").write_text(json.dumps({"summary": summary, "rankme": {}, "pretraining": {"jepa": {}}}))
    assert main(["export", str(tmp_path / "bench" / "jepa"), str(tmp_path / "export")]) == 0
    out = tmp_path / "export"
    assert sorted(p.name for p in out.iterdir()) == sorted([WEIGHTS, META, CARD])
    assert not [p for p in out.rglob("*") if p.suffix in (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt")]
    meta = json.loads((out / META).read_text())
    assert meta["domain"] == "waves" and meta["format_version"] == 1 and meta["jepakit_version"] == jepakit.__version__
    assert meta["layout"] == {"grid": [16], "num_prefix": 0} and meta["width"] == 32 and meta["pool"] == "mean"
    assert meta["info"] == {"in_chans": 1, "size": 64} and meta["config"]["model"]["width"] == 32
    assert meta["plugin"]["distribution"] == "jepakit" and meta["encoder"] == "online"
    assert meta["weights"]["sha256"] == hashlib.sha256((out / WEIGHTS).read_bytes()).hexdigest()
    from safetensors.torch import load_file

    weights = load_file(out / WEIGHTS)
    assert set(weights) == set(run.model.backbone.state_dict())  # the encoder alone: no predictor, no target copy
    card = (out / CARD).read_text()
    assert card.startswith("# waves encoder") and "final loss" in card and "RankMe of the last collapse-guard check" in card
    assert "| band: accuracy |" in card and "0.875" in card
    # from the export and from the run folder: the same encoder
    x = _batch(run)["x"]
    with torch.no_grad():
        a, b = load_encoder(out).embed({"x": x}), load_encoder(tmp_path / "bench" / "jepa").embed({"x": x})
        c = run.model.backbone.embed({"x": x})
    torch.testing.assert_close(a, c, atol=1e-6, rtol=0)
    torch.testing.assert_close(b, c, atol=1e-6, rtol=0)
    # a previous export is replaced; any other non-empty folder is refused
    export_run(tmp_path / "bench" / "jepa", out)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(JepakitError, match="not empty"):
        export_run(tmp_path / "bench" / "jepa", tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    # a damaged export says so in one line
    blob = bytearray((out / WEIGHTS).read_bytes())
    blob[-1] ^= 1
    (out / WEIGHTS).write_bytes(bytes(blob))
    with pytest.raises(JepakitError, match="sha256"):
        load_encoder(out)


def test_card_without_benchmark_says_so(tmp_path, waves):
    _run(waves, tmp_path / "run")
    export_run(tmp_path / "run", tmp_path / "export")
    assert "No benchmark was run" in (tmp_path / "export" / CARD).read_text()


def test_embed_writes_parquet_and_npy_with_ids_equal_to_backbone_embed(tmp_path, waves):
    pq = pytest.importorskip("pyarrow.parquet")
    run = _run(waves, tmp_path / "run")
    export_run(tmp_path / "run", tmp_path / "export")
    data = run.bundle.pretrain
    with torch.no_grad():
        want = run.model.backbone.embed({"x": torch.stack([data[i]["x"] for i in range(len(data))])}).numpy()
        want_tokens = run.model.backbone.embed({"x": torch.stack([data[i]["x"] for i in range(len(data))])}, "tokens").numpy()
    # parquet, from the export, batches that do not divide the dataset
    embed_to_file(tmp_path / "export", tmp_path, tmp_path / "z.parquet", batch_size=10, echo=False)
    table = pq.read_table(tmp_path / "z.parquet")
    assert table.num_rows == len(data) == 96
    assert pq.ParquetFile(tmp_path / "z.parquet").num_row_groups == 10  # written batch by batch
    ids = table.column("id").to_pylist()
    assert ids == [str(i) for i in range(len(data))] and len(set(ids)) == len(ids)
    np.testing.assert_allclose(np.asarray(table.column("embedding").to_pylist(), dtype=np.float32), want, atol=1e-5, rtol=0)
    # npy, from the run folder, mean+std and per token
    assert main(["embed", str(tmp_path / "run"), "--data", str(tmp_path), "--out", str(tmp_path / "z.npy"), "--pool", "mean+std",
                 "--batch-size", "7"]) == 0
    z = np.load(tmp_path / "z.npy")
    assert z.shape == (96, 64)
    np.testing.assert_allclose(z[:, :32], want, atol=1e-5, rtol=0)
    assert json.loads((tmp_path / "z.npy.ids.json").read_text()) == ids
    embed_to_file(tmp_path / "export", tmp_path, tmp_path / "t.npy", pool="tokens", echo=False)
    np.testing.assert_allclose(np.load(tmp_path / "t.npy"), want_tokens, atol=1e-5, rtol=0)
    embed_to_file(tmp_path / "export", tmp_path, tmp_path / "t.parquet", pool="tokens", batch_size=50, echo=False)
    tokens = np.asarray(pq.read_table(tmp_path / "t.parquet").column("embedding").to_pylist(), dtype=np.float32)
    np.testing.assert_allclose(tokens, want_tokens, atol=1e-5, rtol=0)
    assert not [p.name for p in tmp_path.iterdir() if ".tmp" in p.name]  # written to a temporary name, then moved


def test_item_ids_follow_the_protocol(tmp_path, plain):
    run = _run(plain, tmp_path / "run")
    embed_to_file(tmp_path / "run", tmp_path, tmp_path / "z.npy", echo=False)
    ids = json.loads((tmp_path / "z.npy.ids.json").read_text())
    assert ids == [f"plain-{i:03d}" for i in range(40)]  # the items' own "id"
    assert np.load(tmp_path / "z.npy").shape == (40, 32)

    class WithIds(list):
        ids = ("a", "b")

    assert item_id(WithIds([{"id": "x"}, {}]), 1, {"id": "x"}) == "b"  # dataset.ids first
    assert item_id([{}], 0, {}) == "0"  # else the index
    assert run.bundle.pretrain[0]["id"] == "plain-000"


def test_evaluate_on_unlabelled_data_reports_rankme_only(tmp_path, plain, capsys):
    _run(plain, tmp_path / "run")
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run"), "--out", str(tmp_path / "ev")]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("RankMe:"))
    value = float(line.split()[1])
    assert 1.0 <= value <= 32 and line.endswith("(of 40 items)")
    assert "this data has no labelled task; only RankMe is reported" in out
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["rankme"]["pretrain:jepa"] == pytest.approx(value, abs=0.01) and metrics["rankme_items"] == 40


def test_bad_output_and_bad_folders_are_one_line_errors(tmp_path, waves, capsys):
    _run(waves, tmp_path / "run")
    (tmp_path / "empty").mkdir()
    cases = [
        (["embed", str(tmp_path / "run"), "--data", str(tmp_path), "--out", str(tmp_path / "z.csv")], ".parquet or .npy"),
        (["embed", str(tmp_path / "empty"), "--data", str(tmp_path), "--out", str(tmp_path / "z.npy")], "is not a jepakit export"),
        (["embed", str(tmp_path / "run"), "--data", str(tmp_path), "--out", str(tmp_path / "z.npy"), "--pool", "median"], "pool must be"),
        (["export", str(tmp_path / "empty"), str(tmp_path / "out")], "is not a jepakit export"),
        (["export", str(tmp_path / "missing"), str(tmp_path / "out")], "does not exist"),
        (["export", str(tmp_path / "run"), str(tmp_path / "run")], "not empty"),
    ]
    for argv, words in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and words in err and "\n" not in err, (argv, err)
    assert not (tmp_path / "z.npy").exists() and not (tmp_path / "out").exists()
    with pytest.raises(JepakitError, match="use .parquet or .npy"):
        embed_to_file(tmp_path / "run", tmp_path, tmp_path / "z.txt", echo=False)
    assert not (tmp_path / "z.txt").exists()
    with pytest.raises(JepakitError, match="is not a jepakit export"):
        load_encoder(tmp_path / "empty")


def test_tabular_encoder_is_rebuilt_from_the_exported_schema(tmp_path):
    pytest.importorskip("jepakit_tabular")
    pytest.importorskip("pyarrow")
    import pandas as pd

    from jepakit_tabular import plugin as tabular_plugin

    jepakit.register_plugin(tabular_plugin, "tabular")
    g = np.random.default_rng(0)
    frame = pd.DataFrame({"a": g.normal(size=80), "b": g.uniform(size=80), "c": g.choice(["x", "y", "z"], 80),
                          "y": g.integers(0, 2, 80)})
    frame.loc[::7, "a"] = np.nan
    frame.to_csv(tmp_path / "t.csv", index=False)
    run = _run("tabular", tmp_path / "run", data={"path": str(tmp_path / "t.csv"), "target": "y"},
               model={"pred_width": 16, "pred_depth": 1, "pred_heads": 2}, train={"batch_size": 16})
    (tmp_path / "t.csv").rename(tmp_path / "moved.csv")  # export and load read no data
    export_run(tmp_path / "run", tmp_path / "export")
    meta = json.loads((tmp_path / "export" / META).read_text())
    assert meta["info"]["schema"] == run.bundle.info["schema"] and meta["layout"]["num_prefix"] == 2
    enc = load_encoder(tmp_path / "export")
    batch = _batch(run, 16)
    with torch.no_grad():
        torch.testing.assert_close(enc.embed(batch, "flat"), run.model.backbone.embed(batch, "flat"), atol=1e-5, rtol=0)
    embed_to_file(tmp_path / "export", tmp_path / "moved.csv", tmp_path / "z.parquet", pool="flat", echo=False)
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "z.parquet")
    ids = table.column("id").to_pylist()
    assert table.num_rows == len(run.bundle.pretrain) and len(set(ids)) == len(ids)
    assert ids == [str(r) for r in run.bundle.pretrain.ids]  # table row numbers
