"""Real-world tables end to end (issue 14): a messy CSV and a Parquet file written with
pandas -- junk strings in a numeric column, thousands separators, decimal commas, an ID
column, a date column, missing values, a categorical with rare levels, a text label --
pretrained a few steps through the Python API, then evaluated on the same file and on a
DataFrame. Every coercion is a one-line notice; nothing is silently retyped."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

TINY = {
    "data": {"target": "outcome"},
    "model": {"width": 16, "depth": 1, "heads": 2, "pred_width": 8, "pred_depth": 1, "pred_heads": 2},
    "train": {"steps": 3, "batch_size": 32, "progress": False, "rankme_every": 0},
    "eval": {"seeds": 1, "fractions": [0.1, 1.0], "heads": ["linear"]},
}


def messy_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal(n)
    income = rng.uniform(1000, 90000, n)
    ratio = rng.uniform(0, 5, n)
    score = [f"{v:.3f}" for v in signal + 0.3 * rng.standard_normal(n)]
    for i in rng.choice(n, 6, replace=False):
        score[i] = rng.choice(["?", "unknown"])
    colour = rng.choice(["red", "green", "blue"], n).astype(object)
    colour[[5, 17]] = "mauve"  # rare levels
    colour[40] = "teal"
    colour[rng.choice(n, 8, replace=False)] = None  # missing
    age = rng.uniform(18, 80, n).round(1)
    age[rng.choice(n, 10, replace=False)] = np.nan
    return pd.DataFrame({
        "customer_id": [f"CUST-{i:06d}" for i in rng.permutation(n)],
        "signup": pd.date_range("2019-03-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "score": score,
        "income": [f"{v:,.0f}" for v in income],
        "ratio": [f"{v:.2f}".replace(".", ",") for v in ratio],
        "colour": colour,
        "age": age,
        "outcome": np.where(signal + (income > 45000) > 0.4, "churned", "stayed"),
    })


def _run(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def _check_schema(schema: dict) -> None:
    numeric = {c["name"] for c in schema["numeric"]}
    assert numeric == {"signup", "score", "income", "ratio", "age"}, numeric
    assert [c["name"] for c in schema["categorical"]] == ["colour"]
    assert {d["name"]: d["reason"] for d in schema["dropped"]} == {"customer_id": "identifier"}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_messy_file_pretrains_and_evaluates(tmp_path, capsys, fmt):
    from jepakit.bench import run_evaluate
    from jepakit.train import pretrain

    frame = messy_frame()
    src = tmp_path / f"customers.{fmt}"
    if fmt == "csv":
        frame.to_csv(src, index=False)
    else:  # Parquet keeps a native date column
        frame.assign(signup=pd.to_datetime(frame["signup"])).to_parquet(src)

    run, notes = _run(pretrain, "tabular", data=str(src), overrides=TINY, out=tmp_path / "run")
    assert all("\n" not in m for m in notes)
    assert any("'customer_id'" in m and "identifier" in m for m in notes), notes
    assert any("'income'" in m and "thousands" in m for m in notes), notes
    assert any("'ratio'" in m and "decimal comma" in m for m in notes), notes
    assert any("'signup'" in m and "days since 1970-01-01" in m for m in notes), notes
    assert any("'score'" in m and "not numbers read as missing" in m for m in notes), notes
    _check_schema(run.bundle.info["schema"])
    assert f"[tabular] pretraining: {src}: " in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data"]["path"] == str(src)

    # the same file passes evaluate, with the fitted schema
    res, _ = _run(run_evaluate, tmp_path / "run", data=str(src), out=tmp_path / "ev", echo=False)
    acc = {(s["method"], s["fraction"]): s["accuracy"] for s in res.summary}
    assert set(acc) == {("jepa/linear", 0.1), ("jepa/linear", 1.0)}
    assert "(n=" in res.table

    # and the same rows as a DataFrame through the Python API give the same scores
    same = pd.read_csv(src) if fmt == "csv" else pd.read_parquet(src)
    res_df, _ = _run(run_evaluate, tmp_path / "run", data=same, out=tmp_path / "ev_df", echo=False)
    assert {(s["method"], s["fraction"]): s["accuracy"] for s in res_df.summary} == acc


def test_messy_dataframe_pretrains_through_the_api(tmp_path):
    from jepakit.bench import run_evaluate
    from jepakit.train import pretrain

    frame = messy_frame(n=200, seed=1)
    run, _ = _run(pretrain, "tabular", data=frame, overrides=TINY, out=tmp_path / "run", echo=False)
    _check_schema(run.bundle.info["schema"])
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["data"]["path"] == "<DataFrame 200x8>"
    res, _ = _run(run_evaluate, tmp_path / "run", data=frame, out=tmp_path / "ev", echo=False)
    assert res.summary
