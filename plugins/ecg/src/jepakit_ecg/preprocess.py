"""Signal conditioning: lead mapping, NaN gap interpolation, resampling, filters and
per-lead standardisation, in the order a 12-lead record goes through them."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import signal as sps

from jepakit.errors import DataError, check

from .leads import LEADS, map_leads

STANDARDIZE = ("lead", "record", "none")


@dataclass
class Preprocess:
    """How records are conditioned before they reach the model.

    ``rate``: model sampling rate (Hz). ``highpass``: cut-off (Hz) of the baseline-wander
    filter, None to keep the baseline. ``lowpass``: upper edge (Hz) of an optional
    band-pass, None for none. ``standardize``: ``lead`` (z-score every lead of a record),
    ``record`` (one scale for all leads, keeps their voltage ratios) or ``none``.
    ``patch_ms``: token duration; a source rate that gives fewer than two samples per
    token is rejected.
    """

    rate: int = 500
    highpass: float | None = 0.5
    lowpass: float | None = None
    standardize: str = "lead"
    patch_ms: float = 50.0

    def __post_init__(self) -> None:
        check(self.rate > 0, f"rate must be positive, got {self.rate}")
        check(self.standardize in STANDARDIZE, f"standardize must be one of {STANDARDIZE}, got {self.standardize!r}")
        nyq = self.rate / 2
        if self.highpass is not None:
            check(0 < self.highpass < nyq, f"highpass must be in (0, {nyq}) Hz at rate {self.rate}, got {self.highpass}")
        if self.lowpass is not None:
            check(0 < self.lowpass < nyq, f"lowpass must be in (0, {nyq}) Hz at rate {self.rate}, got {self.lowpass}")
            check(self.highpass is None or self.highpass < self.lowpass, "highpass must be below lowpass")
        patch = self.patch_ms * self.rate / 1000.0
        check(abs(patch - round(patch)) < 1e-6 and round(patch) >= 1,
              f"patch_ms={self.patch_ms} is not a whole number of samples at rate {self.rate}")

    @property
    def patch(self) -> int:
        """Samples per token at the model rate."""
        return int(round(self.patch_ms * self.rate / 1000.0))

    def min_source_rate(self) -> float:
        """The lowest source rate that still puts two samples in one token."""
        return 2000.0 / self.patch_ms


def interpolate_gaps(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill NaN/Inf runs of each lead (rows of ``x``) linearly, edges with the nearest
    value; returns the filled array and a mask of leads that held no finite sample."""
    x = np.array(x, dtype=np.float64, copy=True)
    empty = np.zeros(x.shape[0], dtype=bool)
    t = np.arange(x.shape[1])
    for c in range(x.shape[0]):
        ok = np.isfinite(x[c])
        if ok.all():
            continue
        if not ok.any():
            empty[c] = True
            x[c] = 0.0
            continue
        x[c, ~ok] = np.interp(t[~ok], t[ok], x[c, ok])
    return x, empty


def resample(x: np.ndarray, fs: float, rate: int) -> np.ndarray:
    """Polyphase resampling of the rows of ``x`` from ``fs`` to ``rate`` (anti-aliased)."""
    if abs(fs - rate) < 1e-9:
        return x
    ratio = Fraction(rate / fs).limit_denominator(1000)
    return sps.resample_poly(x, ratio.numerator, ratio.denominator, axis=-1)


def bandpass(x: np.ndarray, rate: int, highpass: float | None, lowpass: float | None) -> np.ndarray:
    """Zero-phase Butterworth high-, low- or band-pass along time."""
    if highpass is None and lowpass is None:
        return x
    if highpass is not None and lowpass is not None:
        sos = sps.butter(2, [highpass, lowpass], btype="bandpass", fs=rate, output="sos")
    elif highpass is not None:
        sos = sps.butter(2, highpass, btype="highpass", fs=rate, output="sos")
    else:
        sos = sps.butter(4, lowpass, btype="lowpass", fs=rate, output="sos")
    return sps.sosfiltfilt(sos, x, axis=-1)


def standardize(x: np.ndarray, present: np.ndarray, mode: str) -> np.ndarray:
    """Zero-mean, unit-variance leads (``lead``) or record (``record``); absent leads stay 0."""
    if mode == "none" or not present.any():
        return x
    x = x - np.where(present[:, None], x.mean(axis=1, keepdims=True), 0.0)
    if mode == "lead":
        sd = x.std(axis=1, keepdims=True)
    else:
        sd = np.full((x.shape[0], 1), x[present].std())
    x = np.where(present[:, None], x / np.maximum(sd, 1e-8), 0.0)
    return x


def condition(
    signal: np.ndarray, fs: float, names: Sequence[str], pre: Preprocess, source: str = "record"
) -> tuple[np.ndarray, np.ndarray]:
    """A physical ``(T, C)`` recording with lead ``names`` at ``fs`` Hz -> ``(12, T')``
    float32 at ``pre.rate`` in the standard lead order, and the (12,) mask of leads
    present. Absent, empty (all-NaN) and flat leads are zeros and flagged absent; a
    record with no usable standard lead is a :class:`DataError` naming ``source``."""
    if fs < pre.min_source_rate():
        raise DataError(
            f"{source}: sampling rate {fs:g} Hz is too low for {pre.patch_ms:g} ms tokens "
            f"(needs >= {pre.min_source_rate():g} Hz)"
        )
    columns, _unknown = map_leads(names)
    if all(c is None for c in columns):
        raise DataError(f"{source}: no standard ECG lead among the signals {list(names)}")
    sig = np.asarray(signal, dtype=np.float64)
    if sig.ndim != 2 or sig.shape[0] < 2:
        raise DataError(f"{source}: expected a (time, leads) signal, got shape {sig.shape}")
    x = np.zeros((len(LEADS), sig.shape[0]))
    present = np.zeros(len(LEADS), dtype=bool)
    for k, c in enumerate(columns):
        if c is not None:
            x[k] = sig[:, c]
            present[k] = True
    x, empty = interpolate_gaps(x)
    empty &= present
    flat = present & ~empty & (np.ptp(x, axis=1) < 1e-9)
    dropped = empty | flat
    if dropped.any():
        present &= ~dropped
        if not present.any():
            raise DataError(f"{source}: every lead is empty (all NaN) or flat")
        bad = [LEADS[k] + (" (all NaN)" if empty[k] else " (flat)") for k in np.flatnonzero(dropped)]
        warnings.warn(f"{source}: lead(s) {', '.join(bad)} flagged missing", stacklevel=2)
        x[dropped] = 0.0
    x = resample(x, fs, pre.rate)
    try:
        x = bandpass(x, pre.rate, pre.highpass, pre.lowpass)
    except ValueError:
        raise DataError(f"{source}: too short to filter ({x.shape[1]} samples at {pre.rate} Hz)") from None
    x[~present] = 0.0
    x = standardize(x, present, pre.standardize)
    return x.astype(np.float32), present
