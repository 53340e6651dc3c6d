"""Real-data defects (issue 14): generic channel names, inverted leads, unknown channels,
units, NaN gaps, per-file reasons in the final error, lead coverage, stale caches.
Every record is written with wfdb.wrsamp."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import wfdb

from jepakit.errors import ConfigError, DataError, DataNotice
from jepakit_ecg.data import load
from jepakit_ecg.io import iter_wfdb_folder, read_wfdb
from jepakit_ecg.leads import LEADS, canonical
from jepakit_ecg.preprocess import Preprocess
from jepakit_ecg.testing import tones, write_record

RAW = Preprocess(rate=500, highpass=None, lowpass=None, standardize="none")


def notices(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, DataNotice)]


def record_notices(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    return result, notices(caught)


# ------------------------------------------------------------------------- lead names


def test_generic_channel_names_are_not_taken_for_leads(tmp_path):
    # MIT-BIH AF / Holter records: ECG1, ECG2 are channel numbers, not leads I and II
    hea = write_record(tmp_path, "afdb", tones(3.0, 250.0, [1.0, 2.0]), 250, ["ECG1", "ECG2"])
    with pytest.raises(DataError) as err:
        read_wfdb(hea, RAW)
    msg = str(err.value)
    assert "afdb.hea" in msg and "ECG1" in msg and "ECG2" in msg and "data.leads_map" in msg and "\n" not in msg
    assert canonical("ECG1") is None and canonical("1") is None
    assert canonical("MLII") == "II" and canonical("DII") == "II" and canonical("ECG I") == "I"  # real aliases stay


def test_leads_map_names_generic_channels(tmp_path):
    sig = tones(3.0, 250.0, [1.0, 2.0]) * 0.7
    hea = write_record(tmp_path, "afdb", sig, 250, ["ECG1", "ECG2"])
    pre = Preprocess(rate=250, highpass=None, standardize="none", patch_ms=40, leads_map={"ECG1": "II", "ECG2": "-V1"})
    (x, present, _), said = record_notices(read_wfdb, hea, pre)
    assert present.tolist() == [n in ("II", "V1") for n in LEADS]
    np.testing.assert_allclose(x[LEADS.index("II")], sig[:, 0], atol=2e-3)
    np.testing.assert_allclose(x[LEADS.index("V1")], -sig[:, 1], atol=2e-3)
    assert not any("ECG1" in s for s in said)


def test_leads_map_bad_value_is_a_config_error():
    with pytest.raises(ConfigError, match="leads_map.*'X7'"):
        load(path=None, leads_map={"ECG1": "X7"}, records=(2, 0, 0))


def test_inverted_lead_is_sign_flipped(tmp_path):
    sig = tones(3.0, 500.0, [1.0, 2.0, 3.0]) * 0.5
    hea = write_record(tmp_path, "cabrera", sig, 500, ["I", "II", "-aVR"])
    x, present, _ = read_wfdb(hea, RAW)
    assert present[LEADS.index("aVR")]
    np.testing.assert_allclose(x[LEADS.index("aVR")], -sig[:, 2], atol=2e-3)
    np.testing.assert_allclose(x[LEADS.index("I")], sig[:, 0], atol=2e-3)


def test_unknown_and_duplicate_channels_are_reported_in_one_line(tmp_path):
    sig = tones(3.0, 500.0, [1.0, 2.0, 3.0, 4.0, 5.0])
    hea = write_record(tmp_path, "poly", sig, 500, ["I", "II", "RESP", "ECG3", "MLII"])
    (_, present, _), said = record_notices(read_wfdb, hea, RAW)
    assert present.sum() == 2
    assert len(said) == 1 and "\n" not in said[0]
    assert "poly.hea" in said[0] and "RESP" in said[0] and "ECG3" in said[0] and "MLII" in said[0]
    assert "data.leads_map" in said[0]


def test_folder_reports_unknown_channels_once_for_all_records(tmp_path):
    for i in range(3):
        write_record(tmp_path, f"r{i}", tones(3.0, 250.0, [1.0, 2.0]), 250, ["MLII", "RESP"])
    items, said = record_notices(lambda: list(iter_wfdb_folder(tmp_path, RAW)))
    assert len(items) == 3
    resp = [s for s in said if "RESP" in s]
    assert len(resp) == 1 and "3 records" in resp[0]


# ------------------------------------------------------------------- units and gaps


def test_microvolt_records_are_converted_to_millivolts(tmp_path):
    sig = tones(3.0, 500.0, [1.0, 2.0]) * 800.0  # 0.8 mV written in uV
    wfdb.wrsamp("uv", fs=500, units=["uV", "mV"], sig_name=["I", "II"], p_signal=np.stack([sig[:, 0], sig[:, 1] / 1000], 1),
                fmt=["16", "16"], write_dir=str(tmp_path))
    x, _, _ = read_wfdb(tmp_path / "uv.hea", RAW)
    assert np.abs(x[0]).max() == pytest.approx(0.8, abs=0.01)
    assert np.abs(x[1]).max() == pytest.approx(0.8, abs=0.01)


def test_interpolated_nan_gaps_are_reported(tmp_path):
    sig = tones(4.0, 500.0, [1.0, 2.0])
    sig[800:850, 0] = np.nan
    hea = write_record(tmp_path, "gap", sig, 500, ["I", "II"])
    (_, present, _), said = record_notices(read_wfdb, hea, RAW)
    assert present.sum() == 2
    assert any("gap.hea" in s and "50" in s and "interpolated" in s for s in said)


# --------------------------------------------------------- the reason in the final error


def test_folder_of_bad_records_names_the_reason(tmp_path):
    write_record(tmp_path, "cut", tones(4.0, 250.0), 250, list(LEADS))
    os.truncate(tmp_path / "cut.dat", 500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError) as err:
            load(path=str(tmp_path), rate=100, crop=2.5, cache=str(tmp_path / "c"))
    msg = str(err.value)
    assert "cut.hea" in msg and "truncated" in msg and "\n" not in msg


def test_folder_of_generic_channels_error_names_the_option(tmp_path):
    for i in range(2):
        write_record(tmp_path / "afdb", f"0{i}", tones(3.0, 250.0, [1.0, 2.0]), 250, ["ECG1", "ECG2"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError) as err:
            load(path=str(tmp_path / "afdb"), rate=100, crop=2.5, cache=str(tmp_path / "c"))
    msg = str(err.value)
    assert "none of the 2 records" in msg and "ECG1" in msg and "data.leads_map" in msg and "\n" not in msg
    bundle = load(path=str(tmp_path / "afdb"), rate=100, crop=2.5, cache=str(tmp_path / "c"), leads_map={"ECG1": "II", "ECG2": "V1"})
    assert len(bundle.pretrain) == 2


# ---------------------------------------------------------------------- lead coverage


def test_partial_lead_coverage_is_described_and_noticed(tmp_path):
    for i in range(3):
        write_record(tmp_path / "mit", f"1{i}", tones(4.0, 360.0, [1.0, 2.0]), 360, ["MLII", "V1"])
    bundle, said = record_notices(load, path=str(tmp_path / "mit"), rate=100, crop=2.5, cache=str(tmp_path / "c"))
    assert "2 of the model's 12 leads" in bundle.describe and "zero-filled" in bundle.describe
    assert "V6" in bundle.describe
    cover = [s for s in said if "zero-filled" in s]
    assert len(cover) == 1 and "II, V1" in cover[0] and "\n" not in cover[0]
    full, said = record_notices(load, rate=100, crop=2.5, seconds=3.0, records=(4, 0, 0))
    assert "12 of the model's 12 leads" in full.describe and not [s for s in said if "zero-filled" in s]


# ------------------------------------------------------------------------ stale caches


def test_npy_cache_follows_the_sampling_rate_option(tmp_path):
    np.save(tmp_path / "x.npy", tones(5.0, 500.0).T[None].astype(np.float32))
    a = load(path=str(tmp_path / "x.npy"), fs=500, rate=100, crop=2.5, cache=str(tmp_path / "c"))
    b = load(path=str(tmp_path / "x.npy"), fs=250, rate=100, crop=2.5, cache=str(tmp_path / "c"))
    assert a.pretrain.store.length(0) == 500 and b.pretrain.store.length(0) == 1000


def test_npz_rate_and_fs_option_must_agree(tmp_path):
    np.savez(tmp_path / "x.npz", signals=tones(5.0, 500.0).T[None], fs=500.0)
    with pytest.raises(DataError, match="x.npz.*500.*data.fs=250"):
        load(path=str(tmp_path / "x.npz"), fs=250, rate=100, crop=2.5, cache=str(tmp_path / "c"))


def test_rewritten_record_in_a_folder_is_prepared_again(tmp_path):
    write_record(tmp_path / "wf", "a", tones(4.0, 250.0), 250, list(LEADS))
    os.utime(tmp_path / "wf", ns=(1, 1))
    first = load(path=str(tmp_path / "wf"), rate=100, crop=2.5, cache=str(tmp_path / "c"))
    assert first.pretrain.store.meta(0)["present"][LEADS.index("V6")]
    write_record(tmp_path / "wf", "a", tones(4.0, 250.0, [1.0, 2.0]), 250, ["I", "II"])
    os.utime(tmp_path / "wf", ns=(1, 1))  # the folder's own time stays put, as on many copies
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        second = load(path=str(tmp_path / "wf"), rate=100, crop=2.5, cache=str(tmp_path / "c"))
    assert not second.pretrain.store.meta(0)["present"][LEADS.index("V6")]


def test_cache_inside_the_data_folder_is_reused(tmp_path):
    write_record(tmp_path / "wf", "a", tones(4.0, 250.0), 250, list(LEADS))
    for _ in range(2):
        load(path=str(tmp_path / "wf"), rate=100, crop=2.5, cache=str(tmp_path / "wf" / "cache"))
    assert len(list((tmp_path / "wf" / "cache").iterdir())) == 1


def test_mixed_failures_are_counted_per_reason(tmp_path):
    for name in ("a", "b"):
        write_record(tmp_path, name, tones(4.0, 250.0), 250, list(LEADS))
        os.remove(tmp_path / f"{name}.dat")
    write_record(tmp_path, "c", tones(3.0, 250.0, [1.0]), 250, ["RESP"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError) as err:
            list(iter_wfdb_folder(tmp_path, RAW))
    msg = str(err.value)
    assert "none of the 3 records" in msg and "a.hea" in msg and "x2" in msg and "x1" in msg and "\n" not in msg
