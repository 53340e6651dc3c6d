"""Real-world table defects (issue 14, items 8, 9 and 15): numeric columns with junk
strings, thousands separators and decimal commas, identifier and date columns, a
DataFrame through the Python API, and a gradient-boosting baseline that can split at
small label counts. Every coercion is reported in one line, and a checkpoint's saved
schema re-reads the same file the same way."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from jepakit.errors import DataError
from jepakit_tabular.data import load
from jepakit_tabular.schema import MISSING, UNKNOWN, Schema, TabularNotice, encode_frame, fit_schema


def _numeric_column(frame, schema, name: str) -> np.ndarray:
    """Column ``name`` of the numeric block the schema encodes ``frame`` into."""
    num, _ = encode_frame(frame, schema)
    return num[:, [c["name"] for c in schema.numeric].index(name)]

def _notices(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def _messy(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    amount = rng.uniform(1000, 9000, n)
    ratio = rng.uniform(0, 5, n)
    xs = [f"{v:.4f}" for v in x]
    for i in (3, 50, 120):
        xs[i] = "?"
    xs[77] = "unknown"
    return pd.DataFrame({
        "id": [f"C{i:05d}" for i in range(n)],
        "when": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "x": xs,
        "amount": [f"{v:,.0f}" if v >= 1000 else f"{v:.0f}" for v in amount],
        "ratio": [f"{v:.2f}".replace(".", ",") for v in ratio],
        "colour": rng.choice(["red", "green", "blue"], n),
        "label": np.where(x + (amount > 5000) > 0.5, "yes", "no"),
    }), x, amount, ratio


def _by_name(schema: Schema) -> dict:
    return {c["name"]: c for c in schema.numeric}


def test_junk_strings_in_a_numeric_column_become_missing_with_a_notice():
    frame, x, _, _ = _messy()
    b, notes = _notices(load, frame, target="label", dependence=False)
    s = Schema.from_dict(b.info["schema"])
    assert "x" in _by_name(s), "a numeric column with 4 junk strings must stay numeric"
    assert "x" not in [c["name"] for c in s.categorical]
    assert any("'x'" in m and "'?'" in m and "'unknown'" in m and "missing" in m for m in notes), notes
    col = _numeric_column(frame, s, "x")
    assert np.isnan(col[[3, 50, 77, 120]]).all()
    np.testing.assert_allclose(col[0], x[0], rtol=1e-3)


def test_thousands_separators_are_parsed():
    frame, _, amount, _ = _messy()
    b, notes = _notices(load, frame, target="label", dependence=False)
    s = Schema.from_dict(b.info["schema"])
    assert "amount" in _by_name(s)
    col = _numeric_column(frame, s, "amount")
    np.testing.assert_allclose(col, np.round(amount), rtol=1e-6)
    assert any("'amount'" in m and "thousands" in m for m in notes), notes


def test_decimal_commas_are_parsed():
    frame, _, _, ratio = _messy()
    b, notes = _notices(load, frame, target="label", dependence=False)
    s = Schema.from_dict(b.info["schema"])
    col = _numeric_column(frame, s, "ratio")
    np.testing.assert_allclose(col, np.round(ratio, 2), rtol=1e-5)
    assert any("'ratio'" in m and "decimal comma" in m for m in notes), notes


def test_identifier_column_is_dropped_with_a_notice():
    frame, _, _, _ = _messy()
    frame.insert(0, "Unnamed: 0", np.arange(len(frame)))  # a saved pandas index
    b, notes = _notices(load, frame, target="label", dependence=False)
    s = Schema.from_dict(b.info["schema"])
    assert "id" not in s.columns and "Unnamed: 0" not in s.columns
    assert any(d["name"] == "id" for d in s.dropped) and any(d["name"] == "Unnamed: 0" for d in s.dropped)
    assert any("'id'" in m and "dropped" in m for m in notes), notes
    assert any("'Unnamed: 0'" in m and "dropped" in m for m in notes), notes
    # naming it keeps it
    b2, _ = _notices(load, frame, target="label", categorical=["id"], dependence=False)
    assert "id" in Schema.from_dict(b2.info["schema"]).columns


def test_date_columns_become_days_since_epoch(tmp_path):
    frame, _, _, _ = _messy()
    b, notes = _notices(load, frame, target="label", dependence=False)
    s = Schema.from_dict(b.info["schema"])
    assert "when" in _by_name(s)
    col = _numeric_column(frame, s, "when")
    start = (pd.Timestamp("2020-01-01") - pd.Timestamp("1970-01-01")).days
    np.testing.assert_allclose(col[:5], start + np.arange(5))
    assert any("'when'" in m and "days since 1970-01-01" in m for m in notes), notes
    # a native datetime column (Parquet, DataFrame) too
    f2 = frame.assign(when=pd.to_datetime(frame["when"]))
    f2.to_parquet(tmp_path / "d.parquet")
    b2, _ = _notices(load, str(tmp_path / "d.parquet"), target="label", dependence=False)
    s2 = Schema.from_dict(b2.info["schema"])
    assert "when" in _by_name(s2)
    num2, _ = encode_frame(pd.read_parquet(tmp_path / "d.parquet"), s2)
    np.testing.assert_allclose(num2[:5, [c["name"] for c in s2.numeric].index("when")], start + np.arange(5))


def test_messy_csv_columns_stay_few_and_the_saved_schema_rereads_the_file(tmp_path):
    frame, _, _, _ = _messy()
    src = tmp_path / "messy.csv"
    frame.to_csv(src, index=False)
    b, _ = _notices(load, str(src), target="label", dependence=False)
    s = Schema.from_dict(b.info["schema"])
    assert sorted(c["name"] for c in s.numeric) == ["amount", "ratio", "when", "x"]
    assert [c["name"] for c in s.categorical] == ["colour"]
    # raw features: 4 numeric (+1 missing flag) + one-hot colour, not one column per row
    assert b.tasks["label"].train.features().shape[1] < 15
    saved = json.loads(json.dumps(b.state))
    again, _ = _notices(load, str(src), target="label", dependence=False, state=saved)
    assert again.info["schema"] == b.info["schema"]
    np.testing.assert_array_equal(again.pretrain.rows.array, b.pretrain.rows.array)
    # new junk at evaluation time is read as missing and reported, not an error
    frame.loc[5, "amount"] = "n.a."
    frame.to_csv(src, index=False)
    third, notes = _notices(load, str(src), target="label", dependence=False, state=saved)
    j = [c["name"] for c in s.numeric].index("amount")
    assert np.isnan(third.pretrain.rows.array[5, j])
    assert any("'amount'" in m and "'n.a.'" in m for m in notes), notes


def test_numeric_target_with_thousands_separators_is_a_regression():
    frame, _, amount, _ = _messy()
    b, _ = _notices(load, frame.drop(columns=["label"]), target="amount", dependence=False)
    assert b.tasks["amount"].kind == "regression"
    labels = np.concatenate([b.tasks["amount"].train.labels, b.tasks["amount"].test.labels])
    assert np.nanmax(labels) > 1000


def test_mostly_text_column_stays_categorical_and_declared_numeric_still_errors(tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text("a,b,label\n1,2,0\n3,oops,1\n5,6,0\n7,8,1\n9,1,0\n2,2,1\n")
    with pytest.raises(DataError, match=r"bad\.csv: column 'b' is numeric but row 1 holds 'oops'"):
        load(str(src), target="label", numeric=["b"])


def test_infinite_values_and_unseen_categories_are_reported(mixed_frame):
    f = mixed_frame.copy()
    f.loc[4, "x"] = np.inf
    b, notes = _notices(load, f, target="label", dependence=False)
    assert any("'x'" in m and "infinite" in m for m in notes), notes
    rows = pd.DataFrame({"x": [0.0, 1.0], "age": [30.0, 40.0], "colour": ["purple", "red"], "count": [1, 2]})
    (num, cat), notes = _notices(encode_frame, rows, b.info["schema"])
    assert cat[0, 0] == UNKNOWN and cat[1, 0] != MISSING
    assert any("'colour'" in m and "'purple'" in m and "unknown" in m for m in notes), notes


def test_extra_columns_at_evaluation_are_reported(mixed_frame):
    with pytest.warns(TabularNotice):
        b = load(mixed_frame, target="label", dependence=False)
    saved = json.loads(json.dumps(b.state))
    _, notes = _notices(load, mixed_frame.assign(newcol=1.5), target="label", dependence=False, state=saved)
    assert any("'newcol'" in m and "not in the pretrained schema" in m for m in notes), notes


def test_fit_schema_alone_reports_junk(mixed_frame):
    f = mixed_frame.astype({"x": object})
    f.loc[2, "x"] = "?"
    s, notes = _notices(fit_schema, f, target="label")
    assert "x" in [c["name"] for c in s.numeric]
    assert any("'x'" in m and "'?'" in m for m in notes), notes


# ------------------------------------------------------------------ item 15: baselines


def test_gradient_boosting_splits_at_small_label_counts():
    """sklearn's 20 rows per leaf cannot split 30 labelled rows: the baseline predicted
    the prior. It must scale its leaf size with the labelled rows."""
    from jepakit_tabular.baselines import hist_gradient_boosting

    rng = np.random.default_rng(0)
    n = 400
    x = rng.standard_normal((n, 4))
    frame = pd.DataFrame(x, columns=list("abcd")).assign(y=np.where(x[:, 0] > 0, "p", "q"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = load(frame, target="y", dependence=False)
    task = b.tasks["y"]
    y_tr = task.train.labels
    picks = np.concatenate([np.flatnonzero(y_tr == c)[:15] for c in (0, 1)])
    pred = hist_gradient_boosting(task, picks.tolist(), 0)
    acc = float((pred.argmax(1) == task.test.labels).mean())
    assert acc > 0.85, acc
    # regression too
    rb = load(pd.DataFrame(x, columns=list("abcd")).assign(y=3 * x[:, 0] + 0.1 * x[:, 1]), target="y", dependence=False)
    rt = rb.tasks["y"]
    pred = hist_gradient_boosting(rt, list(range(30)), 0)
    r2 = 1 - np.mean((pred - rt.test.labels) ** 2) / np.var(rt.test.labels)
    assert r2 > 0.5, r2


# ------------------------------------------------------------------ item 9: DataFrames


def test_pretrain_accepts_a_dataframe(tmp_path, capsys):
    from jepakit.bench import run_evaluate
    from jepakit.train import pretrain

    frame, _, _, _ = _messy(n=150)
    tiny = {
        "data": {"target": "label"},
        "model": {"width": 16, "depth": 1, "heads": 2}, "train": {"steps": 2, "batch_size": 16, "progress": False, "rankme_every": 0},
        "eval": {"seeds": 1, "fractions": [1.0], "heads": ["linear"]},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pretrain("tabular", data=frame, overrides=tiny, out=tmp_path / "run")
        cfg = json.loads((tmp_path / "run" / "config.json").read_text())
        assert cfg["data"]["path"] == "<DataFrame 150x7>"
        res = run_evaluate(tmp_path / "run", data=frame, echo=False)
    assert res.summary and res.summary[0]["task"] == "label"
    with pytest.raises(DataError, match="in-memory"):
        run_evaluate(tmp_path / "run", echo=False)


def test_a_year_per_row_is_kept_but_a_saved_index_is_not():
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({"year": np.arange(1950, 1950 + n), "row": np.arange(1, n + 1), "v": rng.standard_normal(n),
                          "y": rng.choice(["a", "b"], n)})
    s, notes = _notices(fit_schema, frame, target="y")
    assert "year" in s.columns and "row" not in s.columns
    assert any("'row'" in m and "row numbers" in m for m in notes), notes


def test_data_that_is_not_a_table_is_a_one_line_error():
    with pytest.raises(DataError, match="a list is not a table"):
        load([[1, 2], [3, 4]])
    frame = pd.DataFrame([[1.0, 2.0, 0], [3.0, 4.0, 1]] * 10, columns=["a", "a", "y"])
    with pytest.raises(DataError, match="'a' occurs more than once"):
        load(frame, target="y")


def test_registration_lists_the_bundled_tables_and_baselines_by_reference():
    from jepakit_tabular import plugin
    from jepakit_tabular.baselines import BASELINES
    from jepakit_tabular.synthetic import TABLES

    assert tuple(plugin.TABLES) == tuple(TABLES)
    assert set(plugin.BASELINES) == set(BASELINES)
    assert all(plugin.BASELINES[k].resolve() is BASELINES[k] for k in BASELINES)
