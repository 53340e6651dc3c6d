"""Readers, schema fitting/serialisation and bad-input handling."""

import json

import numpy as np
import pandas as pd
import pytest

from jepakit.errors import DataError
from jepakit_tabular.data import load
from jepakit_tabular.schema import MISSING, UNKNOWN, Schema, TabularNotice, encode_frame


def _schema_json(bundle) -> dict:
    return json.loads(json.dumps(bundle.info["schema"]))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "frame"])
def test_formats_round_trip_schema(tmp_path, mixed_frame, fmt):
    if fmt == "csv":
        src = tmp_path / "t.csv"
        mixed_frame.to_csv(src, index=False)
    elif fmt == "parquet":
        src = tmp_path / "t.parquet"
        mixed_frame.to_parquet(src)
    else:
        src = mixed_frame
    with pytest.warns(TabularNotice, match="constant column 'const'"):
        b = load(src, target="label", dependence=False)
    schema = Schema.from_dict(_schema_json(b))  # JSON-serialisable and back
    assert [c["name"] for c in schema.numeric] == ["x", "age", "count"]
    assert [c["name"] for c in schema.categorical] == ["colour"]
    assert schema.categorical[0]["vocab"] == ["blue", "green", "red"]
    assert schema.task == "multiclass" and schema.classes == ["no", "yes"]
    assert {"name": "const", "reason": "constant"} in schema.dropped
    assert schema.numeric[1]["missing"] > 0
    # the same schema from every format: compare with the DataFrame reference
    with pytest.warns(TabularNotice):
        ref = load(mixed_frame, target="label", dependence=False)
    assert _schema_json(ref) == _schema_json(b)
    # an item streams one row
    item = b.pretrain[0]
    assert item["num"].shape == (3,) and item["cat"].shape == (1,)
    task = b.tasks["label"]
    assert len(task.train) + len(task.test) == len(mixed_frame)


def test_saved_schema_reproduces_encoding(tmp_path, mixed_frame):
    with pytest.warns(TabularNotice):
        b = load(mixed_frame, target="label", dependence=False)
    saved = json.loads(json.dumps(b.state))
    new = mixed_frame.sample(frac=1.0, random_state=1)
    # new rows with a different scale would give another fit; the saved schema must win
    new["x"] = new["x"] * 10 + 3
    again = load(new, target="label", dependence=False, state=saved)
    assert again.info["schema"] == b.info["schema"]
    num1, cat1 = encode_frame(new, saved["schema"])
    num2, cat2 = encode_frame(new, Schema.from_dict(saved["schema"]))
    np.testing.assert_array_equal(cat1, cat2)
    np.testing.assert_array_equal(num1, num2)


def test_the_fitted_schema_is_declared_bundle_state(mixed_frame):
    """What the loader fitted (schema, column dependence) is DataBundle.state, which the
    core saves with a checkpoint and hands back; a checkpoint written before state
    existed hands back its info, which holds the same keys."""
    with pytest.warns(TabularNotice):
        b = load(mixed_frame, target="label")
    assert set(b.state) == {"schema", "dependence"}
    assert b.state["schema"] == b.info["schema"] and b.state["dependence"] == b.info["dependence"]
    assert json.loads(json.dumps(b.state)) == b.state
    new = mixed_frame.assign(x=mixed_frame["x"] * 10 + 3)
    for saved in (b.state, json.loads(json.dumps(b.info))):
        again = load(new, target="label", state=saved)
        assert again.state == b.state


def test_unseen_category_and_missing_values_encode(mixed_frame):
    with pytest.warns(TabularNotice):
        b = load(mixed_frame, target="label", dependence=False)
    rows = pd.DataFrame({"x": [np.nan, 1.0], "age": [30.0, np.nan], "colour": ["purple", None], "count": [1, 2]})
    num, cat = encode_frame(rows, b.info["schema"])
    assert cat[0, 0] == UNKNOWN and cat[1, 0] == MISSING
    assert np.isnan(num[0, 0]) and np.isnan(num[1, 1])


