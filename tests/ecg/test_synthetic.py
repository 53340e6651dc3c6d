"""The synthetic 12-lead generator: lead geometry, class effects, rhythm, nuisances."""

from __future__ import annotations

import numpy as np

from jepakit_ecg.synthetic import SUPERCLASSES, _beat_times, draw_labels, project, synth_record

LEAD_I, II, III, AVR, AVL, AVF = range(6)


def test_limb_leads_obey_einthoven_and_goldberger():
    d = np.random.default_rng(0).standard_normal((100, 3))
    x = project(d)
    assert x.shape == (100, 12)
    assert np.allclose(x[:, III], x[:, II] - x[:, LEAD_I])
    assert np.allclose(x[:, AVR] + x[:, AVL] + x[:, AVF], 0)


def test_labels_are_multilabel_with_exclusive_norm():
    rng = np.random.default_rng(0)
    y = np.stack([draw_labels(rng) for _ in range(4000)])
    norm = y[:, 0] == 1
    assert np.all(y[norm, 1:].sum(1) == 0) and np.all(y[~norm, 1:].sum(1) >= 1)
    assert 0.35 < norm.mean() < 0.45 and (y[:, 1:].sum(1) >= 2).mean() > 0.1
    assert SUPERCLASSES == ("NORM", "MI", "STTC", "CD", "HYP")


def _qrs_amplitude(cls: str, n: int = 40) -> float:
    rng = np.random.default_rng(1)
    y = np.zeros(5, dtype=np.float32)
    y[SUPERCLASSES.index(cls)] = 1
    amps = []
    for _ in range(n):
        x, _, _ = synth_record(rng, 4.0, 250.0, labels=y, af=False)
        amps.append(np.percentile(np.abs(np.diff(x, axis=0)), 99.5))
    return float(np.median(amps))


def test_high_voltage_and_wide_qrs_classes_differ_from_normal():
    norm, hyp, cd = _qrs_amplitude("NORM"), _qrs_amplitude("HYP"), _qrs_amplitude("CD")
    assert hyp > 1.4 * norm  # steeper, taller QRS
    assert cd < norm  # same voltage spread over a wider QRS: gentler slopes


def _rr_irregularity(af: bool) -> float:
    rng = np.random.default_rng(2)
    out = []
    for _ in range(50):
        rr = np.diff(_beat_times(rng, 10.0, 75.0, af))
        out.append(np.std(np.diff(rr)) / np.mean(rr))
    return float(np.median(out))


def test_atrial_fibrillation_is_irregular():
    assert _rr_irregularity(True) > 3 * _rr_irregularity(False)


def test_reproducible_and_finite():
    a = synth_record(np.random.default_rng(5), 2.0, 500.0)
    b = synth_record(np.random.default_rng(5), 2.0, 500.0)
    assert np.array_equal(a[0], b[0]) and a[0].shape == (1000, 12) and np.isfinite(a[0]).all()
