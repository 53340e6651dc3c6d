"""Signal conditioning: lead mapping, NaN gap interpolation, resampling, filters and
per-lead standardisation, in the order a 12-lead record goes through them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from scipy import signal as sps

from jepakit.kit import DataError, check, notice

from .leads import LEADS, check_leads_map, resolve_leads

STANDARDIZE = ("lead", "record", "none")


@dataclass
class Preprocess:
    """How records are conditioned before they reach the model.

    ``rate``: model sampling rate (Hz). ``highpass``: cut-off (Hz) of the baseline-wander
    filter, None to keep the baseline. ``lowpass``: upper edge (Hz) of an optional
    band-pass, None for none. ``standardize``: ``lead`` (z-score every lead of a record),
    ``record`` (one scale for all leads, keeps their voltage ratios) or ``none``.
    ``patch_ms``: token duration; a source rate that gives fewer than two samples per
    token is rejected. ``leads_map``: channel name -> lead (``-lead`` for an inverted
    one, ``none`` to leave the channel out) for channels whose names are not leads
    (``ECG1``, ``ECG2`` of Holter and AF databases).
    """

    rate: int = 500
    highpass: float | None = 0.5
    lowpass: float | None = None
    standardize: str = "lead"
    patch_ms: float = 50.0
    leads_map: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        check_leads_map(self.leads_map)
        if self.leads_map is not None:
            self.leads_map = {str(k): (None if v is None else str(v)) for k, v in self.leads_map.items()}
        check(self.rate > 0, f"rate must be positive, got {self.rate}")
        check(self.standardize in STANDARDIZE, f"normalize must be one of {STANDARDIZE}, got {self.standardize!r}")
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


class Report:
    """What conditioning did to the records of one source (channels left unused, NaN
    runs interpolated, leads flagged missing), told as one line per kind of event by
    :meth:`flush`: ``N records (first: x.hea): ...`` instead of one line per record."""

    def __init__(self) -> None:
        self.events: dict[str, list[str]] = {}

    def add(self, message: str, source: str) -> None:
        self.events.setdefault(message, []).append(source)

    def flush(self) -> None:
        for message, sources in self.events.items():
            where = sources[0] if len(sources) == 1 else f"{len(sources)} records (first {sources[0]})"
            notice(f"{where}: {message}")
        self.events.clear()


def no_lead_message(names: Sequence[str], generic: Sequence[str]) -> str:
    """Why a record has no usable lead, and the option that fixes it."""
    shown = ", ".join(str(n) for n in names) or "(none)"
    if generic:
        pairs = ", ".join(f"{g}: {lead}" for g, lead in zip(generic, ("II", "V1", "V5", "I")))
        return (f"no standard ECG lead among the channels {shown} ({', '.join(generic)} are channel numbers, "
                f"not lead names); say which leads they are with data.leads_map, e.g. {{{pairs}}}")
    return f"no standard ECG lead among the channels {shown}; name the leads with data.leads_map, e.g. {{{names[0] if names else 'CH1'}: II}}"


def condition(
    signal: np.ndarray, fs: float, names: Sequence[str], pre: Preprocess, source: str = "record", report: Report | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A physical ``(T, C)`` recording with lead ``names`` at ``fs`` Hz -> ``(12, T')``
    float32 at ``pre.rate`` in the standard lead order, and the (12,) mask of leads
    present. Absent, empty (all-NaN) and flat leads are zeros and flagged absent; a
    record with no usable standard lead is a :class:`DataError` naming ``source``.
    Inverted leads (``-aVR``) are sign-flipped. What was left out or filled in goes to
    ``report`` (told at once, one line per kind, when None)."""
    own = report is None
    report = Report() if report is None else report
    try:
        return _condition(signal, fs, names, pre, source, report)
    finally:
        if own:
            report.flush()


def _condition(
    signal: np.ndarray, fs: float, names: Sequence[str], pre: Preprocess, source: str, report: Report
) -> tuple[np.ndarray, np.ndarray]:
    if fs < pre.min_source_rate():
        raise DataError(
            f"{source}: sampling rate {fs:g} Hz is too low for {pre.patch_ms:g} ms tokens "
            f"(needs >= {pre.min_source_rate():g} Hz)"
        )
    leads = resolve_leads(names, pre.leads_map)
    if all(c is None for c in leads.columns):
        raise DataError(f"{source}: {no_lead_message(list(names), leads.generic)}")
    unused = leads.unused_message()
    if unused:
        report.add(unused, source)
    sig = np.asarray(signal, dtype=np.float64)
    if sig.ndim != 2 or sig.shape[0] < 2:
        raise DataError(f"{source}: expected a (time, leads) signal, got shape {sig.shape}")
    x = np.zeros((len(LEADS), sig.shape[0]))
    present = np.zeros(len(LEADS), dtype=bool)
    for k, c in enumerate(leads.columns):
        if c is not None:
            x[k] = sig[:, c] * leads.signs[k]
            present[k] = True
    gaps = present & ~np.isfinite(x).all(axis=1)
    x, empty = interpolate_gaps(x)
    empty &= present
    filled = gaps & ~empty
    if filled.any():
        n = int((~np.isfinite(sig[:, [leads.columns[k] for k in np.flatnonzero(filled)]])).sum())
        report.add(f"{n} NaN/invalid sample(s) in lead(s) {', '.join(LEADS[k] for k in np.flatnonzero(filled))} "
                   "interpolated linearly", source)
    flat = present & ~empty & (np.ptp(x, axis=1) < 1e-9)
    dropped = empty | flat
    if dropped.any():
        present &= ~dropped
        if not present.any():
            raise DataError(f"{source}: every lead is empty (all NaN) or flat")
        bad = [LEADS[k] + (" (all NaN)" if empty[k] else " (flat)") for k in np.flatnonzero(dropped)]
        report.add(f"lead(s) {', '.join(bad)} flagged missing", source)
        x[dropped] = 0.0
    x = resample(x, fs, pre.rate)
    try:
        x = bandpass(x, pre.rate, pre.highpass, pre.lowpass)
    except ValueError:
        raise DataError(f"{source}: too short to filter ({x.shape[1]} samples at {pre.rate} Hz)") from None
    x[~present] = 0.0
    x = standardize(x, present, pre.standardize)
    return x.astype(np.float32), present