def test_npy_rows_are_read_from_file(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.standard_normal((500, 6)).astype(np.float32)
    arr[:, 5] = (arr[:, 0] > 0).astype(np.float32)
    arr[3, 2] = np.nan
    path = tmp_path / "big.npy"
    np.save(path, arr)
    b = load(str(path), target=5, dependence=False)
    assert not hasattr(b.pretrain.rows, "array")  # rows come from the file, not memory
    s = Schema.from_dict(b.info["schema"])
    assert s.task == "multiclass" and len(s.numeric) == 5
    np.testing.assert_allclose(s.numeric[0]["mean"], np.nanmean(arr[:, 0]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.numeric[2]["std"], np.nanstd(arr[:, 2]), rtol=1e-4)
    item = b.pretrain[0]
    r = int(b.pretrain.indices[0])
    np.testing.assert_allclose(item["num"].numpy(), (arr[r, :5] - [c["mean"] for c in s.numeric]) / [c["std"] for c in s.numeric], rtol=1e-4, atol=1e-5)
    # the same file as an in-memory array gives the same schema
    assert load(arr, target=5, dependence=False).info["schema"] == b.info["schema"]


def test_type_overrides(mixed_frame):
    with pytest.warns(TabularNotice):
        b = load(mixed_frame, target="label", categorical="count", dependence=False)
    s = Schema.from_dict(b.info["schema"])
    assert "count" in [c["name"] for c in s.categorical]
    with pytest.warns(TabularNotice):
        r = load(mixed_frame, target="x", task="regression", drop=["colour"], dependence=False)
    assert r.tasks["x"].kind == "regression" and "colour" not in r.info["schema"]["categorical"]


def test_missing_target_column(mixed_frame, tmp_path):
    src = tmp_path / "t.csv"
    mixed_frame.to_csv(src, index=False)
    with pytest.raises(DataError, match=r"t\.csv: no target column 'nope'"):
        load(str(src), target="nope")


def test_empty_table(tmp_path):
    src = tmp_path / "empty.csv"
    src.write_text("a,b,label\n")
    with pytest.raises(DataError, match="empty"):
        load(str(src), target="label")
    src.write_text("")
    with pytest.raises(DataError, match="empty"):
        load(str(src))


def test_single_class_target(mixed_frame):
    f = mixed_frame.assign(label="yes")
    with pytest.raises(DataError, match="single class"):
        load(f, target="label")


def test_unparseable_numeric_column(tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text("a,b,label\n1,2,0\n3,oops,1\n5,6,0\n7,8,1\n9,1,0\n2,2,1\n")
    with pytest.raises(DataError, match=r"bad\.csv: column 'b' is numeric but row 1 holds 'oops'"):
        load(str(src), target="label", numeric=["b"])
    # inferred as categorical without the override
    b = load(str(src), target="label", dependence=False)
    assert [c["name"] for c in b.info["schema"]["categorical"]] == ["b"]


def test_all_missing_column_is_dropped_and_reported(mixed_frame):
    f = mixed_frame.assign(empty=np.nan)
    with pytest.warns(TabularNotice, match="'empty': all values missing"):
        b = load(f, target="label", dependence=False)
    assert "empty" not in Schema.from_dict(b.info["schema"]).columns


def test_unknown_file_format(tmp_path):
    p = tmp_path / "t.xlsx"
    p.write_text("x")
    with pytest.raises(DataError, match="unknown table format"):
        load(str(p))


def test_default_tables_load():
    b = load(table="wine")
    assert b.tasks["wine"].kind == "multiclass" and len(b.info["dependence"]) == 13
    with pytest.raises(DataError, match="unknown default table"):
        load(table="iris2")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def test_npy_table_is_streamed_not_loaded(tmp_path):
    """An 80 MB .npy table: loading it and reading batches keeps resident memory far
    below the table's size (rows are read with pread, the schema in streamed blocks)."""
    from jepakit_tabular.synthetic import write_generated

    path = write_generated(tmp_path / "big.npy", rows=400_000, cols=50, chunk=20_000)
    before = _rss_bytes()
    b = load(str(path), dependence=True, dependence_rows=500)
    items = [b.pretrain[i] for i in range(0, len(b.pretrain), 997)]
    grown = _rss_bytes() - before
    assert len(b.pretrain) == 400_000 and len(items) > 400
    assert grown < 30e6, f"resident memory grew by {grown / 1e6:.0f} MB for an 80 MB table"


def test_old_data_names_load_with_a_notice_and_the_same_split():
    # data.test_size and data.split_seed became data.test_fraction and data.seed (the
    # vocabulary every domain shares); configs and checkpoints with the old names still load
    from jepakit import get_domain
    from jepakit.errors import ConfigError
    from jepakit.train import load_bundle

    dom = get_domain("tabular")
    new = load_bundle(dom, {"data": {"path": None, "test_fraction": 0.25, "seed": 3}})
    with pytest.warns(UserWarning, match=r"data\.test_size is deprecated, use data\.test_fraction"):
        old = load_bundle(dom, {"data": {"path": None, "test_size": 0.25, "split_seed": 3}})
    assert (old.tasks["breast_cancer"].test.ids == new.tasks["breast_cancer"].test.ids).all()
    with pytest.raises(ConfigError, match="give only data.seed"):
        load_bundle(dom, {"data": {"path": None, "split_seed": 3, "seed": 3}})
