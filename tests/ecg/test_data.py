"""PTB-XL layout, prepared stores, NumPy input and the domain loader."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from jepakit.errors import ConfigError, DataError
from jepakit.prepared import PreparedStore
from jepakit_ecg.data import load, prepare
from jepakit_ecg.io import SUPERCLASSES, iter_ptbxl
from jepakit_ecg.leads import LEADS
from jepakit_ecg.preprocess import Preprocess
from jepakit_ecg.testing import PTBXL_ROWS, tones, write_record

EXPECTED = {f"records100/00000/{i:05d}_lr": y for i, _, _, y in PTBXL_ROWS}
FOLD = {i: f for i, _, f, _ in PTBXL_ROWS}


def _names(store, ids):
    return [store.meta(r)["name"] for r in ids]


def test_ptbxl_labels_folds_and_split(ptbxl, tmp_path):
    bundle = load(str(ptbxl), rate=100, crop=2.5, cache=str(tmp_path / "cache"))
    task = bundle.tasks["superclass"]
    assert task.kind == "multilabel" and list(task.classes) == list(SUPERCLASSES) and task.group_key == "record"
    store = task.train.store
    train_ids, test_ids = sorted(set(task.train.groups)), sorted(set(task.test.groups))
    # folds 1-8 train (ecg 7 has no diagnostic label), 9 validation (unused), 10 test
    assert sorted(int(n[-8:-3]) for n in _names(store, train_ids)) == [1, 2, 3, 4, 5, 6, 8]
    assert sorted(int(n[-8:-3]) for n in _names(store, test_ids)) == [11, 12, 13]
    for r in train_ids + test_ids:
        assert store.meta(r)["label"] == EXPECTED[store.meta(r)["name"]]
        assert store.meta(r)["fold"] == FOLD[int(store.meta(r)["name"][-8:-3])]
    # labels and groups arrays agree with the items the core would decode
    item = task.test[len(task.test) - 1]
    assert torch.equal(item["label"], torch.tensor(task.test.labels[-1])) and item["record"] == task.test.groups[-1]
    assert item["signal"].shape == (12, 250) and item["present"].dtype == torch.bool
    # 4 s records, 2.5 s windows, 1.25 s stride -> 2 windows per record
    assert len(task.test) == 2 * len(test_ids)
    # pretraining: every record outside the test fold, labelled or not
    pre_names = _names(store, bundle.pretrain.records)
    assert len(pre_names) == 10 and not any(int(n[-8:-3]) in (11, 12, 13) for n in pre_names)
    assert bundle.info == {"in_chans": 12, "length": 250, "patch": 5, "rate": 100, "leads": list(LEADS)}


def test_ptbxl_picks_the_500_hz_files_for_a_500_hz_model(ptbxl):
    items = list(iter_ptbxl(ptbxl, Preprocess(rate=500)))
    assert len(items) == len(PTBXL_ROWS)
    assert all(m["fs"] == 500 and "records500" in m["name"] for _, m in items)
    assert items[0][0].shape == (12, 2000)
    low = list(iter_ptbxl(ptbxl, Preprocess(rate=500), source_rate=100))
    assert low[0][1]["fs"] == 100 and low[0][0].shape == (12, 2000)


def test_ptbxl_csv_missing_columns(ptbxl):
    db = pd.read_csv(ptbxl / "ptbxl_database.csv", index_col=0)
    db.drop(columns=["strat_fold"]).to_csv(ptbxl / "ptbxl_database.csv")
    with pytest.raises(DataError, match=r"ptbxl_database.csv: missing column\(s\) strat_fold"):
        list(iter_ptbxl(ptbxl, Preprocess(rate=100)))
    db.to_csv(ptbxl / "ptbxl_database.csv")
    st = pd.read_csv(ptbxl / "scp_statements.csv", index_col=0)
    st.drop(columns=["diagnostic_class"]).to_csv(ptbxl / "scp_statements.csv")
    with pytest.raises(DataError, match=r"scp_statements.csv: missing column\(s\) diagnostic_class"):
        list(iter_ptbxl(ptbxl, Preprocess(rate=100)))


def test_ptbxl_bad_record_is_skipped(ptbxl):
    (ptbxl / "records100" / "00000" / "00003_lr.dat").unlink()
    with pytest.warns(UserWarning, match=r"00003_lr.hea: signal file"):
        items = list(iter_ptbxl(ptbxl, Preprocess(rate=100)))
    assert len(items) == len(PTBXL_ROWS) - 1


def test_prepare_then_load_gives_the_same_windows(ptbxl, tmp_path):
    out = prepare(ptbxl, tmp_path / "prep", rate=100)
    store = PreparedStore(out)
    assert store.attrs["rate"] == 100 and store.attrs["kind"] == "ptbxl" and len(store) == len(PTBXL_ROWS)
    head = json.loads((out / "index.json").read_text())
    assert head["channels"] == 12
    a = load(str(out), rate=100, crop=2.5)
    b = load(str(ptbxl), rate=100, crop=2.5, cache=str(tmp_path / "cache"))
    ta, tb = a.tasks["superclass"], b.tasks["superclass"]
    assert np.array_equal(ta.test.labels, tb.test.labels)
    assert torch.allclose(ta.test[0]["signal"], tb.test[0]["signal"])
    with pytest.raises(DataError, match=r"prepared at 100 Hz, the model runs at 500 Hz"):
        load(str(out), rate=500, crop=2.5)


def test_numpy_input_with_labels_and_missing_leads(tmp_path):
    sig = np.tile(tones(3.0, 250.0, [1.0, 2.0, 3.0]).T[None], (10, 1, 1)) * np.linspace(0.5, 2, 10)[:, None, None]
    labels = np.eye(2)[np.arange(10) % 2]
    np.savez(tmp_path / "ecg.npz", signals=sig, fs=250.0, leads=np.array(["I", "V2", "X"]), labels=labels)
    bundle = load(str(tmp_path / "ecg.npz"), rate=250, crop=2.0, patch_ms=40, cache=str(tmp_path / "c"))
    task = bundle.tasks["labels"]
    assert task.classes == ["class0", "class1"] and len(set(task.train.groups)) == 8 and len(set(task.test.groups)) == 2
    item = bundle.pretrain[0]
    assert item["present"].tolist() == [name in ("I", "V2") for name in LEADS]
    np.save(tmp_path / "plain.npy", sig)
    with pytest.raises(DataError, match=r"plain.npy: no sampling rate"):
        load(str(tmp_path / "plain.npy"), rate=250, crop=2.0, patch_ms=40, cache=str(tmp_path / "c"))


def test_short_records_are_skipped_and_all_short_is_an_error(tmp_path):
    write_record(tmp_path / "w", "long", tones(6.0, 250.0), 250, list(LEADS))
    write_record(tmp_path / "w", "short", tones(1.0, 250.0), 250, list(LEADS))
    with pytest.warns(UserWarning, match=r"skipping short: 500 samples, shorter than one crop of 1000"):
        bundle = load(str(tmp_path / "w"), rate=500, crop=2.0, cache=str(tmp_path / "c"))
    assert len(bundle.pretrain) == 1 and bundle.tasks == {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match=r"every record is shorter than one crop of 10 s \(longest 6.0 s\)"):
            load(str(tmp_path / "w"), rate=500, crop=10.0, cache=str(tmp_path / "c"))


def test_bad_options_are_one_line_config_errors():
    with pytest.raises(ConfigError, match="not a whole number of samples at rate 250"):
        load(rate=250, crop=2.0, records=(2, 2, 2), seconds=3.0)
    with pytest.raises(ConfigError, match="not a multiple of the 5-sample token"):
        load(rate=100, crop=2.52, records=(2, 2, 2), seconds=3.0)


def test_synthetic_bundle_is_reproducible_and_standardised():
    a = load(rate=100, crop=2.5, records=(6, 4, 4), seconds=5.0, seed=3)
    b = load(rate=100, crop=2.5, records=(6, 4, 4), seconds=5.0, seed=3)
    x = a.tasks["superclass"].test[0]["signal"]
    assert torch.equal(x, b.tasks["superclass"].test[0]["signal"])
    assert len(a.pretrain) == 10 and len(a.tasks["superclass"].train) == 4 * 3
    whole = a.tasks["superclass"].test.store.read(0)
    assert np.allclose(whole.mean(1), 0, atol=1e-4) and np.allclose(whole.std(1), 1, atol=1e-3)
