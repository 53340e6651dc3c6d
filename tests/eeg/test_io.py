"""Readers: real EDF and FIF files written with MNE, read back through the plugin."""

from __future__ import annotations

import warnings

import mne
import numpy as np
import pytest

from jepakit.errors import DataError
from jepakit_eeg.channels import STANDARD_1020, make_info, normalize_name, positions_2d, positions_3d, standard_montage
from jepakit_eeg.data import load, prepare
from jepakit_eeg.io import read_folder, read_recording, subject_of
from jepakit_eeg.preprocess import Preprocess

TUH_NAMES = [
    f"EEG {({'T7': 'T3', 'T8': 'T4', 'P7': 'T5', 'P8': 'T6'}).get(c, c).upper()}-REF" for c in STANDARD_1020
]


@pytest.mark.parametrize(
    "label, expected",
    [("EEG FP1-REF", "Fp1"), ("EEG T3-LE", "T7"), ("T6", "P8"), ("fz", "Fz"), ("EEG CZ-REF", "Cz"), ("O2-A1", "O2"),
     ("EEG FC3-REF", "FC3"), ("Fp1-F7", None), ("EKG", None), ("PHOTIC-REF", None)],
)
def test_channel_names_are_normalised(label, expected):
    assert normalize_name(label) == expected


def test_montage_positions_come_from_the_standard_1020_template():
    ref = mne.create_info(list(STANDARD_1020), 128.0, "eeg")
    ref.set_montage(standard_montage("1020"))  # MNE's standard_1020 template, placed on the fiducials
    template = ref.get_montage().get_positions()["ch_pos"]
    info = make_info(STANDARD_1020, 128.0)
    attached = info.get_montage().get_positions()["ch_pos"]
    pos = positions_3d(STANDARD_1020)
    for i, c in enumerate(STANDARD_1020):
        np.testing.assert_allclose(attached[c], template[c])
        np.testing.assert_allclose(pos[i], template[c])
    xy = positions_2d(STANDARD_1020)
    idx = {c: i for i, c in enumerate(STANDARD_1020)}
    assert xy[idx["Fp1"], 1] > xy[idx["Cz"], 1] > xy[idx["O1"], 1]  # front at the top
    assert xy[idx["T7"], 0] < xy[idx["Cz"], 0] < xy[idx["T8"], 0]  # left to right


def _expected_uv(raw: mne.io.BaseRaw, sfreq: float, l_freq: float, h_freq: float) -> np.ndarray:
    ref = raw.copy().resample(sfreq, verbose="error").filter(l_freq, h_freq, verbose="error")
    return ref.get_data(picks=list(STANDARD_1020)) * 1e6


def test_edf_roundtrip_matches_channels_resamples_and_keeps_annotations(tmp_path, make_raw, write_edf):
    raw = make_raw(1, seconds=20.0, sfreq=256.0)
    expected = _expected_uv(raw, 128.0, 0.5, 45.0)
    tuh = raw.copy().rename_channels(dict(zip(STANDARD_1020, TUH_NAMES)))
    ekg = mne.io.RawArray(np.random.default_rng(0).standard_normal((1, tuh.n_times)) * 1e-4,
                          mne.create_info(["EKG1"], 256.0, "ecg"), verbose="error")
    tuh.add_channels([ekg])
    rng = np.random.default_rng(3)
    tuh.reorder_channels([tuh.ch_names[i] for i in rng.permutation(len(tuh.ch_names))])
    path = write_edf(tmp_path / "rec_s001_t000.edf", tuh)

    rec = read_recording(path, Preprocess(rate=128.0, highpass=0.5, lowpass=45.0, normalize="fixed", scale_uv=1.0))
    assert rec.channels == list(STANDARD_1020)
    assert rec.valid.all() and rec.bads == {}
    assert rec.sfreq == 128.0 and rec.data.shape == (19, 20 * 128)
    # same electrode in the same row, whatever the file's order and labels
    for i in range(19):
        r = np.corrcoef(rec.data[i], expected[i])[0, 1]
        assert r > 0.999, (STANDARD_1020[i], r)
    np.testing.assert_allclose(rec.data, expected, atol=0.02 * np.abs(expected).max())
    want = [(round(o, 2), d, s) for o, d, s in zip(raw.annotations.onset, raw.annotations.duration, raw.annotations.description)]
    got = [(round(o, 2), d, s) for o, d, s in rec.annotations]
    assert [g[2] for g in got] == [w[2] for w in want]
    np.testing.assert_allclose([g[0] for g in got], [w[0] for w in want], atol=0.01)


