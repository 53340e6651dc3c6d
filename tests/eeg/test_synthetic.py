"""The synthetic 10-20 generator carries the physiology it claims to."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.signal import welch

from jepakit_eeg.channels import STANDARD_1020
from jepakit_eeg.synthetic import Subject, synthetic_cohort, synthetic_signal

FS = 256.0
CH = {c: i for i, c in enumerate(STANDARD_1020)}
BASE = Subject("s", False, gain=1.0, alpha_hz=10.0, noise_uv=2.0, beta=1.2, line_hz=50.0)


def _mask(ann, label, n):
    m = np.zeros(n, bool)
    for o, d, s in ann:
        if s == label:
            m[int(o * FS): int((o + d) * FS)] = True
    return m


def _band_power(x, lo, hi):
    f, p = welch(x, FS, nperseg=512)
    return p[..., (f >= lo) & (f <= hi)].sum(-1)


def test_posterior_alpha_follows_eye_state_at_the_subject_frequency():
    x, ann = synthetic_signal(replace(BASE, alpha_hz=9.0), 120.0, FS, np.random.default_rng(0))
    closed, opened = _mask(ann, "eyes_closed", x.shape[1]), _mask(ann, "eyes_open", x.shape[1])
    assert closed.sum() > 10 * FS and opened.sum() > 10 * FS
    o1_closed = _band_power(x[CH["O1"], closed], 8, 12)
    assert o1_closed > 3 * _band_power(x[CH["O1"], opened], 8, 12)
    assert o1_closed > 3 * _band_power(x[CH["Fz"], closed], 8, 12)
    f, p = welch(x[CH["O1"], closed], FS, nperseg=1024)
    band = (f > 6) & (f < 14)
    assert abs(f[band][np.argmax(p[band])] - 9.0) < 0.6


def test_blinks_are_frontal_and_only_with_eyes_open():
    x, ann = synthetic_signal(BASE, 120.0, FS, np.random.default_rng(1))
    blinks = [(o, d) for o, d, s in ann if s == "blink"]
    assert len(blinks) >= 5
    closed = _mask(ann, "eyes_closed", x.shape[1])
    segs = []
    for o, d in blinks:
        i = int(o * FS)
        assert not closed[i + 1: i + int(d * FS) - 1].any()
        segs.append(x[:, i: i + int(d * FS)])
    avg = np.mean(segs, axis=0)  # blink-locked average: background averages out
    assert np.ptp(avg[CH["Fp1"]]) > 50 and np.ptp(avg[CH["Fp1"]]) > 5 * np.ptp(avg[CH["O1"]])
    assert np.ptp(avg[CH["Fp1"]]) > np.ptp(avg[CH["F3"]]) > np.ptp(avg[CH["C3"]])


def test_abnormal_focal_slowing_and_spreading_spike_wave():
    normal, _ = synthetic_signal(BASE, 90.0, FS, np.random.default_rng(2))
    ab = replace(BASE, abnormal=True, severity=1.0, focus=CH["T7"])
    x, ann = synthetic_signal(ab, 90.0, FS, np.random.default_rng(2))
    assert _band_power(x[CH["T7"]], 1, 3.5) > 3 * _band_power(normal[CH["T7"]], 1, 3.5)
    # slowing is focal: the far side of the head is much less affected than the focus
    assert _band_power(x[CH["T7"]], 1, 3.5) > 2 * _band_power(x[CH["T8"]], 1, 3.5)
    bursts = [(o, d) for o, d, s in ann if s == "spike_wave"]
    assert bursts
    o, d = bursts[0]
    seg = x[:, int(o * FS): int((o + d) * FS) + int(0.3 * FS)]
    # discharges are largest at the focus and reach a neighbour ~6 cm away later
    assert np.ptp(seg[CH["T7"]]) > np.ptp(seg[CH["P7"]]) > np.ptp(seg[CH["O2"]])
    a, b = seg[CH["T7"]] - seg[CH["T7"]].mean(), seg[CH["P7"]] - seg[CH["P7"]].mean()
    xc = np.correlate(b, a, "full")
    lags = np.arange(-len(a) + 1, len(a))
    near = np.abs(lags) <= int(0.15 * FS)
    lag = lags[near][np.argmax(xc[near])] / FS
    assert 0.03 < lag < 0.12, lag
    _, normal_ann = synthetic_signal(BASE, 90.0, FS, np.random.default_rng(2))
    assert not any(s == "spike_wave" for _, _, s in normal_ann)


def test_cohort_has_balanced_classes_and_subject_nuisance():
    cohort = synthetic_cohort(10, recordings=2, seconds=10.0, sfreq=128.0, seed=0)
    subjects = {s.name: s for s, _ in cohort}
    assert len(cohort) == 20 and len(subjects) == 10
    assert sum(s.abnormal for s in subjects.values()) == 5
    for attr in ("gain", "alpha_hz", "noise_uv"):
        vals = [getattr(s, attr) for s in subjects.values()]
        assert np.std(vals) > 0.05 * np.mean(vals)
    # two recordings of one subject differ (new noise), same subject parameters
    (s1, r1), (s2, r2) = cohort[0], cohort[1]
    assert s1 is s2 and not np.allclose(r1.get_data(), r2.get_data())
