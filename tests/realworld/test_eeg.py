"""End to end on a messy EEG folder written with MNE the way real recorders write it.

Four subjects, four conventions, one broken copy:

* two Neuromag-style FIF files: electrodes labelled ``EEG 001...`` with digitised positions,
  a ``STI 014`` trigger channel, a measurement date and ``first_samp`` != 0 (a cropped
  acquisition);
* an EGI-style EDF: ``E22, E9...`` labels without positions (``data.montage`` places them),
  triggers as zero-duration EDF+ annotations, only 8 electrodes;
* a TUH-style EDF (``EEG FP1-REF``...) with zero-duration markers and an extra bipolar lead;
* a truncated EDF.

The Python API pretrains a tiny model for a few steps with ``data.events=[1, 2]`` (YAML
ints; the descriptions are strings) and evaluates the checkpoint on the trigger epochs.
"""

from __future__ import annotations

import datetime
import os
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import mne
import numpy as np
import torch

from jepakit import get_domain
from jepakit.bench import run_evaluate
from jepakit.errors import DataNotice
from jepakit.train import pretrain
from jepakit_eeg.channels import STANDARD_1020, standard_montage
from jepakit_eeg.synthetic import draw_subject, synthetic_raw

torch.set_num_threads(1)

SF = 256.0
SECONDS = 24.0
EGI = {"Fp1": "E22", "Fp2": "E9", "F3": "E24", "F4": "E124", "C3": "E36", "C4": "E104", "O1": "E70", "O2": "E83"}
TUH = {c: f"EEG {({'T7': 'T3', 'T8': 'T4', 'P7': 'T5', 'P8': 'T6'}).get(c, c).upper()}-REF" for c in STANDARD_1020}


def _recording(seed: int) -> tuple[mne.io.RawArray, dict[int, int]]:
    """A 10-20 recording and its trigger marks (sample -> code 1 or 2) every 1.5 s; an
    event-locked deflection on the central electrodes makes the codes tell apart."""
    raw = synthetic_raw(draw_subject(seed, seed % 2 == 1, np.random.default_rng(seed)), SECONDS, SF, seed=seed)
    marks = {int(s): 1 + k % 2 for k, s in enumerate(np.arange(1.0, SECONDS - 2.5, 1.5) * SF)}
    x = raw.get_data()
    t = np.arange(int(0.5 * SF)) / SF
    for s, code in marks.items():
        wave = 30e-6 * np.sin(2 * np.pi * (3.0 if code == 1 else 7.0) * t)
        x[:, s: s + t.size] += wave[None]
    out = mne.io.RawArray(x, raw.info, verbose="error")
    return out, marks


def _neuromag(path, seed: int, first_samp: int) -> None:
    raw, marks = _recording(seed)
    order = np.random.default_rng(seed).permutation(19)
    sites = [STANDARD_1020[i] for i in order]
    labels = [f"EEG {k + 1:03d}" for k in range(19)]
    stim = np.zeros((1, raw.n_times))
    for s, code in marks.items():
        stim[0, s: s + 5] = code
    data = np.vstack([raw.get_data(picks=sites), stim])
    info = mne.create_info(labels + ["STI 014"], SF, ["eeg"] * 19 + ["stim"])
    out = mne.io.RawArray(data, info, first_samp=first_samp, verbose="error")
    out.set_meas_date(datetime.datetime(2022, 5, 1, 9, 30, tzinfo=datetime.timezone.utc))
    tpl = standard_montage("1005").get_positions()
    scale = 1.05 + 0.05 * seed  # a real head is not the template's size
    out.set_montage(mne.channels.make_dig_montage(
        ch_pos={lab: np.asarray(tpl["ch_pos"][s]) * scale for lab, s in zip(labels, sites)},
        nasion=np.asarray(tpl["nasion"]) * scale, lpa=np.asarray(tpl["lpa"]) * scale, rpa=np.asarray(tpl["rpa"]) * scale,
        coord_frame="head"))
    out.save(path, verbose="error")


def _with_point_markers(raw: mne.io.RawArray, marks: dict[int, int]) -> mne.io.RawArray:
    onsets = [s / SF for s in marks]
    raw.set_annotations(mne.Annotations(onsets, [0.0] * len(onsets), [str(c) for c in marks.values()]))
    return raw