def test_normalisation_modes(tmp_path, make_raw):
    raw = make_raw(4, seconds=10.0, sfreq=128.0)
    path = tmp_path / "n_raw.fif"
    raw.save(path, verbose="error")
    rec = read_recording(path, Preprocess(normalize="recording"))
    assert np.median(rec.data.std(1)) == pytest.approx(1.0, rel=1e-4)
    assert rec.data.std(1).max() > 1.2  # relative amplitudes between electrodes survive
    rec = read_recording(path, Preprocess(normalize="channel"))
    np.testing.assert_allclose(rec.data.std(1), 1.0, rtol=1e-3)


def test_fif_bad_flat_nan_and_missing_channels_are_flagged(tmp_path, make_raw):
    raw = make_raw(2, seconds=12.0, sfreq=256.0)
    data = raw.get_data()
    names = list(raw.ch_names)
    data[names.index("O1")] = 0.0
    data[names.index("T7")] = np.nan
    data[names.index("F4"), 100:200] = np.nan
    fixed = mne.io.RawArray(data, raw.info, verbose="error")
    fixed.info["bads"] = ["Cz"]
    fixed.drop_channels(["Pz"])
    path = tmp_path / "bad_raw.fif"
    fixed.save(path, verbose="error")

    rec = read_recording(path)
    invalid = {c for c, ok in zip(rec.channels, rec.valid) if not ok}
    assert invalid == {"O1", "T7", "F4", "Cz", "Pz"}
    assert "flat" in rec.bads["O1"] and "NaN" in rec.bads["T7"] and "marked" in rec.bads["Cz"] and rec.bads["Pz"] == "missing"
    assert np.isfinite(rec.data).all()
    assert not rec.data[~rec.valid].any()
    assert (rec.data[rec.valid].std(1) > 0.1).all()


def test_noisy_channel_is_flagged(tmp_path, make_raw):
    raw = make_raw(5, seconds=10.0, sfreq=128.0)
    data = raw.get_data()
    data[3] += np.random.default_rng(0).standard_normal(data.shape[1]) * 5e-3  # 5 mV of noise
    path = tmp_path / "noisy_raw.fif"
    mne.io.RawArray(data, raw.info, verbose="error").save(path, verbose="error")
    rec = read_recording(path)
    assert not rec.valid[3] and "noisy" in rec.bads[raw.ch_names[3]]
    assert rec.valid.sum() == 18


def _one_line_error(path, prep=None) -> str:
    with pytest.raises(DataError) as err:
        read_recording(path, prep)
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg
    return msg


