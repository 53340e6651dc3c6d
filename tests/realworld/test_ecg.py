"""End to end on a messy PTB-XL-shaped ECG folder written with wfdb the way real
databases write records.

Five conventions and one broken copy, at three sampling rates:

* standard 12-lead records at 500 Hz, upper-case names (PTB-XL);
* Holter / MIT-BIH AF records at 250 Hz with channels ``ECG1``, ``ECG2`` (channel
  numbers, not leads: ``data.leads_map`` names them, or they are refused with a word);
* Cabrera-display records at 360 Hz holding ``-aVR`` (sign-flipped into aVR) and a
  respiration channel;
* MIT-BIH records at 360 Hz with ``MLII``, ``V1`` in microvolts;
* a record whose signal file was cut short.

The Python API pretrains a tiny model for a few steps and evaluates the checkpoint on
the superclass labels; the bundle's description says how many leads are covered.
"""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import pytest
import torch
import wfdb

from jepakit.errors import DataNotice
from jepakit.train import pretrain
from jepakit_ecg.leads import LEADS
from jepakit_ecg.synthetic import synth_record
from jepakit_ecg.testing import STATEMENTS

torch.set_num_threads(1)

SECONDS = 3.0
CODES = ["{'NORM': 100.0}", "{'IMI': 100.0}", "{'LVH': 100.0}", "{'NDT': 100.0}"]
LIMB = {"I": 0, "II": 1, "aVR": 3}


def _write(folder, name, sig, fs, names, units="mV"):
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=fs, units=[units] * len(names), sig_name=list(names), p_signal=sig,
                fmt=["16"] * len(names), write_dir=str(folder))


def _record(root, ecg_id: int, kind: str, rng) -> str:
    fs = {"ptbxl": 500, "holter": 250, "cabrera": 360, "mitbih": 360, "broken": 500}[kind]
    sig, _y, _af = synth_record(rng, SECONDS, float(fs))  # (T, 12) in mV, standard order
    rel = f"records/{ecg_id:05d}_{kind}"
    folder, name = root / "records", f"{ecg_id:05d}_{kind}"
    if kind in ("ptbxl", "broken"):
        _write(folder, name, sig, fs, [n.upper() for n in LEADS])
        if kind == "broken":
            os.truncate(folder / f"{name}.dat", 300)
    elif kind == "holter":
        _write(folder, name, sig[:, [1, 6]], fs, ["ECG1", "ECG2"])  # II and V1 in truth
    elif kind == "cabrera":
        resp = np.sin(2 * np.pi * 0.25 * np.arange(len(sig)) / fs)[:, None]
        _write(folder, name, np.hstack([sig[:, [0, 1]], -sig[:, [3]], sig[:, 6:], resp]), fs,
               ["I", "II", "-aVR", "V1", "V2", "V3", "V4", "V5", "V6", "RESP"])
    else:
        _write(folder, name, sig[:, [1, 6]] * 1000.0, fs, ["MLII", "V1"], units="uV")
    return rel


def _folder(root):
    rng = np.random.default_rng(0)
    kinds = ["ptbxl", "holter", "cabrera", "mitbih"]
    rows = []
    for i in range(16):
        kind = kinds[i % 4]
        rel = _record(root, i + 1, kind, rng)
        rows.append({"ecg_id": i + 1, "scp_codes": CODES[(i // 4 + i) % 4], "strat_fold": 10 if i >= 12 else 1 + i % 8,
                     "filename_lr": rel, "filename_hr": rel})
    rel = _record(root, 17, "broken", rng)
    rows.append({"ecg_id": 17, "scp_codes": CODES[0], "strat_fold": 1, "filename_lr": rel, "filename_hr": rel})
    pd.DataFrame(rows).set_index("ecg_id").to_csv(root / "ptbxl_database.csv")
    STATEMENTS.to_csv(root / "scp_statements.csv")
    return root


TINY = {
    "model": {"width": 32, "depth": 1, "heads": 2, "pred_width": 16, "pred_depth": 1, "pred_heads": 2},
    "train": {"steps": 4, "batch_size": 8, "lr": 1e-3, "warmup": 1, "progress": False, "rankme_every": 0, "device": "cpu"},
    "eval": {"fractions": [1.0], "seeds": 1, "max_iter": 200},
}


def test_messy_ecg_folder_pretrains_and_evaluates(tmp_path, evaluated):
    root = _folder(tmp_path / "messy")
    data = {"path": str(root), "rate": 100, "crop": 2.0, "cache": str(tmp_path / "cache")}
    from jepakit_ecg.data import load

    # without a leads map, the ECG1/ECG2 records are refused in one line that names the option
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bundle = load(**data)
    said = [str(w.message) for w in caught if issubclass(w.category, DataNotice)]
    assert all("\n" not in s for s in said)
    assert any("holter" in s and "ECG1" in s and "data.leads_map" in s for s in said)
    assert any("broken" in s and "truncated" in s for s in said)
    assert any("RESP" in s and "4 records" in s for s in said)
    assert len(bundle.pretrain) == 9  # outside test fold 10: 3 of each kind but the refused Holter and the broken one

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = pretrain("ecg", overrides=dict(TINY, data=dict(data, leads_map={"ECG1": "II", "ECG2": "V1"})), out=tmp_path / "run")
    said = [str(w.message) for w in caught if issubclass(w.category, DataNotice)]
    assert not any("ECG1" in s for s in said)
    cover = [s for s in said if "zero-filled" in s]
    assert len(cover) == 1 and "12 leads" in cover[0] and "\n" not in cover[0]
    desc = run.bundle.describe
    assert "12 pretraining records" in desc and "resampled from 250, 360, 500 Hz" in desc
    assert "of the model's 12 leads" in desc and "zero-filled" not in desc.split("in some records")[0]

    # the leads landed where they belong: the Holter record's ECG1 is II, not I; -aVR flipped
    store = run.bundle.pretrain.store
    metas = {store.meta(i)["name"]: i for i in range(len(store))}
    holter = next(i for n, i in metas.items() if "holter" in n)
    assert [LEADS[k] for k, p in enumerate(store.meta(holter)["present"]) if p] == ["II", "V1"]
    cab = next(i for n, i in metas.items() if "cabrera" in n)
    x = store.read(cab)
    # Goldberger: aVR = -(I + II) / 2, so the flipped channel correlates with -(I + II)
    r = np.corrcoef(x[LEADS.index("aVR")], -(x[0] + x[1]))[0, 1]
    assert r > 0.3  # (the synthetic leads carry their own noise; unflipped, r would be about -0.5)

    result = evaluated(run, 4)
    auc = [r["macro_auc"] for r in result.summary if r["task"] == "superclass"]
    assert auc and all(np.isfinite(a) or np.isnan(a) for a in auc)
    assert result.summary[0]["kind"] == "multilabel"


def test_messy_ecg_folder_with_only_generic_channels_is_one_error(tmp_path):
    from jepakit.errors import DataError
    from jepakit_ecg.data import load

    rng = np.random.default_rng(1)
    for i in range(3):
        sig, _, _ = synth_record(rng, SECONDS, 250.0)
        _write(tmp_path / "afdb", f"0{i}", sig[:, [1, 6]], 250, ["ECG1", "ECG2"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError) as err:
            load(path=str(tmp_path / "afdb"), rate=100, crop=2.0, cache=str(tmp_path / "c"))
    msg = str(err.value)
    assert "\n" not in msg and "none of the 3 records" in msg and "ECG1, ECG2" in msg and "data.leads_map" in msg
