"""Real-data defects of the EEG reader (issue 14): files written with MNE the way recorders
write them (trigger channels, point markers, non-10-20 labels, digitised positions)."""

from __future__ import annotations

import datetime
import warnings

import mne
import numpy as np
import pytest

from jepakit.errors import ConfigError, DataError, DataNotice
from jepakit_eeg.channels import STANDARD_1020, standard_montage
from jepakit_eeg.data import epochs_from_annotations, load, prepare
from jepakit_eeg.io import read_folder, read_recording
from jepakit_eeg.preprocess import Preprocess

SF = 256.0


def _stim_raw(make_raw, seed: int, marks: dict[int, int], seconds: float = 16.0, first_samp: int = 0,
              meas_date: bool = True) -> mne.io.RawArray:
    """A 10-20 recording with a STI 014 trigger channel (sample -> code, samples counted
    from the first sample of the recording), ``first_samp`` and a measurement date."""
    raw = make_raw(seed, seconds=seconds, sfreq=SF)
    stim = np.zeros((1, raw.n_times))
    for s, code in marks.items():
        stim[0, s: s + 5] = code
    data = np.vstack([raw.get_data(), stim])
    info = mne.create_info(list(raw.ch_names) + ["STI 014"], SF, ["eeg"] * len(raw.ch_names) + ["stim"])
    out = mne.io.RawArray(data, info, first_samp=first_samp, verbose="error")
    if meas_date:
        out.set_meas_date(datetime.datetime(2021, 3, 4, 10, 0, tzinfo=datetime.timezone.utc))
    return out


# ------------------------------------------------------------------- 1. trigger events


def test_trigger_events_survive_first_samp_and_meas_date(tmp_path, make_raw):
    marks = {512: 1, 1280: 2, 2048: 1}
    raw = _stim_raw(make_raw, 1, marks, first_samp=7000)
    path = tmp_path / "cropped_raw.fif"
    raw.save(path, verbose="error")
    assert mne.io.read_raw(path, verbose="error").first_samp == 7000
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # MNE's "Omitted N annotation(s)" must not happen
        rec = read_recording(path)
    got = [(round(o, 3), s) for o, _, s in rec.annotations if s.isdigit()]
    assert got == [(round(s / SF, 3), str(c)) for s, c in marks.items()]


def test_trigger_events_of_a_cropped_recording(tmp_path, make_raw):
    raw = _stim_raw(make_raw, 2, {1024: 3, 2560: 4}, seconds=14.0)
    raw.crop(2.0, None)  # first_samp becomes 512; events now at 2 s and 8 s
    path = tmp_path / "crop_raw.fif"
    raw.save(path, verbose="error")
    rec = read_recording(path)
    got = [(round(o, 3), s) for o, _, s in rec.annotations if s.isdigit()]
    assert got == [(2.0, "3"), (8.0, "4")]


# ------------------------------------------------------------------- 2. point events -> epochs


def _point_event_folder(tmp_path, make_raw, write_edf):
    """train/eval EDF+ files whose markers are zero-duration annotations, and FIF files
    with trigger channels (first_samp != 0)."""
    times = {"left": [1.0, 6.0], "right": [3.5, 9.0]}
    for k, split in enumerate(("train", "train", "eval")):
        raw = make_raw(k, seconds=12.0, sfreq=SF)
        onset = [t for ts in times.values() for t in ts]
        desc = [d for d, ts in times.items() for _ in ts]
        raw.set_annotations(mne.Annotations(onset, [0.0] * len(onset), desc))
        (tmp_path / split).mkdir(exist_ok=True)
        write_edf(tmp_path / split / f"pt{k}.edf", raw)
    return times