def test_bad_files_raise_one_line_errors_naming_the_file(tmp_path, make_raw, write_edf):
    garbage = tmp_path / "garbage.edf"
    garbage.write_bytes(b"this is not an EDF file" * 20)
    assert "cannot read" in _one_line_error(garbage)

    good = write_edf(tmp_path / "good.edf", make_raw(0, seconds=20.0))
    blob = open(good, "rb").read()
    truncated = tmp_path / "truncated.edf"
    truncated.write_bytes(blob[: len(blob) * 2 // 3])
    assert "truncated" in _one_line_error(truncated)

    misc = make_raw(0, seconds=5.0)
    misc.set_channel_types({c: "misc" for c in misc.ch_names}, on_unit_change="ignore")
    no_eeg = tmp_path / "misc_raw.fif"
    misc.save(no_eeg, verbose="error")
    assert "no EEG channels" in _one_line_error(no_eeg)

    other = make_raw(0, seconds=5.0).rename_channels({c: f"X{i}" for i, c in enumerate(STANDARD_1020)})
    unnamed = write_edf(tmp_path / "unnamed.edf", other)
    assert "matches" in _one_line_error(unnamed)

    slow = write_edf(tmp_path / "slow.edf", make_raw(0, seconds=20.0, sfreq=64.0))
    assert "64 Hz" in _one_line_error(slow, Preprocess(rate=128.0, lowpass=40.0))

    short = write_edf(tmp_path / "short.edf", make_raw(0, seconds=3.0))
    assert "shorter than one clip" in _one_line_error(short, Preprocess(min_seconds=4.0))

    nan = make_raw(0, seconds=5.0)
    nan_path = tmp_path / "nan_raw.fif"
    mne.io.RawArray(np.full((19, nan.n_times), np.nan), nan.info, verbose="error").save(nan_path, verbose="error")
    assert "NaN" in _one_line_error(nan_path)

    assert "no such file" in _one_line_error(tmp_path / "absent.edf")


def test_folder_reports_and_skips_a_bad_file(tmp_path, make_raw, write_edf):
    for k in range(3):
        write_edf(tmp_path / f"s{k}.edf", make_raw(k, seconds=8.0))
    (tmp_path / "broken.edf").write_bytes(b"\x00" * 500)
    with pytest.warns(UserWarning, match="broken.edf"):
        recs = read_folder(tmp_path)
    assert sorted(r.path.rsplit("/", 1)[-1] for r in recs) == ["s0.edf", "s1.edf", "s2.edf"]


def test_tuh_layout_gives_labels_splits_and_subjects(tuh_folder):
    bundle = load(str(tuh_folder), crop=4.0)
    task = bundle.tasks["abnormal"]
    assert task.classes == ["normal", "abnormal"] and task.group_key == "record"
    store = bundle.pretrain.store
    for ds, split in ((task.train, "train"), (task.test, "eval")):
        for r in set(ds.groups.tolist()):
            path = store.meta(r)["path"]
            assert f"/{split}/" in path
            assert store.meta(r)["label"] == (1 if "/abnormal/" in path else 0)
            assert all(store.meta(r)["valid"])  # TUH labels matched onto every 10-20 electrode
    assert len(set(task.train.groups.tolist())) == 6 and len(set(task.test.groups.tolist())) == 2
    assert len(task.train) == 6 * 3  # 12 s recordings in 4 s windows
    item = task.test[0]
    assert item["signal"].shape == (19, 512) and item["valid"].dtype.is_floating_point is False
    assert bundle.info["in_chans"] == 19 and bundle.info["length"] == 512
    assert subject_of("aaaaaaav_s004_t000.edf") == "aaaaaaav"


def test_csv_labels_and_subject_split(tmp_path, make_raw, write_edf):
    rows = ["path,label,subject"]
    for k in range(8):
        label = "abnormal" if k % 2 else "normal"
        write_edf(tmp_path / f"rec{k}.edf", make_raw(k, seconds=8.0, abnormal=k % 2 == 1))
        rows.append(f"rec{k}.edf,{label},p{k // 2 if k < 4 else k}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    bundle = load(str(tmp_path), labels=str(tmp_path / "labels.csv"), crop=4.0, test_fraction=0.3)
    task = bundle.tasks["abnormal"]
    store = bundle.pretrain.store
    subjects = {split: {store.meta(r)["subject"] for r in set(ds.groups.tolist())} for split, ds in (("tr", task.train), ("te", task.test))}
    assert subjects["tr"].isdisjoint(subjects["te"])
    for ds in (task.train, task.test):
        for r in set(ds.groups.tolist()):
            k = int(store.meta(r)["path"].rsplit("rec", 1)[1].split(".")[0])
            assert store.meta(r)["label"] == k % 2


def test_event_epochs_from_annotations(tmp_path, make_raw, write_edf):
    for k, split in enumerate(("train", "train", "eval")):
        raw = make_raw(k, seconds=16.0)
        raw.set_annotations(mne.Annotations([1.0, 5.0, 9.0, 12.5], [2.0, 2.0, 2.0, 2.0], ["left", "right", "left", "rest"]))
        (tmp_path / split).mkdir(exist_ok=True)
        write_edf(tmp_path / split / f"ev{k}.edf", raw)
    bundle = load(str(tmp_path), crop=2.0, events=["left", "right"])
    task = bundle.tasks["events"]
    assert task.classes == ["left", "right"]
    assert len(task.train) == 2 * 3 and len(task.test) == 3
    store = bundle.pretrain.store
    starts = {1.0: "left", 5.0: "right", 9.0: "left"}
    for i in range(len(task.train)):
        meta = task.train.store.meta(i)
        onset = meta["start"] / 128.0
        assert task.classes[meta["label"]] == starts[round(onset, 1)]
        item = task.train[i]
        np.testing.assert_allclose(item["signal"].numpy(), store.read(meta["source"], meta["start"], 256), rtol=1e-6)


def test_prepared_store_matches_direct_reading(tuh_folder, tmp_path):
    out = prepare(str(tuh_folder), tmp_path / "prepared")
    direct = load(str(tuh_folder), crop=4.0)
    fast = load(str(out), crop=4.0)
    assert len(direct.pretrain) == len(fast.pretrain)
    for i in (0, 5, len(direct.pretrain) - 1):
        np.testing.assert_allclose(direct.pretrain[i]["signal"].numpy(), fast.pretrain[i]["signal"].numpy(), rtol=1e-6)
    for split in ("train", "test"):
        a, b = getattr(direct.tasks["abnormal"], split), getattr(fast.tasks["abnormal"], split)
        np.testing.assert_array_equal(a.labels, b.labels)
    with pytest.raises(DataError, match="prepared with rate"):
        load(str(out), crop=4.0, rate=100.0)


def test_clip_longer_than_every_recording_is_an_error(tuh_folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match="could be read|as long as one clip"):
            load(str(tuh_folder), crop=30.0)


def test_trigger_channel_events_become_labels(tmp_path, make_raw):
    raw = make_raw(6, seconds=10.0, sfreq=256.0)
    stim = np.zeros((1, raw.n_times))
    marks = {512: 1, 1280: 2, 2048: 1}  # sample -> event code
    for s, code in marks.items():
        stim[0, s: s + 10] = code
    raw.add_channels([mne.io.RawArray(stim, mne.create_info(["STI 014"], 256.0, "stim"), verbose="error")], force_update_info=True)
    path = tmp_path / "trig_raw.fif"
    raw.save(path, verbose="error")
    rec = read_recording(path)
    assert rec.channels == list(STANDARD_1020)  # the trigger channel is not an electrode
    got = [(round(o, 3), s) for o, _, s in rec.annotations if s.isdigit()]
    assert any(s == "eyes_open" for _, _, s in rec.annotations)  # the file's own annotations stay
    assert got == [(round(s / 256.0, 3), str(c)) for s, c in marks.items()]


def test_bdf_is_read_through_the_same_path(tmp_path, make_raw):
    raw = make_raw(7, seconds=8.0, sfreq=256.0)
    expected = _expected_uv(raw, 128.0, 0.5, 45.0)
    path = tmp_path / "rec.bdf"
    mne.export.export_raw(str(path), raw.copy().rename_channels(dict(zip(STANDARD_1020, TUH_NAMES))), fmt="bdf",
                          overwrite=True, verbose="error")
    rec = read_recording(path, Preprocess(normalize="fixed", scale_uv=1.0))
    assert rec.channels == list(STANDARD_1020) and rec.valid.all()
    np.testing.assert_allclose(rec.data, expected, atol=0.01 * np.abs(expected).max())
