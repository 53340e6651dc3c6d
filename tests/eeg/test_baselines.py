"""The band-power baseline's features."""

from __future__ import annotations

import numpy as np

from jepakit_eeg.baselines import BANDS, band_features


def test_band_features_locate_power_in_the_right_band():
    fs, t = 128.0, np.arange(512) / 128.0
    rng = np.random.default_rng(0)
    x = 0.1 * rng.standard_normal((2, 3, 512))
    x[0, 1] += np.sin(2 * np.pi * 2.0 * t)  # delta on channel 1 of window 0
    x[1, 2] += np.sin(2 * np.pi * 10.0 * t)  # alpha on channel 2 of window 1
    f = band_features(x, fs).reshape(2, 3, len(BANDS) + 1)
    assert f.shape == (2, 3, len(BANDS) + 1)
    assert np.argmax(f[0, 1, : len(BANDS)]) == 0  # relative delta power dominates
    assert np.argmax(f[1, 2, : len(BANDS)]) == 2  # relative alpha power dominates
    assert f[0, 1, -1] > f[0, 0, -1] + 2  # log total power rises with the added sine