def test_point_annotations_become_epochs_starting_at_the_event(tmp_path, make_raw, write_edf):
    times = _point_event_folder(tmp_path, make_raw, write_edf)
    rec = read_recording(tmp_path / "train" / "pt0.edf")
    assert sorted((round(o, 2), d, s) for o, d, s in rec.annotations if s in times) == sorted(
        (t, 0.0, d) for d, ts in times.items() for t in ts)
    bundle = load(str(tmp_path), crop=2.0, events=["left", "right"])
    task = bundle.tasks["events"]
    assert task.classes == ["left", "right"]
    assert len(task.train) == 2 * 4 and len(task.test) == 4
    store = bundle.pretrain.store
    for i in range(len(task.train)):
        meta = task.train.store.meta(i)
        onset = meta["start"] / 128.0
        assert onset in times[task.classes[meta["label"]]]
        np.testing.assert_allclose(task.train[i]["signal"].numpy(), store.read(meta["source"], meta["start"], 256), rtol=1e-6)


def test_long_and_point_annotations_and_events_past_the_end():
    data = np.random.default_rng(0).standard_normal((2, 1000)).astype(np.float32)
    ann = [(0.5, 0.0, "a"), (2.0, 3.0, "b"), (4.5, 0.2, "a"), (7.5, 0.0, "a")]  # 100 Hz, 1 s epochs
    dropped: list = []
    x, labels, starts = epochs_from_annotations(data, 100.0, ["Cz", "Pz"], ann, 100, ["a", "b"], dropped=dropped)
    assert list(starts) == [50, 200, 300, 400, 450, 750] and labels == ["a", "b", "b", "b", "a", "a"]
    np.testing.assert_array_equal(x[0], data[:, 50:150])
    x, labels, starts = epochs_from_annotations(data, 100.0, ["Cz", "Pz"], [(9.5, 0.0, "a")], 100, ["a"], dropped=dropped)
    assert len(x) == 0 and dropped == [("a", 9.5)]