def _egi(path, seed: int) -> None:
    raw, marks = _recording(seed)
    raw.pick(list(EGI)).rename_channels(EGI)
    mne.export.export_raw(str(path), _with_point_markers(raw, marks), fmt="edf", overwrite=True, verbose="error")


def _tuh(path, seed: int) -> None:
    raw, marks = _recording(seed)
    raw.rename_channels(TUH)
    bip = mne.io.RawArray(raw.get_data(picks=[TUH["Fz"]]) - raw.get_data(picks=[TUH["Cz"]]),
                          mne.create_info(["EEG Fz-Cz"], SF, "eeg"), verbose="error")
    raw.add_channels([bip])
    mne.export.export_raw(str(path), _with_point_markers(raw, marks), fmt="edf", overwrite=True, verbose="error")


def test_messy_eeg_folder_pretrains_and_evaluates_on_trigger_epochs(tmp_path):
    data = tmp_path / "study"
    data.mkdir()
    _neuromag(data / "sub-01_raw.fif", 1, first_samp=12000)
    _neuromag(data / "sub-02_raw.fif", 2, first_samp=3001)
    _egi(data / "sub-03.edf", 3)
    _tuh(data / "sub-04.edf", 4)
    _tuh(tmp_path / "whole.edf", 5)
    blob = (tmp_path / "whole.edf").read_bytes()
    (data / "sub-05.edf").write_bytes(blob[: len(blob) // 2])

    overrides = {
        "data": {"window": 1.0, "events": [1, 2], "montage": "GSN-HydroCel-128", "test_fraction": 0.5},
        "tokenizer": {"name": "eeg-vjepa", "frame": 32, "tubelet_frames": 2, "channel_group": 4, "time_patch": 16},
        "model": {"width": 32, "depth": 1, "heads": 2, "pred_width": 32, "pred_depth": 1, "pred_heads": 2},
        "train": {"steps": 6, "batch_size": 8, "lr": 1e-3, "warmup": 1, "progress": False, "rankme_every": 0},
        "eval": {"seeds": 1, "fractions": [1.0], "random_init": False, "supervised": False, "finetune": False, "max_iter": 200},
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = pretrain(get_domain("eeg"), data=str(data), overrides=overrides, out=tmp_path / "run")
    said = [str(w.message) for w in caught if issubclass(w.category, DataNotice)]
    assert all("\n" not in s for s in said)
    joined = " | ".join(said)
    assert "sub-05.edf" in joined and "truncated" in joined  # the broken copy, with its reason
    assert "EEG 001" in joined and "E22 -> Fp1" in joined  # mapped by position / by the montage option
    assert "EEG Fz-Cz" in joined and "bipolar" in joined  # the unused bipolar lead is reported
    assert "zero-filled in some recordings" in joined  # the 8-electrode EGI file

    bundle = run.bundle
    store = bundle.pretrain.store
    assert len(store) == 4 and "skipped 1 bad file" in bundle.describe
    assert "19 of 19 model channels covered" in bundle.describe and "Cz (1 of 4)" in bundle.describe
    by_file = {os.path.basename(store.meta(i)["path"]): store.meta(i) for i in range(len(store))}
    assert all(by_file["sub-01_raw.fif"]["valid"]) and all(by_file["sub-04.edf"]["valid"])
    assert {c for c, ok in zip(STANDARD_1020, by_file["sub-03.edf"]["valid"]) if ok} == set(EGI)

    task = bundle.tasks["events"]
    assert task.classes == ["1", "2"]
    n_marks = len(np.arange(1.0, SECONDS - 2.5, 1.5))
    assert len(task.train) + len(task.test) == 4 * n_marks  # every trigger became an epoch
    # the epochs start at the triggers: first_samp and the measurement date do not shift them
    for ds in (task.train, task.test):
        for i in range(len(ds.store)):
            assert (ds.store.meta(i)["start"] - 128) % 192 == 0  # triggers at 1 s + k * 1.5 s, 128 Hz

    assert len(run.history) == 6 and np.isfinite([h["loss"] for h in run.history]).all()
    result = run_evaluate(run.out, echo=False)
    scores = [r for r in result.rows if r.get("task") == "events"]
    assert scores, result.rows
    assert all(np.isfinite(float(v)) for r in scores for k, v in r.items() if k in ("balanced_accuracy", "accuracy"))
