"""WFDB reading through the plugin: lead mapping, resampling, missing leads, gaps,
multi-segment records and bad input."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import wfdb

from jepakit.errors import DataError
from jepakit_ecg.io import find_records, iter_wfdb_folder, read_wfdb
from jepakit_ecg.leads import LEADS, canonical, map_leads
from jepakit_ecg.preprocess import Preprocess
from jepakit_ecg.testing import TONES, tones, write_record

RAW = Preprocess(rate=500, highpass=None, lowpass=None, standardize="none")


def dominant(x: np.ndarray, fs: float) -> float:
    spec = np.abs(np.fft.rfft(x - x.mean()))
    return float(np.fft.rfftfreq(len(x), 1 / fs)[spec.argmax()])


def test_lead_names_are_mapped_to_the_standard_order():
    assert canonical("AVR") == "aVR" and canonical("lead aVL") == "aVL" and canonical("MLII") == "II"
    assert canonical("D3") == "III" and canonical("v5") == "V5" and canonical("RESP") is None
    cols, unknown = map_leads(["V2", "RESP", "I", "AVF", "I"])
    assert cols[LEADS.index("V2")] == 0 and cols[LEADS.index("I")] == 2 and cols[LEADS.index("aVF")] == 3
    assert unknown == ["RESP"] and sum(c is not None for c in cols) == 3


def test_shuffled_upper_case_leads_are_reordered_and_resampled(tmp_path):
    order = np.random.default_rng(1).permutation(12)
    names = [LEADS[k].upper() for k in order]
    sig = tones(4.0, 250.0)[:, order] * 0.8
    hea = write_record(tmp_path, "rec", sig, 250, names)
    x, present, fs = read_wfdb(hea, RAW)
    assert fs == 250 and present.all() and x.shape == (12, 2000)
    for k in range(12):
        assert dominant(x[k], 500) == pytest.approx(TONES[k], abs=0.26)
        assert np.abs(x[k]).max() == pytest.approx(0.8, abs=0.05)  # physical units survive


def test_resampling_from_360_hz(tmp_path):
    hea = write_record(tmp_path, "r360", tones(3.0, 360.0), 360, list(LEADS))
    x, _, _ = read_wfdb(hea, Preprocess(rate=100, highpass=None, standardize="none"))
    assert x.shape == (12, 300)
    assert dominant(x[11], 100) == pytest.approx(6.5, abs=0.34)


def test_missing_leads_are_flagged_not_rejected(tmp_path):
    sig = tones(3.0, 360.0, [2.0, 4.0, 6.0])
    hea = write_record(tmp_path, "mit", sig, 360, ["MLII", "V1", "V5"])
    x, present, _ = read_wfdb(hea, Preprocess(rate=500, standardize="lead"))
    assert present.tolist() == [name in ("II", "V1", "V5") for name in LEADS]
    assert np.all(x[~present] == 0)
    assert x[present].std(axis=1) == pytest.approx(np.ones(3), abs=1e-3)
    assert dominant(x[LEADS.index("V1")], 500) == pytest.approx(4.0, abs=0.34)


def test_nan_gap_is_interpolated_and_all_nan_lead_flagged(tmp_path):
    sig = tones(4.0, 500.0) * 0.5
    sig[800:850, 0] = np.nan  # a 100 ms gap in lead I
    sig[:, 7] = np.nan  # V2 never recorded
    hea = write_record(tmp_path, "gaps", sig, 500, list(LEADS))
    with pytest.warns(UserWarning, match=r"gaps.hea.*V2 \(all NaN\)"):
        x, present, _ = read_wfdb(hea, RAW)
    assert np.isfinite(x).all() and not present[7] and present.sum() == 11
    truth = tones(4.0, 500.0)[800:850, 0] * 0.5
    assert np.abs(x[0, 800:850] - truth).max() < 0.05


def test_record_with_every_lead_nan_is_an_error(tmp_path):
    sig = np.full((1000, 2), np.nan)
    hea = write_record(tmp_path, "empty", sig, 500, ["I", "II"])
    with pytest.raises(DataError, match=r"empty.hea: every lead is empty"):
        read_wfdb(hea, RAW)


def test_no_known_lead_is_an_error(tmp_path):
    hea = write_record(tmp_path, "resp", tones(3.0, 250.0, [1.0, 2.0]), 250, ["RESP", "PLETH"])
    with pytest.raises(DataError, match=r"resp.hea: no standard ECG lead"):
        read_wfdb(hea, RAW)


def test_sampling_rate_too_low_for_the_patch(tmp_path):
    hea = write_record(tmp_path, "slow", tones(10.0, 20.0, [0.5, 1.0]), 20, ["I", "II"])
    with pytest.raises(DataError, match=r"slow.hea: sampling rate 20 Hz is too low for 50 ms tokens"):
        read_wfdb(hea, RAW)


def test_missing_and_truncated_signal_files(tmp_path):
    hea = write_record(tmp_path, "gone", tones(2.0, 250.0), 250, list(LEADS))
    os.remove(tmp_path / "gone.dat")
    with pytest.raises(DataError, match=r"gone.hea: signal file .*gone.dat is missing"):
        read_wfdb(hea, RAW)
    hea = write_record(tmp_path, "cut", tones(2.0, 250.0), 250, list(LEADS))
    os.truncate(tmp_path / "cut.dat", 1000)
    with pytest.raises(DataError, match=r"cut.hea: signal data are truncated"):
        read_wfdb(hea, RAW)
    with pytest.raises(DataError, match=r"nothere.hea: no such WFDB header"):
        read_wfdb(tmp_path / "nothere", RAW)


def _segment(folder, name, n, fs, value):
    rec = wfdb.Record(record_name=name, n_sig=2, fs=fs, sig_len=n, sig_name=["I", "V1"], units=["mV", "mV"],
                      p_signal=np.full((n, 2), value) + np.linspace(0, 0.1, n)[:, None], fmt=["16", "16"])
    rec.set_d_features(do_adc=True)
    rec.set_defaults()
    rec.wrsamp(write_dir=str(folder))


def test_multi_segment_record_and_folder_discovery(tmp_path):
    _segment(tmp_path, "ms_1", 500, 250, 0.5)
    _segment(tmp_path, "ms_2", 300, 250, -0.5)
    multi = wfdb.MultiRecord(record_name="ms", n_sig=2, fs=250, sig_len=800, seg_name=["ms_1", "ms_2"], seg_len=[500, 300])
    multi.n_seg = 2  # wfdb's writer needs it but does not take it as an argument
    multi.wrheader(write_dir=str(tmp_path))
    write_record(tmp_path, "plain", tones(4.0, 250.0), 250, list(LEADS))
    assert [h.name for h in find_records(tmp_path)] == ["ms.hea", "plain.hea"]
    x, present, _ = read_wfdb(tmp_path / "ms.hea", Preprocess(rate=250, highpass=None, standardize="none", patch_ms=40))
    assert x.shape == (12, 800) and present.sum() == 2
    assert x[0, 100] == pytest.approx(0.5 + 0.1 * 100 / 499, abs=0.005) and x[0, 700] == pytest.approx(-0.5 + 0.1 * 200 / 299, abs=0.005)


def test_one_bad_record_in_a_folder_is_skipped(tmp_path):
    write_record(tmp_path, "a", tones(4.0, 250.0), 250, list(LEADS))
    write_record(tmp_path / "sub", "b", tones(4.0, 250.0), 250, list(LEADS))
    write_record(tmp_path, "c", tones(4.0, 250.0), 250, list(LEADS))
    os.remove(tmp_path / "c.dat")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = list(iter_wfdb_folder(tmp_path, RAW))
    assert [m["name"] for _, m in items] == ["a", os.path.join("sub", "b")]
    assert any("c.hea" in str(w.message) and "missing" in str(w.message) for w in caught)