def test_trigger_channel_events_give_epochs_with_int_event_names(tmp_path, make_raw):
    marks = {256: 1, 1024: 2, 1792: 1, 2560: 2}
    for k, split in enumerate(("train", "train", "eval")):
        (tmp_path / split).mkdir(exist_ok=True)
        _stim_raw(make_raw, k, marks, seconds=14.0, first_samp=1000 * (k + 1)).save(tmp_path / split / f"t{k}_raw.fif", verbose="error")
    bundle = load(str(tmp_path), crop=2.0, events=[1, 2])  # YAML ints, descriptions are strings
    task = bundle.tasks["events"]
    assert task.classes == ["1", "2"]
    assert len(task.train) == 2 * 4 and len(task.test) == 4
    starts = sorted({task.train.store.meta(i)["start"] for i in range(len(task.train))})
    assert starts == [s // 2 for s in marks]  # 256 Hz -> 128 Hz


# ------------------------------------------------------------------- 3. events that match nothing


def test_events_matching_nothing_is_an_error_listing_what_was_found(tmp_path, make_raw, write_edf):
    _point_event_folder(tmp_path, make_raw, write_edf)
    with pytest.raises(DataError) as err:
        load(str(tmp_path), crop=2.0, events=[1, 2, 3, 4])
    msg = str(err.value)
    assert "\n" not in msg and "left" in msg and "right" in msg and "1, 2, 3, 4" in msg


def test_events_partly_missing_or_unsplittable_are_reported(tmp_path, make_raw, write_edf):
    _point_event_folder(tmp_path, make_raw, write_edf)
    with pytest.warns(DataNotice, match="up"):
        bundle = load(str(tmp_path), crop=2.0, events=["left", "right", "up"])
    assert bundle.tasks["events"].classes == ["left", "right"]
    with pytest.warns(DataNotice, match="events"):
        bundle = load(str(tmp_path / "train" / "pt0.edf"), crop=2.0, events="left,right")  # one subject: no held-out side
    assert "events" not in bundle.tasks


# ------------------------------------------------------------------- 4. channels not named in 10-20


def _positioned_raw(make_raw, seed: int, labels: list[str], sites: list[str], scale: float = 1.0) -> mne.io.RawArray:
    """Electrodes labelled ``labels`` sitting at the 10-05 ``sites``, with digitised
    positions (a head ``scale`` times the template) and fiducials."""
    raw = make_raw(seed, seconds=10.0, sfreq=SF, names=None)
    tpl = standard_montage("1005").get_positions()
    rng = np.random.default_rng(seed)
    signals = raw.get_data()[rng.integers(0, 19, len(sites))] + rng.standard_normal((len(sites), raw.n_times)) * 5e-6
    out = mne.io.RawArray(signals, mne.create_info(labels, SF, "eeg"), verbose="error")
    ch_pos = {lab: np.asarray(tpl["ch_pos"][s]) * scale for lab, s in zip(labels, sites)}
    fid = {k: np.asarray(tpl[k]) * scale for k in ("nasion", "lpa", "rpa")}
    out.set_montage(mne.channels.make_dig_montage(ch_pos=ch_pos, coord_frame="head", **fid))
    return out


def test_neuromag_style_labels_are_mapped_by_their_digitised_positions(tmp_path, make_raw):
    extra = ["AF3", "AF4", "FC1", "FC2", "CP1", "CP2", "PO3", "PO4", "FC5", "FC6", "CP5", "CP6"]
    sites = list(STANDARD_1020) + extra
    order = np.random.default_rng(0).permutation(len(sites))
    sites = [sites[i] for i in order]
    labels = [f"EEG {k + 1:03d}" for k in range(len(sites))]
    raw = _positioned_raw(make_raw, 3, labels, sites, scale=1.08)
    path = tmp_path / "neuromag_raw.fif"
    raw.save(path, verbose="error")
    rec = read_recording(path, Preprocess(normalize="fixed", scale_uv=1.0))
    assert rec.valid.all()
    want = raw.copy().resample(128.0, verbose="error").filter(0.5, 45.0, verbose="error").get_data() * 1e6
    for i, c in enumerate(STANDARD_1020):
        j = sites.index(c)
        np.testing.assert_allclose(rec.data[i], want[j], atol=1e-3 * np.abs(want[j]).max())
        assert rec.meta["mapping"][c][0] == labels[j]


def test_egi_labels_with_the_montage_option(tmp_path, make_raw, write_edf):
    egi = {"Fp1": "E22", "Fp2": "E9", "F3": "E24", "F4": "E124", "C3": "E36", "C4": "E104", "O1": "E70", "O2": "E83"}
    raw = make_raw(4, seconds=10.0, sfreq=SF)
    raw.pick(list(egi)).rename_channels(egi)
    path = write_edf(tmp_path / "egi.edf", raw)  # EDF carries no positions
    with pytest.raises(DataError, match="data.montage"):
        read_recording(path)
    rec = read_recording(path, Preprocess(montage="GSN-HydroCel-128"))
    assert {c for c, ok in zip(rec.channels, rec.valid) if ok} == set(egi)
    assert {c: rec.meta["mapping"][c][0] for c in egi} == egi
    with pytest.raises(ConfigError, match="montage"):
        load(path, montage="no-such-net")


def test_bipolar_derivations_need_an_explicit_rename(tmp_path, make_raw, write_edf):
    raw = make_raw(5, seconds=10.0, sfreq=SF)
    raw.pick(["Fz", "Pz"]).rename_channels({"Fz": "EEG Fpz-Cz", "Pz": "EEG Pz-Oz"})
    path = write_edf(tmp_path / "sleep.edf", raw)
    with pytest.raises(DataError) as err:
        read_recording(path)
    assert "bipolar" in str(err.value) and "data.rename" in str(err.value)
    with pytest.warns(DataNotice, match="EEG Fpz-Cz"):
        bundle = load(path, crop=2.0, channels=["Fpz", "Pz"], rename={"EEG Fpz-Cz": "Fpz", "EEG Pz-Oz": "Pz"})
    assert all(bundle.pretrain.store.meta(0)["valid"])
    with pytest.raises(ConfigError, match="Oz"):
        load(path, crop=2.0, channels=["Fpz", "Pz"], rename={"EEG Pz-Oz": "Oz"})  # not a model channel


def test_named_electrodes_outside_the_channel_set_are_reported(tmp_path, make_raw, write_edf):
    raw = make_raw(6, seconds=10.0, sfreq=SF)
    raw.rename_channels({"Fp1": "AF3", "Fp2": "AF4"})  # 10-10 names the 10-20 set lacks
    path = write_edf(tmp_path / "af.edf", raw)
    with pytest.warns(DataNotice, match="AF3"):
        load(path, crop=2.0)


# ------------------------------------------------------------------- 13. the real reason of a failed folder


def test_a_folder_of_bad_files_names_the_real_reasons(tmp_path, make_raw, write_edf):
    good = write_edf(tmp_path / "whole.edf", make_raw(0, seconds=20.0))
    blob = open(good, "rb").read()
    (tmp_path / "cut.edf").write_bytes(blob[: len(blob) * 2 // 3])
    (tmp_path / "whole.edf").unlink()
    write_edf(tmp_path / "slow.edf", make_raw(1, seconds=20.0, sfreq=64.0))
    write_edf(tmp_path / "slow2.edf", make_raw(2, seconds=20.0, sfreq=64.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError) as err:
            load(str(tmp_path), crop=4.0, lowpass=30.0)
        msg = str(err.value)
        assert "\n" not in msg and "truncated" in msg and "sampling rate" in msg and "x2" in msg
        with pytest.raises(DataError, match="truncated"):
            read_folder(tmp_path)
        with pytest.raises(DataError, match="truncated"):
            prepare(str(tmp_path), tmp_path / "out")


# ------------------------------------------------------------------- 17. channel coverage


def test_partial_channel_coverage_is_described_and_noticed(tmp_path, make_raw, write_edf):
    emotiv = ["AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4"]
    raw = make_raw(7, seconds=10.0, sfreq=SF, names=None)
    sites = list(STANDARD_1020)
    data = raw.get_data()[[sites.index(c) if c in sites else 0 for c in emotiv]]
    head = mne.io.RawArray(data, mne.create_info(emotiv, SF, "eeg"), verbose="error")
    path = write_edf(tmp_path / "emotiv.edf", head)
    with pytest.warns(DataNotice, match="10 of 19"):
        bundle = load(path, crop=2.0)
    assert "10 of 19" in bundle.describe and "Fp1" in bundle.describe and "Cz" in bundle.describe
    one = write_edf(tmp_path / "one.edf", make_raw(8, seconds=10.0).pick(["Cz"]))
    with pytest.warns(DataNotice, match="1 of 19"):
        bundle = load(one, crop=2.0)
    assert "1 of 19" in bundle.describe


def test_full_coverage_stays_quiet(tmp_path, make_raw, write_edf):
    path = write_edf(tmp_path / "full.edf", make_raw(9, seconds=10.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataNotice)
        bundle = load(path, crop=2.0)
    assert "19 of 19" in bundle.describe


# ------------------------------------------------------------------- labels a CSV holds


def test_label_csv_gaps_are_reported_not_turned_into_classes(tmp_path, make_raw, write_edf):
    rows = ["path,label,subject"]
    for k in range(6):
        write_edf(tmp_path / f"rec{k}.edf", make_raw(k, seconds=8.0, abnormal=k % 2 == 1))
        if k < 5:
            rows.append(f"rec{k}.edf,{'' if k == 4 else ('sick' if k % 2 else 'well')},p{k}")
    rows.append("gone.edf,sick,p9")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bundle = load(str(tmp_path), labels=str(tmp_path / "labels.csv"), crop=4.0)
    said = " | ".join(str(w.message) for w in caught if issubclass(w.category, DataNotice))
    assert "gone.edf" in said and "rec5.edf" in said and "no label" in said
    assert bundle.tasks["label"].classes == ["sick", "well"]  # no 'nan' class from the empty cell


def test_numeric_labels_read_as_normal_abnormal_are_reported(tmp_path, make_raw, write_edf):
    rows = ["path,label"] + [f"r{k}.edf,{k % 2}" for k in range(4)]
    for k in range(4):
        write_edf(tmp_path / f"r{k}.edf", make_raw(k, seconds=8.0, abnormal=k % 2 == 1))
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.warns(DataNotice, match="0 and 1 are read as normal and abnormal"):
        bundle = load(str(tmp_path), labels=str(tmp_path / "labels.csv"), crop=4.0)
    assert bundle.tasks["abnormal"].classes == ["normal", "abnormal"]
